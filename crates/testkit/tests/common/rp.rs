//! A small relying party (a web app signing its users in through keyport) on 127.0.0.1:0, written the way a
//! careful RP is: endpoints from discovery, authorization code + PKCE S256 with `state` and `nonce`, the
//! `iss` of the authorization response checked (RFC 9207), and the ID token verified against the realm's JWKS
//! (signature, `iss`, `aud`, `exp`, `nonce`, `at_hash`) before it shows "Signed in as {preferred_username}".
//!
//! Pages: `/login` (query parameters `prompt`, `max_age` and `login_hint` are passed on), `/callback`,
//! `/logout` (RP-initiated logout with the last ID token as `id_token_hint`), `/logged-out`. A failed sign-in
//! shows the OAuth error in `id="error"`; anything the RP refuses (a wrong `state` or `iss`, a token that does
//! not verify) shows `id="rp-error"` with status 400.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::{CsrfToken, PkceCodeChallenge};
use serde_json::Value;
use sha2::Digest;

/// The RP's registration at keyport.
#[derive(Clone)]
pub struct Registration {
    pub client_id: String,
    /// `None` for a public client (PKCE only).
    pub secret: Option<String>,
}

/// A running RP. Stops when dropped.
pub struct TestRp {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    shared: Arc<Rp>,
    task: tokio::task::JoinHandle<()>,
}

/// A listener bound before keyport starts, so that keyport's configuration can name the RP's exact URIs.
pub struct RpListener {
    listener: tokio::net::TcpListener,
    pub url: String,
}

impl RpListener {
    pub async fn bind() -> RpListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        RpListener { listener, url }
    }

    /// `{url}/callback`, the redirect URI to register.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.url)
    }

    /// `{url}/logged-out`, the post-logout redirect URI to register.
    pub fn post_logout_uri(&self) -> String {
        format!("{}/logged-out", self.url)
    }

    /// Serves the RP for `issuer` (discovery at `{issuer}/.well-known/openid-configuration`).
    pub async fn serve(self, issuer: &str, registration: Registration) -> TestRp {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let discovery: Value = http
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(discovery["issuer"], issuer, "discovery names the issuer");
        let shared = Arc::new(Rp {
            issuer: issuer.to_owned(),
            discovery,
            registration,
            url: self.url.clone(),
            http,
            pending: Mutex::default(),
            signed_in: Mutex::default(),
            logout_state: Mutex::default(),
        });
        let router = axum::Router::new()
            .route("/login", get(login))
            .route("/callback", get(callback))
            .route("/logout", get(logout))
            .route("/logged-out", get(logged_out))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(self.listener, router).await.unwrap();
        });
        TestRp {
            url: self.url,
            shared,
            task,
        }
    }
}

impl TestRp {
    /// `{url}/login` with these query parameters (e.g. `&[("prompt", "none")]`).
    pub fn login_url(&self, params: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&format!("{}/login", self.url)).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        url.into()
    }

    /// The verified claims of the last ID token the RP accepted.
    pub fn claims(&self) -> Value {
        self.shared
            .signed_in
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.claims.clone())
            .expect("the RP has signed someone in")
    }

    /// The tokens of the last sign-in (the token endpoint's JSON).
    pub fn tokens(&self) -> Value {
        self.shared
            .signed_in
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.tokens.clone())
            .expect("the RP has signed someone in")
    }
}

impl Drop for TestRp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Rp {
    issuer: String,
    discovery: Value,
    registration: Registration,
    url: String,
    http: reqwest::Client,
    /// Authorization requests in flight, by `state`: (PKCE verifier, nonce).
    pending: Mutex<HashMap<String, (String, String)>>,
    signed_in: Mutex<Option<SignedIn>>,
    logout_state: Mutex<Option<String>>,
}

struct SignedIn {
    claims: Value,
    tokens: Value,
    id_token: String,
}

impl Rp {
    fn endpoint(&self, name: &str) -> String {
        self.discovery[name]
            .as_str()
            .unwrap_or_else(|| panic!("discovery has no {name}: {}", self.discovery))
            .to_owned()
    }

    fn redirect_uri(&self) -> String {
        format!("{}/callback", self.url)
    }
}

fn page(status: StatusCode, title: &str, body: String) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>"
    );
    (status, Html(html)).into_response()
}

fn refuse(why: String) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Test RP refused",
        format!("<p id=\"rp-error\">{}</p>", escape(&why)),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn login(State(rp): State<Arc<Rp>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = CsrfToken::new_random().secret().clone();
    let nonce = CsrfToken::new_random().secret().clone();
    rp.pending
        .lock()
        .unwrap()
        .insert(state.clone(), (verifier.secret().clone(), nonce.clone()));
    let mut url = url::Url::parse(&rp.endpoint("authorization_endpoint")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.registration.client_id)
        .append_pair("redirect_uri", &rp.redirect_uri())
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    for key in ["prompt", "max_age", "login_hint"] {
        if let Some(v) = q.get(key) {
            url.query_pairs_mut().append_pair(key, v);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

async fn callback(State(rp): State<Arc<Rp>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(state) = q.get("state") else {
        return refuse("no state in the authorization response".into());
    };
    let Some((verifier, nonce)) = rp.pending.lock().unwrap().remove(state) else {
        return refuse(format!("unknown state {state}"));
    };
    if q.get("iss") != Some(&rp.issuer) {
        return refuse(format!("iss is {:?}, not {}", q.get("iss"), rp.issuer));
    }
    if let Some(error) = q.get("error") {
        let description = q.get("error_description").cloned().unwrap_or_default();
        return page(
            StatusCode::OK,
            "Sign-in failed",
            format!(
                "<p id=\"error\">{}</p><p id=\"error-description\">{}</p>",
                escape(error),
                escape(&description)
            ),
        );
    }
    let Some(code) = q.get("code") else {
        return refuse("neither code nor error in the authorization response".into());
    };
    if q.get("session_state").is_none_or(|s| s.is_empty()) {
        return refuse("no session_state in the authorization response".into());
    }

    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.clone()),
        ("redirect_uri", rp.redirect_uri()),
        ("code_verifier", verifier),
    ];
    let mut request = rp.http.post(rp.endpoint("token_endpoint"));
    match &rp.registration.secret {
        Some(secret) => request = request.basic_auth(&rp.registration.client_id, Some(secret)),
        None => form.push(("client_id", rp.registration.client_id.clone())),
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status();
    let tokens: Value = response.json().await.unwrap_or(Value::Null);
    if status != 200 {
        return refuse(format!("token endpoint answered {status}: {tokens}"));
    }
    let (Some(id_token), Some(access_token)) =
        (tokens["id_token"].as_str(), tokens["access_token"].as_str())
    else {
        return refuse(format!("no id_token or access_token in {tokens}"));
    };
    let claims = match verify_id_token(&rp, id_token, access_token, &nonce).await {
        Ok(claims) => claims,
        Err(why) => return refuse(why),
    };
    let username = claims["preferred_username"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    *rp.signed_in.lock().unwrap() = Some(SignedIn {
        claims,
        id_token: id_token.to_owned(),
        tokens,
    });
    page(
        StatusCode::OK,
        "Test RP",
        format!("<p id=\"signed-in\">Signed in as {}</p>", escape(&username)),
    )
}

/// The ID token checks of OpenID Connect Core §3.1.3.7 and the `at_hash` of §3.1.3.8.
async fn verify_id_token(
    rp: &Rp,
    id_token: &str,
    access_token: &str,
    nonce: &str,
) -> Result<Value, String> {
    let header =
        jsonwebtoken::decode_header(id_token).map_err(|e| format!("ID token header: {e}"))?;
    let kid = header.kid.ok_or("the ID token has no kid")?;
    let jwks: JwkSet = rp
        .http
        .get(rp.endpoint("jwks_uri"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| format!("JWKS: {e}"))?;
    let jwk = jwks
        .find(&kid)
        .ok_or(format!("kid {kid} is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("JWK: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&rp.issuer]);
    validation.set_audience(&[&rp.registration.client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .map_err(|e| format!("the ID token does not verify: {e}"))?
        .claims;
    if claims["nonce"] != nonce {
        return Err(format!("nonce is {}, not {nonce}", claims["nonce"]));
    }
    let expected = at_hash(header.alg, access_token);
    if claims["at_hash"] != expected.as_str() {
        return Err(format!("at_hash is {}, not {expected}", claims["at_hash"]));
    }
    Ok(claims)
}

/// The left half of the hash of the access token, base64url: the hash is the one of the signing algorithm.
fn at_hash(alg: Algorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        Algorithm::RS384 | Algorithm::ES384 | Algorithm::PS384 => {
            sha2::Sha384::digest(access_token).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => {
            sha2::Sha512::digest(access_token).to_vec()
        }
        _ => sha2::Sha256::digest(access_token).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

async fn logout(State(rp): State<Arc<Rp>>) -> Response {
    let Some(id_token) = rp
        .signed_in
        .lock()
        .unwrap()
        .as_ref()
        .map(|s| s.id_token.clone())
    else {
        return refuse("nobody is signed in at the RP".into());
    };
    let state = CsrfToken::new_random().secret().clone();
    *rp.logout_state.lock().unwrap() = Some(state.clone());
    let mut url = url::Url::parse(&rp.endpoint("end_session_endpoint")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair(
            "post_logout_redirect_uri",
            &format!("{}/logged-out", rp.url),
        )
        .append_pair("state", &state);
    Redirect::to(url.as_str()).into_response()
}

async fn logged_out(
    State(rp): State<Arc<Rp>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let expected = rp.logout_state.lock().unwrap().take();
    if expected.is_none() || q.get("state") != expected.as_ref() {
        return refuse(format!(
            "logout state {:?}, expected {expected:?}",
            q.get("state")
        ));
    }
    *rp.signed_in.lock().unwrap() = None;
    page(
        StatusCode::OK,
        "Test RP",
        "<p id=\"signed-out\">Signed out of the test RP</p>".into(),
    )
}
