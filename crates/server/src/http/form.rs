//! The form extractor of the OAuth endpoints: `application/x-www-form-urlencoded` only, bounded size, each
//! parameter at most once (RFC 6749 §3.2), at most [`MAX_PARAMETERS`] parameters, and every failure an RFC 6749
//! §5.2 JSON body. Parsing is linear in the body: the parameters are counted before they are decoded and
//! duplicates are found by comparing pairs in small forms and with a hash set in larger ones (this runs before
//! the client is authenticated).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use keyport_proto::ErrorCode;

use super::ApiError;
use crate::state::AppState;

/// The most parameters a form may carry. The largest OAuth request (authorization code with PKCE, `resource` and
/// client authentication in the body) has about fifteen.
pub const MAX_PARAMETERS: usize = 64;

/// Up to this many parameters, duplicates are found by comparing every pair (at most 28 comparisons).
const SMALL_FORM: usize = 8;

/// Parsed form parameters.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// A parameter's value; empty values count as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be present.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                format!("missing parameter `{name}`"),
            )
        })
    }

    pub fn parse(body: &[u8]) -> Result<Form, ApiError> {
        let bad = |description: String| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                description,
            )
        };
        // Count first (empty segments are no parameter), so an oversized form costs one pass and no decoding.
        let count = body
            .split(|b| *b == b'&')
            .filter(|segment| !segment.is_empty())
            .count();
        if count > MAX_PARAMETERS {
            return Err(bad(format!(
                "the form has {count} parameters; at most {MAX_PARAMETERS} are accepted"
            )));
        }
        // Decoding cannot fail: `+` is a space, `%XX` a byte, a stray `%` stays literal and bytes that are not
        // UTF-8 become U+FFFD (the WHATWG rules, which serde_urlencoded applies too, through the same parser).
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let duplicate = if pairs.len() <= SMALL_FORM {
            // A token request has two to five parameters: comparing them pairwise beats hashing them.
            (1..pairs.len()).find(|&i| pairs[..i].iter().any(|(k, _)| *k == pairs[i].0))
        } else {
            let mut seen = std::collections::HashSet::with_capacity(pairs.len());
            pairs.iter().position(|(k, _)| !seen.insert(k.as_str()))
        };
        if let Some(i) = duplicate {
            return Err(bad(format!(
                "parameter `{}` appears more than once",
                pairs[i].0
            )));
        }
        Ok(Form(pairs))
    }
}

impl FromRequest<AppState> for Form {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Form, ApiError> {
        let (parts, body) = req.into_parts();
        Form::read(&parts.headers, body, state).await
    }
}

/// A form request's headers and its form, for handlers that read both: the headers are moved out of the request,
/// where axum's `HeaderMap` extractor copies them.
pub struct WithHeaders {
    pub headers: HeaderMap,
    pub form: Form,
}

impl FromRequest<AppState> for WithHeaders {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<WithHeaders, ApiError> {
        let (parts, body) = req.into_parts();
        let form = Form::read(&parts.headers, body, state).await?;
        Ok(WithHeaders {
            headers: parts.headers,
            form,
        })
    }
}

impl Form {
    /// Checks the content type in `headers` and parses `body`, at most `server.max_body_bytes` of it.
    async fn read(headers: &HeaderMap, body: Body, state: &AppState) -> Result<Form, ApiError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidRequest,
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let limit = state.settings.max_body_bytes;
        let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidRequest,
                format!("the request body is larger than {limit} bytes"),
            )
        })?;
        Form::parse(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distinct(n: usize) -> String {
        (0..n)
            .map(|i| format!("p{i}=v"))
            .collect::<Vec<_>>()
            .join("&")
    }

    #[test]
    fn values_are_form_decoded_and_decoding_never_fails() {
        let form = Form::parse(b"a+b=%41%2B+c&stray=100%&bad=%FF%zz&flag&&empty=").unwrap();
        assert_eq!(form.get("a b"), Some("A+ c"));
        assert_eq!(form.get("stray"), Some("100%"));
        assert_eq!(form.get("bad"), Some("\u{FFFD}%zz"));
        // A name without `=` and an empty value are both present but empty, i.e. absent to `get`.
        assert_eq!(form.get("flag"), None);
        assert_eq!(form.get("empty"), None);
        assert_eq!(form.0.len(), 5);
    }

    #[test]
    fn the_parameter_cap_is_inclusive_and_counts_before_decoding() {
        let form = Form::parse(distinct(MAX_PARAMETERS).as_bytes()).unwrap();
        assert_eq!(form.get("p0"), Some("v"));
        assert!(Form::parse(distinct(MAX_PARAMETERS + 1).as_bytes()).is_err());
        // Empty segments are not parameters.
        let padded = format!("{}&&&&", distinct(MAX_PARAMETERS));
        assert!(Form::parse(padded.as_bytes()).is_ok());
    }

    #[test]
    fn a_repeated_parameter_is_refused_in_small_and_large_forms() {
        for n in [
            1,
            2,
            SMALL_FORM - 1,
            SMALL_FORM,
            SMALL_FORM + 1,
            MAX_PARAMETERS - 1,
        ] {
            let mut body = distinct(n);
            assert!(Form::parse(body.as_bytes()).is_ok(), "{n}");
            body.push_str(&format!("&p{}=again", n - 1));
            let err = Form::parse(body.as_bytes())
                .err()
                .expect("a duplicate is refused");
            assert_eq!(
                err.description(),
                format!("parameter `p{}` appears more than once", n - 1),
                "{n}"
            );
        }
        let err = Form::parse(b"a=1&b=2&a=3").err().unwrap();
        assert_eq!(err.description(), "parameter `a` appears more than once");
    }

    #[test]
    fn the_worst_case_body_is_rejected_quickly() {
        // 64 KiB of distinct parameters: ~9,000 of them (the quadratic check made 40 million comparisons).
        let body = distinct(9_000);
        let started = std::time::Instant::now();
        for _ in 0..100 {
            assert!(Form::parse(body.as_bytes()).is_err());
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // The worst case under the cap: every parameter distinct, then a duplicate at the end.
        let mut body = distinct(MAX_PARAMETERS - 1);
        body.push_str("&p0=again");
        assert!(Form::parse(body.as_bytes()).is_err());
    }
}
