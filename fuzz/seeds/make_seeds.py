#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/<target>/ from real examples: the documented configurations, real OAuth
request bodies, token files, discovery documents, header lines, and tokens signed with the fixed fuzz keys
(fuzz/keys/, test keys only). Rerun after changing an example: python3 fuzz/seeds/make_seeds.py
Needs python3 with `cryptography` only for the signed JWT seeds (skipped without it)."""

import base64, hashlib, json, os, pathlib, re, shutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "fuzz" / "corpus"
ISS = "http://127.0.0.1/realms/fuzz"          # fuzz_targets/jwt.rs ISS
ISSUER = "http://127.0.0.1:8080/realms/fuzz"  # fuzz_targets/sdk_files.rs ISSUER
FAR = 4102444800                              # 2100-01-01: seeds stay unexpired


def write(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# --- form: request bodies of the token, device, revocation and introspection endpoints
forms = {
    "device": "client_id=keyport-cli&scope=openid+profile",
    "device_poll": "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
    "&device_code=Zk9vYmFy0123456789abcdef&client_id=keyport-cli",
    "refresh": "grant_type=refresh_token&refresh_token=eyJhbGciOiJIUzI1NiJ9.e30.sig&client_id=aiod-sdk",
    "client_credentials": "grant_type=client_credentials&client_id=pipeline-bot&client_secret=s3cr%2Bt%3D&scope=read+write",
    "auth_code": "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA"
    "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8400%2Fcallback&client_id=aiod-web"
    "&code_verifier=dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk&resource=https%3A%2F%2Fapi.example.org",
    "password": "grant_type=password&username=alice&password=p%C3%A4ss+word%21&client_id=legacy&client_secret=x",
    "revoke": "token=kp_abc&token_type_hint=refresh_token",
    "duplicate": "client_id=a&client_id=b",
    "empty_values": "a=&=b&&c&d=%&e=%2",
}
for name, body in forms.items():
    write("form", name, body)

# --- api_token: the `kp_` format (checksum: first four bytes of SHA-256 of the random part, base62)
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def checksum(random):
    n = int.from_bytes(hashlib.sha256(random.encode()).digest()[:4], "big")
    out = ""
    for _ in range(6):
        out = B62[n % 62] + out
        n //= 62
    return out


rand = "Q7xk2LmN9pR4sT6vW8yZ0aB3cD5eF7gH9jK1mN3pR5s"
token = f"kp_{rand}{checksum(rand)}"
write("api_token", "valid", token)
write("api_token", "typo", token[:10] + ("a" if token[10] != "a" else "b") + token[11:])
write("api_token", "truncated", token[:-1])
write("api_token", "not_base62", "kp_" + "-" * 49)
write("api_token", "jwt", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")

# --- user_code: RFC 8628 §6.1 codes as people type them
for name, code in {"display": "BCDF-GHJK", "lower": "bcdf ghjk", "tabs": "\tWXZB-\tCDFG ", "vowel": "ABCD-EFGH",
                   "short": "BCDF-GHJ", "unicode": "BCDF-GHJ\u212a"}.items():
    write("user_code", name, code)

# --- client_ip: peer, trusted proxies, header lines
ips = {
    "xff_chain": "10.1.2.3\n10.0.0.0/8\nx-forwarded-for: 1.1.1.1, 198.51.100.7, 10.9.9.9\n",
    "forwarded": '10.1.2.3\n10.0.0.0/8,fd00::/8\nforwarded: for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.1\n',
    "both": "10.1.2.3\n10.0.0.0/8\nforwarded: For=_hidden\nx-forwarded-for: 192.0.2.200\n",
    "mapped": "::ffff:10.1.2.3\n10.0.0.0/8\nx-forwarded-for: 198.51.100.7:4711\nx-forwarded-for: unknown, 10.2.2.2\n",
    "untrusted": "203.0.113.9\n10.0.0.0/8\nx-forwarded-for: 198.51.100.7\n",
    "ipv6": "fd00::1\nfd00::/8, 192.0.2.1\nx-forwarded-for: 2001:db8:1:2:aaaa::1, fd00::2\n",
}
for name, text in ips.items():
    write("client_ip", name, text)

# --- config: the documented examples (README, docs) and the benchmark's configuration
config_sources = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
n = 0
for src in config_sources:
    for block in re.findall(r"```toml\n(.*?)```", src.read_text(), re.S):
        n += 1
        write("config", f"{src.stem}_{n}", block)
write("config", "bench", (ROOT / "bench" / "keyport.toml").read_text())

# --- sdk_files: token files (TOML) and discovery documents (JSON)
claims = b64u(json.dumps({"sub": "u1", "preferred_username": "alice"}).encode())
token_files = {
    "device_login": f'refresh_token = "eyJhbGciOiJIUzI1NiJ9.e30.x"\naccess_token = "eyJhbGciOiJFUzI1NiJ9.{claims}.sig"\n'
    f'expires_at = 1763900000\nusername = "alice"\nissuer = "{ISSUER}/"\n',
    "bot_secret": 'client_secret = "pipeline-bot-secret"\n',
    "access_only": f'access_token = "eyJhbGciOiJFUzI1NiJ9.{claims}.sig"\nexpires_at = -62135596800\n',
    "other_issuer": 'refresh_token = "x"\nissuer = "https://evil.example/realms/fuzz"\n',
}
for name, text in token_files.items():
    write("sdk_files", name, text)
base = ISSUER + "/protocol/openid-connect"
discovery = {
    "issuer": ISSUER, "authorization_endpoint": base + "/auth", "token_endpoint": base + "/token",
    "device_authorization_endpoint": base + "/auth/device", "userinfo_endpoint": base + "/userinfo",
    "end_session_endpoint": base + "/logout", "revocation_endpoint": base + "/revoke",
    "introspection_endpoint": base + "/token/introspect", "jwks_uri": base + "/certs",
    "authorization_response_iss_parameter_supported": True,
    "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
}
write("sdk_files", "discovery", json.dumps(discovery, indent=1))
foreign = dict(discovery, token_endpoint="https://127.0.0.1:8080/realms/fuzz/protocol/openid-connect/token")
write("sdk_files", "discovery_foreign", json.dumps(foreign))
write("sdk_files", "discovery_minimal", json.dumps({"issuer": ISSUER + "/", "token_endpoint": base + "/token"}))

# --- jwt: the first byte picks the mode (fuzz_targets/jwt.rs)
access = {"iss": ISS, "sub": "u1", "aud": "fuzz-api", "typ": "Bearer", "exp": FAR, "iat": 1700000000,
          "scope": "openid read_user_session", "preferred_username": "alice", "email": "alice@example.org",
          "realm_access": {"roles": ["user"]}, "jti": "j1"}
write("jwt", "claims_rs256", b"\x01" + json.dumps(access).encode())
write("jwt", "claims_es256", b"\x05" + json.dumps(dict(access, iss="https://other")).encode())
write("jwt", "claims_eddsa", b"\x09" + json.dumps({"sub": "u", "iss": ISS, "exp": 1.5e9}).encode())
write("jwt", "values", b"\x02" + b"\0".join([b"u1", b"alice", b"openid  create_session", b"a@example.org", b"user", b"admin"]))
header = json.dumps({"alg": "RS256", "kid": "fuzz-rs256", "typ": "JWT"}).encode()
write("jwt", "attack_none", b"\x03" + json.dumps({"alg": "none", "kid": "fuzz-rs256"}).encode() + b"\0{}")
write("jwt", "attack_hs256", b"\x07" + json.dumps({"alg": "HS256", "kid": "fuzz-rs256"}).encode() + b"\0{}")
write("jwt", "attack_kid_swap", b"\x0f" + json.dumps({"alg": "ES256", "kid": "fuzz-rs256"}).encode() + b"\0{}")
write("jwt", "header_rs256", b"\x0f" + header + b"\0" + json.dumps({"iss": "x"}).encode())
try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    keys = ROOT / "fuzz" / "keys"
    for alg, kid, file in [("RS256", "fuzz-rs256", "rs256.pem"), ("EdDSA", "fuzz-eddsa", "eddsa.pem")]:
        key = serialization.load_pem_private_key((keys / file).read_bytes(), None)
        h = b64u(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
        p = b64u(json.dumps(access).encode())
        msg = f"{h}.{p}".encode()
        sig = key.sign(msg, padding.PKCS1v15(), hashes.SHA256()) if alg == "RS256" else key.sign(msg)
        write("jwt", f"token_{alg.lower()}", b"\x00" + f"{h}.{p}.{b64u(sig)}".encode())
except ImportError:
    print("cryptography is missing: no signed token seeds")
write("jwt", "token_garbage", b"\x00eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
print("seeds in", OUT)
