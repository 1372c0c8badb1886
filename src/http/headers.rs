//! Reading rate-limit and `Retry-After` headers into waits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

use crate::model::{RateHeaders, ResetIs};

/// No single wait a header asks for is taken longer than this; a longer ask is
/// capped (and said), so a hostile or broken header cannot stall a run for years.
pub const MAX_HINT: Duration = Duration::from_secs(15 * 60);

fn first<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| headers.get(*n))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn number(headers: &HeaderMap, names: &[&str]) -> Option<f64> {
    first(headers, names)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// `Retry-After` as seconds or an HTTP-date; `None` when absent, negative or unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = first(headers, &["retry-after"])?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| secs_capped(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(now)
            .map_or(Duration::ZERO, |d| d.min(MAX_HINT)),
    )
}

fn secs_capped(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.min(MAX_HINT.as_secs_f64()))
}

/// Added to a `Reset` given as a Unix time, so the first request of the next
/// window does not arrive a few milliseconds early.
pub const RESET_MARGIN: Duration = Duration::from_millis(50);

/// What the rate headers of one response say.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateState {
    pub limit: Option<f64>,
    pub remaining: Option<f64>,
    /// Time until the window resets, if given and in the future.
    pub reset_in: Option<Duration>,
}

pub fn rate_state(headers: &HeaderMap, dialect: &RateHeaders, now: SystemTime) -> RateState {
    let reset_in = number(headers, dialect.reset).and_then(|v| {
        let secs = match dialect.reset_is {
            ResetIs::Seconds => v,
            ResetIs::UnixTime => {
                let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
                // A whole-second clock reading can run a little behind ours.
                v - now + RESET_MARGIN.as_secs_f64()
            }
        };
        (secs > 0.0).then(|| secs_capped(secs))
    });
    RateState {
        limit: number(headers, dialect.limit),
        remaining: number(headers, dialect.remaining),
        reset_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::X_RATELIMIT_UNIX;
    use reqwest::header::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn retry_after_seconds_date_and_garbage() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&h(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            retry_after(&h(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(&h(&[("retry-after", "-5")]), now), None);
        assert_eq!(retry_after(&h(&[("retry-after", "abc")]), now), None);
        assert_eq!(
            retry_after(&h(&[("retry-after", "315360000")]), now),
            Some(MAX_HINT)
        );
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn unix_reset_in_future_past_and_capped() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let s = rate_state(
            &h(&[
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000002"),
            ]),
            &X_RATELIMIT_UNIX,
            now,
        );
        assert_eq!(s.limit, Some(100.0));
        assert_eq!(s.remaining, Some(0.0));
        assert_eq!(s.reset_in, Some(Duration::from_secs(2) + RESET_MARGIN));
        let past = rate_state(
            &h(&[("x-ratelimit-reset", "1600000000")]),
            &X_RATELIMIT_UNIX,
            now,
        );
        assert_eq!(past.reset_in, None);
    }
}
