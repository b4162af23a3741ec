//! `keyport serve`: loads the configuration (file < `KEYPORT_*` env < flags), starts the server, prints where it
//! listens, and runs until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use keyport_server::clock::SystemClock;
use keyport_server::config::{Config, Overrides};
use keyport_server::setup::{ADMIN_USER, CLI_CLIENT, MASTER};

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
        // Before the announcement: whoever reads it may send SIGTERM at once.
        let stop = keyport_server::server::shutdown_signal();
        println!("keyport listening on http://{}", running.addr);
        let master = running.issuer(MASTER);
        println!("  realm {MASTER}: issuer {master}");
        println!("    discovery  {master}/.well-known/openid-configuration");
        println!("    device     {master}/device  (client `{CLI_CLIENT}`)");
        let mut others: Vec<&String> = running
            .state
            .realms
            .keys()
            .filter(|r| *r != MASTER)
            .collect();
        others.sort();
        for realm in others {
            println!("  realm {realm}: issuer {}", running.issuer(realm));
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

/// `keyport rotate-keys`: a new signing key of every algorithm; the previous one stays for verification.
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
    let result = runtime.block_on(async {
        let store = keyport_server::server::open_store(&config)
            .await
            .map_err(|e| e.to_string())?;
        let now = keyport_server::clock::Clock::now(&SystemClock);
        keyport_server::setup::rotate_keys(store.as_ref(), now)
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => {
            println!(
                "keyport: new signing keys made; running servers verify with them at once and sign with them within {} s",
                keyport_server::server::KEY_RELOAD_INTERVAL.as_secs()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keyport: key rotation failed: {e}");
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
