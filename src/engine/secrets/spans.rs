//! Byte spans of found values by line: which rule or reader keeps a value
//! that two of them found.

use std::collections::HashMap;

/// One line's spans, sorted by start, with the furthest end up to each.
#[derive(Default)]
struct Line {
    spans: Vec<(usize, usize)>,
    max_end: Vec<usize>,
}

/// Byte spans by line, for "does this value overlap one already taken":
/// a binary search per question (a hostile line can hold many thousands).
pub(super) struct Spans(HashMap<u32, Line>);

impl Spans {
    pub(super) fn of(spans: impl Iterator<Item = (u32, usize, usize)>) -> Self {
        let mut by_line: HashMap<u32, Line> = HashMap::new();
        for (line, start, end) in spans {
            by_line.entry(line).or_default().spans.push((start, end));
        }
        for Line { spans, max_end } in by_line.values_mut() {
            spans.sort_unstable();
            // The furthest end among the spans up to each one: spans of two
            // readers may nest, so the last start alone does not tell.
            let mut furthest = 0;
            *max_end = spans
                .iter()
                .map(|&(_, end)| {
                    furthest = furthest.max(end);
                    furthest
                })
                .collect();
        }
        Self(by_line)
    }

    pub(super) fn overlaps(&self, line: u32, start: usize, end: usize) -> bool {
        let Some(Line { spans, max_end }) = self.0.get(&line) else {
            return false;
        };
        let before_end = spans.partition_point(|&(s, _)| s < end);
        before_end > 0 && max_end[before_end - 1] > start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_overlap_sees_a_long_span_behind_a_later_short_one() {
        // Two readers' spans on line 3 nest: 10..40 holds 12..14.
        let spans = Spans::of([(3, 10, 40), (3, 12, 14), (5, 0, 4)].into_iter());
        assert!(spans.overlaps(3, 30, 35), "inside the long span only");
        assert!(spans.overlaps(3, 0, 11));
        assert!(!spans.overlaps(3, 40, 50), "touching is no overlap");
        assert!(!spans.overlaps(3, 0, 10));
        assert!(spans.overlaps(5, 3, 9));
        assert!(!spans.overlaps(4, 0, 100), "another line");
    }
}
