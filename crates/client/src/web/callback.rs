//! The loopback side of the browser login: one small HTTP/1 server per browser connection (hyper), the judgement
//! of what the browser brought back, and the page it is answered with.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::CALLBACK_PATH;
use crate::error::{Error, Result};

/// How long the browser's connection may take to receive the final page once the login has its answer.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// What the answer at the loopback must match.
pub(super) struct Expected {
    pub(super) state: String,
    pub(super) nonce: String,
    pub(super) issuer: String,
    /// The server promised `iss` in every authorization response (RFC 9207 §3).
    pub(super) iss_required: bool,
}

/// One request to the callback path, waiting for the page to answer it with.
pub(super) struct Answer {
    pub(super) params: Vec<(String, String)>,
    pub(super) reply: oneshot::Sender<Page>,
}

/// What a callback request turned out to be.
#[derive(Debug)]
pub(super) enum Checked {
    /// Not this login's answer (no or another `state`): refused, the wait goes on.
    NotOurs,
    /// This login's answer: the code, or why there is none.
    Ours(Result<String>),
}

/// The single value of a query parameter; a repeated one counts as absent.
fn single<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
    match (values.next(), values.next()) {
        (Some(v), None) => Some(v.as_str()),
        _ => None,
    }
}

/// Judges the query of a callback request (RFC 6749 §4.1.2, RFC 9207 §2.4).
pub(super) fn check(params: &[(String, String)], expected: &Expected) -> Checked {
    let ours = single(params, "state")
        .is_some_and(|s| keyport_proto::constant_time_eq(s.as_bytes(), expected.state.as_bytes()));
    if !ours {
        return Checked::NotOurs;
    }
    let verdict = match (
        single(params, "iss"),
        params.iter().any(|(k, _)| k == "iss"),
    ) {
        (Some(iss), _) if iss != expected.issuer => Err(Error::InvalidResponse(format!(
            "it names the issuer {iss:?}, not {:?}",
            expected.issuer
        ))),
        (None, true) => Err(Error::InvalidResponse("it names several issuers".into())),
        (None, false) if expected.iss_required => Err(Error::InvalidResponse(
            "it does not name its issuer although the server says it always does".into(),
        )),
        _ => Ok(()),
    }
    .and_then(|()| match single(params, "error") {
        Some("access_denied") => Err(Error::AccessDenied),
        Some(error) => Err(Error::Authorization {
            error: error.to_owned(),
            description: single(params, "error_description").map(str::to_owned),
        }),
        None => single(params, "code")
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Error::InvalidResponse("it carries no authorization code".into())),
    });
    Checked::Ours(verdict)
}

/// Serves one browser connection (no keep-alive). True when it carried the login's final page.
pub(super) async fn serve(stream: TcpStream, to_waiter: mpsc::Sender<Answer>) -> bool {
    let delivered = Arc::new(AtomicBool::new(false));
    let flag = delivered.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let to_waiter = to_waiter.clone();
        let flag = flag.clone();
        async move {
            if req.method() != Method::GET || req.uri().path() != CALLBACK_PATH {
                return Ok::<_, Infallible>(Page::not_found().response());
            }
            let params = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
            let (reply, page) = oneshot::channel();
            if to_waiter.send(Answer { params, reply }).await.is_err() {
                return Ok(Page::gone().response());
            }
            let page = page.await.unwrap_or_else(|_| Page::gone());
            if page.last {
                flag.store(true, Ordering::SeqCst);
            }
            Ok(page.response())
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
    delivered.load(Ordering::SeqCst)
}

/// Lets the connection that carries the final page write it (the other connections are dropped).
pub(super) async fn flush(connections: &mut JoinSet<bool>) {
    let _ = tokio::time::timeout(FLUSH_LIMIT, async {
        while let Some(done) = connections.join_next().await {
            if matches!(done, Ok(true)) {
                break;
            }
        }
    })
    .await;
}

/// A small HTML page for the browser.
pub(super) struct Page {
    status: StatusCode,
    title: &'static str,
    message: String,
    /// The login's final answer (the wait ends with it).
    last: bool,
    /// The message is a failure (`role="alert"`) rather than good news (`role="status"`).
    alert: bool,
}

impl Page {
    pub(super) fn signed_in() -> Page {
        Page {
            status: StatusCode::OK,
            title: "Signed in",
            message: "You are signed in; you can close this window.".into(),
            last: true,
            alert: false,
        }
    }

    pub(super) fn failed(error: &Error) -> Page {
        Page {
            status: StatusCode::OK,
            title: "Sign-in failed",
            message: format!("{error}. You can close this window."),
            last: true,
            alert: true,
        }
    }

    pub(super) fn not_ours() -> Page {
        Page {
            status: StatusCode::BAD_REQUEST,
            title: "Sign-in refused",
            message: "This answer does not belong to the sign-in in progress (its state does not match); it was ignored.".into(),
            last: false,
            alert: true,
        }
    }

    fn not_found() -> Page {
        Page {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            message: format!("Only {CALLBACK_PATH} is served here."),
            last: false,
            alert: true,
        }
    }

    fn gone() -> Page {
        Page {
            status: StatusCode::GONE,
            title: "Sign-in over",
            message: "This sign-in is no longer waiting; start it again.".into(),
            last: false,
            alert: true,
        }
    }

    fn html(&self) -> String {
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · keyport</title></head>\n<body><main><h1>{title}</h1><p role=\"{role}\">{message}</p></main></body></html>\n",
            title = self.title,
            role = if self.alert { "alert" } else { "status" },
            message = escape_html(&self.message),
        )
    }

    fn response(&self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(Bytes::from(self.html())));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        for (name, value) in [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (REFERRER_POLICY, "no-referrer"),
            (CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ] {
            headers.insert(name, hyper::header::HeaderValue::from_static(value));
        }
        resp
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(iss_required: bool) -> Expected {
        Expected {
            state: "s-123".into(),
            nonce: "n".into(),
            issuer: "http://127.0.0.1:8080/realms/r".into(),
            iss_required,
        }
    }

    /// Runs `check` on a query string and hands the verdict to `expect`.
    fn check_query(query: &str, iss_required: bool, expect: impl Fn(&Checked) -> bool) {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let verdict = check(&params, &expected(iss_required));
        assert!(expect(&verdict), "{query} gave {verdict:?}");
    }

    const ISS: &str = "iss=http%3A%2F%2F127.0.0.1%3A8080%2Frealms%2Fr";

    #[test]
    fn callback_queries_are_judged_by_state_then_issuer_then_error() {
        let code = |c: &Checked, want: &str| matches!(c, Checked::Ours(Ok(code)) if code == want);
        check_query(&format!("code=abc&state=s-123&{ISS}"), true, |c| {
            code(c, "abc")
        });
        check_query("code=abc&state=s-123", false, |c| code(c, "abc"));
        for foreign in [
            "code=abc",
            "code=abc&state=s-12",
            "code=abc&state=s-1234",
            "code=abc&state=s-123&state=s-123",
            "error=access_denied&state=other",
        ] {
            check_query(foreign, true, |c| matches!(c, Checked::NotOurs));
        }
        let refused = |c: &Checked| matches!(c, Checked::Ours(Err(Error::InvalidResponse(_))));
        check_query(
            "code=abc&state=s-123&iss=https%3A%2F%2Fevil",
            false,
            refused,
        );
        check_query("code=abc&state=s-123", true, refused);
        check_query(&format!("code=abc&state=s-123&{ISS}&{ISS}"), false, refused);
        check_query(&format!("state=s-123&{ISS}"), true, refused);
        check_query(&format!("code=&state=s-123&{ISS}"), true, refused);
        check_query(
            "error=access_denied&state=s-123&iss=https%3A%2F%2Fevil",
            false,
            refused,
        );
        check_query(
            &format!("error=access_denied&state=s-123&{ISS}"),
            true,
            |c| matches!(c, Checked::Ours(Err(Error::AccessDenied))),
        );
        check_query(
            &format!("error=login_required&error_description=no+session&state=s-123&{ISS}"),
            true,
            |c| {
                matches!(c, Checked::Ours(Err(Error::Authorization { error, description: Some(d) }))
                    if error == "login_required" && d == "no session")
            },
        );
    }

    #[test]
    fn pages_escape_what_the_query_brought() {
        let page = Page::failed(&Error::Authorization {
            error: "x".into(),
            description: Some("<script>alert(1)</script>".into()),
        });
        let html = page.html();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("role=\"alert\""), "{html}");
        assert!(
            Page::signed_in()
                .html()
                .contains("You are signed in; you can close this window.")
        );
        let resp = page.response();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()[CONTENT_SECURITY_POLICY],
            "default-src 'none'"
        );
        let body = escape_html("<script>alert('1')</script> & \"");
        assert_eq!(
            body,
            "&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt; &amp; &quot;"
        );
    }
}
