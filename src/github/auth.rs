//! GitHub App authentication: the app's JWT and a cache of installation
//! tokens.

use crate::config::settings::AppIdentity;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// GitHub rejects app JWTs whose `iat` is ahead of its clock; backdating by a
/// minute absorbs clock drift (GitHub's own advice).
const JWT_BACKDATE_SECS: i64 = 60;
/// GitHub accepts at most 10 minutes; stay under it even with drift.
const JWT_LIFETIME_SECS: i64 = 9 * 60;
/// Tokens live one hour; refresh when less than this remains, so a token
/// never expires during a job.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// Signs an app JWT valid from `now - 60 s` to `now + 9 min`.
pub fn app_jwt(
    identity: &AppIdentity,
    now: DateTime<Utc>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = now.timestamp();
    let claims = Claims {
        iat: now - JWT_BACKDATE_SECS,
        exp: now + JWT_LIFETIME_SECS,
        iss: identity.app_id.to_string(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &identity.key)
}

/// An installation access token.
#[derive(Clone)]
pub struct InstallationToken {
    /// The token.
    pub token: String,
    /// When GitHub stops accepting it.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl InstallationToken {
    fn fresh_at(&self, now: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(TOKEN_REFRESH_MARGIN).unwrap_or_default();
        self.expires_at - now > margin
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<InstallationToken>>>;

/// Installation tokens, one slot per installation. A slot's async lock makes
/// concurrent jobs of one installation wait for a single fetch instead of
/// each asking GitHub for a token.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<u64, Slot>>,
}

impl TokenCache {
    fn slot(&self, installation: u64) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        slots.entry(installation).or_default().clone()
    }

    /// A token with more than [`TOKEN_REFRESH_MARGIN`] left, fetched with
    /// `fetch` only when the cached one is missing or about to expire.
    pub async fn get<F, Fut, E>(&self, installation: u64, fetch: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<InstallationToken, E>>,
    {
        let slot = self.slot(installation);
        let mut cached = slot.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| t.fresh_at(Utc::now())) {
            return Ok(token.token.clone());
        }
        let token = fetch().await?;
        let value = token.token.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Forgets a token GitHub refused (revoked, or the clock lied).
    pub async fn invalidate(&self, installation: u64, token: &str) {
        let slot = self.slot(installation);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|t| t.token == token) {
            *cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const PRIVATE: &str = include_str!("../../fixtures/github/test-app-private-key.pem");
    const PUBLIC: &str = include_str!("../../fixtures/github/test-app-public-key.pem");

    #[derive(serde::Deserialize)]
    struct Decoded {
        iat: i64,
        exp: i64,
        iss: String,
    }

    #[test]
    fn jwt_is_rs256_backdated_and_short_lived() {
        let identity = AppIdentity {
            app_id: 4242,
            key: EncodingKey::from_rsa_pem(PRIVATE.as_bytes()).expect("test key"),
        };
        let now = Utc::now();
        let jwt = app_jwt(&identity, now).expect("signs");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        let key = DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).expect("public key");
        let decoded = jsonwebtoken::decode::<Decoded>(&jwt, &key, &validation).expect("verifies");
        assert_eq!(decoded.claims.iss, "4242");
        assert_eq!(decoded.claims.iat, now.timestamp() - 60);
        assert!(decoded.claims.exp - decoded.claims.iat <= 600);
        assert!(decoded.claims.exp > now.timestamp());
    }

    #[tokio::test]
    async fn tokens_are_fetched_once_and_refreshed_before_expiry() {
        let cache = TokenCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = |lifetime_secs: i64| {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok::<_, ()>(InstallationToken {
                    token: format!("t{n}"),
                    expires_at: Utc::now() + chrono::Duration::seconds(lifetime_secs),
                })
            }
        };
        assert_eq!(cache.get(1, || fetch(3600)).await, Ok("t0".into()));
        assert_eq!(
            cache.get(1, || fetch(3600)).await,
            Ok("t0".into()),
            "cached"
        );
        assert_eq!(
            cache.get(2, || fetch(3600)).await,
            Ok("t1".into()),
            "per installation"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 2);

        // A token with less than the margin left is replaced.
        let cache = TokenCache::default();
        assert_eq!(cache.get(1, || fetch(120)).await, Ok("t2".into()));
        assert_eq!(cache.get(1, || fetch(3600)).await, Ok("t3".into()));
        assert_eq!(cache.get(1, || fetch(3600)).await, Ok("t3".into()));

        cache.invalidate(1, "t3").await;
        assert_eq!(cache.get(1, || fetch(3600)).await, Ok("t4".into()));
    }
}
