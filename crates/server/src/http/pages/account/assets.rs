//! The portal's own stylesheet and script, compiled into the binary and served with a long cache: their URLs
//! carry a hash of the content (`?v=`), so a new release is fetched at once.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Ctx;
use crate::crypto::sha256_hex;
use crate::state::AppState;

const CSS: &str = include_str!("../../../../static/portal.css");
const JS: &str = include_str!("../../../../static/portal.js");

static VERSION: LazyLock<String> =
    LazyLock::new(|| sha256_hex(&format!("{CSS}\u{0}{JS}"))[..12].to_owned());

pub fn router() -> Router<AppState> {
    Router::new().route("/realms/{realm}/account/static/{file}", get(serve))
}

/// The URL of asset `file` for this realm's pages.
pub fn href(ctx: &Ctx<'_>, file: &str) -> String {
    format!(
        "{}?v={}",
        ctx.path(&format!("/account/static/{file}")),
        *VERSION
    )
}

async fn serve(Path((_realm, file)): Path<(String, String)>) -> Response {
    let (body, kind) = match file.as_str() {
        "portal.css" => (CSS, "text/css; charset=utf-8"),
        "portal.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}
