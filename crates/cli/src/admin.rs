//! `keyport admin user create|delete|list` and `keyport admin token create|list|info|revoke`: seed 002's user and
//! token management from the shell, through keyport's admin API.
//!
//! The credential is `$KEYPORT_TOKEN` (an administrator's personal API token, or any access token) or, when that
//! is unset, the stored login of the profile. The server and realm are `--server`/`--realm` (or
//! `$KEYPORT_SERVER_URL`/`$KEYPORT_REALM`), else the profile's.

use std::io::Read;

use clap::{Args, Subcommand};
use keyport_client::admin::{AuthClient, connect_to_auth_client};

use crate::common::{ProfileArgs, load_token, profile_config};

/// Arguments of `keyport admin`.
#[derive(Args, Debug)]
pub struct AdminArgs {
    #[command(flatten)]
    profile: ProfileArgs,
    /// The keyport server (what comes before `/realms/…`). Default: the profile's.
    #[arg(long, env = "KEYPORT_SERVER_URL", global = true)]
    server: Option<String>,
    /// The realm. Default: the profile's.
    #[arg(long, env = "KEYPORT_REALM", global = true)]
    realm: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Machine users.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a machine user (generated id and email).
    Create { name: String },
    /// Delete a user (name or id); every token and session of theirs is revoked.
    Delete { name: String },
    /// List the realm's users.
    List {
        #[arg(long, default_value_t = 0)]
        first: u32,
        #[arg(long, default_value_t = 100)]
        max: u32,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a scoped token for a user (`--user` and `--scope`), or your own personal token (`--name` only).
    /// The token is printed once, on the first line.
    Create {
        /// The user (name or id) of a scoped token.
        #[arg(long)]
        user: Option<String>,
        /// A scope of the realm's catalogue; repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A name for a personal token.
        #[arg(long)]
        name: Option<String>,
        /// Lifespan in days (default 30, never more than the realm's maximum).
        #[arg(long)]
        days: Option<u32>,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long, default_value_t = 0)]
        first: u32,
        #[arg(long, default_value_t = 100)]
        max: u32,
    },
    /// Show what a token is. Reads the token from stdin when it is `-` (keeps it out of the process list).
    Info { token: String },
    /// Revoke a token by its id.
    Revoke { token_id: String },
}

async fn connect(args: &AdminArgs) -> anyhow::Result<AuthClient> {
    let credential = match std::env::var("KEYPORT_TOKEN") {
        Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
        _ => load_token(&args.profile.profile)
            .map_err(|e| {
                anyhow::anyhow!("{e:#}; or set KEYPORT_TOKEN to an administrator's API token")
            })?
            .access_token()
            .await?
            .secret()
            .to_owned(),
    };
    match (&args.server, &args.realm) {
        (Some(server), Some(realm)) => Ok(connect_to_auth_client(server, realm, credential)?),
        (Some(_), None) | (None, Some(_)) => {
            anyhow::bail!("give both --server and --realm (or neither, to use the profile's)")
        }
        (None, None) => Ok(AuthClient::from_config(
            &profile_config(&args.profile.profile)?,
            credential,
        )?),
    }
}

fn when(t: Option<i64>) -> String {
    t.map(|t| t.to_string()).unwrap_or_else(|| "-".into())
}

/// What to do when the admin API refuses a credential for lacking the `admin` scope (issue 11, item 4: the
/// admin API wants the `admin` role and the `admin` scope, and a login asks for `admin` only when told to).
pub const NEEDS_ADMIN_SCOPE: &str = "the credential lacks the `admin` scope the admin API needs: run \
     `keyport login --scope \"openid profile email admin\"` (with a client that may ask for `admin`, such as \
     keyport-cli of realm master) and try again, or set KEYPORT_TOKEN to an administrator's personal API token";

/// Runs `keyport admin …`; prints plain lines meant for people and for `cut`/`awk`.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let client = connect(&args).await?;
    run_command(&client, args.command).await.map_err(|e| {
        let lacks_admin_scope = matches!(
            e.downcast_ref::<keyport_client::Error>(),
            Some(keyport_client::Error::Server { status: 403, description: Some(d), .. })
                if d.contains("`admin` scope")
        );
        if lacks_admin_scope {
            anyhow::anyhow!("{NEEDS_ADMIN_SCOPE}")
        } else {
            e
        }
    })
}

async fn run_command(client: &AuthClient, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::User(UserCommand::Create { name }) => {
            let u = client.create_user(&name).await?;
            println!(
                "Machine user {}({}) created; id {}",
                u.username,
                u.email.unwrap_or_default(),
                u.id
            );
        }
        AdminCommand::User(UserCommand::Delete { name }) => {
            client.delete_user(&name).await?;
            println!("User {name} deleted; their tokens and sessions are revoked");
        }
        AdminCommand::User(UserCommand::List { first, max }) => {
            for u in client.list_users(first, max).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    u.id,
                    u.username,
                    u.user_type,
                    u.email.unwrap_or_default(),
                    u.roles.join(",")
                );
            }
        }
        AdminCommand::Token(TokenCommand::Create {
            user,
            scopes,
            name,
            days,
        }) => {
            let t = match (user, name) {
                (Some(user), _) => client.create_token(&user, &scopes, days).await?,
                (None, Some(name)) if scopes.is_empty() => {
                    client.create_personal_token(&name, days).await?
                }
                (None, Some(_)) => {
                    anyhow::bail!("--scope needs --user (personal tokens carry all your rights)")
                }
                (None, None) => anyhow::bail!(
                    "give --user USER --scope SCOPE… for a scoped token, or --name for a personal one"
                ),
            };
            println!("{}", t.token.expose());
            eprintln!(
                "token id {} for {} ({}), scopes: {}, expires at {} — this is the only time the token is shown",
                t.token_id,
                t.username,
                t.email.unwrap_or_default(),
                if t.unscoped {
                    "all (personal token)".into()
                } else {
                    t.scopes.join(" ")
                },
                t.expires_at
            );
        }
        AdminCommand::Token(TokenCommand::List { first, max }) => {
            for t in client.list_tokens(first, max).await? {
                println!(
                    "{}\t{}\t{}\t{}\texpires {}\tlast used {}\t{}",
                    t.token_id,
                    t.username,
                    if t.unscoped {
                        "unscoped".to_owned()
                    } else {
                        t.scopes.join(",")
                    },
                    t.name.unwrap_or_default(),
                    t.expires_at,
                    when(t.last_used_at),
                    if t.active { "active" } else { "inactive" }
                );
            }
        }
        AdminCommand::Token(TokenCommand::Info { token }) => {
            let token = if token == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s.trim().to_owned()
            } else {
                token
            };
            let i = client.token_info(&token).await?;
            println!("active: {}", i.active);
            for (k, v) in [
                ("token_id", i.token_id),
                ("user_id", i.user_id),
                ("email", i.email),
                ("user_type", i.user_type),
                ("role", i.role),
                ("realm", i.realm),
                ("scope", i.scope),
                ("iat", i.iat.map(|t| t.to_string())),
                ("exp", i.exp.map(|t| t.to_string())),
            ] {
                if let Some(v) = v {
                    println!("{k}: {v}");
                }
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { token_id }) => {
            client.revoke_token(&token_id).await?;
            println!("Token {token_id} revoked");
        }
    }
    Ok(())
}
