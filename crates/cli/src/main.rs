//! The `keyport` binary: `serve` runs the server; the other subcommands are the client CLI.

mod admin;
mod common;
mod login;
mod logout;
mod ops;
mod serve;
mod status;
mod token;
mod whoami;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "keyport",
    version,
    about = "Keycloak-compatible OAuth 2.0 / OIDC server and client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (SQLite by default; prints the URLs when ready).
    Serve(serve::ServeArgs),
    /// Bring the database schema up to date and exit (SQLite, or PostgreSQL with --database-url).
    Migrate(serve::MigrateArgs),
    /// Copy a running SQLite deployment into one file (online, consistent); PostgreSQL: use pg_dump.
    Backup(ops::BackupArgs),
    /// Check a configuration and its database without starting the server: one line per problem.
    Doctor(ops::DoctorArgs),
    /// Make new signing keys, in one transaction (the previous ones keep verifying until their tokens expired).
    RotateKeys(serve::RotateKeysArgs),
    /// Seal the signing keys stored in clear with the key-encryption key (server.key_encryption_key_file or
    /// KEYPORT_KEY_ENCRYPTION_KEY), in one transaction.
    EncryptKeys(serve::RotateKeysArgs),
    /// Log in: the device flow (shows a code, opens the browser), or with --web the browser sign-in (code + PKCE
    /// through a loopback redirect); stores the token.
    Login(login::LoginArgs),
    /// Show who the stored token belongs to (asks the server).
    Whoami(whoami::WhoamiArgs),
    /// Print a fresh access token, e.g. `curl -H "Authorization: Bearer $(keyport token)" …`.
    Token(token::TokenArgs),
    /// Show the saved servers and tokens (no request is made).
    Status(status::StatusArgs),
    /// End the session on the server and delete the stored token.
    Logout(logout::LogoutArgs),
    /// Manage machine users and API tokens (needs an administrator's token: $KEYPORT_TOKEN or the login).
    Admin(admin::AdminArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Migrate(args) => serve::migrate(args),
        Command::RotateKeys(args) => serve::rotate_keys(args),
        Command::EncryptKeys(args) => serve::encrypt_keys(args),
        Command::Backup(args) => ops::backup(args),
        Command::Doctor(args) => ops::doctor(args),
        Command::Login(args) => common::run(login::run(args)),
        Command::Whoami(args) => common::run(whoami::run(args)),
        Command::Token(args) => common::run(token::run(args)),
        Command::Status(args) => common::run(status::run(args)),
        Command::Logout(args) => common::run(logout::run(args)),
        Command::Admin(args) => common::run(admin::run(args)),
    }
}
