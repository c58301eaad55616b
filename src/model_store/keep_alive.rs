//! How long a model stays loaded after its last request: Ollama's `keep_alive`, as its clients
//! send it (a number of seconds or a Go duration such as `"5m"` or `"1h30m"`; anything negative
//! means forever, `0` unloads once the request is answered), and `--keep-alive` in the same words.

use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    Forever,
    /// Unload once this long has passed with no request in flight (zero: at once).
    For(Duration),
}

impl KeepAlive {
    /// `-1`, `0`, `300` (seconds), `2.5`, `"5m"`, `"1h30m"`, `"500ms"`, `"-1m"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<f64>() {
            return Self::from_seconds(seconds).ok_or_else(|| format!("{text:?} is not a duration"));
        }
        go_duration(text)
            .map(|(negative, duration)| if negative { Self::Forever } else { Self::For(duration) })
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a duration: use seconds (300), a duration (5m, 1h30m, 500ms) or -1 for forever"
                )
            })
    }

    /// A request's `keep_alive`: a JSON number of seconds or a string as [`KeepAlive::parse`] reads.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::Number(number) => number
                .as_f64()
                .and_then(Self::from_seconds)
                .ok_or_else(|| format!("{number} is not a duration")),
            Value::String(text) => Self::parse(text),
            _ => Err("must be a number of seconds or a duration string such as \"5m\"".to_owned()),
        }
    }

    fn from_seconds(seconds: f64) -> Option<Self> {
        if !seconds.is_finite() {
            return None;
        }
        if seconds < 0.0 {
            return Some(Self::Forever);
        }
        Duration::try_from_secs_f64(seconds).ok().map(Self::For)
    }

    /// When a model idle from `now` on is unloaded; `None`: never.
    pub fn expiry(self, now: Instant) -> Option<Instant> {
        match self {
            Self::Forever => None,
            // Past what an Instant can hold is forever in practice.
            Self::For(duration) => now.checked_add(duration),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Self::Forever => "forever".to_owned(),
            Self::For(duration) => format!("{duration:?}"),
        }
    }
}

/// Go's `time.ParseDuration` grammar (what Ollama reads): an optional sign, then one or more
/// decimal numbers each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`). Returns the sign
/// apart, since a negative keep-alive means forever.
fn go_duration(text: &str) -> Option<(bool, Duration)> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).ok().map(|d| (negative, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_durations_read_as_ollama_reads_them() {
        let secs = |s: u64| KeepAlive::For(Duration::from_secs(s));
        assert_eq!(KeepAlive::parse("5m"), Ok(secs(300)));
        assert_eq!(KeepAlive::parse("1h30m"), Ok(secs(5400)));
        assert_eq!(KeepAlive::parse("90s"), Ok(secs(90)));
        assert_eq!(
            KeepAlive::parse("500ms"),
            Ok(KeepAlive::For(Duration::from_millis(500)))
        );
        assert_eq!(KeepAlive::parse("1.5h"), Ok(secs(5400)));
        assert_eq!(KeepAlive::parse("0"), Ok(secs(0)));
        assert_eq!(KeepAlive::parse("0s"), Ok(secs(0)));
        assert_eq!(KeepAlive::parse("300"), Ok(secs(300)));
        assert_eq!(KeepAlive::parse("-1"), Ok(KeepAlive::Forever));
        assert_eq!(KeepAlive::parse("-1m"), Ok(KeepAlive::Forever));
        for wrong in ["", "5x", "m", "1h30", "--1", "five minutes", "1e400"] {
            assert!(KeepAlive::parse(wrong).is_err(), "{wrong:?} parsed");
        }
    }

    #[test]
    fn json_numbers_are_seconds_and_other_types_are_refused() {
        assert_eq!(
            KeepAlive::from_json(&serde_json::json!(0)),
            Ok(KeepAlive::For(Duration::ZERO))
        );
        assert_eq!(
            KeepAlive::from_json(&serde_json::json!(2.5)),
            Ok(KeepAlive::For(Duration::from_millis(2500)))
        );
        assert_eq!(KeepAlive::from_json(&serde_json::json!(-1)), Ok(KeepAlive::Forever));
        assert_eq!(
            KeepAlive::from_json(&serde_json::json!("10m")),
            Ok(KeepAlive::For(Duration::from_secs(600)))
        );
        assert!(KeepAlive::from_json(&serde_json::json!(true)).is_err());
        assert!(KeepAlive::from_json(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn forever_never_expires_and_zero_expires_now() {
        let now = Instant::now();
        assert_eq!(KeepAlive::Forever.expiry(now), None);
        assert_eq!(KeepAlive::For(Duration::ZERO).expiry(now), Some(now));
    }
}
