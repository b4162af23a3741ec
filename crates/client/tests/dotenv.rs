//! Issue 11 item 7: `Config::load` reads `.env` from the current directory only. A `.env` planted in a parent
//! directory (a shared checkout, a downloads folder) must not choose the server that receives the credentials.
//! One test in this binary: it changes the process's working directory and environment.

use keyport_client::Config;

#[test]
fn dotenv_is_read_from_the_current_directory_only() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let project = root.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        root.path().join(".env"),
        "KEYPORT_SERVER_URL=https://evil.example.org\nKEYPORT_REALM=evil\n",
    )
    .unwrap();
    // SAFETY: the only test in this binary; no other thread reads the environment meanwhile.
    unsafe {
        for (k, _) in std::env::vars() {
            if k.starts_with("KEYPORT_") {
                std::env::remove_var(k);
            }
        }
        std::env::set_var("KEYPORT_HOME", &home);
    }
    std::env::set_current_dir(&project).unwrap();

    let config = Config::load().unwrap();
    assert_eq!(
        config.server_url, None,
        "a parent directory's .env was read"
    );
    assert_eq!(config.realm, "master");

    // A `.env` in the current directory is read.
    std::fs::write(
        project.join(".env"),
        "KEYPORT_SERVER_URL=https://auth.example.org\nKEYPORT_REALM=aiod\n",
    )
    .unwrap();
    let config = Config::load().unwrap();
    assert_eq!(
        config.server_url.as_deref(),
        Some("https://auth.example.org")
    );
    assert_eq!(config.realm, "aiod");
}
