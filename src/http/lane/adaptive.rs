//! Adaptive pacing for a vendor that throttles without saying how much it
//! allows (Gainsight PX: 429s, no rate headers, often no `Retry-After`),
//! modelled on the AWS SDKs' *adaptive* retry mode (botocore
//! `botocore/retries/adaptive.py` `ClientRateLimiter` and `RateClocker`,
//! `botocore/retries/throttling.py` `CubicCalculator`; the Java v2 SDK's
//! `RateLimitingTokenBucket` is the same model):
//!
//! - a client-side token bucket: once throttled, sends leave evenly spaced at
//!   a fill rate (a bucket holding one request, so no burst of ours meets a
//!   vendor's bucket that holds only a few);
//! - the rate the client *sends at* is measured from its answers (botocore's
//!   `RateClocker`: every answer, throttled or not; here the last second's);
//! - on a throttle the rate the vendor *accepted* over the last second (or the
//!   fill rate, if lower) becomes `W_max`, the last failure, and the fill rate
//!   is cut to `BETA` (0.7) of it;
//! - on every other answer the fill rate follows the CUBIC curve
//!   `C·(t − K)³ + W`, `W` a little under `W_max` ([`MARGIN`]),
//!   `K = ∛((W − BETA·W_max)/C)`, `t` the time since the last failure: it
//!   grows back fast far below `W`, flattens near it, then probes above it,
//!   gently and then faster; it is never more than twice the measured rate
//!   past `W` (so it cannot run away while the lane has little to send);
//! - before the first throttle there is no fill rate: slow start (TCP's) sends
//!   a round of a few requests, then twice as many when every answer of it is
//!   in, so a low limit is found before a storm of requests has left.
//!
//! Departures from botocore, for limits that are hard counts (a token bucket,
//! a fixed window) rather than a congested link:
//! - `W_max` is the accepted rate, not the sent rate: what was sent past a
//!   limit was refused, so the sent rate overstates it, and a curve that
//!   levels off there is refused again as soon as it gets back;
//! - the curve levels off at [`MARGIN`] of it, and once a throttle finds the
//!   limit where the last one did it stays level for a [`PLATEAU`] before
//!   probing, and probes gentler than it climbs ([`PROBE_SCALE`]): each probe
//!   past a fixed window costs a throttle or more at the window's end (a rate
//!   just over a window of 20 is refused once a window, at its end), so
//!   probing a limit that does not move is what the 429s of a long run are;
//! - slow start throttled within its first round (a vendor that took a burst
//!   of a few, which says nothing of its rate) doubles the rate every
//!   [`PROBE_DOUBLING`] until the next throttle instead;
//! - one cut per round of feedback (a throttle of a request sent before the
//!   last cut, or within a second of it with no success between, is the same
//!   closed window and does not cut again), the fill rate is capped by the
//!   configured quota and floored at [`MIN_RATE`].

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Requests in flight at the start, before the vendor has answered.
pub const SLOW_START: usize = 4;
/// CUBIC's multiplicative decrease: a throttle cuts the rate to this share.
pub const BETA: f64 = 0.7;
/// CUBIC's scale constant (requests/s per s³).
pub const SCALE: f64 = 0.4;
/// Past the level, the curve probes gentler than it climbs (requests/s per
/// s³): a window the rate overfills is seen only when it is full, so a rate
/// that rose fast meanwhile overstates what the vendor accepts.
pub const PROBE_SCALE: f64 = 0.1;
/// The fill rate is never more than this many times the measured rate.
pub const MAX_OVER_MEASURED: f64 = 2.0;
/// After a throttle in slow start, the fill rate doubles this often.
pub const PROBE_DOUBLING: Duration = Duration::from_millis(1000);
/// A worker waiting for the client bucket asks again at least this often.
pub const RECHECK: Duration = Duration::from_millis(250);
/// The slowest pace: one request every 10 s.
pub const MIN_RATE: f64 = 0.1;
/// Answers are counted over this trailing window to measure the send rate.
const MEASURE: Duration = Duration::from_secs(1);
/// The curve levels off this share of the last failure's rate: a send late by
/// a timer tick or a network hop does not tip a full window over.
pub const MARGIN: f64 = 0.95;
/// A failure within this share of the last one's rate finds the same limit...
const SAME_LIMIT: f64 = 0.1;
/// ...and the curve then stays level this long before probing above it: each
/// probe past a limit that does not move costs a throttle.
pub const PLATEAU: Duration = Duration::from_secs(6);

/// CUBIC's curve after the last failure.
#[derive(Debug, Clone, Copy)]
struct Cubic {
    /// The rate at the last failure: what the vendor accepted then.
    w_max: f64,
    /// Where the curve levels off: a little under `w_max` ([`MARGIN`]).
    target: f64,
    /// Seconds from the failure until the curve is back at `target`.
    k: f64,
    /// Seconds the curve stays at `target` before it probes above it.
    plateau: f64,
    last_fail: Instant,
}

impl Cubic {
    /// The curve after a failure at `w_max`, from the cut rate `w_max·BETA`;
    /// `plateau`: seconds to stay level before probing.
    fn new(w_max: f64, plateau: Duration, at: Instant) -> Self {
        let target = w_max * MARGIN;
        Cubic {
            w_max,
            target,
            k: ((target - w_max * BETA).max(0.0) / SCALE).cbrt(),
            plateau: plateau.as_secs_f64(),
            last_fail: at,
        }
    }

    fn rate_at(&self, now: Instant) -> f64 {
        let t = now.saturating_duration_since(self.last_fail).as_secs_f64();
        // Up to K the concave climb; then level for the plateau; then the probe.
        if t < self.k {
            return SCALE * (t - self.k).powi(3) + self.target;
        }
        let probe = (t - self.k - self.plateau).max(0.0);
        PROBE_SCALE * probe.powi(3) + self.target
    }

    /// Whether a failure at `w` finds the limit where the last one did.
    fn same_limit(&self, w: f64) -> bool {
        (w - self.w_max).abs() <= SAME_LIMIT * self.w_max
    }
}

#[derive(Debug)]
pub struct Pace {
    /// The fill rate once throttled; `None` until the first throttle.
    rate: Option<f64>,
    cubic: Option<Cubic>,
    /// The configured quota (the rate never rises above it).
    max: f64,
    /// The size of the current slow-start round; `None`: slow start is over.
    window: Option<usize>,
    /// Requests sent, and answered, in the current round.
    round_sent: usize,
    round_answered: usize,
    /// When the client bucket's last token was taken.
    last_sent: Option<Instant>,
    /// Successes since the last cut (a throttle after none, within a second of
    /// the cut, is the same closed window).
    since_cut: u64,
    /// After a throttle in slow start's first round (a burst, so no rate was
    /// measured): the fill rate doubles every [`PROBE_DOUBLING`] until the
    /// next throttle.
    probing: bool,
    /// Throttles in a row with no success between (a window closed until
    /// its reset): each doubles the hold before the next send.
    streak: u32,
    /// When recent answers came (the last [`MEASURE`]): the measured rate.
    recent: VecDeque<Instant>,
    /// When recent successes came (the last [`MEASURE`]): the accepted rate.
    accepted: VecDeque<Instant>,
}

impl Pace {
    /// `quota`: the configured requests per second, if any; `concurrency`: the
    /// lane's cap on requests in flight, which slow start grows to.
    pub fn new(quota: Option<f64>, concurrency: usize) -> Self {
        Pace {
            rate: None,
            cubic: None,
            max: quota.unwrap_or(f64::INFINITY),
            window: (concurrency > SLOW_START).then_some(SLOW_START),
            round_sent: 0,
            round_answered: 0,
            last_sent: None,
            since_cut: 0,
            probing: false,
            streak: 0,
            recent: VecDeque::new(),
            accepted: VecDeque::new(),
        }
    }

    /// The current fill rate, once throttled.
    #[cfg(test)]
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Whether one more request may go in this slow-start round.
    pub fn may_send(&self) -> bool {
        self.window.is_none_or(|w| self.round_sent < w)
    }

    /// A request went (counted in the slow-start round).
    pub fn sent(&mut self) {
        if self.window.is_some() {
            self.round_sent += 1;
        }
    }

    /// A request got an answer (any: the measured rate counts them all).
    pub fn answered(&mut self, now: Instant, concurrency: usize) {
        self.forget_before(now);
        self.recent.push_back(now);
        let Some(w) = self.window else { return };
        self.round_answered += 1;
        if self.round_answered >= w {
            self.round_sent = 0;
            self.round_answered = 0;
            self.window = (w * 2 < concurrency).then_some(w * 2);
        }
    }

    /// Take the client bucket's token if it holds one (`None`: send now), or
    /// say when it will. Nothing is reserved ahead: a worker that waits asks
    /// again, at the rate then in force (a rate that rose is used at once).
    pub fn slot(&mut self, now: Instant) -> Option<Instant> {
        let rate = self.rate?;
        let interval = Duration::from_secs_f64(1.0 / rate);
        let ready = self.last_sent.map_or(now, |l| l + interval);
        if ready > now {
            return Some(ready);
        }
        // A send a timer tick late keeps its slot's time, so the long-run
        // rate stays the fill rate; after an idle spell the bucket holds one.
        self.last_sent = Some(if now - ready < interval { ready } else { now });
        None
    }

    /// Requests answered per second, over the last [`MEASURE`].
    fn measured(&self) -> f64 {
        self.recent.len() as f64 / MEASURE.as_secs_f64()
    }

    /// A request sent at `sent` was throttled (answered at `now`, already
    /// counted by [`Pace::answered`]) with no hint of how long to wait.
    /// Returns the new rate if it was cut.
    pub fn throttled(&mut self, sent: Instant, now: Instant) -> Option<f64> {
        // Slow start ends at the first throttle: pacing takes over.
        let in_slow_start = self.window.take().is_some() && self.rate.is_none();
        if let Some(c) = self.cubic
            && (sent < c.last_fail || (self.since_cut == 0 && now - c.last_fail < MEASURE))
        {
            if sent >= c.last_fail {
                self.hold(now);
            }
            return None;
        }
        self.forget_before(now);
        let accepted = self.accepted.len() as f64 / MEASURE.as_secs_f64();
        // Slow start throttled within its first round: the vendor took a
        // burst, which says nothing of its rate; probe from what was sent.
        self.probing = in_slow_start && self.accepted.len() <= SLOW_START;
        let at = if self.probing {
            self.measured()
        } else {
            self.rate.map_or(accepted, |r| r.min(accepted))
        };
        let at = at.min(self.max).max(MIN_RATE);
        // The limit found again where it was last time: stay level before probing.
        let plateau = match self.cubic {
            Some(c) if c.same_limit(at) => PLATEAU,
            _ => Duration::ZERO,
        };
        self.cubic = Some(Cubic::new(at, plateau, now));
        let rate = (at * BETA).max(MIN_RATE);
        self.rate = Some(rate);
        self.since_cut = 0;
        self.streak = 0;
        // The next send is a whole interval at the new rate from now.
        self.last_sent = Some(now);
        Some(rate)
    }

    /// Another throttle with no success since the cut: the window is closed,
    /// hold the next send twice as long as the last time (at most a second).
    fn hold(&mut self, now: Instant) {
        let Some(rate) = self.rate else { return };
        self.streak += 1;
        let interval = (2f64.powi(self.streak as i32) / rate).min(MEASURE.as_secs_f64());
        let until = now + Duration::from_secs_f64(interval) - Duration::from_secs_f64(1.0 / rate);
        self.last_sent = Some(self.last_sent.map_or(until, |l| l.max(until)));
    }

    /// A request succeeded (after [`Pace::answered`]): the rate follows the curve.
    pub fn succeeded(&mut self, now: Instant) {
        self.accepted.push_back(now);
        self.since_cut += 1;
        self.streak = 0;
        let (Some(r), Some(c)) = (self.rate.as_mut(), self.cubic) else {
            return;
        };
        // Twice the measured rate, but never below the curve's level: after a
        // hold few answers came, and the rate the vendor accepted is known.
        let cap = (MAX_OVER_MEASURED * self.recent.len() as f64 / MEASURE.as_secs_f64())
            .max(c.target.min(c.rate_at(now)))
            .min(self.max);
        let next = if self.probing {
            // A success every 1/r s, +ln 2 / PROBE_DOUBLING each: r doubles every PROBE_DOUBLING.
            *r + std::f64::consts::LN_2 / PROBE_DOUBLING.as_secs_f64()
        } else {
            c.rate_at(now)
        };
        *r = next.min(cap).max(MIN_RATE);
    }

    fn forget_before(&mut self, now: Instant) {
        for times in [&mut self.recent, &mut self.accepted] {
            while times.front().is_some_and(|t| now - *t > MEASURE) {
                times.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered_ok(p: &mut Pace, at: Instant, n: usize, concurrency: usize) {
        for _ in 0..n {
            p.answered(at, concurrency);
            p.succeeded(at);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_then_the_measured_rate_then_cuts_once_per_round() {
        let mut p = Pace::new(Some(200.0), 32);
        let t0 = Instant::now();
        let send = |p: &mut Pace, n: usize| {
            for _ in 0..n {
                assert!(p.may_send());
                p.sent();
            }
        };
        send(&mut p, 4);
        assert!(!p.may_send(), "4 in the first round");
        assert_eq!(p.slot(t0), None, "no pacing before a throttle");
        answered_ok(&mut p, t0, 3, 32);
        assert!(!p.may_send(), "the next round waits for every answer");
        answered_ok(&mut p, t0, 1, 32);
        send(&mut p, 8);
        assert!(!p.may_send(), "a whole round answered: twice as many");
        answered_ok(&mut p, t0, 8, 32);
        send(&mut p, 16);
        answered_ok(&mut p, t0, 15, 32);
        let later = t0 + Duration::from_millis(100);
        // 28 answered in the last second, the last of them throttled: 27 were
        // accepted, W_max 27.
        p.answered(later, 32);
        assert_eq!(p.throttled(t0, later), Some(27.0 * BETA));
        assert!(p.may_send() && p.window.is_none(), "slow start is over");
        // A throttle of a request sent before the cut does not cut again, nor
        // one within a second of it with no success between (the same window).
        assert_eq!(p.throttled(t0, later), None);
        // Sends are spaced at the rate from the cut on.
        let gap = Duration::from_secs_f64(1.0 / (27.0 * BETA));
        assert_eq!(p.slot(later), Some(later + gap));
        assert_eq!(p.slot(later + gap), None, "the token is taken");
        assert_eq!(p.slot(later + gap), Some(later + gap * 2));
        // A throttle of one sent since, with no success between: the window is
        // closed; the next send is held twice the interval.
        let after = later + gap + Duration::from_millis(10);
        assert_eq!(p.throttled(after, after), None);
        assert_eq!(p.slot(after), Some(after + gap * 2));
        // After a success, a new throttle cuts again.
        let b = after + gap * 2;
        assert_eq!(p.slot(b), None);
        p.answered(b, 32);
        p.succeeded(b);
        p.answered(b, 32);
        let r = p.rate().unwrap();
        let cut = p.throttled(b, b).unwrap();
        assert!(cut < r, "{cut} after {r}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_in_slow_starts_first_round_probes_from_what_was_sent() {
        // A vendor that took 2 of the first 4 at once: a burst, not a rate.
        let mut p = Pace::new(Some(200.0), 32);
        let t0 = Instant::now();
        answered_ok(&mut p, t0, 2, 32);
        p.answered(t0, 32);
        p.answered(t0, 32);
        assert_eq!(p.throttled(t0, t0), Some(4.0 * BETA), "4 answered");
        // The rate doubles each second until the next throttle.
        let rates = follow(&mut p, t0, 2);
        // (The curve from a failure at 4/s would be back near 3.8 by then.)
        assert!(rates[1] > 4.5, "{rates:?}");
    }

    /// Answers keeping pace with the rate, every one a success, for `steps`
    /// half seconds from `from`; the rate after each.
    fn follow(p: &mut Pace, from: Instant, steps: usize) -> Vec<f64> {
        let step = Duration::from_millis(500);
        let mut rates = vec![];
        let mut now = from;
        for _ in 0..steps {
            let n = (p.rate().unwrap() * step.as_secs_f64()).round() as u64;
            for j in 0..n {
                let at = now + step.mul_f64((j + 1) as f64 / n as f64);
                p.answered(at, 8);
                p.succeeded(at);
            }
            now += step;
            rates.push(p.rate().unwrap());
        }
        rates
    }

    /// A pace that sent at 20/s, every one accepted, and was throttled on the
    /// 21st in a second (at `t0` + 999 ms).
    fn throttled_at_20(t0: Instant) -> (Pace, Instant) {
        let mut p = Pace::new(Some(1000.0), 8);
        p.window = None;
        for i in 0..20 {
            let at = t0 + Duration::from_millis(50 * i);
            p.answered(at, 8);
            p.succeeded(at);
        }
        let fail = t0 + Duration::from_millis(999);
        p.answered(fail, 8);
        assert!((p.throttled(fail, fail).unwrap() - 20.0 * BETA).abs() < 1e-9);
        (p, fail)
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_grows_back_fast_far_below_the_last_failure_and_gently_near_it() {
        let (mut p, fail) = throttled_at_20(Instant::now());
        let rates = follow(&mut p, fail, 12);
        let gains: Vec<f64> = rates.windows(2).map(|w| w[1] - w[0]).collect();
        let level = 20.0 * MARGIN;
        let k = ((level - 20.0 * BETA) / SCALE).cbrt();
        // Concave up to K (back near the level after about 2.3 s), flat near
        // it, then convex.
        assert!(gains[0] > gains[2], "fast far below the failure: {rates:?}");
        let near = rates[(k / 0.5) as usize - 1];
        assert!((near - level).abs() < 0.5, "near the level at K: {rates:?}");
        assert!(gains[10] > gains[5], "probing faster past it: {rates:?}");
        assert!(rates.iter().all(|r| *r >= 20.0 * BETA - 1e-9));
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_found_again_keeps_the_curve_level_before_it_probes() {
        let (mut p, fail) = throttled_at_20(Instant::now());
        // Back near the level (19/s accepted), throttled again: the same limit.
        follow(&mut p, fail, 7);
        let again = fail + Duration::from_millis(3_500);
        p.answered(again, 8);
        let cut = p.throttled(again, again).unwrap();
        let w = cut / BETA;
        assert!((w - 19.0).abs() <= 1.0, "{w}");
        let k = ((w * MARGIN - cut) / SCALE).cbrt();
        // Four seconds past the plateau: two half seconds a second.
        let rates = follow(&mut p, again, 2 * (PLATEAU.as_secs() as usize + 7));
        // Level (a little under the failure) from K for the plateau...
        let first = (k / 0.5).ceil() as usize;
        let last = ((k + PLATEAU.as_secs_f64()) / 0.5) as usize - 1;
        for r in &rates[first..=last] {
            assert!(
                (r - w * MARGIN).abs() < 1e-9,
                "level at {}: {rates:?}",
                w * MARGIN
            );
        }
        // ...then probing above it.
        assert!(rates.last().unwrap() > &w, "{rates:?}");
    }

    #[test]
    fn never_above_the_quota_nor_twice_the_measured_rate_past_the_level_nor_below_the_floor() {
        let mut p = Pace::new(Some(5.0), 8);
        let t = Instant::now();
        answered_ok(&mut p, t, 10, 8);
        p.throttled(t, t);
        let later = t + Duration::from_secs(60);
        // One answer in the last second: the curve says far more; the cap is
        // twice that, but never below the curve's level (a little under 5).
        p.answered(later, 8);
        p.succeeded(later);
        assert_eq!(p.rate(), Some(5.0 * MARGIN));
        answered_ok(&mut p, later, 20, 8);
        assert_eq!(p.rate(), Some(5.0), "the quota");
        // One accepted in the last second, then a throttle: 0.7 of it.
        let mut at = later + Duration::from_secs(2);
        p.answered(at, 8);
        p.succeeded(at);
        p.throttled(at, at);
        assert!((p.rate().unwrap() - BETA).abs() < 1e-9, "{:?}", p.rate());
        for _ in 0..100 {
            at += Duration::from_secs(2);
            p.answered(at, 8);
            p.throttled(at, at);
        }
        assert_eq!(p.rate(), Some(MIN_RATE), "nothing accepted: the floor");
    }
}
