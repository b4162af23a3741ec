use super::*;

const EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080/"
base_path = "/auth/"
data_dir = "./keyport-data"

[[realms]]
name = "aiod"
access_token_lifetime = "5m"
refresh_token_lifetime = "30d"
device_code_lifetime = "10m"
device_poll_interval = "5s"

[[realms.clients]]
client_id = "aiod-sdk"
public = true
grants = ["device_code", "refresh_token"]

[[realms.clients]]
client_id = "pipeline-bot"
secret = "from-a-file-or-env"
grants = ["client_credentials"]
roles = ["bot"]

[[realms.users]]
username = "alice"
password = "..."
email = "alice@example.org"
roles = ["user", "admin"]
"#;

fn load(text: &str, env: &[(&str, &str)], overrides: Overrides) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyport.toml");
    std::fs::write(&path, text).unwrap();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load(
        Some(&path),
        |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        overrides,
    )
}

#[test]
fn the_documented_example_parses() {
    let c = load(EXAMPLE, &[], Overrides::default()).unwrap();
    assert_eq!(c.server.base_path, "/auth");
    assert_eq!(
        c.server.public_url.as_deref(),
        Some("http://127.0.0.1:8080")
    );
    let realm = &c.realms[0];
    assert_eq!(
        realm.refresh_token_lifetime,
        Duration::from_secs(30 * 86400)
    );
    assert_eq!(realm.device_poll_interval, Duration::from_secs(5));
    assert_eq!(realm.clients[1].grants, vec![Grant::ClientCredentials]);
    assert_eq!(realm.clients[0].refresh_token_rotation, Rotation::Strict);
}

#[test]
fn env_overrides_file_and_flags_override_env() {
    let env = [
        ("KEYPORT_LISTEN", "127.0.0.1:9000"),
        ("KEYPORT_BASE_PATH", "/env"),
    ];
    let c = load(EXAMPLE, &env, Overrides::default()).unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:9000");
    assert_eq!(c.server.base_path, "/env");
    let flags = Overrides {
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let c = load(EXAMPLE, &env, flags).unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:0");
    assert_eq!(c.server.base_path, "/env");
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        (EXAMPLE.replace("\"5s\"", "\"soon\""), "not a duration"),
        (
            EXAMPLE.replace("listen = \"127.0.0.1:8080\"", "listen = \"nowhere\""),
            "server.listen",
        ),
        (
            EXAMPLE.replace("base_path = \"/auth/\"", "base_path = \"auth\""),
            "server.base_path",
        ),
        (
            EXAMPLE.replace("public = true", "public = true\nsecret = \"x\""),
            "realms[0].clients[0]",
        ),
        (
            EXAMPLE.replace("secret = \"from-a-file-or-env\"", ""),
            "realms[0].clients[1]",
        ),
        (
            EXAMPLE.replace("name = \"aiod\"", "name = \"a/b\""),
            "realms[0].name",
        ),
        (
            EXAMPLE.replace("roles = [\"bot\"]", "rolez = [\"bot\"]"),
            "rolez",
        ),
    ];
    for (text, needle) in cases {
        let err = load(&text, &[], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
    }
}

#[test]
fn redirect_uris_use_https_except_on_loopback() {
    let with = |uri: &str| {
        EXAMPLE.replace(
            "grants = [\"device_code\", \"refresh_token\"]",
            &format!("grants = [\"authorization_code\"]\nredirect_uris = [\"{uri}\"]"),
        )
    };
    for ok in [
        "https://app.example.org/cb",
        "http://127.0.0.1/callback",
        "http://[::1]:8765/cb",
        "http://localhost/cb",
        "org.example.app:/cb",
    ] {
        load(&with(ok), &[], Overrides::default()).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let err = load(
        &with("http://app.example.org/cb"),
        &[],
        Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("realms[0].clients[0].redirect_uris") && err.contains("use https"),
        "{err}"
    );
}

#[test]
fn realm_scopes_must_be_oauth_scope_tokens() {
    let with = |field: &str, list: &str| {
        EXAMPLE.replace(
            "device_poll_interval = \"5s\"",
            &format!("device_poll_interval = \"5s\"\n{field} = {list}"),
        )
    };
    load(
        &with("scopes", r#"["models:read", "a!#[]~"]"#),
        &[],
        Overrides::default(),
    )
    .unwrap();
    for (field, list, index) in [
        ("scopes", r#"["models:read", "models read"]"#, 1),
        ("scopes", r#"[""]"#, 0),
        ("default_scopes", r#"["openid", "profile\temail"]"#, 1),
        ("default_scopes", r#"["quo\"te"]"#, 0),
        ("scopes", r#"["back\\slash"]"#, 0),
        ("scopes", r#"["é"]"#, 0),
    ] {
        let err = load(&with(field, list), &[], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("realms[0].{field}[{index}]")) && err.contains("RFC 6749"),
            "{list}: {err}"
        );
    }
}

#[test]
fn rate_limits_have_defaults_public_tighter_and_refuse_zero() {
    let c = load(EXAMPLE, &[], Overrides::default()).unwrap();
    let limits = &c.realms[0].rate_limits;
    assert!(
        limits.public_client_device_authorizations
            < limits.confidential_client_device_authorizations
    );
    assert!(limits.public_client_token_requests < limits.confidential_client_token_requests);
    let zero = format!("{EXAMPLE}\n[realms.rate_limits]\ndevice_authorizations_per_address = 0\n");
    let err = load(&zero, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("realms[0].rate_limits.device_authorizations_per_address"),
        "{err}"
    );
}

#[test]
fn device_polls_in_flight_defaults_to_512_and_refuses_zero() {
    let c = load(EXAMPLE, &[], Overrides::default()).unwrap();
    assert_eq!(c.server.device_polls_in_flight, 512);
    let zero = EXAMPLE.replace(
        "data_dir = \"./keyport-data\"\n",
        "data_dir = \"./keyport-data\"\ndevice_polls_in_flight = 0\n",
    );
    let err = load(&zero, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("server.device_polls_in_flight") && err.contains("at least 1"),
        "{err}"
    );
}
