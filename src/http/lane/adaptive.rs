//! Adaptive pacing for a vendor that throttles without saying how much it
//! allows (Gainsight PX: 429s, no rate headers, often no `Retry-After`). The
//! way TCP congestion control and the AWS SDKs' adaptive retry mode do it:
//!
//! - slow start: the first round is a few requests; the next round goes when
//!   every answer of this one is in, twice as large if none was throttled, so
//!   a low limit is found before a storm of requests has left;
//! - on the first throttle, the rate becomes a little under what the vendor let
//!   through in the last second; on later throttles it is cut multiplicatively;
//!   a cut pauses every worker for a second (the window the vendor closed),
//!   and comes at most once per round of feedback;
//! - while answers succeed, the rate rises: about 5% a second up to just under
//!   the rate last throttled at, then 1% a second, probing for more; once it is
//!   well past that rate with no throttle, the old limit is stale (a token
//!   bucket's first burst measures low) and it rises 25% a second again.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Requests in flight at the start, before the vendor has answered.
pub const SLOW_START: usize = 4;
/// The first rate is this share of what passed in the last second.
pub const FIRST_CUT: f64 = 0.9;
/// Later throttles multiply the rate by this.
pub const DECREASE: f64 = 0.7;
/// Each success adds this many requests per second (about 5% a second)...
pub const INCREASE: f64 = 0.05;
/// ...up to this share of the rate last throttled at, then this much (1% a second).
pub const PLATEAU: f64 = 0.95;
pub const PROBE: f64 = 0.01;
/// Past this share of the rate last throttled at, with no throttle, that rate is
/// no longer a limit: the rate grows by [`FAST`] per success (25% a second).
pub const STALE: f64 = 1.05;
pub const FAST: f64 = 0.25;
/// A cut holds every worker this long.
pub const CUT_PAUSE: Duration = Duration::from_secs(1);
/// The slowest pace: one request every 10 s.
pub const MIN_RATE: f64 = 0.1;
/// Successes are counted over this trailing window to measure what passes.
const MEASURE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Pace {
    /// Requests per second once throttled; `None` until the first throttle.
    rate: Option<f64>,
    /// The configured quota (the rate never rises above it).
    max: f64,
    /// The size of the current slow-start round; `None`: slow start is over.
    window: Option<usize>,
    /// Requests sent, and answered, in the current round.
    round_sent: usize,
    round_answered: usize,
    /// Counts cuts: a slot reserved before a cut is not honoured after it.
    epoch: u64,
    /// The next free sending slot.
    next_at: Option<Instant>,
    /// When the rate was last cut: a throttle of a request sent before this
    /// reflects the old rate and does not cut again.
    cut_at: Option<Instant>,
    /// Successes since the last cut (a throttle after none, within a second of
    /// the cut, is the same closed window).
    since_cut: u64,
    /// The rate last throttled at (or measured at the first throttle).
    ceiling: f64,
    /// When recent requests succeeded (the last [`MEASURE`]).
    recent: VecDeque<Instant>,
}

impl Pace {
    /// `quota`: the configured requests per second, if any; `concurrency`: the
    /// lane's cap on requests in flight, which slow start grows to.
    pub fn new(quota: Option<f64>, concurrency: usize) -> Self {
        Pace {
            rate: None,
            max: quota.unwrap_or(f64::INFINITY),
            window: (concurrency > SLOW_START).then_some(SLOW_START),
            round_sent: 0,
            round_answered: 0,
            epoch: 0,
            next_at: None,
            cut_at: None,
            since_cut: 0,
            ceiling: f64::INFINITY,
            recent: VecDeque::new(),
        }
    }

    /// The current rate, once throttled.
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

    /// A request got an answer that was not a throttle (or failed otherwise):
    /// the round moves on.
    pub fn answered(&mut self, concurrency: usize) {
        let Some(w) = self.window else { return };
        self.round_answered += 1;
        if self.round_answered >= w {
            self.round_sent = 0;
            self.round_answered = 0;
            self.window = (w * 2 < concurrency).then_some(w * 2);
        }
    }

    /// Reserve a sending slot: when this worker may send (now, or later), and
    /// the epoch it belongs to (see [`Pace::epoch`]).
    pub fn slot(&mut self, now: Instant) -> (Instant, u64) {
        let Some(rate) = self.rate else {
            return (now, self.epoch);
        };
        let slot = self.next_at.map_or(now, |n| n.max(now));
        self.next_at = Some(slot + Duration::from_secs_f64(1.0 / rate));
        (slot, self.epoch)
    }

    /// Changes at every cut: a worker that waited for a slot of an older epoch
    /// takes a new one.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A request sent at `sent` was throttled with no hint of how long to wait.
    /// Returns the new rate if it was cut; every worker then pauses [`CUT_PAUSE`].
    pub fn throttled(&mut self, sent: Instant, now: Instant) -> Option<f64> {
        // Slow start ends at the first throttle: pacing takes over.
        self.window = None;
        if let Some(c) = self.cut_at
            && (sent < c || (self.since_cut == 0 && now - c < MEASURE))
        {
            return None;
        }
        self.forget_before(now);
        let (ceiling, rate) = match self.rate {
            None => {
                let passed = self.recent.len() as f64 / MEASURE.as_secs_f64();
                (passed, passed * FIRST_CUT)
            }
            Some(r) => (r, r * DECREASE),
        };
        let rate = rate.min(self.max).max(MIN_RATE);
        self.ceiling = ceiling.max(MIN_RATE);
        self.rate = Some(rate);
        self.cut_at = Some(now);
        self.since_cut = 0;
        self.epoch += 1;
        // Space from the end of the pause: slots reserved at the old rate are dropped.
        self.next_at = Some(now + CUT_PAUSE);
        Some(rate)
    }

    /// A request succeeded: the round moves on, the rate rises a little.
    pub fn succeeded(&mut self, now: Instant, concurrency: usize) {
        self.forget_before(now);
        self.recent.push_back(now);
        self.answered(concurrency);
        self.since_cut += 1;
        if let Some(r) = self.rate.as_mut() {
            if *r > self.ceiling * STALE {
                self.ceiling = f64::INFINITY;
            }
            let step = if self.ceiling.is_infinite() {
                FAST
            } else if *r < self.ceiling * PLATEAU {
                INCREASE
            } else {
                PROBE
            };
            *r = (*r + step).min(self.max);
        }
    }

    fn forget_before(&mut self, now: Instant) {
        while self.recent.front().is_some_and(|t| now - *t > MEASURE) {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(p.slot(t0).0, t0, "no pacing before a throttle");
        for _ in 0..3 {
            p.succeeded(t0, 32);
        }
        assert!(!p.may_send(), "the next round waits for every answer");
        p.succeeded(t0, 32);
        send(&mut p, 8);
        assert!(!p.may_send(), "a whole round answered: twice as many");
        for _ in 0..8 {
            p.succeeded(t0, 32);
        }
        send(&mut p, 16);
        for _ in 0..16 {
            p.succeeded(t0, 32);
        }
        assert!(
            p.may_send() && p.window.is_none(),
            "then no cap but the lane's"
        );
        let later = t0 + Duration::from_millis(100);
        // 28 passed in the last second: 25.2/s.
        assert_eq!(p.throttled(t0, later), Some(28.0 * FIRST_CUT));
        // A throttle of a request sent before the cut does not cut again, nor
        // one within a second of it with no success between (the same window).
        assert_eq!(p.throttled(t0, later), None);
        let after = later + Duration::from_millis(10);
        assert_eq!(p.throttled(after, after), None);
        // Every worker waits out the pause, then slots are spaced at the rate.
        let (a, epoch) = p.slot(after);
        assert_eq!(a, later + CUT_PAUSE);
        let (b, _) = p.slot(after);
        assert!(((b - a).as_secs_f64() - 1.0 / 25.2).abs() < 1e-6);
        // Successes raise it 0.05 each up to 95% of the 28 measured, then 0.01.
        for _ in 0..20 {
            p.succeeded(b, 32);
        }
        assert!((p.rate().unwrap() - 26.2).abs() < 1e-9);
        for _ in 0..20 {
            p.succeeded(b, 32);
        }
        let r = p.rate().unwrap();
        assert!(r > 26.6 && r < 26.6 + 0.05 + 0.2, "{r}");
        // After a success, a new throttle cuts by 30%.
        let cut = p.throttled(b, b).unwrap();
        assert!((cut - r * DECREASE).abs() < 1e-9, "{cut}");
        assert_ne!(p.epoch(), epoch, "slots of before the cut are void");
    }

    #[test]
    fn a_stale_limit_stops_holding_the_rate_back() {
        let mut p = Pace::new(Some(200.0), 8);
        let t = Instant::now();
        for _ in 0..2 {
            p.succeeded(t, 8);
        }
        // A token bucket's first burst: 2 passed, so 1.8/s with a ceiling of 2.
        assert_eq!(p.throttled(t, t), Some(1.8));
        let mut n = 0;
        while p.rate().unwrap() <= 2.0 * STALE {
            p.succeeded(t, 8);
            n += 1;
        }
        assert!(n < 40, "{n} successes to pass the old limit");
        let before = p.rate().unwrap();
        p.succeeded(t, 8);
        assert!(
            (p.rate().unwrap() - before - FAST).abs() < 1e-9,
            "growing fast again"
        );
    }

    #[test]
    fn never_above_the_quota_nor_below_the_floor() {
        let mut p = Pace::new(Some(5.0), 8);
        let t = Instant::now();
        for _ in 0..10 {
            p.succeeded(t, 8);
        }
        p.throttled(t, t);
        for _ in 0..10_000 {
            p.succeeded(t, 8);
        }
        assert_eq!(p.rate(), Some(5.0));
        let mut later = t;
        for _ in 0..100 {
            later += Duration::from_secs(2);
            p.throttled(later, later);
        }
        assert_eq!(p.rate(), Some(MIN_RATE));
    }
}
