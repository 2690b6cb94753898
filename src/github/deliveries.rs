//! The app's webhook deliveries: listing them (`GET /app/hook/deliveries`)
//! and asking GitHub to send one again
//! (`POST /app/hook/deliveries/{delivery_id}/attempts`).
//!
//! Both are app-level calls, authenticated with the app's JWT. The list is
//! newest first and paginated by an opaque cursor in the `Link` header. Only
//! the cursor is taken from the link; the request is rebuilt on our own base
//! URL, so a link can never send the app's JWT to another host, nor double a
//! base path such as GitHub Enterprise Server's `/api/v3`.

use super::client::{GitHubApp, GitHubError, Repeat};
use super::types::HookDelivery;
use chrono::{DateTime, Utc};
use http::Method;

const LIST_ROUTE: &str = "GET /app/hook/deliveries";
const REDELIVER_ROUTE: &str = "POST /app/hook/deliveries/{delivery_id}/attempts";
/// GitHub serves at most this many deliveries per page.
pub const MAX_PER_PAGE: usize = 100;
/// A cursor longer than this in a `Link` header is not GitHub's.
const MAX_CURSOR_LEN: usize = 512;

/// Which deliveries to list, and how much of the list to read at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryWindow {
    /// Attempts made before this are left out, and the listing stops at the
    /// first page that reaches one (the list is newest first).
    pub since: DateTime<Utc>,
    /// Pages read at most, whatever the window.
    pub max_pages: usize,
    /// Deliveries per page, 1 to [`MAX_PER_PAGE`].
    pub per_page: usize,
}

/// What a listing found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryListing {
    /// The attempts made since the window's start, newest first.
    pub deliveries: Vec<HookDelivery>,
    /// Pages requested.
    pub pages: usize,
    /// False when `max_pages` ran out before the window's start or the end
    /// of the list was reached: older attempts in the window went unseen.
    pub complete: bool,
}

impl GitHubApp {
    /// The attempts to deliver webhooks to the app since `window.since`,
    /// newest first, reading at most `window.max_pages` pages. Retried like
    /// every read; fails on the first page that cannot be read.
    pub async fn list_webhook_deliveries(
        &self,
        window: &DeliveryWindow,
    ) -> Result<DeliveryListing, GitHubError> {
        let per_page = window.per_page.clamp(1, MAX_PER_PAGE);
        let mut listing = DeliveryListing::default();
        let mut cursor: Option<String> = None;
        while listing.pages < window.max_pages {
            let path = match &cursor {
                None => format!("/app/hook/deliveries?per_page={per_page}"),
                Some(cursor) => format!("/app/hook/deliveries?per_page={per_page}&cursor={cursor}"),
            };
            let response = self
                .app_call(Method::GET, LIST_ROUTE, &path, Repeat::Safe)
                .await?;
            listing.pages += 1;
            let page: Vec<HookDelivery> = response.json(LIST_ROUTE)?;
            let on_page = page.len();
            let recent = page.into_iter().filter(|d| d.delivered_at >= window.since);
            let before = listing.deliveries.len();
            listing.deliveries.extend(recent);
            if listing.deliveries.len() - before < on_page {
                // An attempt older than the window: every later page is older.
                listing.complete = true;
                break;
            }
            let Some(next) = response.next_page() else {
                listing.complete = true;
                break;
            };
            cursor = Some(
                cursor_of(&next)
                    .ok_or_else(|| GitHubError::Decode {
                        route: LIST_ROUTE,
                        message: "the next page's link has no usable cursor".to_owned(),
                    })?
                    .to_owned(),
            );
        }
        Ok(listing)
    }

    /// Asks GitHub to deliver the event of attempt `delivery_id` again (with
    /// the same `X-GitHub-Delivery`). GitHub answers 202 and delivers later.
    /// Never repeated blindly: a 5xx, timeout or lost connection is
    /// [`GitHubError::Ambiguous`], and the caller looks at the deliveries
    /// before asking again.
    pub async fn redeliver_webhook_delivery(&self, delivery_id: u64) -> Result<(), GitHubError> {
        self.app_call(
            Method::POST,
            REDELIVER_ROUTE,
            &format!("/app/hook/deliveries/{delivery_id}/attempts"),
            Repeat::Unsafe,
        )
        .await
        .map(drop)
    }
}

/// The `cursor` parameter of a `Link` target, still percent-encoded, if it
/// is one we can put back into a query unchanged.
fn cursor_of(url: &str) -> Option<&str> {
    let (_, query) = url.split_once('?')?;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("cursor="))
        .filter(|cursor| {
            !cursor.is_empty()
                && cursor.len() <= MAX_CURSOR_LEN
                && cursor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~%+=".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::cursor_of;

    #[test]
    fn the_cursor_comes_from_the_next_link_and_nothing_else() {
        assert_eq!(
            cursor_of("https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_12345"),
            Some("v1_12345")
        );
        assert_eq!(
            cursor_of(
                "https://ghe.example/api/v3/app/hook/deliveries?cursor=abc%3D%3D&per_page=2#x"
            ),
            Some("abc%3D%3D")
        );
        assert_eq!(
            cursor_of("https://api.github.com/app/hook/deliveries?page=2"),
            None
        );
        assert_eq!(
            cursor_of("https://api.github.com/app/hook/deliveries?cursor="),
            None
        );
        // Nothing that could smuggle another parameter or a path in.
        assert_eq!(cursor_of("https://x/app?cursor=a/b"), None);
        assert_eq!(cursor_of("https://x/app?cursor=a%20b c"), None);
        assert_eq!(
            cursor_of(&format!("https://x/app?cursor={}", "a".repeat(600))),
            None
        );
    }
}
