//! The server configuration file (`keyport_server::config::Config`): TOML parsed, then validated once at start.
//!
//! Properties: no panic in parsing or validation, for any text; validation is idempotent (a validated
//! configuration validates again, unchanged); and a validated configuration written back to TOML reads and
//! validates to the same configuration (no value is lost or changed on the way, durations included).
#![no_main]

use std::path::Path;

use keyport_server::config::Config;
use libfuzzer_sys::fuzz_target;

fn serialised(config: &Config) -> Option<String> {
    toml::to_string(config).ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut config) = Config::from_toml(text, Path::new("fuzz.toml")) else {
        return;
    };
    if config.validate().is_err() {
        return;
    }
    let first = serialised(&config);
    let mut again = config.clone();
    if let Err(e) = again.validate() {
        panic!("a validated configuration is refused on a second validation: {e}\n{text}");
    }
    assert_eq!(serialised(&again), first, "validation is not idempotent");

    let Some(written) = first else { return };
    let mut reread = match Config::from_toml(&written, Path::new("written.toml")) {
        Ok(c) => c,
        Err(e) => {
            panic!("the configuration as written does not read back: {e}\n--- written:\n{written}")
        }
    };
    if let Err(e) = reread.validate() {
        panic!("the configuration as written does not validate: {e}\n--- written:\n{written}");
    }
    assert_eq!(
        serialised(&reread).as_deref(),
        Some(written.as_str()),
        "the roundtrip changed the configuration"
    );
});
