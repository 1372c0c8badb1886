//! The lane: the only path to the network. A shared gate (governor quota, a
//! pause any response can push later, a budget of the sends the vendor's
//! current window has left, a semaphore for concurrency) and the retry loop
//! with full-jitter backoff.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, watch};

use super::headers::{self, MAX_HINT, RateState};
use super::{HttpClient, RawResponse};
use crate::output;
use crate::vendor::{Rate, RateHeaders, Request};

/// Backoff base and cap (DESIGN §5: 0.5 s · 2ⁿ, at most 60 s).
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// With the window's budget spent but answers outstanding, look again this soon.
pub const BUDGET_RECHECK: Duration = Duration::from_millis(5);

/// Statuses worth another attempt (deletes are idempotent).
pub fn is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A redirect: never followed (see [`super::HttpClient::new`]); it stops the run.
pub fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
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

/// Counters shared by every lane of a run (for the summary).
#[derive(Debug, Default)]
pub struct Stats {
    pub attempts: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub paused_ms: AtomicU64,
}

/// Tells every wait to give up (first Ctrl-C, fatal answer, `--max-wait`).
#[derive(Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop {
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Stop {
    pub fn stop(&self) {
        self.tx.send_replace(true);
    }
    pub fn is_stopped(&self) -> bool {
        *self.tx.borrow()
    }
    pub async fn stopped(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// Why a request ended without a response for the adapter.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Every attempt failed; `detail` says how the last one did.
    Exhausted { status: Option<u16>, detail: String },
    /// 401/403: the credential is refused; the run stops (exit 3).
    Fatal { status: u16, detail: String },
    /// The vendor asks for a wait longer than `--max-wait` (exit 75).
    WaitTooLong { wait: Duration },
    /// The run is stopping; the request was not (re)sent.
    Stopped,
}

#[derive(Debug, Clone)]
pub struct LaneConfig {
    pub name: &'static str,
    pub rate: Option<Rate>,
    pub burst: u32,
    /// Raise `rate` to the `limit` header's value per this window when it is higher.
    pub follow_limit: Option<Duration>,
    pub concurrency: usize,
    pub headers: Option<RateHeaders>,
    pub max_retries: u32,
    pub max_wait: Option<Duration>,
    pub seed: Option<u64>,
}

#[derive(Debug, Default)]
struct Gate {
    paused_until: Option<Instant>,
    /// Sends left in the vendor's current window (its `Remaining` less what was
    /// sent after the answer that said so), and when the window ends.
    budget: Option<(f64, Instant)>,
    /// Numbers of the sends still waiting for an answer.
    in_flight: BTreeSet<u64>,
    next_send: u64,
    /// The end of the waits already counted in `Stats::paused_ms`.
    waited_until: Option<Instant>,
}

impl Gate {
    /// Push the pause to `until` (never earlier).
    fn extend_pause(&mut self, until: Instant) {
        if self.paused_until.is_none_or(|p| until > p) {
            self.paused_until = Some(until);
        }
    }

    /// A worker is about to wait until `until`: the wall time no worker was
    /// already waiting for (so waits in parallel count once).
    fn wait_time(&mut self, until: Instant) -> Duration {
        let from = self
            .waited_until
            .map_or(Instant::now(), |w| w.max(Instant::now()));
        self.waited_until = Some(self.waited_until.map_or(until, |w| w.max(until)));
        until.saturating_duration_since(from)
    }
}

pub struct Lane {
    cfg: LaneConfig,
    http: Arc<HttpClient>,
    /// The quota gate; replaced when the vendor reports a higher limit.
    limiter: RwLock<Option<Arc<DefaultDirectRateLimiter>>>,
    /// Requests per window of the current limiter (for `follow_limit`).
    limit_count: AtomicU64,
    sem: Semaphore,
    gate: Mutex<Gate>,
    rng: Mutex<fastrand::Rng>,
    stats: Arc<Stats>,
    stop: Stop,
}

/// The governor quota for a rate: evenly spaced cells, `burst` at once.
fn quota(rate: Rate, burst: u32) -> Option<Quota> {
    let count = NonZeroU32::new(rate.count)?;
    let period = rate.per.checked_div(count.get())?;
    Quota::with_period(period)
        .map(|q| q.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)))
}

impl Lane {
    pub fn new(cfg: LaneConfig, http: Arc<HttpClient>, stats: Arc<Stats>, stop: Stop) -> Self {
        let limiter = cfg
            .rate
            .and_then(|r| quota(r, cfg.burst))
            .map(|q| Arc::new(RateLimiter::direct(q)));
        let limit_count = cfg.rate.map_or(0, |r| u64::from(r.count));
        let rng = cfg
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Lane {
            sem: Semaphore::new(cfg.concurrency.max(1)),
            cfg,
            http,
            limiter: RwLock::new(limiter),
            limit_count: AtomicU64::new(limit_count),
            gate: Mutex::new(Gate::default()),
            rng: Mutex::new(rng),
            stats,
            stop,
        }
    }

    /// Sleep unless the run stops first.
    async fn sleep(&self, d: Duration) -> Result<(), SendError> {
        if d.is_zero() {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(d) => Ok(()),
            () = self.stop.stopped() => Err(SendError::Stopped),
        }
    }

    fn too_long(&self, wait: Duration) -> bool {
        self.cfg.max_wait.is_some_and(|m| wait > m)
    }

    /// Push the shared pause to `now + d` (never earlier than it is).
    fn pause_for(&self, d: Duration) {
        let Ok(mut g) = self.gate.lock() else { return };
        g.extend_pause(Instant::now() + d);
    }

    /// Feed the rate headers of a response to the gate.
    fn observe(&self, resp: &RawResponse, send: u64) {
        let Some(dialect) = &self.cfg.headers else {
            return;
        };
        let RateState {
            limit,
            remaining,
            reset_in,
        } = headers::rate_state(&resp.headers, dialect, SystemTime::now());
        if let (Some(window), Some(limit)) = (self.cfg.follow_limit, limit) {
            self.raise_to(limit, window);
        }
        let (Some(remaining), Some(reset_in)) = (remaining, reset_in) else {
            return;
        };
        let reset_at = Instant::now() + reset_in;
        if let Ok(mut g) = self.gate.lock() {
            // Sends that left after this one may not be in the vendor's count yet.
            let later = g.in_flight.range(send + 1..).count() as f64;
            let left = (remaining - later).max(0.0);
            g.budget = match g.budget {
                // With nothing in flight the count is exact.
                _ if g.in_flight.is_empty() => Some((remaining.max(0.0), reset_at)),
                // Same window: trust the lower count (answers can arrive out of order).
                Some((b, at)) if reset_at < at + Duration::from_secs(1) => Some((b.min(left), at)),
                _ => Some((left, reset_at)),
            };
            if remaining < 1.0 {
                output::debug(
                    2,
                    &format!(
                        "{}: the vendor's window is used up; every worker waits {:.1}s for its reset",
                        self.cfg.name,
                        reset_in.as_secs_f64()
                    ),
                );
                let at = g.budget.map_or(reset_at, |(_, at)| at);
                g.extend_pause(at);
            }
        }
    }

    /// Follow a higher quota the vendor reports (e.g. Zendesk's plan limit).
    fn raise_to(&self, limit: f64, window: Duration) {
        let current = self.limit_count.load(Ordering::Relaxed);
        if !(limit.is_finite() && limit > current as f64 && limit < f64::from(u32::MAX)) {
            return;
        }
        let rate = Rate {
            count: limit as u32,
            per: window,
        };
        let Some(q) = quota(rate, self.cfg.burst) else {
            return;
        };
        if let Ok(mut l) = self.limiter.write() {
            *l = Some(Arc::new(RateLimiter::direct(q)));
            self.limit_count
                .store(u64::from(rate.count), Ordering::Relaxed);
            output::debug(
                1,
                &format!(
                    "{}: the vendor reports a quota of {rate}; following it",
                    self.cfg.name
                ),
            );
        }
    }

    /// Wait for the quota, the shared pause and the window's budget; then take a send slot.
    /// Returns the send's number (for matching its answer's rate headers).
    async fn wait_turn(&self) -> Result<u64, SendError> {
        let limiter = self.limiter.read().ok().and_then(|l| l.clone());
        if let Some(l) = &limiter {
            tokio::select! {
                () = l.until_ready() => {},
                () = self.stop.stopped() => return Err(SendError::Stopped),
            }
        }
        loop {
            let wait = {
                // A poisoned lock still holds a consistent gate (no invariant spans a panic).
                let mut g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let mut at = now;
                if let Some(p) = g.paused_until {
                    at = at.max(p);
                }
                if let Some((_, end)) = g.budget
                    && now >= end
                {
                    g.budget = None;
                }
                if at <= now
                    && let Some((left, end)) = g.budget
                    && left < 1.0
                {
                    at = if g.in_flight.is_empty() {
                        // Every send is answered and none is left: wait for the window's end.
                        g.extend_pause(end);
                        end
                    } else {
                        // Answers still to come will say what is left.
                        now + BUDGET_RECHECK
                    };
                }
                if at > now {
                    let added = g.wait_time(at);
                    self.stats
                        .paused_ms
                        .fetch_add(added.as_millis() as u64, Ordering::Relaxed);
                }
                if at <= now {
                    let n = g.next_send;
                    g.next_send += 1;
                    g.in_flight.insert(n);
                    if let Some((left, _)) = g.budget.as_mut() {
                        *left -= 1.0;
                    }
                    Ok(n)
                } else {
                    Err(at - now)
                }
            };
            match wait {
                Ok(n) => return Ok(n),
                Err(w) if self.too_long(w) => return Err(SendError::WaitTooLong { wait: w }),
                Err(w) => self.sleep(w).await?,
            }
        }
    }

    /// Send `req` until it gets an answer the adapter should read, retrying what
    /// is worth retrying. `label` names the request in logs (no identifiers).
    pub async fn send(&self, req: &Request, label: &str) -> Result<RawResponse, SendError> {
        let mut attempt: u32 = 0;
        loop {
            if self.stop.is_stopped() {
                return Err(SendError::Stopped);
            }
            let permit = tokio::select! {
                p = self.sem.acquire() => p.map_err(|_| SendError::Stopped)?,
                () = self.stop.stopped() => return Err(SendError::Stopped),
            };
            let send = self.wait_turn().await?;
            if self.stop.is_stopped() {
                return Err(SendError::Stopped);
            }
            self.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let result = self.http.execute(req).await;
            if let Ok(mut g) = self.gate.lock() {
                g.in_flight.remove(&send);
            }
            if let Ok(r) = &result
                && (matches!(r.status, 401 | 403) || is_redirect(r.status))
            {
                // The credential is refused, or the answer points elsewhere:
                // no other worker may send after this.
                self.stop.stop();
            }
            drop(permit);
            let elapsed = started.elapsed().as_millis();
            let (reason, hint, status) = match result {
                Ok(resp) => {
                    output::debug(2, &format!("{label} → {} in {elapsed} ms", resp.status));
                    if output::level() >= 3 {
                        output::debug(
                            3,
                            &format!("  answer: {}", crate::vendor::snippet(&resp.body)),
                        );
                    }
                    self.observe(&resp, send);
                    match resp.status {
                        s if is_redirect(s) => {
                            return Err(SendError::Fatal {
                                status: s,
                                detail: redirect_detail(&resp),
                            });
                        }
                        401 | 403 => {
                            return Err(SendError::Fatal {
                                status: resp.status,
                                detail: crate::vendor::snippet(&resp.body),
                            });
                        }
                        s if is_retryable(s) => {
                            let hint = headers::retry_after(&resp.headers, SystemTime::now());
                            let reason = if resp.body.trim().is_empty() {
                                format!("HTTP {s}")
                            } else {
                                format!("HTTP {s}: {}", crate::vendor::snippet(&resp.body))
                            };
                            (reason, hint, Some(s))
                        }
                        _ => return Ok(resp),
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    output::debug(2, &format!("{label} → {reason} after {elapsed} ms"));
                    (reason, None, None)
                }
            };
            if status == Some(429) {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(h) = hint {
                if self.too_long(h) {
                    return Err(SendError::WaitTooLong { wait: h });
                }
                if h >= MAX_HINT {
                    output::warn(&format!(
                        "{}: the vendor asked to wait {}s or more; waiting {}s (the cap) instead",
                        self.cfg.name,
                        MAX_HINT.as_secs(),
                        MAX_HINT.as_secs()
                    ));
                }
            }
            if attempt >= self.cfg.max_retries {
                let tries = attempt + 1;
                return Err(SendError::Exhausted {
                    status,
                    detail: format!(
                        "{reason} (gave up after {tries} attempt{})",
                        if tries == 1 { "" } else { "s" }
                    ),
                });
            }
            let unit = self.rng.lock().map_or(0.5, |mut r| r.f64());
            let delay = backoff(attempt, hint, unit);
            if status == Some(429) {
                // The quota is shared: hold every worker, not just this one.
                self.pause_for(delay);
                if let Ok(mut g) = self.gate.lock() {
                    let added = g.wait_time(Instant::now() + delay);
                    self.stats
                        .paused_ms
                        .fetch_add(added.as_millis() as u64, Ordering::Relaxed);
                }
            }
            output::debug(
                2,
                &format!(
                    "{label}: {reason}; retry {} of {} in {:.2}s",
                    attempt + 1,
                    self.cfg.max_retries,
                    delay.as_secs_f64()
                ),
            );
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            self.sleep(delay).await?;
            attempt += 1;
        }
    }
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
        for s in [200, 202, 400, 401, 403, 404, 422, 501] {
            assert!(!is_retryable(s), "{s}");
        }
    }

    #[test]
    fn quota_spaces_cells_evenly() {
        let q = quota(Rate::per_minute(600), 1).unwrap();
        assert_eq!(q.replenish_interval(), Duration::from_millis(100));
        assert_eq!(q.burst_size().get(), 1);
        assert!(quota(Rate::per_second(0), 1).is_none());
        assert_eq!(
            quota(Rate::per_minute(70), 700).unwrap().burst_size().get(),
            700
        );
    }
}
