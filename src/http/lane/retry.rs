//! What is worth another attempt, how long to wait before it, and the typed
//! ways a send can end without an answer for the adapter.

use std::time::Duration;

use crate::http::RawResponse;
use crate::model::Fatal;

/// Backoff base and cap (DESIGN §5: 0.5 s · 2ⁿ, at most 60 s).
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// Why a request ended without a response for the adapter.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Given up on: every attempt failed, or the request may have arrived
    /// and is not sent twice.
    Exhausted(RetryError),
    /// 401/403 or a redirect: the run stops (exit 3).
    Fatal(Fatal),
    /// The vendor asks for a wait longer than `--max-wait` (exit 75).
    WaitTooLong { wait: Duration },
    /// The run is stopping; the request was not (re)sent.
    Stopped,
}

/// A request given up on (object_store's `RetryError` is the model): which
/// request, its last status, how many attempts over how long, how the last
/// one failed, and why there was no other. Its text is the `detail` of the
/// people it carried: the time is left out of it, so people failing the same
/// way group under one reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.detail())]
pub struct RetryError {
    /// The request as logs name it: its number, method and path, identifiers
    /// masked.
    pub request: String,
    /// The last attempt's status; `None`: it got no answer.
    pub status: Option<u16>,
    pub attempts: u32,
    /// From the first attempt's send to giving up.
    pub elapsed: Duration,
    /// How the last attempt failed (`HTTP 500: …`, `timed out`).
    pub reason: String,
    pub gave_up: GaveUp,
}

/// Why a request was not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// More than `--max-retries` errors.
    Retries,
    /// More than `--max-retries` throttles in a row, nothing else succeeding.
    Throttled,
    /// Not idempotent, and it may have reached the vendor ([`not_resent`]).
    MayHaveArrived,
}

impl RetryError {
    fn detail(&self) -> String {
        let tries = self.attempts;
        let s = if tries == 1 { "" } else { "s" };
        match self.gave_up {
            GaveUp::Retries => format!("{} (gave up after {tries} attempt{s})", self.reason),
            GaveUp::Throttled => format!(
                "{} (gave up after {tries} attempt{s}; nothing else succeeded meanwhile)",
                self.reason
            ),
            GaveUp::MayHaveArrived => format!(
                "{}: the request may have reached the vendor, and it is not idempotent (each one creates a vendor task), so it was not re-sent; run purge verify, or check the vendor's task list, before sending it again",
                self.reason
            ),
        }
    }

    /// The log line of giving up: the request, attempts and time.
    pub fn logged(&self) -> String {
        format!(
            "{}: given up after {} attempt{} in {:.1}s: {self}",
            self.request,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64()
        )
    }
}

/// Statuses worth another attempt of an idempotent request (a delete of the
/// same people); see [`not_resent`] for the others.
pub fn is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A request that is not idempotent ([`crate::model::Request::once`]) is sent
/// again only when it certainly did not reach the vendor or was refused
/// before it was processed: a connection never made, a 429 (throttled), a 503
/// (unavailable). After a timeout, a reset connection or a 5xx it may have
/// created its task: it ends here ([`GaveUp::MayHaveArrived`]), failed with
/// why, instead of creating a second one.
pub fn not_resent(idempotent: bool, status: Option<u16>, not_sent: bool) -> bool {
    let refused_unprocessed = matches!(status, Some(429 | 503));
    !(idempotent || not_sent || refused_unprocessed)
}

/// A redirect: never followed (see [`crate::http::HttpClient::new`]); it stops the run.
pub fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}

/// An answer that stops the run, if this is one.
pub fn fatal(resp: &RawResponse) -> Option<Fatal> {
    match resp.status {
        s if is_redirect(s) => Some(Fatal::new(s, redirect_detail(resp))),
        s @ (401 | 403) => Some(Fatal::new(s, crate::model::snippet(&resp.body))),
        _ => None,
    }
}

/// What a redirect answer said, without the path it pointed to (it may carry identifiers).
fn redirect_detail(resp: &RawResponse) -> String {
    let to = resp
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|loc| match url::Url::parse(loc) {
            Ok(u) => format!(
                "to host {}",
                u.host_str()
                    .map_or_else(|| "(none)".into(), crate::output::escape)
            ),
            Err(_) => "to a path on the same host".to_string(),
        })
        .unwrap_or_else(|| "with no Location".to_string());
    format!(
        "the server answered with a redirect {to}; purge never follows redirects (the credential must not leave the vendor's host): the base URL or the network path is wrong"
    )
}

/// Delay before attempt `attempt + 1`: `max(hint, full_jitter(min(cap, base·2ⁿ)))`;
/// `unit` is a random number in [0, 1).
pub fn backoff(attempt: u32, hint: Option<Duration>, unit: f64) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(2u32.saturating_pow(attempt.min(16)));
    let ceiling = exp.min(BACKOFF_CAP);
    let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
    hint.map_or(jittered, |h| h.max(jittered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_capped_and_honours_hints() {
        assert_eq!(backoff(0, None, 0.0), Duration::ZERO);
        assert_eq!(backoff(0, None, 0.999_999).as_millis(), 499);
        assert_eq!(backoff(3, None, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(30, None, 0.999_999).as_secs(), 59);
        assert_eq!(
            backoff(0, Some(Duration::from_secs(5)), 0.9),
            Duration::from_secs(5)
        );
        assert_eq!(
            backoff(10, Some(Duration::from_secs(1)), 1.0),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_classification() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable(s), "{s}");
        }
        for s in [200, 202, 301, 307, 400, 401, 403, 404, 422, 501] {
            assert!(!is_retryable(s), "{s}");
        }
        for s in [300, 301, 302, 303, 307, 308] {
            assert!(is_redirect(s), "{s}");
        }
    }
}
