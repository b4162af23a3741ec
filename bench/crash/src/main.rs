//! `keyport-crash`: crash consistency of the real `keyport` binary on SQLite and PostgreSQL (issue 14).
//!
//! Each round starts `keyport serve` on fresh data, drives a mixed concurrent load (device logins approved through
//! the pages, refresh rotations, client credentials, API-token creations and revocations, logouts, RFC 7009
//! revocations, user creations and deletions), records what the server acknowledged, `kill -9`s it at a seeded
//! random moment (on PostgreSQL, in some rounds, the database as well: a private cluster, never the machine's
//! shared one), restarts it on the same data and checks that everything acknowledged still holds and nothing
//! unacknowledged appeared (see `check.rs` for the exact rules). Every round prints its seed; `--seed` replays one.
//!
//! Loopback only; bounded: a round lasts a few seconds. `scripts/crash.sh` runs it; docs/crash-consistency.md
//! has the figures.

mod check;
mod http;
mod load;
mod model;
mod procs;
mod round;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use procs::PgCluster;
use round::{Backend, Settings};

#[derive(Parser, Debug)]
#[command(about = "kill -9 keyport under load, restart it, check every acknowledged answer")]
struct Args {
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Rounds per backend.
    #[arg(long, default_value_t = 50)]
    rounds: u64,
    /// Replay one round: its seed as printed (`0x…` or decimal). Runs that round only, on `--backend`.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Seed of the whole run (each round's seed derives from it); default: from the clock.
    #[arg(long, value_parser = parse_seed)]
    base_seed: Option<u64>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 6)]
    workers: usize,
    /// The `keyport` binary; default: next to this program.
    #[arg(long)]
    keyport: Option<PathBuf>,
    /// Self-test of the checks (SQLite only): restart each round on a copy of the data taken before the kill, so
    /// that acknowledged writes are lost. Succeeds when every round finds violations.
    #[arg(long)]
    lose_writes: bool,
    /// Use the PostgreSQL server of the tests (`KEYPORT_TEST_PG_URL`, default
    /// `postgres://postgres@127.0.0.1:5432/test`; a database is created and dropped per round) instead of a
    /// private cluster. That server is never restarted.
    #[arg(long)]
    shared_pg: bool,
}

fn parse_seed(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("a seed is `0x` + hex or decimal: {e}"))
}

#[derive(Default)]
struct Totals {
    rounds: u64,
    db_restarts: u64,
    acked: BTreeMap<&'static str, u64>,
    in_doubt: BTreeMap<&'static str, u64>,
    checks: u64,
    violations: u64,
    /// Rounds without a violation.
    clean_rounds: u64,
}

fn list(counts: &BTreeMap<&'static str, u64>) -> String {
    let total: u64 = counts.values().sum();
    let each: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("{total} ({})", each.join(", "))
}

async fn run_backend(args: &Args, settings: &Settings, name: &str) -> Result<Totals, String> {
    let mut cluster = None;
    let mut note = String::new();
    let backend = match name {
        "sqlite" => Backend::Sqlite,
        "postgres" if args.shared_pg => {
            note = " (shared server: no database restarts)".into();
            Backend::Shared
        }
        "postgres" => match tokio::task::block_in_place(PgCluster::create) {
            Ok(c) => {
                note = format!(" (private cluster on port {})", c.port);
                cluster = Some(c);
                Backend::Private(cluster.as_ref().expect("just set"))
            }
            Err(e) => {
                note =
                    format!(" (NO private cluster: {e}; shared server without database restarts)");
                Backend::Shared
            }
        },
        other => return Err(format!("unknown backend `{other}`")),
    };
    let base = args.base_seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let seeds: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (0..args.rounds)
            .map(|i| round::round_seed(base, i))
            .collect(),
    };
    println!(
        "== {name}{note}: {} rounds, base seed {base:#x}, {} workers",
        seeds.len(),
        settings.workers
    );
    let mut totals = Totals::default();
    for (i, seed) in seeds.iter().enumerate() {
        let started = Instant::now();
        let outcome = round::run(settings, &backend, *seed)
            .await
            .map_err(|e| format!("round {} (seed {seed:#x}): {e}", i + 1))?;
        let acked: u64 = outcome.acked.values().sum();
        let doubt: u64 = outcome.in_doubt.values().sum();
        println!(
            "round {}/{} {name} seed={seed:#018x} kill@{}ms db={:?} acked={acked} in-doubt={doubt} checks={} violations={} ({:.1}s)",
            i + 1,
            seeds.len(),
            outcome.kill_after.as_millis(),
            outcome.db,
            outcome.checks,
            outcome.violations.len(),
            started.elapsed().as_secs_f64()
        );
        for v in &outcome.violations {
            println!("  VIOLATION: {v}");
        }
        totals.rounds += 1;
        if !matches!(outcome.db, round::DbKill::No) {
            totals.db_restarts += 1;
        }
        for (k, v) in outcome.acked {
            *totals.acked.entry(k).or_default() += v;
        }
        for (k, v) in outcome.in_doubt {
            *totals.in_doubt.entry(k).or_default() += v;
        }
        totals.checks += outcome.checks;
        totals.violations += outcome.violations.len() as u64;
        if outcome.violations.is_empty() {
            totals.clean_rounds += 1;
        }
    }
    drop(cluster);
    Ok(totals)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    procs::become_subreaper();
    let keyport = args.keyport.clone().unwrap_or_else(|| {
        let me = std::env::current_exe().unwrap_or_default();
        me.with_file_name("keyport")
    });
    if !keyport.exists() {
        eprintln!(
            "keyport-crash: no keyport binary at {} (build it with `cargo build -p keyport`, or pass --keyport)",
            keyport.display()
        );
        return ExitCode::from(2);
    }
    let settings = Settings {
        keyport,
        workers: args.workers,
        lose_writes: args.lose_writes,
    };
    if args.lose_writes && args.backend != "sqlite" {
        eprintln!("keyport-crash: --lose-writes is a self-test on SQLite: add --backend sqlite");
        return ExitCode::from(2);
    }
    let backends: Vec<&str> = match args.backend.as_str() {
        "both" => vec!["sqlite", "postgres"],
        one => vec![one],
    };
    let started = Instant::now();
    let mut failed = false;
    let mut missed = 0;
    let mut summary = Vec::new();
    for name in backends {
        match run_backend(&args, &settings, name).await {
            Ok(t) => {
                failed |= t.violations > 0;
                missed += t.clean_rounds;
                summary.push(format!(
                    "{name}: rounds {} (database restarted in {}), acknowledged {}, in doubt at the kills {}, checks {}, violations {}",
                    t.rounds,
                    t.db_restarts,
                    list(&t.acked),
                    list(&t.in_doubt),
                    t.checks,
                    t.violations
                ));
            }
            Err(e) => {
                eprintln!("keyport-crash: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!("== summary ({:.0} s)", started.elapsed().as_secs_f64());
    for line in summary {
        println!("{line}");
    }
    if args.lose_writes {
        // Every round must have caught the lost writes.
        return if missed == 0 {
            println!("self-test: every round found the lost writes");
            ExitCode::SUCCESS
        } else {
            println!("self-test FAILED: {missed} rounds found nothing although writes were lost");
            ExitCode::FAILURE
        };
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
