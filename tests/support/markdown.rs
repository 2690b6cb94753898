//! What GitHub would make of Markdown the bot writes: a parse with GitHub's
//! extensions, and a list of everything in it that could act on a reader
//! (mention, reference, link, image, heading, HTML) outside code.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Headings the bot writes itself in check summaries.
pub const OUR_HEADINGS: [&str; 7] = [
    "New findings",
    "Made worse by this pull request",
    "Fixed by this pull request",
    "Suppressed in this pull request",
    "Skipped",
    "Notes",
    "Dismissed in review",
];

/// Whether `heading` is one the bot writes (some name a pull request).
fn our_heading(heading: &str) -> bool {
    OUR_HEADINGS.contains(&heading)
        || heading
            .strip_prefix("Dismissed in review of #\u{200B}")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `html` is nothing but the hidden markers the bot writes in its
/// check summaries (the verdict and the dismissal blocks).
fn only_summary_markers(html: &str) -> bool {
    let mut rest = html.trim();
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix("<!-- ") else {
            return false;
        };
        let Some(end) = inner.find(" -->") else {
            return false;
        };
        let name = inner[..end].trim_start_matches('/');
        let known = name == "hunkscan:verdict"
            || name == "hunkscan:dismissals"
            || name
                .strip_prefix("hunkscan:dismissals=")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !known {
            return false;
        }
        rest = inner[end + 4..].trim_start();
    }
    true
}

/// Link targets the bot writes itself.
pub fn our_link(url: &str) -> bool {
    url.starts_with("https://github.com/o/r/blob/")
        || url.starts_with("https://github.com/acme/shop/blob/")
        || url.starts_with("https://cwe.mitre.org/data/definitions/")
}

/// Everything active in `markdown` that the bot did not write itself: each
/// entry says what and where. Empty means inert.
pub fn active_parts(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    options.insert(Options::ENABLE_FOOTNOTES);
    options.insert(Options::ENABLE_MATH);
    let mut heading: Option<String> = None;
    // Text inside a fenced or indented block is code: shown, never acted on.
    let mut in_code_block = false;
    let last_line = markdown.trim_end().rsplit('\n').next().unwrap_or_default();
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => in_code_block = true,
            Event::End(TagEnd::CodeBlock) => in_code_block = false,
            Event::Text(_) if in_code_block => {}
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                let text = heading.take().unwrap_or_default();
                if !our_heading(text.trim()) {
                    found.push(format!("heading {text:?}"));
                }
            }
            Event::Start(Tag::Link { dest_url, .. }) if !our_link(&dest_url) => {
                found.push(format!("link to {dest_url:?}"));
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                found.push(format!("image {dest_url:?}"));
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                let html = html.trim();
                let ours = html == "<sub>"
                    || html == "</sub>"
                    || only_summary_markers(html)
                    || ((html.starts_with("<!-- hunkscan:fingerprint=")
                        || html.starts_with("<!-- hunkscan:dismissed="))
                        && html == last_line);
                if !ours {
                    found.push(format!("html {html:?}"));
                }
            }
            Event::InlineMath(math) | Event::DisplayMath(math) => {
                found.push(format!("math {math:?}"));
            }
            Event::Text(text) => {
                if let Some(heading) = &mut heading {
                    heading.push_str(&text);
                }
                found.extend(active_in_text(&text));
            }
            _ => {}
        }
    }
    found
}

/// What GitHub finds in rendered text (outside code): mentions, issue
/// references, autolinked URLs, comment openers.
fn active_in_text(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied().unwrap_or(' ');
        if *c == '@' && (next.is_ascii_alphanumeric()) {
            found.push(format!("mention in {text:?}"));
        }
        if *c == '#' && next.is_ascii_digit() {
            found.push(format!("reference in {text:?}"));
        }
    }
    let lower = text.to_ascii_lowercase();
    for needle in ["://", "www.", "<!--", "-->"] {
        if lower.contains(needle) {
            found.push(format!("{needle:?} in {text:?}"));
        }
    }
    found
}

/// Controls a terminal would act on (escape sequences, carriage returns,
/// bidirectional overrides); line breaks and tabs are layout.
pub fn terminal_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| {
            (c.is_control() && *c != '\n' && *c != '\t')
                || matches!(*c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
        })
        .collect()
}
