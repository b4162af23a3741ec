//! `keyport backup` (an online copy of a SQLite deployment) and `keyport doctor` (checks a configuration and its
//! database without starting the server; one line per problem, saying what to do).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use keyport_server::config::{Config, Overrides};

use crate::serve::{load_config, runtime};

/// `keyport backup`.
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// TOML configuration file.
    #[arg(long, env = "KEYPORT_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the SQLite database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A `postgres://…` deployment is not copied by keyport: use `pg_dump`.
    #[arg(long)]
    database_url: Option<String>,
    /// The file to write (must not exist). Restore: stop the server, put it in an empty data directory as
    /// `keyport.db`, start the server on that directory.
    #[arg(long, short)]
    output: PathBuf,
}

pub fn backup(args: BackupArgs) -> ExitCode {
    let overrides = Overrides {
        data_dir: args.data_dir,
        database_url: args.database_url,
        ..Default::default()
    };
    let config = match load_config(args.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.server.database_url.is_some() {
        eprintln!(
            "keyport: backup copies SQLite deployments; for PostgreSQL use `pg_dump --format=custom` (docs/operations.md)"
        );
        return ExitCode::FAILURE;
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let data_dir = &config.server.data_dir;
    match runtime.block_on(keyport_server::store::ops::sqlite_backup(
        data_dir,
        &args.output,
    )) {
        Ok(()) => {
            println!(
                "keyport: {} backed up to {} (it holds the signing keys: keep it as private as the data directory)",
                data_dir.display(),
                args.output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keyport: backup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `keyport doctor`.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// TOML configuration file.
    #[arg(long, env = "KEYPORT_CONFIG")]
    config: Option<PathBuf>,
    /// Address the server will listen on.
    #[arg(long)]
    listen: Option<String>,
    /// Directory of the SQLite database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Public base URL used in issuer and endpoint URLs.
    #[arg(long)]
    public_url: Option<String>,
    /// `postgres://…` to check a PostgreSQL database.
    #[arg(long)]
    database_url: Option<String>,
}

/// Largest clock difference between this machine and the database that is not reported.
const MAX_SKEW_SECS: i64 = 5;

pub fn doctor(args: DoctorArgs) -> ExitCode {
    let overrides = Overrides {
        listen: args.listen,
        public_url: args.public_url,
        data_dir: args.data_dir,
        database_url: args.database_url,
        ..Default::default()
    };
    // A configuration that does not load is the one problem reported (the rest needs it); exit 2 as `serve`.
    let config = match load_config(args.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut problems = config_problems(&config);
    let now = keyport_server::clock::Clock::now(&keyport_server::clock::SystemClock);
    let (tls_problems, warnings) = keyport_server::tls::doctor(&config.server, now);
    problems.extend(tls_problems);
    let inspected = runtime.block_on(keyport_server::store::ops::inspect(
        config.server.database_url.as_deref(),
        &config.server.data_dir,
        config.server.database_acquire_timeout,
    ));
    match inspected {
        Err(e) => {
            let message = match e {
                keyport_server::store::StoreError::Database(m) => m,
                other => other.to_string(),
            };
            problems.push(format!(
                "database: {message}; check that it runs and that the URL (or --data-dir) is right"
            ))
        }
        Ok(db) => {
            if !db.missing_migrations.is_empty() {
                problems.push(format!(
                    "database: {} migration(s) not applied ({}); run `keyport migrate` with the same configuration",
                    db.missing_migrations.len(),
                    db.missing_migrations.join(", ")
                ));
            }
            if !db.unknown_migrations.is_empty() {
                problems.push(format!(
                    "database: migrated by a newer keyport (versions {:?}); run that version or newer",
                    db.unknown_migrations
                ));
            }
            let local = keyport_server::clock::Clock::now(&keyport_server::clock::SystemClock);
            problems.extend(skew_problem(local, db.now));
        }
    }
    for p in &problems {
        println!("keyport doctor: {p}");
    }
    for w in &warnings {
        println!("keyport doctor: warning: {w}");
    }
    if problems.is_empty() {
        println!("keyport doctor: no problems found");
        ExitCode::SUCCESS
    } else {
        println!("keyport doctor: {} problem(s)", problems.len());
        ExitCode::FAILURE
    }
}

/// The clock-skew line, if this machine's clock and the database's differ by more than [`MAX_SKEW_SECS`].
pub fn skew_problem(local: i64, database: i64) -> Option<String> {
    let skew = local - database;
    (skew.abs() > MAX_SKEW_SECS).then(|| {
        format!(
            "clock: this machine is {} s {} the database; token lifetimes and expiries drift by that much: \
             synchronise both clocks with NTP (chrony, systemd-timesyncd)",
            skew.abs(),
            if skew > 0 { "ahead of" } else { "behind" }
        )
    })
}

/// Problems a loaded (hence valid) configuration can still have.
pub fn config_problems(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let s = &config.server;
    let listen: Option<SocketAddr> = s.listen.parse().ok();
    let public = s
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok());
    match (&public, listen) {
        (None, Some(addr)) if addr.ip().is_unspecified() || !addr.ip().is_loopback() => {
            let scheme = if s.tls_cert_file.is_some() {
                "https"
            } else {
                "http"
            };
            problems.push(format!(
                "server.public_url is unset, so issuers say {scheme}://{addr}; set it to the URL clients use (e.g. https://auth.example.org)"
            ))
        }
        (Some(url), Some(addr)) => {
            let host_ip: Option<IpAddr> = url
                .host_str()
                .and_then(|h| h.trim_matches(['[', ']']).parse().ok());
            let loopback_host =
                url.host_str() == Some("localhost") || host_ip.is_some_and(|ip| ip.is_loopback());
            if url.scheme() == "http" && !loopback_host {
                problems.push(format!(
                    "server.public_url `{url}` is plain http on a network host: serve it over https (server.tls_cert_file, or a TLS proxy in front) and set public_url to the https URL"
                ));
            }
            if loopback_host && url.port_or_known_default() != Some(addr.port()) && addr.port() != 0
            {
                problems.push(format!(
                    "server.public_url `{url}` points at this machine but on another port than server.listen ({addr}); make them agree"
                ));
            }
            if loopback_host && !addr.ip().is_loopback() {
                problems.push(format!(
                    "server.public_url `{url}` is a loopback URL but the server listens on {addr}: other machines cannot use these issuers; set public_url to the name they use"
                ));
            }
        }
        _ => {}
    }
    for realm in &keyport_server::setup::realms_with_master(config) {
        for c in realm.clients.iter().filter(|c| !c.public) {
            let key = format!("realms.{}.clients.{}", realm.name, c.client_id);
            match keyport_server::setup::client_secret(&realm.name, c) {
                Err(e) => problems.push(format!("{e}")),
                Ok(Some(secret)) => {
                    if let Some(why) = weak_secret(&secret) {
                        problems.push(format!(
                            "{key}: the client secret is weak ({why}); use at least 32 random characters, e.g. `openssl rand -base64 32`"
                        ));
                    }
                }
                Ok(None) => {}
            }
        }
    }
    if let Some(p) = &s.admin_password
        && p.expose().len() < 12
    {
        problems.push(
            "server.admin_password (KEYPORT_ADMIN_PASSWORD) is shorter than 12 characters; choose a long one"
                .into(),
        );
    }
    problems
}

/// Why a client secret is too weak, if it is.
pub fn weak_secret(secret: &str) -> Option<String> {
    let distinct = secret
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if secret.chars().count() < 32 {
        Some(format!("{} characters", secret.chars().count()))
    } else if distinct < 10 {
        Some(format!("only {distinct} different characters"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skew_beyond_five_seconds_is_one_line_with_the_direction() {
        assert_eq!(skew_problem(1000, 1000), None);
        assert_eq!(skew_problem(1005, 1000), None);
        let ahead = skew_problem(1060, 1000).unwrap();
        assert!(ahead.contains("60 s ahead of the database"), "{ahead}");
        let behind = skew_problem(1000, 1007).unwrap();
        assert!(behind.contains("7 s behind"), "{behind}");
        assert!(behind.contains("NTP"), "{behind}");
    }

    #[test]
    fn short_or_repetitive_secrets_are_weak() {
        assert!(weak_secret("secret").is_some());
        assert!(
            weak_secret(&"ab".repeat(20))
                .unwrap()
                .contains("2 different")
        );
        assert_eq!(weak_secret("pipeline-bot-secret-0123456789-abcdef"), None);
    }

    fn config(toml: &str) -> Config {
        let mut c = Config::from_toml(toml, std::path::Path::new("t.toml")).unwrap();
        c.validate().unwrap();
        c
    }

    #[test]
    fn public_url_and_listen_address_must_agree() {
        let open = config("[server]\nlisten = \"0.0.0.0:8080\"\n");
        let p = config_problems(&open);
        assert!(
            p.iter()
                .any(|l| l.starts_with("server.public_url is unset")),
            "{p:?}"
        );

        let ok = config(
            "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"https://auth.example.org\"\n",
        );
        assert!(
            config_problems(&ok).is_empty(),
            "{:?}",
            config_problems(&ok)
        );

        let plain = config(
            "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"http://auth.example.org\"\n",
        );
        assert!(config_problems(&plain)[0].contains("plain http"));

        let port = config(
            "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"http://127.0.0.1:9999\"\n",
        );
        assert!(config_problems(&port)[0].contains("another port"));
    }
}
