//! The mixed load: workers each pick operations with their own seeded RNG and record every answer in the
//! [`Model`]. An object is changed by one worker at a time (a client does not race itself); a missing answer
//! retires the object (the client stops using it), so what is in doubt stays exactly what was in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};

use crate::http::{ADMIN_CLI, Answer, Api, BOT, ROOT, SDK, SDK_LOOSE};
use crate::model::{Access, ApiToken, Device, Family, Mark, Model, User};

/// What every worker shares.
pub struct Load {
    pub api: Api,
    /// `root`'s personal API token (administrator), used for every admin call.
    pub admin: String,
    pub model: Mutex<Model>,
    pub stop: AtomicBool,
    /// Prefix of the usernames this round makes.
    pub tag: String,
    /// A scope of the realm's API-token catalogue.
    pub scope: String,
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Signs `root` in (password grant through `admin-cli` with the `admin` scope), makes its personal API token and
/// `users` people: all must be acknowledged, or the round cannot start.
pub async fn setup(api: Api, tag: String, users: usize) -> Result<Load, String> {
    let jwt = api
        .form(
            "token",
            Some(ADMIN_CLI),
            &[
                ("grant_type", "password"),
                ("username", ROOT.0),
                ("password", ROOT.1),
                ("scope", "openid admin"),
            ],
        )
        .await;
    let Answer::Acked(jwt) = jwt else {
        return Err(format!("root's password grant: {jwt:?}"));
    };
    let jwt = jwt["access_token"].as_str().unwrap_or_default().to_owned();
    let created = api
        .admin_call(
            Method::POST,
            "tokens",
            &jwt,
            Some(json!({"name": "crash admin"})),
        )
        .await;
    let Answer::Acked(created) = created else {
        return Err(format!("root's API token: {created:?}"));
    };
    let admin = created["token"].as_str().unwrap_or_default().to_owned();
    let scopes = api.admin_call(Method::GET, "scopes", &admin, None).await;
    let Answer::Acked(scopes) = scopes else {
        return Err(format!("GET scopes: {scopes:?}"));
    };
    let scope = scopes[0]["name"]
        .as_str()
        .ok_or("the realm has no API-token scopes")?
        .to_owned();
    let mut model = Model::default();
    model.api_tokens.push(ApiToken {
        token: admin.clone(),
        id: created["token_id"].as_str().unwrap_or_default().to_owned(),
        user: None,
        revoked: Mark::No,
        busy: true, // never revoked: the checks need it
    });
    model.ack("token create");
    let load = Load {
        api,
        admin,
        model: Mutex::new(model),
        stop: AtomicBool::new(false),
        tag,
        scope,
    };
    let mut rng = StdRng::seed_from_u64(0);
    for _ in 0..users {
        load.create_user(&mut rng).await;
    }
    let made = load.model().users.iter().filter(|u| u.usable()).count();
    if made < users {
        return Err(format!("only {made} of {users} users were created"));
    }
    Ok(load)
}

/// Runs one worker until `stop` is set.
pub async fn worker(load: Arc<Load>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !load.stop.load(Ordering::SeqCst) {
        let roll = rng.gen_range(0..100);
        match roll {
            0..15 => load.device_login(&mut rng).await,
            15..45 => load.refresh(&mut rng).await,
            45..55 => load.client_credentials().await,
            55..67 => load.create_token(&mut rng).await,
            67..73 => load.revoke_token(&mut rng).await,
            73..78 => load.end_family(&mut rng, false).await,
            78..82 => load.end_family(&mut rng, true).await,
            82..87 => load.revoke_access(&mut rng).await,
            87..95 => load.create_user(&mut rng).await,
            _ => load.delete_user(&mut rng).await,
        }
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

/// A random index of the items satisfying `ok`.
fn pick<T>(rng: &mut StdRng, items: &[T], ok: impl Fn(&T) -> bool) -> Option<usize> {
    let candidates: Vec<usize> = (0..items.len()).filter(|&i| ok(&items[i])).collect();
    (!candidates.is_empty()).then(|| candidates[rng.gen_range(0..candidates.len())])
}

impl Load {
    pub fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().expect("model lock")
    }

    /// Device authorization, approval through the pages as a user, one poll.
    async fn device_login(&self, rng: &mut StdRng) {
        let client = if rng.gen_bool(0.7) { SDK } else { SDK_LOOSE };
        let Some((user, username, password)) = ({
            let m = self.model();
            pick(rng, &m.users, |u| u.usable())
                .map(|i| (i, m.users[i].username.clone(), m.users[i].password.clone()))
        }) else {
            return;
        };
        let Answer::Acked(auth) = self
            .api
            .form("auth/device", None, &[("client_id", client)])
            .await
        else {
            return; // no device code known to the client: nothing to check
        };
        let device_code = str_of(&auth, "device_code");
        let d = {
            let mut m = self.model();
            m.devices.push(Device {
                device_code: device_code.clone(),
                client,
                user,
                approved: Mark::Maybe,
                redeemed: Mark::No,
            });
            m.devices.len() - 1
        };
        let approval = self
            .api
            .approve_device(&str_of(&auth, "user_code"), &username, &password)
            .await;
        if !matches!(approval, Answer::Acked(_)) {
            self.model().doubt("device approval");
            return;
        }
        {
            let mut m = self.model();
            m.devices[d].approved = Mark::Yes;
            m.devices[d].redeemed = Mark::Maybe;
            m.ack("device approval");
        }
        let poll = self
            .api
            .form(
                "token",
                None,
                &[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", &device_code),
                    ("client_id", client),
                ],
            )
            .await;
        let mut m = self.model();
        let Answer::Acked(tokens) = poll else {
            m.doubt("device login");
            return;
        };
        m.devices[d].redeemed = Mark::Yes;
        m.families.push(Family {
            client,
            strict: client == SDK,
            user,
            chain: vec![str_of(&tokens, "refresh_token")],
            ended: Mark::No,
            refresh_in_doubt: false,
            busy: false,
        });
        let family = Some(m.families.len() - 1);
        m.access.push(Access {
            token: str_of(&tokens, "access_token"),
            family,
            client,
            revoked: Mark::No,
        });
        m.ack("device login");
    }

    /// Claims a family that is not ended and whose user may still be there; marks it busy.
    fn claim_family(&self, rng: &mut StdRng) -> Option<(usize, &'static str, String)> {
        let mut m = self.model();
        let users: Vec<bool> = m.users.iter().map(|u| u.deleted == Mark::No).collect();
        let f = pick(rng, &m.families, |f| {
            !f.busy && f.ended == Mark::No && users[f.user]
        })?;
        let fam = &mut m.families[f];
        fam.busy = true;
        Some((f, fam.client, fam.chain.last().cloned().unwrap_or_default()))
    }

    async fn refresh(&self, rng: &mut StdRng) {
        let Some((f, client, token)) = self.claim_family(rng) else {
            return;
        };
        self.model().families[f].refresh_in_doubt = true;
        let answer = self
            .api
            .form(
                "token",
                None,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", client),
                ],
            )
            .await;
        let mut m = self.model();
        match answer {
            Answer::Acked(tokens) => {
                let next = str_of(&tokens, "refresh_token");
                let fam = &mut m.families[f];
                if fam.chain.last() != Some(&next) {
                    fam.chain.push(next);
                }
                fam.refresh_in_doubt = false;
                fam.busy = false;
                m.access.push(Access {
                    token: str_of(&tokens, "access_token"),
                    family: Some(f),
                    client,
                    revoked: Mark::No,
                });
                m.ack("refresh");
            }
            // A definite refusal of the token the client holds, with nothing that could have ended its family:
            // wrong while the server runs, crash or not.
            Answer::Refused(400, body) if m.family_ended(f) == Mark::No => {
                m.violations.push(format!(
                    "while running: refresh of family {f}'s last acknowledged token refused: {body}"
                ));
                m.doubt("refresh");
            }
            // Retired: the client no longer knows which token is current.
            _ => m.doubt("refresh"),
        }
    }

    /// Keycloak's logout (`revoke = false`) or RFC 7009 revocation of the refresh token (`revoke = true`).
    async fn end_family(&self, rng: &mut StdRng, revoke: bool) {
        let Some((f, client, token)) = self.claim_family(rng) else {
            return;
        };
        self.model().families[f].ended = Mark::Maybe;
        let answer = if revoke {
            self.api
                .form("revoke", None, &[("token", &token), ("client_id", client)])
                .await
        } else {
            self.api
                .form(
                    "logout",
                    None,
                    &[("refresh_token", &token), ("client_id", client)],
                )
                .await
        };
        let kind = if revoke {
            "refresh revocation"
        } else {
            "logout"
        };
        let mut m = self.model();
        if let Answer::Acked(_) = answer {
            m.families[f].ended = Mark::Yes;
            m.ack(kind);
        } else {
            m.doubt(kind);
        }
    }

    async fn client_credentials(&self) {
        let answer = self
            .api
            .form("token", Some(BOT), &[("grant_type", "client_credentials")])
            .await;
        let mut m = self.model();
        if let Answer::Acked(tokens) = answer {
            m.access.push(Access {
                token: str_of(&tokens, "access_token"),
                family: None,
                client: BOT.0,
                revoked: Mark::No,
            });
            m.ack("client credentials");
        } else {
            m.doubt("client credentials");
        }
    }

    /// RFC 7009 revocation of an access token by the client it was issued to.
    async fn revoke_access(&self, rng: &mut StdRng) {
        let Some((a, token, client)) = ({
            let mut m = self.model();
            pick(rng, &m.access, |a| a.revoked == Mark::No).map(|a| {
                m.access[a].revoked = Mark::Maybe;
                (a, m.access[a].token.clone(), m.access[a].client)
            })
        }) else {
            return;
        };
        let answer = if client == BOT.0 {
            self.api
                .form("revoke", Some(BOT), &[("token", &token)])
                .await
        } else {
            self.api
                .form("revoke", None, &[("token", &token), ("client_id", client)])
                .await
        };
        let mut m = self.model();
        if let Answer::Acked(_) = answer {
            m.access[a].revoked = Mark::Yes;
            m.ack("access revocation");
        } else {
            m.doubt("access revocation");
        }
    }

    /// A personal token of `root`, or a scoped token of one of the users.
    async fn create_token(&self, rng: &mut StdRng) {
        let user = if rng.gen_bool(0.4) {
            None
        } else {
            let m = self.model();
            match pick(rng, &m.users, |u| u.usable()) {
                Some(u) => Some((u, m.users[u].id.clone().unwrap_or_default())),
                None => return,
            }
        };
        let body = match &user {
            None => json!({"name": "personal"}),
            Some((_, id)) => json!({"name": "scoped", "user_id": id, "scopes": [self.scope]}),
        };
        let answer = self
            .api
            .admin_call(Method::POST, "tokens", &self.admin, Some(body))
            .await;
        let mut m = self.model();
        if let Answer::Acked(created) = answer {
            m.api_tokens.push(ApiToken {
                token: str_of(&created, "token"),
                id: str_of(&created, "token_id"),
                user: user.map(|(u, _)| u),
                revoked: Mark::No,
                busy: false,
            });
            m.ack("token create");
        } else {
            m.token_creates_in_doubt += 1;
            m.doubt("token create");
        }
    }

    async fn revoke_token(&self, rng: &mut StdRng) {
        let Some((t, id)) = ({
            let mut m = self.model();
            pick(rng, &m.api_tokens, |t| !t.busy && t.revoked == Mark::No).map(|t| {
                m.api_tokens[t].busy = true;
                m.api_tokens[t].revoked = Mark::Maybe;
                (t, m.api_tokens[t].id.clone())
            })
        }) else {
            return;
        };
        let answer = self
            .api
            .admin_call(Method::DELETE, &format!("tokens/{id}"), &self.admin, None)
            .await;
        let mut m = self.model();
        if let Answer::Acked(_) = answer {
            m.api_tokens[t].revoked = Mark::Yes;
            m.ack("token revoke");
        } else {
            m.doubt("token revoke");
        }
    }

    async fn create_user(&self, rng: &mut StdRng) {
        let (u, username, password) = {
            let mut m = self.model();
            let n = m.users.len();
            let username = format!("{}-u{n}", self.tag);
            let password = format!("pw-{:016x}", rng.r#gen::<u64>());
            m.users.push(User {
                username: username.clone(),
                password: password.clone(),
                id: None,
                created: Mark::Maybe,
                deleted: Mark::No,
            });
            (n, username, password)
        };
        let answer = self
            .api
            .admin_call(
                Method::POST,
                "users",
                &self.admin,
                Some(json!({"username": username, "password": password, "roles": ["user"]})),
            )
            .await;
        let mut m = self.model();
        if let Answer::Acked(created) = answer {
            m.users[u].id = Some(str_of(&created, "id"));
            m.users[u].created = Mark::Yes;
            m.ack("user create");
        } else {
            m.doubt("user create");
        }
    }

    /// Deletes a user (never below three usable ones, so logins go on).
    async fn delete_user(&self, rng: &mut StdRng) {
        let Some((u, id)) = ({
            let mut m = self.model();
            if m.users.iter().filter(|u| u.usable()).count() <= 3 {
                None
            } else {
                pick(rng, &m.users, |u| u.usable()).map(|u| {
                    m.users[u].deleted = Mark::Maybe;
                    (u, m.users[u].id.clone().unwrap_or_default())
                })
            }
        }) else {
            return;
        };
        let answer = self
            .api
            .admin_call(Method::DELETE, &format!("users/{id}"), &self.admin, None)
            .await;
        let mut m = self.model();
        if let Answer::Acked(_) = answer {
            m.users[u].deleted = Mark::Yes;
            m.ack("user delete");
        } else {
            m.doubt("user delete");
        }
    }
}
