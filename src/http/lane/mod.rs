//! The lane: the only path to the network. A quota (governor), the [`gate`]
//! (shared pause, the window's send budget), a semaphore for concurrency, and
//! the [`retry`] loop with full-jitter backoff; [`stop`] ends every wait at once.
//!
//! Time is tokio's clock and the network is a [`Transport`], so the lane runs
//! in tests under `#[tokio::test(start_paused = true)]` against a script.

pub mod adaptive;
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

use self::adaptive::Pace;
use self::gate::{Gate, Turn};
pub use self::retry::{GaveUp, RetryError, SendError, backoff, is_retryable};
pub use self::stop::{Stats, Stop};
use super::headers::{self, MAX_HINT};
use super::{RawResponse, Transport};
use crate::model::{LaneSpec, Rate, RateHeaders, Request};
use crate::output;

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
    /// Adaptive pacing after throttles that say nothing of the limit.
    pace: Mutex<Pace>,
    /// Answers that were not throttled: the run is making progress.
    successes: AtomicU64,
    rng: Mutex<fastrand::Rng>,
    stats: Arc<Stats>,
    stop: Stop,
}

/// Cells closer than this are late by a share of tokio's 1 ms timer tick; one
/// cell of slack lets a late one be made up, so the long-run rate stays the quota.
const TICK_SLACK_BELOW: Duration = Duration::from_millis(100);

/// The governor quota for a rate: evenly spaced cells, `burst` at once (at
/// least 2 when cells are close enough for timer ticks to matter).
fn quota(rate: Rate, burst: u32) -> Option<Quota> {
    let count = NonZeroU32::new(rate.count)?;
    let period = rate.per.checked_div(count.get())?;
    let burst = if period < TICK_SLACK_BELOW {
        burst.max(2)
    } else {
        burst
    };
    Quota::with_period(period)
        .map(|q| q.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)))
}

fn limiter(q: Quota, clock: &TokioClock) -> Arc<Limiter> {
    Arc::new(RateLimiter::direct_with_clock(q, clock.clone()))
}

/// A vendor's answer as `-vvv` prints it. With `--hash-ids` only its size: an
/// answer may name the person by any identifier, in any form (an id, an
/// external id, a phone), and only e-mail addresses can be found in free text.
fn answer_shown(body: &str) -> String {
    if output::concealing() {
        format!("  answer: {} bytes (not shown with --hash-ids)", body.len())
    } else {
        format!("  answer: {}", crate::model::snippet(body))
    }
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
        let per_second = cfg
            .rate
            .map(|r| f64::from(r.count) / r.per.as_secs_f64().max(f64::MIN_POSITIVE));
        Lane {
            // Slow start and adaptive pacing for vendors that send no window numbers.
            pace: Mutex::new(if cfg.headers.is_none() {
                Pace::new(per_second, cfg.concurrency)
            } else {
                Pace::new(per_second, 0)
            }),
            successes: AtomicU64::new(0),
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

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.gate().in_flight()
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

    fn pace(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.pace.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feed the rate headers of a response to the gate; whether it carried
    /// window numbers (`Remaining` or `Reset`).
    fn observe(&self, resp: &RawResponse, send: u64) -> bool {
        let Some(dialect) = &self.cfg.headers else {
            return false;
        };
        let state = headers::rate_state(&resp.headers, dialect, self.clock.wall_now());
        if let (Some(window), Some(limit)) = (self.cfg.follow_limit, state.limit) {
            self.follow_reported_limit(limit, window);
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
        state.remaining.is_some() || state.reset_in.is_some()
    }

    /// Follow the quota the vendor reports (Zendesk's plan limit: from 10/min on
    /// the smallest plans to 2,500/min), lower or higher than the default.
    fn follow_reported_limit(&self, limit: f64, window: Duration) {
        let current = self.limit_count.load(Ordering::Relaxed);
        if !(limit.is_finite()
            && limit >= 1.0
            && limit.trunc() != current as f64
            && limit < f64::from(u32::MAX))
        {
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
            let turn = {
                // Lock order: gate, then pace.
                let mut g = self.gate();
                let mut pace = self.pace();
                let turn = if pace.may_send() {
                    g.turn(Instant::now())
                } else {
                    // Slow start: the next round waits for this one's answers.
                    Turn::WaitUntil(Instant::now() + gate::BUDGET_RECHECK)
                };
                if let Turn::Send(_) = turn {
                    pace.sent();
                }
                turn
            };
            let (wait, at) = match turn {
                Turn::Send(n) => return self.paced(n).await,
                Turn::WaitUntil(at) => (at - Instant::now(), at),
            };
            if self.too_long(wait) {
                // Not waited, so not counted as waiting.
                return Err(SendError::WaitTooLong { wait });
            }
            self.count_wait(&mut self.gate(), at);
            self.sleep(wait).await?;
        }
    }

    /// Send `n` when the adaptive pacing's client bucket holds a token (at
    /// once unless the vendor throttled without numbers).
    async fn paced(&self, n: u64) -> Result<u64, SendError> {
        loop {
            let Some(ready) = self.pace().slot(Instant::now()) else {
                return Ok(n);
            };
            // Ask again at least this often: the rate may rise meanwhile.
            let until = ready.min(Instant::now() + adaptive::RECHECK);
            self.count_wait(&mut self.gate(), until);
            if let Err(e) = self.sleep(until - Instant::now()).await {
                self.gate().answered(n);
                return Err(e);
            }
        }
    }

    /// Send `req` until it gets an answer the adapter should read, retrying what
    /// is worth retrying. `label` names the request in logs (no identifiers).
    ///
    /// Errors (connections, timeouts, 5xx) spend `--max-retries`. A 429 does not
    /// while the lane makes progress: it waits (bounded by `--max-wait`) and is
    /// given up only after more than `--max-retries` throttles in a row with
    /// nothing else in the lane succeeding between them.
    pub async fn send(&self, req: &Request, label: &str) -> Result<RawResponse, SendError> {
        let mut tries = Tries {
            first: Instant::now(),
            attempt: 0,
            errors: 0,
            throttles: 0,
            progress_mark: None,
        };
        loop {
            let retry = match self.attempt(req, label).await? {
                Attempted::Answer(resp) => return Ok(resp),
                Attempted::Retry(r) => r,
            };
            if retry::not_resent(req.idempotent, retry.status, retry.not_sent) {
                return Err(tries.exhausted(label, retry, GaveUp::MayHaveArrived));
            }
            let throttled = retry.status == Some(429);
            self.check_hint(retry.hint)?;
            if throttled {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            let successes = self.successes.load(Ordering::Relaxed);
            if tries.give_up(throttled, successes, self.cfg.max_retries) {
                let why = if throttled {
                    GaveUp::Throttled
                } else {
                    GaveUp::Retries
                };
                return Err(tries.exhausted(label, retry, why));
            }
            let delay = self.retry_delay(&retry, throttled, &tries);
            self.say_retry(label, &retry, throttled, &tries, delay);
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            self.sleep(delay).await?;
            tries.attempt += 1;
        }
    }

    /// One attempt: a permit, the lane's turn, the send, and what its answer
    /// (or error) leads to.
    async fn attempt(&self, req: &Request, label: &str) -> Result<Attempted, SendError> {
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
        match result {
            Ok(resp) => {
                output::debug(2, &format!("{label} → {} in {elapsed} ms", resp.status));
                if output::level() >= 3 {
                    output::debug(3, &answer_shown(&resp.body));
                }
                let windowed = self.observe(&resp, send);
                if let Some(f) = fatal {
                    return Err(SendError::Fatal(f));
                }
                Ok(self.answered(resp, windowed, started))
            }
            Err(e) => {
                self.pace().answered(Instant::now(), self.cfg.concurrency);
                let reason = e.to_string();
                output::debug(2, &format!("{label} → {reason} after {elapsed} ms"));
                Ok(Attempted::Retry(Retry {
                    not_sent: e.not_sent(),
                    reason,
                    hint: None,
                    status: None,
                    windowed: false,
                    started,
                }))
            }
        }
    }

    /// An answer: the pace learns of it; one to read goes to the adapter,
    /// a retryable status (429, 5xx) is tried again.
    fn answered(&self, resp: RawResponse, windowed: bool, started: Instant) -> Attempted {
        {
            // Answered: the slow-start round moves on, the send rate is measured.
            let mut pace = self.pace();
            pace.answered(Instant::now(), self.cfg.concurrency);
            if !is_retryable(resp.status) {
                // An answer to read: the run makes progress.
                self.successes.fetch_add(1, Ordering::Relaxed);
                pace.succeeded(Instant::now());
            }
        }
        if !is_retryable(resp.status) {
            return Attempted::Answer(resp);
        }
        let s = resp.status;
        let hint = headers::retry_after(&resp.headers, self.clock.wall_now());
        let reason = if resp.body.trim().is_empty() {
            format!("HTTP {s}")
        } else {
            format!("HTTP {s}: {}", crate::model::snippet(&resp.body))
        };
        Attempted::Retry(Retry {
            reason,
            hint,
            status: Some(s),
            windowed,
            not_sent: false,
            started,
        })
    }

    /// A wait the vendor asks for: past `--max-wait` the run stops; past the cap, said.
    fn check_hint(&self, hint: Option<Duration>) -> Result<(), SendError> {
        let Some(h) = hint else {
            return Ok(());
        };
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
        Ok(())
    }

    /// How long before the next try. A throttle that says nothing of the
    /// limit slows every worker down (the pace spaces the retry); one with a
    /// hint holds every worker for it (the quota is shared); else backoff.
    fn retry_delay(&self, retry: &Retry, throttled: bool, tries: &Tries) -> Duration {
        let adaptive = throttled && retry.hint.is_none() && !retry.windowed;
        let delay = if adaptive {
            let cut = self.pace().throttled(retry.started, Instant::now());
            if let Some(rate) = cut {
                output::debug(
                    1,
                    &format!(
                        "{}: throttled without a hint of the limit; slowing every worker to {rate:.1} requests/s",
                        self.cfg.name
                    ),
                );
            }
            Duration::ZERO
        } else {
            // The exponent: errors so far, or throttles since the lane last
            // made progress (so a long run's throttles do not grow it).
            let n = if throttled {
                tries.throttles
            } else {
                tries.errors
            };
            let unit = self.rng.lock().map_or(0.5, |mut r| r.f64());
            backoff(n.saturating_sub(1), retry.hint, unit)
        };
        if throttled && let Some(h) = retry.hint {
            let until = Instant::now() + h.min(MAX_HINT);
            let mut g = self.gate();
            g.extend_pause(until);
            self.count_wait(&mut g, until);
        }
        delay
    }

    /// The first retry of each kind of error is shown (not just at -vv), so a
    /// run that keeps failing is never silent.
    fn say_retry(
        &self,
        label: &str,
        retry: &Retry,
        throttled: bool,
        tries: &Tries,
        delay: Duration,
    ) {
        let reason = &retry.reason;
        let kind = match retry.status {
            Some(s) => format!("HTTP {s}"),
            None => reason.split(" (").next().unwrap_or(reason).to_string(),
        };
        if !throttled && self.stats.first_of_kind(&kind) {
            output::info(&format!(
                "retrying: {reason} (attempt {} of {}); further retries of this kind are shown with -vv",
                tries.errors + 1,
                self.cfg.max_retries + 1
            ));
        } else {
            output::debug(
                2,
                &format!(
                    "{label}: {reason}; retry {} in {:.2}s",
                    tries.attempt + 1,
                    delay.as_secs_f64()
                ),
            );
        }
    }
}

/// What one attempt's answer leads to.
enum Attempted {
    /// An answer for the adapter to read.
    Answer(RawResponse),
    Retry(Retry),
}

/// An attempt worth another: why, the vendor's hint, the status, whether a
/// rate window explained it, whether it never left, and when it was sent.
struct Retry {
    reason: String,
    hint: Option<Duration>,
    status: Option<u16>,
    windowed: bool,
    not_sent: bool,
    started: Instant,
}

/// How often one request has been tried, since when.
struct Tries {
    first: Instant,
    attempt: u32,
    errors: u32,
    /// Throttles since the lane last made progress, and the lane's successes then.
    throttles: u32,
    progress_mark: Option<u64>,
}

impl Tries {
    /// Count this failure; whether it is one too many (`successes`: the lane's so far).
    fn give_up(&mut self, throttled: bool, successes: u64, max_retries: u32) -> bool {
        if throttled {
            if self.progress_mark != Some(successes) {
                // Other requests succeeded since this one's last throttle.
                self.progress_mark = Some(successes);
                self.throttles = 0;
            }
            self.throttles += 1;
            self.throttles > max_retries
        } else {
            self.errors += 1;
            self.errors > max_retries
        }
    }

    fn exhausted(&self, label: &str, retry: Retry, gave_up: GaveUp) -> SendError {
        SendError::Exhausted(RetryError {
            request: label.to_string(),
            status: retry.status,
            attempts: self.attempt + 1,
            elapsed: self.first.elapsed(),
            reason: retry.reason,
            gave_up,
        })
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
