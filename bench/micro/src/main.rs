//! `keyport-bench`: the measuring tools `bench/run.sh` needs besides the HTTP load generator. Each prints one JSON
//! object on stdout.
//!
//! ```text
//! keyport-bench argon2-rate SECONDS [THREADS]
//!     argon2id password verifications per second (the server's own `crypto::verify_password`) of THREADS
//!     threads (default 1) verifying in a loop; with more threads than cores, hashes wait for a core as the
//!     server's do under load, and a finished hash hands its work area to a waiting one
//! keyport-bench device-poll BASE_URL REALM CLIENT_ID COUNT SECONDS
//!     starts COUNT device authorizations, then polls each one at its interval (plus a small margin) for
//!     SECONDS, adding 5 s to a device's interval after each `slow_down` (RFC 8628 §3.5); reports the polls
//!     served (`authorization_pending`, or `slow_down` to a poll that came too early), the latency percentiles
//!     of every poll not shed, the polls shed (`slow_down` because the server is busy, past
//!     `server.device_polls_in_flight`), and every other answer as an error
//! keyport-bench device-approve BASE_URL REALM CLIENT_ID USERNAME PASSWORD COUNT WORKERS
//!     WORKERS browsers (cookie sessions, signed in once each) run COUNT device logins between them: start the
//!     authorization, enter the code on the verification page, approve, redeem the device code for tokens;
//!     reports logins per second and the latency of one whole login
//! keyport-bench cold-start URL TIMEOUT_MS -- COMMAND ARGS...
//!     runs COMMAND and reports the milliseconds until URL first answers 200, then kills it
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyport_bench::percentile;
use serde_json::json;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("argon2-rate") => argon2_rate(&args[1..]),
        Some("device-poll") => device_poll(&args[1..]),
        Some("device-approve") => device_approve(&args[1..]),
        Some("cold-start") => cold_start(&args[1..]),
        _ => Err(
            "usage: keyport-bench argon2-rate|device-poll|device-approve|cold-start … (see the crate docs)"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyport-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, String>;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> Result<T> {
    args.get(i)
        .ok_or_else(|| format!("missing {name}"))?
        .parse()
        .map_err(|_| format!("bad {name}: {}", args[i]))
}

fn argon2_rate(args: &[String]) -> Result<()> {
    let seconds: f64 = arg(args, 0, "SECONDS")?;
    let threads: usize = if args.len() > 1 {
        arg(args, 1, "THREADS")?
    } else {
        1
    };
    if threads == 0 {
        return Err("THREADS must be at least 1".into());
    }
    let password = "correct horse battery staple";
    let phc = keyport_server::crypto::hash_password(password);
    let start = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let loops: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while start.elapsed().as_secs_f64() < seconds {
                        assert!(keyport_server::crypto::verify_password(password, &phc));
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        loops
            .into_iter()
            .map(|h| h.join().expect("a verification loop"))
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let n: u64 = counts.iter().sum();
    println!(
        "{}",
        json!({"verify_per_s": n as f64 / elapsed, "verifications": n, "seconds": elapsed, "threads": threads})
    );
    Ok(())
}

fn device_poll(args: &[String]) -> Result<()> {
    let base: String = arg(args, 0, "BASE_URL")?;
    let realm: String = arg(args, 1, "REALM")?;
    let client_id: String = arg(args, 2, "CLIENT_ID")?;
    let count: usize = arg(args, 3, "COUNT")?;
    let seconds: u64 = arg(args, 4, "SECONDS")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(device_poll_async(base, realm, client_id, count, seconds))
}

async fn device_poll_async(
    base: String,
    realm: String,
    client_id: String,
    count: usize,
    seconds: u64,
) -> Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())?;
    let oidc = format!("{base}/realms/{realm}/protocol/openid-connect");
    let device_url = format!("{oidc}/auth/device");
    let token_url = Arc::new(format!("{oidc}/token"));

    // Start the authorizations, 64 at a time.
    let created_at = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..count {
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (http, url, client_id) = (http.clone(), device_url.clone(), client_id.clone());
        starts.spawn(async move {
            let _permit = permit;
            let res = http
                .post(&url)
                .form(&[("client_id", client_id.as_str())])
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !res.status().is_success() {
                return Err(format!("device authorization answered {}", res.status()));
            }
            let body: serde_json::Value =
                serde_json::from_slice(&res.bytes().await.map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
            let code = body["device_code"].as_str().ok_or("no device_code")?;
            let interval = body["interval"].as_u64().ok_or("no interval")?;
            Ok::<_, String>((code.to_owned(), interval))
        });
    }
    let mut codes = Vec::with_capacity(count);
    while let Some(joined) = starts.join_next().await {
        codes.push(joined.map_err(|e| e.to_string())??);
    }
    let create_seconds = created_at.elapsed().as_secs_f64();

    // Poll: device i first polls at i/count of its interval, then every interval plus a margin that absorbs the
    // scheduling jitter of this client (the server answers `slow_down` to a poll that comes early).
    let margin = Duration::from_millis(50);
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let errors = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    let start = tokio::time::Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut pollers = tokio::task::JoinSet::new();
    let too_early = Arc::new(AtomicU64::new(0));
    let shed = Arc::new(AtomicU64::new(0));
    for (i, (code, interval)) in codes.into_iter().enumerate() {
        let mut interval = Duration::from_secs(interval);
        let first = start + interval.mul_f64(i as f64 / count as f64);
        let (http, url, client_id) = (http.clone(), token_url.clone(), client_id.clone());
        let (latencies, errors) = (latencies.clone(), errors.clone());
        let (too_early, shed) = (too_early.clone(), shed.clone());
        pollers.spawn(async move {
            let mut next = first;
            while next < end {
                tokio::time::sleep_until(next).await;
                let sent = tokio::time::Instant::now();
                let res = http
                    .post(url.as_str())
                    .form(&[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                        ("device_code", code.as_str()),
                        ("client_id", client_id.as_str()),
                    ])
                    .send()
                    .await;
                let outcome = match res {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let body = res.bytes().await.unwrap_or_default();
                        let body =
                            serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
                        match (status, body["error"].as_str()) {
                            (400, Some("authorization_pending")) => Poll::Served,
                            (400, Some("slow_down")) => {
                                interval += Duration::from_secs(5);
                                let busy = body["error_description"]
                                    .as_str()
                                    .is_some_and(|d| d.contains("server is busy"));
                                if busy {
                                    shed.fetch_add(1, Ordering::Relaxed);
                                    Poll::Shed
                                } else {
                                    too_early.fetch_add(1, Ordering::Relaxed);
                                    Poll::Served
                                }
                            }
                            (s, e) => Poll::Error(format!("{s} {}", e.unwrap_or("-"))),
                        }
                    }
                    Err(e) => Poll::Error(format!("transport: {}", error_chain(&e))),
                };
                // Latencies of every poll but the shed ones (a failure is a wait the device had too).
                let micros = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                match outcome {
                    Poll::Served => latencies.lock().expect("not poisoned").push(micros),
                    Poll::Shed => {}
                    Poll::Error(kind) => {
                        latencies.lock().expect("not poisoned").push(micros);
                        *errors
                            .lock()
                            .expect("not poisoned")
                            .entry(kind)
                            .or_default() += 1
                    }
                }
                next = sent + interval + margin;
            }
        });
    }
    while pollers.join_next().await.is_some() {}
    let elapsed = start.elapsed().as_secs_f64();
    let mut l = latencies.lock().expect("not poisoned").clone();
    l.sort_unstable();
    let errors = errors.lock().expect("not poisoned").clone();
    let error_count: u64 = errors.values().sum();
    let served = l.len() as u64 - error_count;
    println!(
        "{}",
        json!({
            "devices": count,
            "create_seconds": create_seconds,
            "polls": served,
            "polls_per_s": served as f64 / elapsed,
            "p50_ms": percentile(&l, 0.50),
            "p99_ms": percentile(&l, 0.99),
            "max_ms": percentile(&l, 1.0),
            "slow_downs": too_early.load(Ordering::Relaxed),
            "shed": shed.load(Ordering::Relaxed),
            "errors": error_count,
            "error_kinds": errors,
        })
    );
    Ok(())
}

/// What one poll got, as the device-poll driver counts it.
enum Poll {
    /// `authorization_pending`, or `slow_down` to a poll that came too early: the server did the poll's work.
    Served,
    /// `slow_down` because the server is busy (`server.device_polls_in_flight`): no work done.
    Shed,
    Error(String),
}

/// An error and its sources, `: `-separated (reqwest's own message names only the URL).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn device_approve(args: &[String]) -> Result<()> {
    let base: String = arg(args, 0, "BASE_URL")?;
    let realm: String = arg(args, 1, "REALM")?;
    let client_id: String = arg(args, 2, "CLIENT_ID")?;
    let username: String = arg(args, 3, "USERNAME")?;
    let password: String = arg(args, 4, "PASSWORD")?;
    let count: usize = arg(args, 5, "COUNT")?;
    let workers: usize = arg(args, 6, "WORKERS")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let oidc = format!("{base}/realms/{realm}/protocol/openid-connect");
        let issuer = format!("{base}/realms/{realm}");
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let latencies = Arc::new(Mutex::new(Vec::<u32>::with_capacity(count)));
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let (oidc, issuer, client_id) = (oidc.clone(), issuer.clone(), client_id.clone());
            let (username, password) = (username.clone(), password.clone());
            let (next, latencies) = (next.clone(), latencies.clone());
            set.spawn(async move {
                let browser = keyport_testkit::Browser::new(&issuer);
                let device = reqwest::Client::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                    let t0 = Instant::now();
                    let start: serde_json::Value = device
                        .post(format!("{oidc}/auth/device"))
                        .form(&[("client_id", client_id.as_str())])
                        .send()
                        .await
                        .map_err(|e| e.to_string())?
                        .json()
                        .await
                        .map_err(|e| e.to_string())?;
                    let user_code = start["user_code"].as_str().ok_or("no user_code")?;
                    let device_code = start["device_code"].as_str().ok_or("no device_code")?;
                    // Panics (a failed bench) on any unexpected page.
                    browser
                        .approve_device(user_code, &username, &password, true)
                        .await;
                    let redeemed = device
                        .post(format!("{oidc}/token"))
                        .form(&[
                            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                            ("device_code", device_code),
                            ("client_id", client_id.as_str()),
                        ])
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if redeemed.status() != 200 {
                        return Err(format!("redeeming answered {}", redeemed.status()));
                    }
                    let micros = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    latencies.lock().expect("not poisoned").push(micros);
                }
                Ok::<_, String>(())
            });
        }
        while let Some(joined) = set.join_next().await {
            joined.map_err(|e| e.to_string())??;
        }
        let seconds = started.elapsed().as_secs_f64();
        let mut l = latencies.lock().expect("not poisoned").clone();
        l.sort_unstable();
        println!(
            "{}",
            json!({
                "logins": l.len(),
                "workers": workers,
                "seconds": seconds,
                "per_s": l.len() as f64 / seconds,
                "p50_ms": percentile(&l, 0.50),
                "p99_ms": percentile(&l, 0.99),
            })
        );
        Ok(())
    })
}

/// One `GET` over a fresh connection; true on a 200.
fn ready(addr: SocketAddr, host: &str, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn cold_start(args: &[String]) -> Result<()> {
    let url: String = arg(args, 0, "URL")?;
    let timeout_ms: u64 = arg(args, 1, "TIMEOUT_MS")?;
    if args.get(2).map(String::as_str) != Some("--") || args.len() < 4 {
        return Err("usage: cold-start URL TIMEOUT_MS -- COMMAND ARGS...".into());
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or("the URL must be http://HOST:PORT/PATH")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = host.parse().map_err(|_| format!("bad host:port {host}"))?;
    let path = if path.is_empty() { "/" } else { path };
    let started = Instant::now();
    let mut child = Command::new(&args[3])
        .args(&args[4..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", args[3]))?;
    let deadline = started + Duration::from_millis(timeout_ms);
    let mut ms = None;
    while Instant::now() < deadline {
        if ready(addr, host, path) {
            ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the server exited early: {status}"));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    let ms = ms.ok_or_else(|| format!("{url} did not answer 200 within {timeout_ms} ms"))?;
    println!("{}", json!({ "ready_ms": ms }));
    Ok(())
}
