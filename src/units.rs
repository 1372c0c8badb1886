//! The units flags and `purge.toml` take: rates (`10/s`, `600/min`) and
//! durations (`90s`, `1h30m`), parsed once for every layer that reads them.

use std::time::Duration;

use crate::model::Rate;

/// `N/s`, `N/sec`, `N/min`, `N/m` or `N/h`.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let (n, unit) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?}: expected N/s or N/min, e.g. 10/s"))?;
    let count: u32 = n
        .trim()
        .parse()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| format!("{s:?}: N must be a whole number above 0"))?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        other => return Err(format!("{s:?}: unknown unit {other:?}; use /s or /min")),
    };
    Ok(Rate { count, per })
}

/// `90s`, `10m`, `1h30m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let d = if let Ok(secs) = t.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!("{s:?}: must be a number of seconds, 0 or more"));
        }
        // Compared before converting: `Duration::from_secs_f64(1e300)` panics.
        if secs > MAX_DURATION.as_secs_f64() {
            return Err(too_long(s));
        }
        Duration::from_secs_f64(secs)
    } else {
        humantime::parse_duration(t).map_err(|e| format!("{s:?}: {e} (e.g. 30s, 10m)"))?
    };
    if d > MAX_DURATION {
        return Err(too_long(s));
    }
    Ok(d)
}

/// The longest duration any flag takes: longer ones are typing mistakes, and
/// would overflow a deadline (`now + d`).
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

fn too_long(s: &str) -> String {
    format!("{s:?}: longer than 30 days, the most purge accepts for a duration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_durations_parse() {
        assert_eq!(parse_rate("10/s").unwrap(), Rate::per_second(10));
        assert_eq!(parse_rate("600/min").unwrap(), Rate::per_minute(600));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("5").is_err());
        assert!(parse_rate("5/week").is_err());
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
