//! The masked forms shown instead of a value. At most four characters of a
//! value ever leave the process (the provider prefix a reader needs to know
//! which credential it is), and none of a short one.

/// The masked form shown instead of a value: a short prefix (none for short
/// values), an ellipsis and the length, e.g. `ghp_…(40 chars)`.
pub fn mask(value: &str) -> String {
    let length = value.chars().count();
    let shown = match length {
        0..8 => 0,
        8..16 => 2,
        _ => 4,
    };
    let prefix: String = value.chars().take(shown).collect();
    format!("{prefix}…({length} chars)")
}

/// The masked form of a span that shows nothing of itself.
pub fn mask_whole(span: &str) -> String {
    format!("…({} chars)", span.chars().count())
}
