"""Seed 002 (integrate.ai), "Managing User Access through the SDK", with only the imports changed (the
server address comes from KEYPORT_SERVER_URL)."""

from keyport.admin import connect_to_auth_client
from keyport.admin import Scope
import os

IAI_TOKEN = os.environ.get("IAI_TOKEN")
auth_client = connect_to_auth_client(token=IAI_TOKEN)

user_name = "demo-user"
user = auth_client.create_user(user_name)

token = auth_client.create_token(user_id=user_name, scopes=[Scope.create_session, Scope.read_user_session])
print(token)

print(auth_client.token_info(token["token"]))

auth_client.revoke_token(token["token_id"])
print("after revoke:", auth_client.token_info(token["token"]))

auth_client.delete_user(user_name)
print("deleted")
