//! The physical limit of each end-to-end figure, measured on the server's own code paths: ES256 and RS256
//! signing of a real access-token claim set through `KeySet::sign`, ES256 verification through `KeySet::verify`
//! (what introspection and userinfo do), the SHA-256 token hash (`crypto::sha256_hex`, what every device code and
//! client secret lookup costs, and a refresh token's without an ordering prefix), the key of a refresh token with
//! one (`crypto::refresh_token_key`: 57 characters, two SHA-256 blocks) and one argon2id password verification
//! (`crypto::verify_password`).
//!
//! Run pinned to one core, as `bench/run.sh` does: `taskset -c 0 cargo bench -p keyport-bench --bench crypto`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use keyport_proto::oauth::AccessTokenClaims;
use keyport_server::config::SigningAlg;
use keyport_server::crypto;

const ISSUER: &str = "http://127.0.0.1:8080/realms/bench";
const NOW: i64 = 1_800_000_000;

fn bench(c: &mut Criterion) {
    let keys = keyport_bench::fresh_keys();
    // A client-credentials access token's claims, as `domain::tokens::respond` builds them.
    let claims = keyport_bench::client_credential_claims(ISSUER, NOW);

    c.bench_function("es256_sign", |b| {
        b.iter(|| keys.sign(SigningAlg::ES256, black_box(&claims)))
    });
    c.bench_function("rs256_sign", |b| {
        b.iter(|| keys.sign(SigningAlg::RS256, black_box(&claims)))
    });
    c.bench_function("eddsa_sign", |b| {
        b.iter(|| keys.sign(SigningAlg::EdDSA, black_box(&claims)))
    });
    let jwt = keys.sign(SigningAlg::ES256, &claims);
    c.bench_function("es256_verify", |b| {
        b.iter(|| {
            keys.verify::<AccessTokenClaims>(black_box(&jwt), ISSUER, NOW)
                .expect("valid token")
        })
    });
    let token = crypto::random_token(32);
    c.bench_function("sha256_token_hash", |b| {
        b.iter(|| crypto::sha256_hex(black_box(&token)))
    });
    let refresh = crypto::refresh_token_secret(true);
    c.bench_function("refresh_token_key", |b| {
        b.iter(|| crypto::refresh_token_key(black_box(&refresh)))
    });

    let phc = crypto::hash_password("correct horse battery staple");
    let mut slow = c.benchmark_group("slow");
    slow.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    slow.bench_function("argon2id_verify", |b| {
        b.iter(|| crypto::verify_password(black_box("correct horse battery staple"), &phc))
    });
    slow.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
