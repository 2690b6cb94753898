//! CVSS v2 base scores, written here because the `cvss` crate scores only
//! v3 and v4 and older records (many PYSEC and early GHSA ones) carry only
//! a v2 vector. The base equation is FIRST's, section 3.2.1 of the v2
//! specification; temporal and environmental metrics, when a vector has
//! them, do not change the base score and are accepted but not used.

/// The base score (0.0–10.0, one decimal) of a v2 vector such as
/// `AV:N/AC:L/Au:N/C:P/I:P/A:P` (an optional `(…)` or `CVSS2#` wrapper is
/// accepted); `None` when a base metric is missing, repeated or unknown.
pub fn base_score(vector: &str) -> Option<f64> {
    let vector = vector.trim();
    let vector = vector
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or(vector);
    let vector = vector.strip_prefix("CVSS2#").unwrap_or(vector);
    let (mut av, mut ac, mut au): (Option<f64>, Option<f64>, Option<f64>) = (None, None, None);
    let (mut c, mut i, mut a): (Option<f64>, Option<f64>, Option<f64>) = (None, None, None);
    // A v2 vector has six base and eight other metrics.
    for part in vector.split('/').take(16) {
        let (metric, value) = part.split_once(':')?;
        let slot = match metric {
            "AV" => (
                &mut av,
                match value {
                    "L" => 0.395,
                    "A" => 0.646,
                    "N" => 1.0,
                    _ => return None,
                },
            ),
            "AC" => (
                &mut ac,
                match value {
                    "H" => 0.35,
                    "M" => 0.61,
                    "L" => 0.71,
                    _ => return None,
                },
            ),
            "Au" => (
                &mut au,
                match value {
                    "M" => 0.45,
                    "S" => 0.56,
                    "N" => 0.704,
                    _ => return None,
                },
            ),
            "C" | "I" | "A" => {
                let impact = match value {
                    "N" => 0.0,
                    "P" => 0.275,
                    "C" => 0.660,
                    _ => return None,
                };
                let slot = match metric {
                    "C" => &mut c,
                    "I" => &mut i,
                    _ => &mut a,
                };
                (slot, impact)
            }
            "E" | "RL" | "RC" | "CDP" | "TD" | "CR" | "IR" | "AR" => continue,
            _ => return None,
        };
        if slot.0.replace(slot.1).is_some() {
            return None;
        }
    }
    let (av, ac, au, c, i, a) = (av?, ac?, au?, c?, i?, a?);
    let impact = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let exploitability = 20.0 * av * ac * au;
    let f_impact = if impact == 0.0 { 0.0 } else { 1.176 };
    let score: f64 = (0.6 * impact + 0.4 * exploitability - 1.5) * f_impact;
    // The specification rounds to one decimal; 1e-9 absorbs float error
    // in values that are exactly halfway on paper.
    Some(((score * 10.0 + 1e-9).round() / 10.0).clamp(0.0, 10.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scores() {
        // Scores as NVD published them for these vectors.
        for (vector, score) in [
            ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
            ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3),
            ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0),
            ("AV:L/AC:L/Au:N/C:C/I:C/A:C", 7.2),
            ("AV:N/AC:L/Au:N/C:N/I:N/A:P", 5.0),
            ("AV:N/AC:M/Au:N/C:P/I:P/A:P", 6.8),
            ("AV:L/AC:H/Au:M/C:N/I:N/A:N", 0.0),
            ("AV:N/AC:H/Au:S/C:P/I:N/A:N", 2.1),
        ] {
            assert_eq!(base_score(vector), Some(score), "{vector}");
        }
        assert_eq!(
            base_score("(AV:N/AC:L/Au:N/C:P/I:P/A:P/E:F/RL:OF/RC:C)"),
            Some(7.5),
            "temporal metrics and parentheses do not change the base score"
        );
    }

    #[test]
    fn incomplete_or_wrong_vectors_are_not_scored() {
        for bad in [
            "",
            "AV:N/AC:L/Au:N/C:P/I:P",
            "AV:N/AC:L/Au:N/C:P/I:P/A:X",
            "AV:N/AV:L/AC:L/Au:N/C:P/I:P/A:P",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "AV:N/AC:L/Au:N/C:P/I:P/A:P/ZZ:1",
        ] {
            assert_eq!(base_score(bad), None, "{bad:?}");
        }
    }
}
