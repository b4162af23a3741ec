//! The default of every realm setting that has one.

use std::time::Duration;

pub fn yes() -> bool {
    true
}
pub fn idp_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
pub fn idp_username_claim() -> String {
    "preferred_username".into()
}

pub fn id_token_algorithm() -> super::SigningAlg {
    super::SigningAlg::RS256
}

pub fn access_token_lifetime() -> Duration {
    Duration::from_secs(5 * 60)
}
pub fn refresh_token_lifetime() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
pub fn device_code_lifetime() -> Duration {
    Duration::from_secs(10 * 60)
}
pub fn device_poll_interval() -> Duration {
    Duration::from_secs(5)
}
pub fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
pub fn api_token_lifespan() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
/// Seed 002's catalogue.
pub fn api_token_scopes() -> Vec<super::ApiScope> {
    [
        (
            "create_session",
            "Allows a user to create a training session.",
        ),
        (
            "start_session",
            "Allows a user to start a training session that they have created.",
        ),
        (
            "custom_model",
            "Allows a user to upload and use a custom model.",
        ),
        (
            "model_download",
            "Allows a user to download a trained model.",
        ),
        (
            "cancel_user_session",
            "Allows a user to cancel a session that they have created, and no other user's.",
        ),
        (
            "delete_user_session",
            "Allows a user to delete a session that they have created, and no other user's.",
        ),
        (
            "read_user_session",
            "Allows a user to read a session that they have created, and no other user's.",
        ),
        (
            "read_all_session",
            "Allows a user to read a session created by any user.",
        ),
        (
            "cli",
            "Allows a user to list versions and install the SDK and docker images through the CLI.",
        ),
        (
            "revoke_user_token",
            "Allows a user to revoke a token they have created.",
        ),
    ]
    .into_iter()
    .map(|(name, description)| super::ApiScope {
        name: name.into(),
        description: description.into(),
    })
    .collect()
}

pub fn personal_token_max_lifespan() -> Duration {
    Duration::from_secs(90 * 24 * 3600)
}
pub fn session_idle_timeout() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
pub fn session_max_lifetime() -> Duration {
    Duration::from_secs(90 * 24 * 3600)
}
/// Administrators may hold every scope; other roles none until configured.
pub fn role_scopes() -> std::collections::BTreeMap<String, Vec<String>> {
    [("admin".to_owned(), vec!["*".to_owned()])].into()
}
