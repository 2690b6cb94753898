//! REST pagination the way GitHub does it: `per_page` (default 30, at most
//! 100; anything unparsable falls back to the default), `page` (from 1), and
//! a `Link` header with `prev`, `next`, `last` and `first` in GitHub's order.
//! Link targets keep the request's other query parameters and point at
//! `/repositories/{id}/...`, as GitHub's do, so a client must follow the
//! links rather than rebuild them from the owner/name path.

const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 100;

/// The page a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub page: usize,
    pub per_page: usize,
}

/// Query parameters in order, still percent-encoded.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

/// The decoded value of query parameter `name`.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| super::routes::percent_decode(&v.replace('+', " ")))
}

/// The page size a request asks for, as GitHub reads it (also for the
/// cursor-paginated lists).
pub(crate) fn per_page(query: Option<&str>) -> usize {
    match query_param(query, "per_page").and_then(|v| v.parse::<usize>().ok()) {
        Some(0) | None => DEFAULT_PER_PAGE,
        Some(n) => n.min(MAX_PER_PAGE),
    }
}

impl PageRequest {
    pub fn from_query(query: Option<&str>) -> PageRequest {
        let page = query_param(query, "page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        PageRequest {
            page,
            per_page: per_page(query),
        }
    }

    /// The items on this page.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = (self.page - 1)
            .saturating_mul(self.per_page)
            .min(items.len());
        let end = start.saturating_add(self.per_page).min(items.len());
        &items[start..end]
    }

    /// The `Link` header for a list of `total` items, or `None` when it all
    /// fits on one page (GitHub sends no `Link` then).
    pub fn link(&self, base_url: &str, query: Option<&str>, total: usize) -> Option<String> {
        let last = total.div_ceil(self.per_page).max(1);
        if last == 1 && self.page == 1 {
            return None;
        }
        let pairs: Vec<(String, String)> = query_pairs(query)
            .into_iter()
            .filter(|(k, _)| k != "page")
            .collect();
        let url = |page: usize| {
            let mut q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            q.push(format!("page={page}"));
            format!("<{base_url}?{}>", q.join("&"))
        };
        let mut parts = Vec::new();
        if self.page > 1 {
            parts.push(format!("{}; rel=\"prev\"", url((self.page - 1).min(last))));
        }
        if self.page < last {
            parts.push(format!("{}; rel=\"next\"", url(self.page + 1)));
            parts.push(format!("{}; rel=\"last\"", url(last)));
        }
        if self.page > 1 {
            parts.push(format!("{}; rel=\"first\"", url(1)));
        }
        Some(parts.join(", "))
    }
}
