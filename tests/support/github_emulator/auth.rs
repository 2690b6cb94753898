//! GitHub App authentication: the app JWT that buys installation tokens, and
//! the installation tokens every other call needs.
//!
//! The JWT rules are GitHub's: RS256 signed with the app's key, `iss` the app
//! id (GitHub takes a string or a number), `iat` at most 60 s in the future
//! (clock drift), `exp` after now and at most 10 minutes (+60 s drift) after
//! `iat`. Every claim is checked here by hand rather than by
//! `jsonwebtoken`'s validation, whose leeway and string-only `iss` differ
//! from GitHub's.

use super::routes::Reply;
use super::state::{State, Token};
use chrono::{Duration, Utc};
use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

/// Installation tokens live one hour.
const TOKEN_LIFETIME_SECS: i64 = 3600;
const MAX_JWT_LIFETIME_SECS: i64 = 660;
const MAX_IAT_DRIFT_SECS: i64 = 60;

/// The scheme and credential of an `Authorization` header.
fn credential(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, cred) = value.trim().split_once(' ')?;
    Some((scheme.to_ascii_lowercase(), cred.trim().to_owned()))
}

/// Checks the app JWT of a token request; `Err` carries GitHub's message.
pub(crate) fn verify_app_jwt(
    headers: &HeaderMap,
    key: &DecodingKey,
    app_id: u64,
) -> Result<(), String> {
    let Some((scheme, jwt)) = credential(headers) else {
        return Err(
            "A JSON web token could not be decoded (no Authorization: Bearer header)".into(),
        );
    };
    if scheme != "bearer" {
        return Err("A JSON web token could not be decoded (the scheme must be Bearer)".into());
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(&jwt, key, &validation)
        .map_err(|e| format!("A JSON web token could not be decoded ({e})"))?
        .claims;
    let iss_ok = match claims.get("iss") {
        Some(Value::String(s)) => s.parse::<u64>() == Ok(app_id),
        Some(Value::Number(n)) => n.as_u64() == Some(app_id),
        _ => false,
    };
    if !iss_ok {
        return Err("'Issuer' claim ('iss') must be the app id of a GitHub App".into());
    }
    let now = Utc::now().timestamp();
    let Some(iat) = claims.get("iat").and_then(Value::as_i64) else {
        return Err("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.".into());
    };
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.".into());
    };
    if iat > now.saturating_add(MAX_IAT_DRIFT_SECS) {
        return Err("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.".into());
    }
    if exp.saturating_sub(iat) > MAX_JWT_LIFETIME_SECS {
        return Err("'Expiration time' claim ('exp') is too far in the future.".into());
    }
    if exp <= now {
        return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.".into());
    }
    Ok(())
}

/// Issues a token for an installation: the 201 body.
pub(crate) fn issue_token(state: &mut State, installation_id: u64) -> Value {
    use sha2::{Digest, Sha256};
    state.tokens_issued += 1;
    let seed = format!(
        "{}:{}:{}",
        state.app_id,
        state.tokens_issued,
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let digest = Sha256::digest(seed.as_bytes());
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let body: String = digest
        .iter()
        .chain(digest.iter())
        .take(36)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    let token = format!("ghs_{body}");
    let expires_at = Utc::now() + Duration::seconds(TOKEN_LIFETIME_SECS);
    state.tokens.insert(
        token.clone(),
        Token {
            installation_id,
            expires_at,
        },
    );
    json!({
        "token": token,
        "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "permissions": {
            "checks": "write",
            "contents": "read",
            "metadata": "read",
            "pull_requests": "write"
        },
        "repository_selection": "all"
    })
}

/// The installation behind an installation token (`Bearer` or `token`
/// scheme), or the 401 GitHub answers.
pub(crate) fn installation_of(state: &State, headers: &HeaderMap) -> Result<u64, Reply> {
    let Some((scheme, cred)) = credential(headers) else {
        return Err(Reply::error(401, "Requires authentication"));
    };
    if scheme != "bearer" && scheme != "token" {
        return Err(Reply::error(401, "Bad credentials"));
    }
    match state.tokens.get(&cred) {
        Some(t) if t.expires_at > Utc::now() => Ok(t.installation_id),
        _ => Err(Reply::error(401, "Bad credentials")),
    }
}

/// Whether an installation can see a repository.
pub(crate) fn can_access(state: &State, installation_id: u64, repo: &str) -> bool {
    state
        .installations
        .get(&installation_id)
        .is_some_and(|repos| repos.contains(&repo.to_ascii_lowercase()))
}
