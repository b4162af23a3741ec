//! `keyport serve`: loads the configuration (file < `KEYPORT_*` env < flags), starts the server, prints where it
//! listens, and runs until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use keyport_server::clock::SystemClock;
use keyport_server::config::{Config, Overrides};
use keyport_server::key_encryption::Kek;
use keyport_server::setup::{self, ADMIN_USER, CLI_CLIENT, MASTER};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "KEYPORT_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long)]
    listen: Option<String>,
    /// Directory of the SQLite database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Public base URL used in issuer and endpoint URLs.
    #[arg(long)]
    public_url: Option<String>,
    /// Path prefix for every endpoint, e.g. `/auth`.
    #[arg(long)]
    base_path: Option<String>,
    /// `postgres://…` to use PostgreSQL instead of SQLite (several replicas may share it).
    #[arg(long)]
    database_url: Option<String>,
}

/// `keyport migrate`: bring the database schema up to date and exit.
#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// TOML configuration file.
    #[arg(long, env = "KEYPORT_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the SQLite database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `postgres://…` to migrate a PostgreSQL database.
    #[arg(long)]
    database_url: Option<String>,
    /// Copy everything from the SQLite deployment in this data directory into the (empty) PostgreSQL database
    /// named by `--database-url`.
    #[arg(long, value_name = "DATA_DIR", requires = "database_url")]
    from_sqlite: Option<PathBuf>,
}

pub fn migrate(args: MigrateArgs) -> ExitCode {
    let overrides = Overrides {
        data_dir: args.data_dir,
        database_url: args.database_url,
        ..Default::default()
    };
    let config = match load_config(args.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let (Some(dir), Some(url)) = (&args.from_sqlite, &config.server.database_url) {
        let s = &config.server;
        let target = keyport_server::store::PgSettings {
            url: url.clone(),
            max_connections: s.database_max_connections,
            acquire_timeout: s.database_acquire_timeout,
            statement_timeout: s.database_statement_timeout,
        };
        return match runtime.block_on(keyport_server::store::copy::sqlite_to_postgres(
            dir, &target,
        )) {
            Ok(report) => {
                for (table, rows) in report {
                    println!("  {table}: {rows} rows");
                }
                println!(
                    "keyport: copied {} into PostgreSQL; start the replicas with --database-url",
                    dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("keyport: copy failed, nothing was written: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(keyport_server::server::open_store(&config)) {
        Ok(_) => {
            println!("keyport: the database schema is up to date");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keyport: migration failed: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    use keyport_server::logging;
    match logging::Format::from_env(std::env::var("KEYPORT_LOG_FORMAT").ok().as_deref()) {
        Ok(format) => logging::init(format),
        Err(message) => {
            eprintln!("keyport: configuration error: {message}");
            return ExitCode::from(2);
        }
    }
    let overrides = Overrides {
        listen: args.listen,
        public_url: args.public_url,
        base_path: args.base_path,
        data_dir: args.data_dir,
        database_url: args.database_url,
    };
    let config = match load_config(args.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let running = match keyport_server::server::start(config, Arc::new(SystemClock)).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("keyport: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Before the announcement: whoever reads it may send SIGTERM (or SIGHUP) at once.
        let stop = keyport_server::server::shutdown_signal();
        #[cfg(unix)]
        if let Some(tls) = running.tls.clone() {
            let clock = running.state.clock.clone();
            if let Err(e) = keyport_server::tls::reload_on_sighup(tls, clock) {
                eprintln!("keyport: cannot install the SIGHUP handler (certificate reloads): {e}");
                return ExitCode::FAILURE;
            }
        }
        let scheme = if running.tls.is_some() {
            "https"
        } else {
            "http"
        };
        println!("keyport listening on {scheme}://{}", running.addr);
        let master = running.issuer(MASTER);
        println!("  realm {MASTER}: issuer {master}");
        println!("    discovery  {master}/.well-known/openid-configuration");
        println!("    device     {master}/device  (client `{CLI_CLIENT}`)");
        println!("    portal     {master}/account/  (sign in, tokens, sessions; administration)");
        let mut others: Vec<&String> = running
            .state
            .realms
            .keys()
            .filter(|r| *r != MASTER)
            .collect();
        others.sort();
        for realm in others {
            let issuer = running.issuer(realm);
            println!("  realm {realm}: issuer {issuer}  (portal {issuer}/account/)");
        }
        if let Some(password) = &running.report.generated_admin_password {
            println!(
                "  bootstrap admin: user `{ADMIN_USER}` in realm `{MASTER}`, password {password}"
            );
            println!("  (shown once; set KEYPORT_ADMIN_PASSWORD to choose it)");
        }
        println!("  Ctrl-C stops the server");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        match running.until(stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("keyport: server error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `keyport rotate-keys` and `keyport encrypt-keys`: where the signing keys are.
#[derive(clap::Args, Debug)]
pub struct RotateKeysArgs {
    /// TOML configuration file.
    #[arg(long, env = "KEYPORT_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the SQLite database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `postgres://…` of the replicas' database.
    #[arg(long)]
    database_url: Option<String>,
}

pub fn rotate_keys(args: RotateKeysArgs) -> ExitCode {
    let result = with_store(args, |config, store, kek| async move {
        let now = keyport_server::clock::Clock::now(&SystemClock);
        let overlap = setup::key_overlap(&setup::realms_with_master(&config));
        setup::rotate_keys(store.as_ref(), now, kek.as_ref(), overlap)
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "keyport: new signing keys made; running servers verify with them at once and sign with them within {} s; the previous keys stay published for {overlap} s",
            keyport_server::server::KEY_RELOAD_INTERVAL.as_secs()
        ))
    });
    report(result, "key rotation failed")
}

/// `keyport encrypt-keys`: seals the keys stored in clear.
pub fn encrypt_keys(args: RotateKeysArgs) -> ExitCode {
    let result = with_store(args, |_, store, kek| async move {
        let Some(kek) = kek else {
            return Err("no key-encryption key: set server.key_encryption_key_file (or KEYPORT_KEY_ENCRYPTION_KEY) first".to_owned());
        };
        let n = setup::encrypt_keys(store.as_ref(), &kek)
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "keyport: {n} signing keys sealed; every server of this database now needs the same key-encryption key"
        ))
    });
    report(result, "encrypting the signing keys failed")
}

type StoreArc = Arc<dyn keyport_server::store::Store>;

/// Loads the configuration, opens the store and runs `job` with it and the configured key-encryption key.
fn with_store<F, Fut>(args: RotateKeysArgs, job: F) -> Result<Result<String, String>, ExitCode>
where
    F: FnOnce(Config, StoreArc, Option<Kek>) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let overrides = Overrides {
        data_dir: args.data_dir,
        database_url: args.database_url,
        ..Default::default()
    };
    let config = load_config(args.config.as_deref(), overrides)?;
    let kek = Kek::from_config(&config.server).map_err(|(key, message)| {
        eprintln!("keyport: configuration error: {key}: {message}");
        ExitCode::from(2)
    })?;
    let runtime = runtime()?;
    Ok(runtime.block_on(async {
        let store = keyport_server::server::open_store(&config)
            .await
            .map_err(|e| e.to_string())?;
        job(config, store, kek).await
    }))
}

fn report(result: Result<Result<String, String>, ExitCode>, what: &str) -> ExitCode {
    match result {
        Err(code) => code,
        Ok(Ok(message)) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("keyport: {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration (file < `KEYPORT_*` env < flags), or exit code 2 after saying which key is wrong.
pub(crate) fn load_config(
    file: Option<&std::path::Path>,
    overrides: Overrides,
) -> Result<Config, ExitCode> {
    Config::load(file, |k| std::env::var(k).ok(), overrides).map_err(|e| {
        eprintln!("keyport: configuration error: {e}");
        ExitCode::from(2)
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("keyport: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}
