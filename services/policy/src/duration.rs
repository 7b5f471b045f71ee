//! Retention periods written as `30s`, `15m`, `12h`, `14d` or `2y` (365 days).

use std::time::Duration;

/// Parses a retention such as `14d`. Returns a readable error.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit (use s, m, h, d or y)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "y" => 365 * 86_400,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use s, m, h, d or y)"
            ));
        }
    };
    if n == 0 {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(Duration::from_secs(n * secs))
}

/// Formats a duration the way [`parse`] reads it, in the largest exact unit.
#[must_use]
pub fn format(duration: Duration) -> String {
    let secs = duration.as_secs();
    for (unit, size) in [("y", 365 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_round_trip() {
        for text in ["30s", "15m", "12h", "14d", "2y"] {
            let parsed = parse(text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(format(parsed), text);
        }
        assert_eq!(parse("14d"), Ok(Duration::from_secs(14 * 86_400)));
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert!(parse("14").unwrap_err().contains("no unit"));
        assert!(parse("d").unwrap_err().contains("whole number"));
        assert!(parse("3w").unwrap_err().contains("unknown unit"));
        assert!(parse("0d").unwrap_err().contains("longer than zero"));
    }
}
