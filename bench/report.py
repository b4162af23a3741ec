"""Prints the table of bench/run.sh from its results file (one JSON object per line).

    python3 bench/report.py target/bench-results.jsonl
    python3 bench/report.py target/bench-authcode-sqlite.jsonl --flows-only    # bench/authcode.sh's rows alone
"""

import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
FLOWS_ONLY = "--flows-only" in sys.argv[2:]
load = {(r["server"], r["workload"]): r for r in rows if r["kind"] == "load"}
limit = {r["name"]: r for r in rows if r["kind"] == "limit"}
cold = {r["name"]: r for r in rows if r["kind"] == "cold"}
rss = {(r["server"], r["what"]): r["rss_mb"] for r in rows if r["kind"] == "rss"}
openssl = {r["name"]: r for r in rows if r["kind"] == "openssl"}
# The raw argon2id loops: one thread, and (since the thirteenth pass, BENCHMARKS.md) four threads taking turns
# on the core.
argon2_loops = [r for r in rows if r["kind"] == "argon2"]
argon2 = max(argon2_loops, key=lambda r: r["verify_per_s"], default=None)
device = next((r for r in rows if r["kind"] == "device"), None)
approve = next((r for r in rows if r["kind"] == "approve"), None)

# (label, keyport workload, peer workload)
PAIRS = [
    ("client credentials, ES256 JWT", "cc_es256", "cc_es256"),
    ("client credentials, RS256 JWT", "cc_rs256", "cc_rs256"),
    ("client credentials, opaque token", None, "cc_opaque"),
    ("client credentials, ES256, fixed offered rate", "cc_es256_fixed", "cc_es256_fixed"),
    ("introspection (keyport: JWT; peer: opaque)", "introspect_jwt", "introspect_opaque"),
    ("introspection of an API token (keyport; peer: see opaque)", "introspect_api_token", None),
    ("userinfo (keyport: JWT; peer: opaque)", "userinfo", "userinfo"),
    ("refresh, strict rotation (keyport: + ES256 ID token; peer: + RS256)", "refresh_rotate", "refresh_rotate"),
    ("refresh, strict rotation, + RS256 ID token", "refresh_rotate_rs256_id", "refresh_rotate"),
    ("refresh, strict rotation, no ID token", "refresh_rotate_no_id_token", "refresh_rotate_no_id_token"),
    ("password login (argon2id)", "password", None),
    ("discovery document", "discovery", "discovery"),
    # Whole browser flows (bench/authcode.sh): "req/s" is flows per second, latency and CPU are per flow.
    ("flow: authorization code + PKCE S256, signed in (GET /auth → code → POST /token)", "authcode_pkce", "authcode_pkce"),
    ("flow: the same with a password sign-in each time (argon2id)", "authcode_pkce_password", None),
    ("flow: sign-in through an upstream keyport + code (broker CPU; upstream's below)", "federation", None),
]
FLOWS = {"authcode_pkce", "authcode_pkce_password", "federation"}
if FLOWS_ONLY:
    PAIRS = [p for p in PAIRS if p[1] in FLOWS or p[2] in FLOWS]
# Workloads sent as GET; every other keyport workload is a form POST (see the floor rows of run.sh).
GETS = {"userinfo", "discovery"}
PENDING = {"introspect_api_token": "not measured: the server has no API tokens"}
ABSENT = {
    "peer:password": "n/a: oidc-provider has no password grant",
    "peer:introspect_api_token": "n/a: no API tokens (see opaque introspection)",
    "keyport:cc_opaque": "n/a: keyport access tokens are JWTs",
    "peer:authcode_pkce_password": "n/a: the peer's sign-in (its interaction) has no password here",
    "peer:federation": "not measured (keyport only)",
}


def fmt_int(x):
    return f"{x:,.0f}"


def cell(r, name):
    if r is None:
        note = PENDING.get(name) or ABSENT.get(name) or "n/a"
        return [note, "", "", ""]
    rate = fmt_int(r["rps"])
    if r.get("offered"):
        rate += f" (offered {fmt_int(r['offered'])})"
    return [rate, f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}", f"{r['cpu_us']:.0f}", str(r["errors"])]


def floor_of(workload):
    """The bare server's CPU per request for a request of the workload's shape, when run.sh measured it: for an
    ES256 client-credential grant the signing floor (the bare server signing one ES256 token a request), if any."""
    r = load.get(("floor", "post_sign")) if workload == "cc_es256" else None
    r = r or load.get(("floor", "get" if workload in GETS else "post_form"))
    return r["cpu_us"] if r else None


def split(r, workload):
    """`floor + work` of a keyport row, in µs of CPU per request."""
    floor = floor_of(workload)
    # The fixed-rate row idles between requests (a wake-up per request): the saturated floor does not apply;
    # a flow is several requests.
    if r is None or floor is None or r.get("offered") or r.get("flow"):
        return ""
    return f"{floor:.0f} + {r['cpu_us'] - floor:.0f}"


header = ["workload", "keyport req/s", "p50 / p99 ms", "CPU µs/req", "= floor + work", "err",
          "peer req/s", "p50 / p99 ms", "CPU µs/req", "err", "ratio req/s", "ratio CPU/req"]
table = [header, ["---"] * len(header)]
for label, k, p in PAIRS:
    kr, pr = load.get(("keyport", k)) if k else None, load.get(("peer", p)) if p else None
    ratio_rps = ratio_cpu = ""
    if kr and pr:
        ratio_rps = f"{kr['rps'] / pr['rps']:.1f}×"
        ratio_cpu = f"{pr['cpu_us'] / max(kr['cpu_us'], 0.01):.1f}×"
    kc = cell(kr, k or f"keyport:{p}")
    kc.insert(3, split(kr, k))
    table.append([label] + kc + cell(pr, p or f"peer:{k}") + [ratio_rps, ratio_cpu])
for line in table:
    print("| " + " | ".join(line) + " |")
print()
print("ratio req/s = keyport ÷ peer; ratio CPU/req = peer's CPU per request ÷ keyport's (higher is better for keyport).")
print("floor + work: the bare axum server's CPU per request in the same run (GET, or the client-credential POST;")
print("for ES256 client credentials, the same server signing one ES256 token a request) and what keyport spends above it.")
flow_rows = [r for r in load.values() if r.get("flow")]
if flow_rows:
    print("flow rows: one whole browser flow per \"request\" (" + "; ".join(
        f"{r['server']} {r['workload']}: {r['requests_per_flow']:.1f} HTTP requests/flow, {r['conns']} browsers"
        for r in flow_rows) + ").")
    fed = load.get(("keyport", "federation"))
    if fed and "upstream_cpu_us" in fed:
        print(f"federation: the upstream keyport spent {fed['upstream_cpu_us']:.0f} µs CPU per flow besides the broker's "
              f"{fed['cpu_us']:.0f} µs ({fed['cpu_us'] + fed['upstream_cpu_us']:.0f} µs for both).")
print()
db_rows = [r for (s, _), r in load.items() if s == "keyport" and r.get("db_cpu_us")]
if db_rows:
    print("| where the machine's time went (PostgreSQL) | req/s | keyport CPU µs/req | PostgreSQL CPU µs/req "
          "| whole machine CPU µs/req | available µs/req (cores × 10⁶ ÷ req/s) |")
    print("|---|---|---|---|---|---|")
    for r in db_rows:
        print(f"| {r['workload']} | {fmt_int(r['rps'])} | {r['cpu_us']:.0f} | {r['db_cpu_us']:.0f} "
              f"| {r['machine_cpu_us']:.0f} | {r['cores'] * 1e6 / r['rps']:.0f} |")
    print()
if FLOWS_ONLY:
    sys.exit(0)
floors = [(w, load.get(("floor", w))) for w in ["get", "post_form", "post_sign"]]
if any(r for _, r in floors):
    print("| the floor (bench/micro/src/bin/floor.rs: bare axum, a fixed 14-byte JSON body unless said) | req/s | p50 / p99 ms | CPU µs/req |")
    print("|---|---|---|---|")
    for w, r in floors:
        if r:
            what = {"get": "GET", "post_form": "POST, the client-credential request (Basic auth, form body)",
                    "post_sign": "the same POST answered with one ES256 signature (KeySet::sign) and a token response"}[w]
            print(f"| {what} | {fmt_int(r['rps'])} | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {r['cpu_us']:.1f} |")
    print()

print("| physical limit (Criterion, one core, the server's own code) | per op | per second |")
print("|---|---|---|")
for name, label in [("es256_sign", "ES256 sign (KeySet::sign)"), ("rs256_sign", "RS256 sign"),
                    ("eddsa_sign", "EdDSA sign"), ("es256_verify", "ES256 verify (KeySet::verify)"),
                    ("sha256_token_hash", "SHA-256 token hash (crypto::sha256_hex)"),
                    ("refresh_token_key", "a refresh token's key, ordering prefix + SHA-256 (crypto::refresh_token_key)"),
                    ("argon2id_verify", "argon2id verify (crypto::verify_password)")]:
    if name in limit:
        ns = limit[name]["ns"]
        per = f"{ns / 1e6:.2f} ms" if ns > 1e6 else f"{ns / 1e3:.2f} µs" if ns > 1e3 else f"{ns:.0f} ns"
        print(f"| {label} | {per} | {fmt_int(limit[name]['per_s'])} |")
for name, label in [("ecdsa_p256", "ECDSA P-256"), ("rsa2048", "RSA-2048"), ("ed25519", "Ed25519")]:
    if name in openssl:
        o = openssl[name]
        print(f"| `openssl speed` {label}: sign / verify (reference) | | "
              f"{fmt_int(o['sign_per_s'])} / {fmt_int(o['verify_per_s'])} |")
for loop in argon2_loops:
    threads = loop.get("threads", 1)
    print(f"| argon2id verify, raw loop (keyport-bench argon2-rate, {threads} thread{'s' if threads > 1 else ''}) | "
          f"{1e3 / loop['verify_per_s']:.2f} ms | {loop['verify_per_s']:,.1f} |")
print()

print("| memory and start-up | keyport | peer |")
print("|---|---|---|")
for what in ["idle", "after load"]:
    print(f"| RSS {what} | {rss.get(('keyport', what), 'n/a')} MB | {rss.get(('peer', what), 'n/a')} MB |")
for name, label in [("keyport-first", "first start (empty data dir: migrations, keys, argon2id of users)"),
                    ("keyport-restart", "restart (existing data dir)")]:
    if name in cold:
        peer = f"{cold['peer']['median_ms']:.0f} ms" if "peer" in cold else "n/a"
        print(f"| cold start to first 200, {label} | {cold[name]['median_ms']:.0f} ms | {peer} |")
if device:
    print(f"| {device['devices']:,} pending device authorizations: poll p50 / p99 / max | "
          f"{device['p50_ms']:.2f} / {device['p99_ms']:.2f} / {device['max_ms']:.1f} ms "
          f"({device['polls']:,} polls, {device['polls_per_s']:,.0f}/s, {device['cpu_us_per_poll']:.0f} µs CPU/poll, "
          f"shed {device.get('shed', 'n/a')}, errors {device['errors']}, RSS {device['rss_mb']:.0f} MB) | n/a |")
if approve:
    print(f"| device logins through the verification pages, {approve['workers']} browsers: start, enter code, "
          f"approve, redeem | {approve['per_s']:,.0f}/s, p50 {approve['p50_ms']:.1f} ms, p99 {approve['p99_ms']:.1f} ms, "
          f"{approve['cpu_us_per_login']:.0f} µs CPU/login ({approve['logins']:,} logins) | n/a |")
print()


def capacity(r):
    """Requests per second one fully used core would serve, from the measured CPU per request."""
    return 1e6 / r["cpu_us"] if r and r["cpu_us"] > 0 else 0


def verdict(ok):
    return "met" if ok else "MISSED"


targets = []
kc, pc = load.get(("keyport", "cc_es256")), load.get(("peer", "cc_es256"))
if kc and "es256_sign" in limit:
    sign = limit["es256_sign"]["per_s"]
    cap = capacity(kc)
    ref = ""
    if "ecdsa_p256" in openssl:
        ref = f"; {cap / openssl['ecdsa_p256']['sign_per_s']:.0%} of openssl's {openssl['ecdsa_p256']['sign_per_s']:,.0f}/s"
    targets.append(("client credentials ES256 ≥ 60% of raw ES256 signing",
                    f"{cap:,.0f}/s per core from CPU/req ({kc['rps']:,.0f}/s measured) = "
                    f"{cap / sign:.0%} of KeySet::sign's {sign:,.0f}/s{ref}", verdict(cap >= 0.6 * sign)))
    fs = load.get(("floor", "post_sign"))
    if fs and capacity(fs) > 0:
        targets.append(("  (for orientation: the bare axum server signing one ES256 token a request)",
                        f"{capacity(fs):,.0f}/s per core from CPU/req = {capacity(fs) / sign:.0%} of KeySet::sign's; "
                        f"keyport at {cap / capacity(fs):.0%} of it", "—"))
if kc and pc:
    ratio = pc["cpu_us"] / kc["cpu_us"]
    targets.append(("client credentials ES256 ≥ 7× the peer", f"{ratio:.1f}× on CPU/req, "
                    f"{kc['rps'] / pc['rps']:.1f}× on req/s", verdict(ratio >= 7)))
kr = load.get(("keyport", "refresh_rotate"))
# The refresh target is per backend: a run on PostgreSQL records the database's CPU beside keyport's.
postgres = bool(db_rows)
refresh_target, backend = (5000, "PostgreSQL") if postgres else (8000, "SQLite")
if kr:
    cap = capacity(kr)
    targets.append((f"refresh with rotation ≥ {refresh_target:,}/s ({backend})",
                    f"{kr['rps']:,.0f}/s measured, {cap:,.0f}/s per core from CPU/req",
                    verdict(kr["rps"] >= refresh_target)))
kr2 = load.get(("keyport", "refresh_rotate_no_id_token"))
if kr2:
    targets.append(("  (same, without an ID token)", f"{kr2['rps']:,.0f}/s measured",
                    verdict(kr2["rps"] >= refresh_target)))
kr3 = load.get(("keyport", "refresh_rotate_rs256_id"))
if kr3:
    targets.append(("  (same, with an RS256 ID token)", f"{kr3['rps']:,.0f}/s measured",
                    verdict(kr3["rps"] >= refresh_target)))
ka, po = load.get(("keyport", "introspect_api_token")), load.get(("peer", "introspect_opaque"))
if ka:
    vs = f", {po['cpu_us'] / ka['cpu_us']:.1f}× the peer's opaque introspection" if po else ""
    targets.append(("API-token introspection ≤ 15 µs CPU (≥ 10× peer opaque)", f"{ka['cpu_us']:.0f} µs CPU/req{vs}",
                    verdict(ka["cpu_us"] <= 15)))
else:
    targets.append(("API-token introspection ≤ 15 µs CPU (≥ 10× peer opaque)", "not measured (no API tokens)", "—"))
ki = load.get(("keyport", "introspect_jwt"))
if ki:
    targets.append(("  (for orientation: JWT introspection)", f"{ki['cpu_us']:.0f} µs CPU/req", "—"))
kp = load.get(("keyport", "password"))
if kp and argon2:
    raw = argon2["verify_per_s"]
    targets.append(("password logins ≥ 90% of raw argon2id (the faster loop)",
                    f"{kp['rps']:.1f}/s vs {raw:.1f}/s = {kp['rps'] / raw:.0%}",
                    verdict(kp["rps"] >= 0.9 * raw)))
if device:
    targets.append((f"{device['devices']:,} pending device authorizations: poll p99 < 10 ms",
                    f"p99 {device['p99_ms']:.2f} ms, shed {device.get('shed', 0)}, errors {device['errors']}",
                    verdict(device["p99_ms"] < 10 and device["errors"] == 0 and device.get("shed", 0) == 0)))
if ("keyport", "idle") in rss:
    targets.append(("idle RSS ≤ 20 MB", f"{rss[('keyport', 'idle')]} MB", verdict(rss[("keyport", "idle")] <= 20)))
if "keyport-restart" in cold and "keyport-first" in cold:
    first, again = cold["keyport-first"]["median_ms"], cold["keyport-restart"]["median_ms"]
    targets.append(("cold start ≤ 50 ms", f"restart {again:.0f} ms, first start {first:.0f} ms", verdict(again <= 50)))
errors = sum(r["errors"] for r in load.values()) + (device["errors"] if device else 0)
targets.append(("no errors in any workload", f"{errors} errors", verdict(errors == 0)))

print("| target | measured | |")
print("|---|---|---|")
for t in targets:
    print("| " + " | ".join(t) + " |")
