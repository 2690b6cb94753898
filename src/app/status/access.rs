//! Who may see the operator's pages: whoever presents
//! `HUNKSCAN_STATUS_TOKEN`, as a bearer token or as the password of basic
//! auth (so a browser asks for it). Unset, the status page is off.

use crate::config::settings::Secret;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Whether the request presents `token`. Compared as SHA-256 digests, so
/// the time a comparison takes says nothing about the token itself.
pub fn presents(headers: &HeaderMap, token: &Secret) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let (scheme, credential) = value.trim().split_once(' ').unwrap_or((value, ""));
    let presented = match scheme.to_ascii_lowercase().as_str() {
        "bearer" => credential.trim().to_owned(),
        "basic" => {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credential.trim())
            else {
                return false;
            };
            let decoded = String::from_utf8_lossy(&decoded).into_owned();
            // Any user name; the password is the token.
            match decoded.split_once(':') {
                Some((_, password)) => password.to_owned(),
                None => return false,
            }
        }
        _ => return false,
    };
    Sha256::digest(presented.as_bytes()) == Sha256::digest(token.expose().as_bytes())
}

/// The answer when the request may not see a page guarded by `token`
/// (`None`: it may). No token: nothing is guarded.
pub fn refuse(headers: &HeaderMap, token: Option<&Secret>) -> Option<Response> {
    let token = token?;
    if presents(headers, token) {
        return None;
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "this page needs HUNKSCAN_STATUS_TOKEN (as the basic-auth password, or a bearer token)\n",
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"hunkscan\", charset=\"UTF-8\""),
    );
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().expect("header"));
        headers
    }

    #[test]
    fn token_as_bearer_or_basic_password() {
        let token = Secret::new("s3cret");
        let basic = base64::engine::general_purpose::STANDARD.encode("ops:s3cret");
        assert!(presents(&with("Bearer s3cret"), &token));
        assert!(presents(&with(&format!("Basic {basic}")), &token));
        assert!(!presents(&with("Bearer s3cre"), &token));
        assert!(!presents(&with("Basic !!"), &token));
        assert!(!presents(&HeaderMap::new(), &token));
        assert!(refuse(&HeaderMap::new(), None).is_none());
        let refused = refuse(&HeaderMap::new(), Some(&token)).expect("refused");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(refused.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
