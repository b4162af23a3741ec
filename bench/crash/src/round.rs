//! One round: fresh data, start, set up, load, kill -9 at a seeded moment (and on PostgreSQL sometimes the
//! database too), restart on the same data, check, stop gracefully.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::check::Checker;
use crate::http::Api;
use crate::load;
use crate::procs::{Keyport, PgCluster, free_port};

/// The server's configuration in every round. Generous limits: the load signs in from one address far faster
/// than a person would, and the limits are not what is tested here.
pub const CONFIG: &str = r#"
[server]
shutdown_timeout = "5s"
user_code_attempts_per_minute = 1000000
user_code_guesses_per_minute = 1000000
database_acquire_timeout = "2s"
database_statement_timeout = "5s"

[[realms]]
name = "crash"
access_token_lifetime = "1h"
device_code_lifetime = "10m"
device_poll_interval = "1s"

[realms.brute_force]
attempts_per_address_per_minute = 1000000

[realms.rate_limits]
token_requests_per_address = 1000000
public_client_token_requests = 1000000
confidential_client_token_requests = 1000000
device_authorizations_per_address = 1000000
public_client_device_authorizations = 1000000
confidential_client_device_authorizations = 1000000

[[realms.clients]]
client_id = "sdk"
public = true
grants = ["device_code", "refresh_token"]

[[realms.clients]]
client_id = "sdk-loose"
public = true
grants = ["device_code", "refresh_token"]
refresh_token_rotation = "off"

[[realms.clients]]
client_id = "bot"
secret = "bot-secret-0123456789-abcdef-0123456789"
grants = ["client_credentials"]

[[realms.clients]]
client_id = "rs"
secret = "rs-secret-0123456789-abcdef-0123456789"
grants = []

[[realms.clients]]
client_id = "admin-cli"
secret = "admin-cli-secret-0123456789-abcdef-01234"
grants = ["password"]
scopes = ["admin"]

[[realms.users]]
username = "root"
password = "root-password-0123456789"
roles = ["admin"]
"#;

/// Where the rounds keep their data.
pub enum Backend<'a> {
    Sqlite,
    /// A private cluster this program may kill and restart.
    Private(&'a PgCluster),
    /// The tests' shared server (`--shared-pg`, or no private cluster possible): never restarted.
    Shared,
}

/// What happens to the database in a PostgreSQL round.
#[derive(Clone, Copy, Debug)]
pub enum DbKill {
    No,
    /// kill -9 of the database during the load, restarted at once while the load goes on; keyport killed later.
    MidLoad,
    /// kill -9 of the database and of keyport at the same moment; both restarted.
    WithServer,
}

pub struct Outcome {
    pub acked: BTreeMap<&'static str, u64>,
    pub in_doubt: BTreeMap<&'static str, u64>,
    pub checks: u64,
    pub violations: Vec<String>,
    pub kill_after: Duration,
    pub db: DbKill,
}

pub struct Settings {
    pub keyport: PathBuf,
    pub workers: usize,
    /// Self-test (SQLite): restart on a copy taken before the kill, so acknowledged writes are lost and the
    /// checks must find violations.
    pub lose_writes: bool,
}

/// `keyport backup` of a running SQLite deployment (`VACUUM INTO`: a consistent copy).
fn backup(bin: &Path, data: &Path, output: &Path) -> Result<(), String> {
    let out = std::process::Command::new(bin)
        .arg("backup")
        .arg("--data-dir")
        .arg(data)
        .arg("--output")
        .arg(output)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "keyport backup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

fn start(
    bin: &Path,
    config: &Path,
    data: &Path,
    url: Option<&String>,
    port: u16,
) -> Result<Keyport, String> {
    Keyport::start(bin, config, data, url.map(String::as_str), port)
}

pub async fn run(settings: &Settings, backend: &Backend<'_>, seed: u64) -> Result<Outcome, String> {
    let t0 = std::time::Instant::now();
    let trace = std::env::var_os("CRASH_TRACE").is_some();
    let phase = |what: &str| {
        if trace {
            eprintln!("  [{:6.2}s] {what}", t0.elapsed().as_secs_f64());
        }
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let kill_after = Duration::from_millis(rng.gen_range(300..2500));
    let db = match backend {
        Backend::Private(_) => match rng.gen_range(0..3) {
            0 => DbKill::No,
            1 => DbKill::MidLoad,
            _ => DbKill::WithServer,
        },
        _ => DbKill::No,
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = dir.path().join("keyport.toml");
    std::fs::write(&config, CONFIG).map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let snapshot = dir.path().join("snapshot.db");
    let db_name = format!("crash_{seed:016x}");
    let mut shared_db = None;
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Private(c) => {
            tokio::task::block_in_place(|| c.create_database(&db_name))?;
            Some(c.url(&db_name))
        }
        Backend::Shared => {
            let d = keyport_testkit::TestDatabase::create().await;
            let url = d.url.clone();
            shared_db = Some(d);
            Some(url)
        }
    };
    let port = free_port()?;
    let bin = settings.keyport.clone();
    let (c, d, u) = (config.clone(), data.clone(), url.clone());
    let mut server = blocking(move || start(&bin, &c, &d, u.as_ref(), port)).await?;
    phase("started");
    let api = Api::new(&server.url);
    let load = Arc::new(load::setup(api.clone(), format!("r{seed:x}"), 4).await?);

    phase("set up");
    let workers: Vec<_> = (0..settings.workers)
        .map(|_| tokio::spawn(load::worker(load.clone(), rng.r#gen())))
        .collect();
    match (db, backend) {
        (DbKill::MidLoad, Backend::Private(cluster)) => {
            let at = kill_after.mul_f64(rng.gen_range(0.1..0.6));
            tokio::time::sleep(at).await;
            tokio::task::block_in_place(|| cluster.kill9().and_then(|()| cluster.start()))?;
            tokio::time::sleep(kill_after - at).await;
        }
        (_, Backend::Sqlite) if settings.lose_writes => {
            let at = kill_after.mul_f64(rng.gen_range(0.3..0.7));
            tokio::time::sleep(at).await;
            let (bin, d, out) = (settings.keyport.clone(), data.clone(), snapshot.clone());
            blocking(move || backup(&bin, &d, &out)).await?;
            phase("snapshot taken");
            tokio::time::sleep(kill_after.saturating_sub(at)).await;
        }
        _ => tokio::time::sleep(kill_after).await,
    }
    phase("kill");
    load.stop.store(true, Ordering::SeqCst);
    server.kill9();
    if let (DbKill::WithServer, Backend::Private(cluster)) = (db, backend) {
        tokio::task::block_in_place(|| cluster.kill9())?;
    }
    for w in workers {
        w.await.map_err(|e| format!("a worker panicked: {e}"))?;
    }
    phase("workers done");
    drop(server);
    if settings.lose_writes && matches!(backend, Backend::Sqlite) {
        // The self-test: restart on a consistent copy taken before the kill, as if the last writes were lost.
        std::fs::remove_dir_all(&data).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        std::fs::copy(&snapshot, data.join("keyport.db")).map_err(|e| e.to_string())?;
    }
    if let (DbKill::WithServer, Backend::Private(cluster)) = (db, backend) {
        tokio::task::block_in_place(|| cluster.start())?;
        phase("database restarted");
    }

    let bin = settings.keyport.clone();
    let (c, d, u) = (config.clone(), data.clone(), url.clone());
    let server = blocking(move || start(&bin, &c, &d, u.as_ref(), port)).await?;
    phase("restarted");
    let model = std::mem::take(&mut *load.model());
    let mut checker = Checker::new(&api, &load.admin);
    checker.run(&model).await;
    phase("checked");
    let mut violations = model.violations;
    violations.append(&mut checker.violations);
    if let Err(e) = blocking(move || server.stop()).await {
        violations.push(format!("graceful stop after the checks: {e}"));
    }
    if let Backend::Private(c) = backend {
        tokio::task::block_in_place(|| c.drop_database(&db_name))?;
    }
    drop(shared_db);
    Ok(Outcome {
        acked: model.acked,
        in_doubt: model.in_doubt,
        checks: checker.checks,
        violations,
        kill_after,
        db,
    })
}

/// The seed of round `i` of a run whose base seed is `base` (splitmix64).
pub fn round_seed(base: u64, i: u64) -> u64 {
    let mut z = base.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
