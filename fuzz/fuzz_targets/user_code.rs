//! The device user-code normaliser (`keyport_proto::user_code::normalize`, RFC 8628 §6.1): what a person types on
//! the device page.
//!
//! Properties: no panic; an accepted code is exactly `LENGTH` letters of `ALPHABET`; normalising is idempotent and
//! ignores case, dashes and spaces (the displayed form `XXXX-XXXX` and the lower-case form normalise to the same
//! code); and the input is accepted exactly when, stripped of dashes, spaces and tabs and upper-cased, it is such a
//! code (an independent reading of the rule).
#![no_main]

use keyport_proto::user_code::{ALPHABET, LENGTH, display, normalize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let got = normalize(input);

    // Independent oracle: byte-wise, and only ASCII letters can upper-case into the alphabet.
    let kept: Vec<char> = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .collect();
    let oracle = (kept.len() == LENGTH
        && kept
            .iter()
            .all(|c| c.is_ascii() && ALPHABET.contains(&(c.to_ascii_uppercase() as u8))))
    .then(|| {
        kept.iter()
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>()
    });
    assert_eq!(got, oracle, "normalize({input:?})");

    let Some(code) = got else { return };
    assert_eq!(code.len(), LENGTH);
    assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code:?}");
    assert_eq!(
        normalize(&code).as_deref(),
        Some(code.as_str()),
        "idempotent"
    );
    let shown = display(&code);
    assert_eq!(shown.len(), LENGTH + 1);
    assert_eq!(
        normalize(&shown).as_deref(),
        Some(code.as_str()),
        "display form"
    );
    assert_eq!(
        normalize(&shown.to_ascii_lowercase()).as_deref(),
        Some(code.as_str()),
        "lower case"
    );
    assert_eq!(
        normalize(&format!(" {} ", shown.replace('-', " \t "))).as_deref(),
        Some(code.as_str())
    );
});
