//! RFC 8628 §6.1 user codes: 8 letters from a 20-consonant alphabet, shown `XXXX-XXXX`.

/// The consonants of RFC 8628 §6.1 (no vowels, so no words; no Y).
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code.
pub const LENGTH: usize = 8;

/// Normalises what a person typed: case-insensitive, dashes and spaces ignored. Returns `None` when the result
/// cannot be a user code (wrong length or a letter outside the alphabet), so a typo is rejected without a lookup.
pub fn normalize(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// Formats a normalised code for display: `BCDF-GHJK`.
pub fn display(code: &str) -> String {
    if code.len() == LENGTH {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_accepts_case_and_dash_variants() {
        for input in ["BCDF-GHJK", "bcdfghjk", "bcdf-GHJK", " BCDF GHJK "] {
            assert_eq!(normalize(input).as_deref(), Some("BCDFGHJK"), "{input}");
        }
    }

    #[test]
    fn normalize_rejects_wrong_length_and_letters() {
        for input in ["BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", ""] {
            assert_eq!(normalize(input), None, "{input}");
        }
    }

    #[test]
    fn display_inserts_the_dash() {
        assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
    }
}
