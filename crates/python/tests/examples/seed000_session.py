"""Seed 000's `Token.headers` example in a later Python session: the token comes from the file the login
wrote. `url` (the server's userinfo endpoint standing in for a platform API) is the server address."""

import sys

import requests

import keyport as aiod

url = sys.argv[1]
metadata = {"name": "demo"}

token = aiod.get_token()
response = requests.post(url, headers=token.headers, json=metadata)
print("status", response.status_code)
print(aiod.get_current_user())
aiod.invalidate_token()
print("invalidated")
