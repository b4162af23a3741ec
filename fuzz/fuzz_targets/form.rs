//! The OAuth form parser (`keyport_server::http::Form::parse`): the body of every token, device, revocation and
//! introspection request, read before the client is authenticated.
//!
//! Properties: no panic; an accepted form has at most `MAX_PARAMETERS` parameters and no name twice, and
//! `get` answers each decoded pair (empty values are absent); a body is refused exactly when it is not
//! urlencoded, too long or repeats a name; and the accepted pairs, serialised again, parse to the same form.
#![no_main]

use std::collections::HashSet;

use keyport_server::http::Form;
use libfuzzer_sys::fuzz_target;

/// `keyport_server::http::form::MAX_PARAMETERS` (a private module): a change there fails this target at once.
const MAX_PARAMETERS: usize = 64;

fuzz_target!(|body: &[u8]| {
    let parsed = Form::parse(body);
    // An independent reading of the same body: serde_urlencoded's pairs, the non-empty `&` segments.
    let decoded: Option<Vec<(String, String)>> = serde_urlencoded::from_bytes(body).ok();
    let segments = body.split(|b| *b == b'&').filter(|s| !s.is_empty()).count();
    let expected_ok = segments <= MAX_PARAMETERS
        && decoded.as_ref().is_some_and(|pairs| {
            let mut seen = HashSet::new();
            pairs.iter().all(|(k, _)| seen.insert(k.as_str()))
        });
    assert_eq!(
        parsed.is_ok(),
        expected_ok,
        "Form::parse disagrees with the rules on {:?}",
        String::from_utf8_lossy(body)
    );
    let Ok(form) = parsed else { return };
    let pairs = decoded.expect("accepted, so it decodes");
    assert!(pairs.len() <= MAX_PARAMETERS);
    for (k, v) in &pairs {
        let want = (!v.is_empty()).then_some(v.as_str());
        assert_eq!(form.get(k), want, "parameter {k:?}");
    }
    // Roundtrip: the pairs serialised again are one form with the same answers.
    let again = serde_urlencoded::to_string(&pairs).expect("string pairs serialise");
    let form2 = match Form::parse(again.as_bytes()) {
        Ok(f) => f,
        Err(_) => panic!("the re-serialised form {again:?} was refused"),
    };
    for (k, _) in &pairs {
        assert_eq!(
            form2.get(k),
            form.get(k),
            "parameter {k:?} after the roundtrip of {again:?}"
        );
    }
});
