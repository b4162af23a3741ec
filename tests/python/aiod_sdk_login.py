"""Drives the real, unmodified AIoD Python SDK (`aiondemand`, on PyPI) and the python-keycloak it uses
against a keyport server. Run by `crates/testkit/tests/aiod_python_sdk.rs`, which starts the server,
reads the SDK's own login instructions from our stdout and approves (or denies) the code in a browser.

    python3 -u aiod_sdk_login.py MODE --server URL --home DIR [options]

MODE is one of
  login  the user flow: create_token, the token file, headers, refresh, userinfo, introspection,
         decode_token against the JWKS, the realm public key, invalidate_token (logout);
  session  (run by `login`) a new Python session that finds the token the login wrote to ~/.aiod;
  deny   create_token, expecting the SDK's AuthenticationError for a denied login;
  expire create_token, never approved, expecting the SDK's AuthenticationError for an expired code;
  bot    the bot flow: Token(client_secret=...) and Token.from_file with a client secret.

Each check prints one `ok: ...` line; the last line is `PASS <mode>`. Any failure raises (exit status 1).
Every HTTP exchange the SDK makes is shown as an `http: ...` line (urllib3's own debug log, nothing patched).
Nothing here works around the server: if the SDK needs something keyport does not do, this script fails.
"""

import argparse
import base64
import logging
import os
import subprocess
import sys
from pathlib import Path


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["login", "session", "deny", "expire", "bot"])
    p.add_argument("--server", required=True, help="keyport base URL, e.g. http://127.0.0.1:1234")
    p.add_argument("--home", required=True, help="a fresh HOME, so ~/.aiod is the test's own")
    p.add_argument("--realm", default="aiod")
    p.add_argument("--client-id", default="aiod-sdk")
    p.add_argument("--username", default="alice")
    p.add_argument("--email", default="alice@example.org")
    p.add_argument("--timeout", type=int, default=15, help="create_token(timeout_seconds=...)")
    p.add_argument("--bot-client-id", default="pipeline-bot", help="a confidential client")
    p.add_argument("--bot-secret", help="the confidential client's secret (introspection, bot flow)")
    return p.parse_args()


ARGS = parse_args()
# The SDK reads ~/.aiod/config.toml and ~/.aiod/token.toml when it is imported: isolate HOME first. Python has
# already found its site directories (including a `pip install --user` one under the real HOME) at startup.
REAL_HOME = os.environ.get("HOME")
os.environ["HOME"] = ARGS.home
if ARGS.mode != "session" and Path(ARGS.home, ".aiod").exists():
    sys.exit(f"{ARGS.home}/.aiod already exists; give a fresh --home")

try:
    import aiod  # noqa: E402
    import aiod.authentication as auth  # noqa: E402
    from aiod.authentication.authentication import keycloak_openid  # noqa: E402  (the SDK's own client)
    import keycloak  # noqa: E402
    from jwcrypto import jwk  # noqa: E402
    from keycloak import KeycloakOpenID, KeycloakPostError  # noqa: E402
except ImportError as e:
    sys.exit(f"MISSING-DEPS: {e}. Run `bash scripts/install-test-deps.sh`.")


def log_http() -> None:
    """Show each request and its status, as urllib3 logs it (`"POST /path HTTP/1.1" 400 95`)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("http: %(message)s"))
    log = logging.getLogger("urllib3.connectionpool")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False


def ok(what: str) -> None:
    print(f"ok: {what}", flush=True)


def check(cond: bool, what: str, detail: object = "") -> None:
    if not cond:
        raise AssertionError(f"{what}: {detail!r}")
    ok(what)


def configure(client_id: str) -> None:
    """Point the SDK at keyport exactly as a user of the SDK would: through `aiod.config`."""
    # The SDK joins `{auth_server}realms/{realm}/...`, so the base URL ends with a slash.
    aiod.config.auth_server = ARGS.server.rstrip("/") + "/"
    # The SDK's defaults are realm `aiod` and client `aiod-sdk`; set them only when the test uses others.
    if aiod.config.realm != ARGS.realm:
        aiod.config.realm = ARGS.realm
    if aiod.config.client_id != client_id:
        aiod.config.client_id = client_id


def issuer() -> str:
    return f"{ARGS.server.rstrip('/')}/realms/{ARGS.realm}"


def confidential_client() -> KeycloakOpenID:
    """A resource server's view: a confidential client of the realm, as python-keycloak builds it."""
    assert ARGS.bot_secret, "--bot-secret is required"
    return KeycloakOpenID(
        server_url=aiod.config.auth_server,
        realm_name=ARGS.realm,
        client_id=ARGS.bot_client_id,
        client_secret_key=ARGS.bot_secret,
    )


def check_discovery(kc: KeycloakOpenID) -> None:
    wk = kc.well_known()
    check(wk["issuer"] == issuer(), "well_known(): issuer", wk.get("issuer"))
    for key, path in [
        ("token_endpoint", "token"),
        ("device_authorization_endpoint", "auth/device"),
        ("userinfo_endpoint", "userinfo"),
        ("introspection_endpoint", "token/introspect"),
        ("end_session_endpoint", "logout"),
        ("jwks_uri", "certs"),
    ]:
        want = f"{issuer()}/protocol/openid-connect/{path}"
        check(wk.get(key) == want, f"well_known(): {key}", wk.get(key))

    certs = kc.certs()
    algs = {k.get("alg") for k in certs["keys"]}
    check({"RS256", "ES256"} <= algs, "certs(): RS256 and ES256 keys", algs)
    for k in certs["keys"]:
        jwk.JWK(**k)  # what decode_token does with each key
    check(all(k.get("kid") and k.get("use") == "sig" for k in certs["keys"]), "certs(): kid and use=sig")

    # Keycloak's realm document: base64 DER SubjectPublicKeyInfo of the RS256 key, which older
    # python-keycloak code wraps in PEM armour and verifies tokens with.
    pem = realm_public_key_pem(kc.public_key())
    realm_key = jwk.JWK.from_pem(pem)
    rs256 = [k for k in certs["keys"] if k.get("alg") == "RS256"]
    check(
        any(jwk.JWK(**k).thumbprint() == realm_key.thumbprint() for k in rs256),
        "public_key(): the realm document's key is the RS256 key of the JWKS",
    )


def realm_public_key_pem(b64: str) -> bytes:
    base64.b64decode(b64, validate=True)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n").encode()


def wait_for_login(timeout: int):
    """The SDK's own device login; its instructions go to our stdout for the test to read."""
    return aiod.create_token(timeout_seconds=timeout, write_to_file=True)


def run_login() -> None:
    configure(ARGS.client_id)
    kc = keycloak_openid()
    check(
        kc.connection.base_url == ARGS.server.rstrip("/") + "/" and kc.realm_name == ARGS.realm,
        "the SDK's KeycloakOpenID points at keyport",
        (kc.connection.base_url, kc.realm_name),
    )
    check_discovery(kc)

    # --- create_token: device authorization, polling, decode_token(validate=True) on the access token
    token = wait_for_login(ARGS.timeout)
    ok("create_token() returned a Token")
    check(auth.get_token() is token, "create_token() set the token for requests")
    check(not token.has_expired, "the new access token has not expired")
    headers = auth.get_token().headers
    bearer = headers["Authorization"]
    check(bearer.startswith("Bearer ") and bearer.count(".") == 2, "get_token().headers is a bearer JWT")
    access = bearer.removeprefix("Bearer ")

    token_file = Path(ARGS.home, ".aiod", "token.toml")
    check(token_file.is_file(), "write_to_file=True wrote ~/.aiod/token.toml")
    from_file = auth.Token.from_file()
    check(str(from_file) == str(token), "Token.from_file() reads back the refresh token")
    check(from_file.headers == headers, "Token.from_file() reuses the stored, unexpired access token")

    claims = kc.decode_token(access, validate=True)
    check(claims["iss"] == issuer(), "decode_token(validate=True): iss", claims.get("iss"))
    check(claims.get("azp") == ARGS.client_id, "decode_token: azp is the SDK's client", claims.get("azp"))
    check(claims.get("preferred_username") == ARGS.username, "decode_token: preferred_username")
    check("user" in claims.get("realm_access", {}).get("roles", []), "decode_token: realm_access.roles")

    info = kc.userinfo(access)
    check(info.get("preferred_username") == ARGS.username, "userinfo(): preferred_username", info)
    check(info.get("email") == ARGS.email, "userinfo(): email", info)
    check(info.get("sub") == claims["sub"], "userinfo(): sub matches the token", info)

    rs = confidential_client()
    intro = rs.introspect(access)
    check(intro.get("active") is True, "introspect() by a confidential client: active", intro)
    check(intro.get("username") == ARGS.username, "introspect(): username", intro)

    # --- a later Python session: the SDK loads ~/.aiod/token.toml when it is imported
    argv = [sys.executable, "-u", __file__, "session", "--server", ARGS.server, "--home", ARGS.home]
    argv += ["--realm", ARGS.realm, "--client-id", ARGS.client_id, "--username", ARGS.username]
    env = {k: v for k, v in os.environ.items() if k != "HOME"}
    if REAL_HOME is not None:
        env["HOME"] = REAL_HOME  # so the new interpreter finds the same site directories; it sets --home itself
    later = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    for line in later.stdout.splitlines():
        if line.startswith("ok: "):
            print(f"ok: session: {line[4:]}", flush=True)
    check(later.returncode == 0 and "PASS session" in later.stdout, "a new session uses the saved token", later)

    # --- refresh: the SDK never stores a rotated refresh token, so the first one must keep working
    before = from_file._access_token
    from_file._refresh()
    check(from_file._access_token != before, "Token._refresh() got a new access token")
    kc.decode_token(from_file._access_token, validate=True)
    ok("decode_token(validate=True) on the refreshed access token")
    from_file._refresh()
    ok("Token._refresh() again with the same refresh token (rotation off)")

    # An ID token (RS256) from a refresh with python-keycloak itself; verified against the JWKS and
    # against the PEM-armoured key of the realm document.
    refreshed = kc.refresh_token(str(token))
    for field in ["access_token", "expires_in", "refresh_token", "refresh_expires_in", "token_type"]:
        check(field in refreshed, f"refresh_token() response has {field}", sorted(refreshed))
    id_token = refreshed.get("id_token")
    check(id_token is not None, "refresh_token() response has an id_token (scope openid)", sorted(refreshed))
    id_claims = kc.decode_token(id_token, validate=True)
    check(id_claims.get("aud") in (ARGS.client_id, [ARGS.client_id]), "ID token: aud is the client", id_claims)
    realm_key = jwk.JWK.from_pem(realm_public_key_pem(kc.public_key()))
    kc.decode_token(id_token, validate=True, key=realm_key)
    ok("decode_token(id_token, key=realm public_key) verifies (RS256)")

    # --- invalidate_token: python-keycloak's logout with the configured Token
    auth.invalidate_token()
    ok("invalidate_token() (logout) succeeded")
    try:
        auth.get_token()
        raise AssertionError("get_token() still has a token after invalidate_token()")
    except auth.NotAuthenticatedError:
        ok("get_token() raises NotAuthenticatedError after invalidate_token()")
    try:
        kc.refresh_token(str(token))
        raise AssertionError("the refresh token still works after logout")
    except KeycloakPostError as e:
        check(e.response_code == 400, "refresh after logout: 400", e.response_code)
        ok(f"refresh after logout refused: {e.response_body.decode()}")
    try:
        auth.Token.from_file()._refresh()
        raise AssertionError("Token.from_file()._refresh() works after logout")
    except auth.AuthenticationError as e:
        ok(f"Token._refresh() after logout raises AuthenticationError: {e}")
    intro = rs.introspect(access)
    check(intro.get("active") is False, "introspect() after logout: inactive", intro)


def run_session() -> None:
    configure(ARGS.client_id)
    token = auth.get_token()  # set at import from ~/.aiod/token.toml, as the SDK's documentation promises
    ok("get_token() after import: the token written by create_token(write_to_file=True)")
    access = token.headers["Authorization"].removeprefix("Bearer ")
    info = keycloak_openid().userinfo(access)
    check(info.get("preferred_username") == ARGS.username, "userinfo() with the saved access token", info)
    token._refresh()
    check(not token.has_expired, "Token._refresh() with the saved refresh token")


def run_deny() -> None:
    configure(ARGS.client_id)
    try:
        wait_for_login(ARGS.timeout)
    except auth.AuthenticationError as e:
        check(str(e) == "Access denied by Keycloak server.", "create_token() raised the SDK's denial", str(e))
    else:
        raise AssertionError("create_token() returned a token although the login was denied")
    check(not Path(ARGS.home, ".aiod", "token.toml").exists(), "no token file after a denied login")


def run_expire() -> None:
    configure(ARGS.client_id)
    try:
        wait_for_login(ARGS.timeout)
    except auth.AuthenticationError as e:
        want = "Device code has expired, please try again."
        check(str(e) == want, "create_token() raised the SDK's expiry error", str(e))
    else:
        raise AssertionError("create_token() returned a token although nobody approved the code")


def run_bot() -> None:
    assert ARGS.bot_secret, "--bot-secret is required"
    # As in the SDK's documentation: set the client_id, then a Token with the client secret.
    configure(ARGS.bot_client_id)
    kc_public = KeycloakOpenID(server_url=aiod.config.auth_server, realm_name=ARGS.realm, client_id="x")
    token = auth.Token(client_secret=ARGS.bot_secret)
    auth.set_token(token)
    headers = auth.get_token().headers  # client_credentials through python-keycloak's token()
    access = headers["Authorization"].removeprefix("Bearer ")
    claims = kc_public.decode_token(access, validate=True)
    check(claims.get("azp") == ARGS.bot_client_id, "bot: Token(client_secret=...).headers, azp", claims)
    check(claims["iss"] == issuer(), "bot: iss", claims.get("iss"))
    check("bot" in claims.get("realm_access", {}).get("roles", []), "bot: realm_access.roles has bot", claims)
    intro = confidential_client().introspect(access)
    check(intro.get("active") is True and intro.get("client_id") == ARGS.bot_client_id, "bot: introspect", intro)

    secret_file = Path(ARGS.home, "secret.toml")
    secret_file.write_text(f'client_secret = "{ARGS.bot_secret}"\n')
    from_file = auth.Token.from_file(secret_file)
    auth.set_token(from_file)
    h2 = auth.get_token().headers
    check(h2["Authorization"] != headers["Authorization"], "bot: Token.from_file(secret.toml).headers, a new token")

    auth.set_token(auth.Token(client_secret="wrong-secret"))
    try:
        auth.get_token().headers
        raise AssertionError("a wrong client secret got a token")
    except auth.AuthenticationError as e:
        ok(f"bot: a wrong secret raises AuthenticationError: {e}")
    except keycloak.KeycloakAuthenticationError as e:
        # The SDK catches only KeycloakPostError; python-keycloak raises KeycloakAuthenticationError for a 401,
        # which is what RFC 6749 and Keycloak answer for invalid_client. Still a refusal.
        check(e.response_code == 401, "bot: a wrong secret is refused with 401 invalid_client", e.response_code)


def main() -> None:
    print(f"python-keycloak {keycloak.__version__}, aiondemand {aiod.__version__}", flush=True)
    log_http()
    modes = {"login": run_login, "session": run_session, "deny": run_deny, "expire": run_expire, "bot": run_bot}
    modes[ARGS.mode]()
    print(f"PASS {ARGS.mode}", flush=True)


if __name__ == "__main__":
    main()
