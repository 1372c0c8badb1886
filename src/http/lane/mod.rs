//! The lane: the only path to the network. A quota (governor), the [`gate`]
//! (shared pause, the window's send budget), a semaphore for concurrency, and
//! the [`retry`] loop with full-jitter backoff; [`stop`] ends every wait at once.
//!
//! Time is tokio's clock and the network is a [`Transport`], so the lane runs
//! in tests under `#[tokio::test(start_paused = true)]` against a script.

pub mod gate;
pub mod retry;
pub mod stop;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use self::gate::{Gate, Turn};
pub use self::retry::{SendError, backoff, is_redirect, is_retryable};
pub use self::stop::{Stats, Stop};
use super::headers::{self, MAX_HINT};
use super::{RawResponse, Transport};
use crate::output;
use crate::services::{LaneSpec, Rate, RateHeaders, Request};

/// A lane's settings: the vendor's [`LaneSpec`] with the user's overrides.
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
    /// Seed of the backoff jitter (tests); `None`: random.
    pub seed: Option<u64>,
}

impl LaneConfig {
    pub fn new(spec: &LaneSpec, max_retries: u32, max_wait: Option<Duration>) -> Self {
        LaneConfig {
            name: spec.name,
            rate: spec.rate,
            burst: spec.burst,
            follow_limit: spec.follow_limit,
            concurrency: spec.concurrency,
            headers: spec.headers,
            max_retries,
            max_wait,
            seed: None,
        }
    }
}

/// Wall-clock time read off tokio's clock, so a `Reset` given as a Unix time is
/// read against the same (possibly paused) clock every wait uses.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    origin_wall: SystemTime,
}

impl Clock {
    /// The real wall clock, anchored now.
    pub fn system() -> Self {
        Clock::at(SystemTime::now())
    }

    /// A clock whose "now" is `wall` at this instant of tokio's clock.
    pub fn at(wall: SystemTime) -> Self {
        Clock {
            origin: Instant::now(),
            origin_wall: wall,
        }
    }

    pub fn wall_now(&self) -> SystemTime {
        self.origin_wall + self.origin.elapsed()
    }
}

/// A governor limiter on tokio's clock (governor's own clock would not pause in tests).
type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

pub struct Lane {
    cfg: LaneConfig,
    transport: Arc<dyn Transport>,
    clock: Clock,
    quota_clock: TokioClock,
    /// The quota gate; replaced when the vendor reports a higher limit.
    limiter: RwLock<Option<Arc<Limiter>>>,
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

fn limiter(q: Quota, clock: &TokioClock) -> Arc<Limiter> {
    Arc::new(RateLimiter::direct_with_clock(q, clock.clone()))
}

impl Lane {
    pub fn new(
        cfg: LaneConfig,
        transport: Arc<dyn Transport>,
        stats: Arc<Stats>,
        stop: Stop,
    ) -> Self {
        Lane::with_clock(cfg, transport, stats, stop, Clock::system())
    }

    pub fn with_clock(
        cfg: LaneConfig,
        transport: Arc<dyn Transport>,
        stats: Arc<Stats>,
        stop: Stop,
        clock: Clock,
    ) -> Self {
        let quota_clock = TokioClock {
            origin: Instant::now(),
        };
        let limiter = cfg
            .rate
            .and_then(|r| quota(r, cfg.burst))
            .map(|q| limiter(q, &quota_clock));
        let limit_count = cfg.rate.map_or(0, |r| u64::from(r.count));
        let rng = cfg
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        // A vendor that sends window numbers: the first request goes alone.
        let gate = if cfg.headers.is_some() {
            Gate::windowed()
        } else {
            Gate::default()
        };
        Lane {
            sem: Semaphore::new(cfg.concurrency.max(1)),
            cfg,
            transport,
            clock,
            quota_clock,
            limiter: RwLock::new(limiter),
            limit_count: AtomicU64::new(limit_count),
            gate: Mutex::new(gate),
            rng: Mutex::new(rng),
            stats,
            stop,
        }
    }

    /// The gate; a poisoned lock still holds a consistent gate (no invariant spans a panic).
    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Count a wait of every worker until `until` (once, however many wait).
    fn count_wait(&self, g: &mut Gate, until: Instant) {
        let added = g.wait_time(Instant::now(), until);
        self.stats
            .paused_ms
            .fetch_add(added.as_millis() as u64, Ordering::Relaxed);
    }

    /// Feed the rate headers of a response to the gate.
    fn observe(&self, resp: &RawResponse, send: u64) {
        let Some(dialect) = &self.cfg.headers else {
            return;
        };
        let state = headers::rate_state(&resp.headers, dialect, self.clock.wall_now());
        if let (Some(window), Some(limit)) = (self.cfg.follow_limit, state.limit) {
            self.raise_to(limit, window);
        }
        let throttled = resp.status == 429;
        if let Some(reset_in) = self.gate().observe(state, send, Instant::now(), throttled) {
            output::debug(
                2,
                &format!(
                    "{}: the vendor's window is used up; every worker waits {:.1}s for its reset",
                    self.cfg.name,
                    reset_in.as_secs_f64()
                ),
            );
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
            *l = Some(limiter(q, &self.quota_clock));
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
            while let Err(not_until) = l.check() {
                // At least a millisecond, so a paused test clock moves on.
                let wait = not_until.wait_time_from(self.quota_clock.now());
                self.sleep(wait.max(Duration::from_millis(1))).await?;
            }
        }
        loop {
            let wait = {
                let mut g = self.gate();
                match g.turn(Instant::now()) {
                    Turn::Send(n) => return Ok(n),
                    Turn::WaitUntil(at) => {
                        self.count_wait(&mut g, at);
                        at - Instant::now()
                    }
                }
            };
            if self.too_long(wait) {
                return Err(SendError::WaitTooLong { wait });
            }
            self.sleep(wait).await?;
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
                self.gate().answered(send);
                return Err(SendError::Stopped);
            }
            self.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let result = self.transport.send(req).await;
            self.gate().answered(send);
            let fatal = result.as_ref().ok().and_then(retry::fatal);
            if fatal.is_some() {
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
                            &format!("  answer: {}", crate::services::snippet(&resp.body)),
                        );
                    }
                    self.observe(&resp, send);
                    if let Some(f) = fatal {
                        return Err(SendError::Fatal(f));
                    }
                    if !is_retryable(resp.status) {
                        return Ok(resp);
                    }
                    let s = resp.status;
                    let hint = headers::retry_after(&resp.headers, self.clock.wall_now());
                    let reason = if resp.body.trim().is_empty() {
                        format!("HTTP {s}")
                    } else {
                        format!("HTTP {s}: {}", crate::services::snippet(&resp.body))
                    };
                    (reason, hint, Some(s))
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
                let until = Instant::now() + delay;
                let mut g = self.gate();
                g.extend_pause(until);
                self.count_wait(&mut g, until);
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

/// governor's clock on top of tokio's, so quotas follow a paused test clock:
/// an instant is the time since the lane was made.
#[derive(Debug, Clone)]
struct TokioClock {
    origin: Instant,
}

impl governor::clock::Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

#[cfg(test)]
mod tests;
