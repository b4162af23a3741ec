//! Prometheus metrics of one server ([`Metrics`], one registry per `AppState`, so a test process can run several
//! servers). Counters and histograms are updated on the request path by `http` (requests, latencies, issued
//! tokens, failed authentications, database failures); gauges that describe state (pending device
//! authorizations, the database pool, caches, argon2 queue, usage buffer) are read when `/metrics` is scraped.

use std::sync::Mutex;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::state::AppState;

/// Latency buckets in seconds: from a cached JWKS answer (~0.1 ms) to an argon2id password check under load.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    /// `keyport_http_requests_total{route, method, status}`; `route` is the path template.
    pub requests: IntCounterVec,
    /// `keyport_http_request_duration_seconds{route}`.
    pub request_seconds: HistogramVec,
    /// `keyport_token_request_duration_seconds{grant, outcome}`: the token endpoint per grant type.
    pub grant_seconds: HistogramVec,
    /// `keyport_tokens_issued_total{realm, grant, client}`.
    pub tokens_issued: IntCounterVec,
    /// `keyport_authentication_failures_total{reason}`: the OAuth error code of a refused credential.
    pub auth_failures: IntCounterVec,
    /// `keyport_database_errors_total`: requests answered 503 because the database failed.
    pub database_errors: IntCounter,
    device_pending: IntGauge,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    cache_lookups: IntCounterVec,
    argon2_hashes: IntGaugeVec,
    usage_buffered: IntGauge,
    device_polls_in_flight: IntGauge,
    device_polls_shed: IntCounter,
    /// Scrapes turn the caches' own counts into counter increments; one at a time.
    scrape: Mutex<()>,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

fn histogram_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()),
        labels,
    )
    .expect("valid metric");
    registry
        .register(Box::new(h.clone()))
        .expect("unique metric");
    h
}

impl Default for Metrics {
    fn default() -> Self {
        let r = Registry::new();
        let build = gauge_vec(
            &r,
            "keyport_build_info",
            "Always 1; the labels say which keyport this is.",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Metrics {
            requests: counter_vec(
                &r,
                "keyport_http_requests_total",
                "HTTP requests answered, by route template, method and status.",
                &["route", "method", "status"],
            ),
            request_seconds: histogram_vec(
                &r,
                "keyport_http_request_duration_seconds",
                "Time to answer an HTTP request, by route template.",
                &["route"],
            ),
            grant_seconds: histogram_vec(
                &r,
                "keyport_token_request_duration_seconds",
                "Time to answer the token endpoint, by grant type and outcome (success or the OAuth error code).",
                &["grant", "outcome"],
            ),
            tokens_issued: counter_vec(
                &r,
                "keyport_tokens_issued_total",
                "Token responses sent, by realm, grant type and client.",
                &["realm", "grant", "client"],
            ),
            auth_failures: counter_vec(
                &r,
                "keyport_authentication_failures_total",
                "Refused credentials (client, grant, token), by OAuth error code.",
                &["reason"],
            ),
            database_errors: counter(
                &r,
                "keyport_database_errors_total",
                "Requests answered 503 because the database failed or timed out.",
            ),
            device_pending: gauge(
                &r,
                "keyport_device_authorizations_pending",
                "Device authorizations waiting for the user, not expired.",
            ),
            pool_connections: gauge_vec(
                &r,
                "keyport_database_pool_connections",
                "Connections of this replica's database pool, by state (idle, in_use).",
                &["state"],
            ),
            pool_max: gauge(
                &r,
                "keyport_database_pool_max_connections",
                "The size limit of this replica's database pool.",
            ),
            cache_lookups: counter_vec(
                &r,
                "keyport_cache_lookups_total",
                "Cache lookups by cache (clients, api_tokens) and result (hit, miss).",
                &["cache", "result"],
            ),
            argon2_hashes: gauge_vec(
                &r,
                "keyport_argon2_hashes",
                "argon2id password hashes in this process, by state (running, waiting for a core).",
                &["state"],
            ),
            usage_buffered: gauge(
                &r,
                "keyport_usage_buffered",
                "API-token uses waiting in memory to be written to the audit log.",
            ),
            device_polls_in_flight: gauge(
                &r,
                "keyport_device_polls_in_flight",
                "Device-code polls this replica is working on.",
            ),
            device_polls_shed: counter(
                &r,
                "keyport_device_polls_shed_total",
                "Device-code polls answered slow_down at once because server.device_polls_in_flight were being worked on.",
            ),
            registry: r,
            scrape: Mutex::new(()),
        }
    }
}

impl Metrics {
    /// Reads the state gauges, then encodes every metric in the Prometheus text format.
    pub async fn render(app: &AppState) -> String {
        let m = &app.metrics;
        // Read before taking the lock: a scrape never holds it across an await.
        let pending = app.store.pending_device_authorizations(app.now()).await;
        let pool = app.store.pool_stats();
        {
            let _one = m.scrape.lock().unwrap_or_else(|e| e.into_inner());
            match pending {
                Ok(n) => m.device_pending.set(n),
                Err(e) => tracing::warn!(error = %e, "cannot count pending device authorizations"),
            }
            m.pool_connections
                .with_label_values(&["idle"])
                .set(pool.idle as i64);
            m.pool_connections
                .with_label_values(&["in_use"])
                .set((pool.size as i64 - pool.idle as i64).max(0));
            m.pool_max.set(pool.max as i64);
            for (cache, hits, misses) in app.caches.lookups() {
                for (result, total) in [("hit", hits), ("miss", misses)] {
                    let c = m.cache_lookups.with_label_values(&[cache, result]);
                    c.inc_by(total.saturating_sub(c.get()));
                }
            }
            let (running, waiting) = crate::crypto::hashes_in_progress();
            m.argon2_hashes
                .with_label_values(&["running"])
                .set(running as i64);
            m.argon2_hashes
                .with_label_values(&["waiting"])
                .set(waiting as i64);
            m.usage_buffered.set(app.usage.waiting() as i64);
            m.device_polls_in_flight
                .set(app.device_polls.in_flight() as i64);
            m.device_polls_shed.inc_by(
                app.device_polls
                    .shed()
                    .saturating_sub(m.device_polls_shed.get()),
            );
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
