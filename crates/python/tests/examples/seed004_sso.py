"""Seed 004 (Wallaroo): `create()` with the `sso` auth type put on `requests` calls, with only the import and
the server address changed (`keycloak_addr` is the keyport server; `url` its userinfo endpoint standing in for
a platform API)."""

import sys

import requests

import keyport as wallaroo

keycloak_addr, url = sys.argv[1], sys.argv[2]

auth = wallaroo.auth.create(keycloak_addr, "sso")
print("status", requests.get(url, auth=auth).status_code)
