"""Seed 003 (Bitfount): a device-flow handler, as in docs/sdk.md, with only the import changed. `url` (the
server's userinfo endpoint standing in for the hub) is the server address."""

import sys

import requests

from keyport.handlers import DeviceCodeFlowHandler

url = sys.argv[1]

handler = DeviceCodeFlowHandler(username="alice")
handler.authenticate()
print("status", requests.get(url, headers=handler.hub_request_headers).status_code)
print("authenticated", handler.authenticated, handler.username)
print("metadata", [name for name, _ in handler.message_service_request_metadata])
