//! The operator's HTML pages (setup and status): one layout, one style
//! sheet, served by the binary with no build step and no JavaScript.
//!
//! Pages are written with `format!` rather than a template engine: there
//! are four short pages, and every piece of outside text in them goes
//! through `render::html` at the one place it is interpolated, which a
//! reviewer can check line by line.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The style sheet, inline so a page is one request.
const STYLE: &str = "\
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f8fa;color:#1f2328}\
main{max-width:60rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}\
h1{font-size:1.5rem;margin-top:0}h2{font-size:1.15rem;margin-top:1.75rem}\
fieldset{border:1px solid #d0d7de;border-radius:6px;margin:0 0 1rem;padding:.75rem 1rem}\
legend{font-weight:600;padding:0 .25rem}label{display:block;margin:.25rem 0}\
input[type=text],input[type=url]{width:100%;box-sizing:border-box;padding:.4rem;font:inherit;border:1px solid #d0d7de;border-radius:6px}\
button{font:inherit;font-weight:600;padding:.5rem 1.25rem;border-radius:6px;border:1px solid #1a7f37;background:#1f883d;color:#fff;cursor:pointer}\
.next{background:#ddf4ff;border:1px solid #54aeff;border-radius:6px;padding:.5rem 1rem}\
.error{background:#ffebe9;border:1px solid #ff8182;border-radius:6px;padding:.5rem 1rem}\
.hint{color:#59636e;font-size:.9rem}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}\
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}\
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.75rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}\
dl{display:grid;grid-template-columns:max-content auto;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}";

/// A whole page: `title` and `body` are already HTML (escape outside text
/// with `render::html` before it gets here).
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>\n"
    )
}

/// A page as the answer: never cached (some hold credentials shown once),
/// never framed, no script, no referrer (the callback's URL holds a code).
/// `form_target` is the one origin besides this one that a form may post
/// to (GitHub, on the page that registers the app).
pub fn respond(status: StatusCode, page: String, form_target: Option<&str>) -> Response {
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let policy = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
         form-action {form_action}; base-uri 'none'; frame-ancestors 'none'"
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}
