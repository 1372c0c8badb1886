//! The gate every send of a lane passes: the shared pause any answer can push
//! later, and the budget of sends the vendor's current window has left.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::http::headers::RateState;

/// With the window's budget spent but answers outstanding, look again this soon.
pub const BUDGET_RECHECK: Duration = Duration::from_millis(5);

/// What a worker may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Send now; the number matches the answer's rate headers to this send.
    Send(u64),
    /// Wait until then and ask again.
    WaitUntil(Instant),
}

/// What the vendor's current window has left.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Budget {
    /// Sends left: the vendor's `Remaining` less what was sent after the answer
    /// that said so, less what was sent since.
    left: f64,
    /// When the window ends; `None` for a new window no answer has described yet.
    end: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Gate {
    paused_until: Option<Instant>,
    /// The current window's budget; `None`: the vendor sends no window numbers.
    budget: Option<Budget>,
    /// The vendor's last `Limit`: the budget of a new window.
    limit: Option<f64>,
    /// Numbers of the sends still waiting for an answer.
    in_flight: BTreeSet<u64>,
    next_send: u64,
    /// The end of the waits already counted as waiting time.
    waited_until: Option<Instant>,
}

impl Gate {
    /// A gate for a vendor that sends window numbers: the first request goes
    /// alone, and its answer sets the budget.
    pub fn windowed() -> Self {
        Gate {
            budget: Some(Budget {
                left: 1.0,
                end: None,
            }),
            ..Gate::default()
        }
    }

    /// Push the pause to `until` (never earlier).
    pub fn extend_pause(&mut self, until: Instant) {
        if self.paused_until.is_none_or(|p| until > p) {
            self.paused_until = Some(until);
        }
    }

    /// A worker is about to wait until `until`: the wall time no worker was
    /// already waiting for (so waits in parallel count once).
    pub fn wait_time(&mut self, now: Instant, until: Instant) -> Duration {
        let from = self.waited_until.map_or(now, |w| w.max(now));
        self.waited_until = Some(self.waited_until.map_or(until, |w| w.max(until)));
        until.saturating_duration_since(from)
    }

    /// Take a send slot now, or say until when to wait.
    pub fn turn(&mut self, now: Instant) -> Turn {
        if let Some(p) = self.paused_until
            && p > now
        {
            return Turn::WaitUntil(p);
        }
        let in_flight = self.in_flight.len() as f64;
        if let Some(b) = self.budget.as_mut() {
            if b.end.is_some_and(|e| now >= e) {
                // A new window: at most the vendor's last `Limit`, less what is
                // still in flight (it may count there); without a `Limit`, one
                // request goes alone and its answer sets the budget.
                *b = Budget {
                    left: (self.limit.unwrap_or(1.0) - in_flight).max(0.0),
                    end: None,
                };
            }
            if b.left < 1.0 {
                if !self.in_flight.is_empty() {
                    // Answers still to come will say what is left.
                    return Turn::WaitUntil(now + BUDGET_RECHECK);
                }
                match b.end {
                    // Every send is answered and none is left: wait for the window's end.
                    Some(end) => {
                        self.extend_pause(end);
                        return Turn::WaitUntil(end);
                    }
                    // Nothing in flight and no answer told us the window: probe with one.
                    None => b.left = 1.0,
                }
            }
            b.left -= 1.0;
        }
        let n = self.next_send;
        self.next_send += 1;
        self.in_flight.insert(n);
        Turn::Send(n)
    }

    /// Sends waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Send `send` got its answer (or failed).
    pub fn answered(&mut self, send: u64) {
        self.in_flight.remove(&send);
    }

    /// Take in the rate headers of the answer to `send` (after
    /// [`Gate::answered`] for it); `throttled`: it was a 429, so the window is
    /// closed whatever `Remaining` says. Returns the wait until the window's
    /// reset when the vendor says it is used up.
    pub fn observe(
        &mut self,
        state: RateState,
        send: u64,
        now: Instant,
        throttled: bool,
    ) -> Option<Duration> {
        if let Some(l) = state.limit.filter(|l| *l >= 1.0) {
            self.limit = Some(l);
        }
        let remaining = if throttled {
            Some(0.0)
        } else {
            state.remaining
        };
        let (Some(remaining), Some(reset_in)) = (remaining, state.reset_in) else {
            if state.remaining.is_none()
                && state.reset_in.is_none()
                && matches!(self.budget, Some(Budget { end: None, .. }))
            {
                // Probing a window the vendor does not describe: no numbers came
                // back, so there is no window to keep to.
                self.budget = None;
            }
            return None;
        };
        let reset_at = now + reset_in;
        // Sends that left after this one may not be in the vendor's count yet.
        let later = self.in_flight.range(send + 1..).count() as f64;
        let left = (remaining - later).max(0.0);
        let budget = match self.budget {
            // With nothing else in flight the count is exact.
            _ if self.in_flight.is_empty() => Budget {
                left: remaining.max(0.0),
                end: Some(reset_at),
            },
            // Same window: trust the lower count (answers can arrive out of order).
            Some(Budget {
                left: b,
                end: Some(at),
            }) if reset_at < at + Duration::from_secs(1) => Budget {
                left: b.min(left),
                end: Some(at),
            },
            // The first answer of a new window: what we sent since counts too.
            Some(Budget { left: b, end: None }) => Budget {
                left: b.min(left),
                end: Some(reset_at),
            },
            _ => Budget {
                left,
                end: Some(reset_at),
            },
        };
        self.budget = Some(budget);
        if remaining < 1.0 {
            let at = budget.end.unwrap_or(reset_at);
            self.extend_pause(at);
            return Some(reset_in);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(remaining: f64, reset_secs: u64) -> RateState {
        RateState {
            limit: None,
            remaining: Some(remaining),
            reset_in: Some(Duration::from_secs(reset_secs)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_counts_down_and_waits_for_the_reset() {
        let mut g = Gate::windowed();
        let t0 = Instant::now();
        let Turn::Send(first) = g.turn(t0) else {
            panic!("first send waits")
        };
        // The vendor says 2 left in a window ending in 10 s.
        assert_eq!(
            g.turn(t0),
            Turn::WaitUntil(t0 + BUDGET_RECHECK),
            "the first goes alone"
        );
        g.answered(first);
        assert_eq!(g.observe(state(2.0, 10), first, t0, false), None);
        assert!(matches!(g.turn(t0), Turn::Send(_)));
        assert!(matches!(g.turn(t0), Turn::Send(_)));
        // Spent, answers outstanding: look again soon.
        assert_eq!(g.turn(t0), Turn::WaitUntil(t0 + BUDGET_RECHECK));
        g.answered(1);
        g.answered(2);
        // Spent and nothing in flight: wait for the window's end.
        assert_eq!(g.turn(t0), Turn::WaitUntil(t0 + Duration::from_secs(10)));
        // The new window: one request alone (no Limit known), then its answer.
        let later = t0 + Duration::from_secs(10);
        let Turn::Send(probe) = g.turn(later) else {
            panic!("the new window's first request waits")
        };
        assert_eq!(g.turn(later), Turn::WaitUntil(later + BUDGET_RECHECK));
        g.answered(probe);
        let with_limit = RateState {
            limit: Some(5.0),
            ..state(4.0, 10)
        };
        g.observe(with_limit, probe, later, false);
        for _ in 0..4 {
            assert!(matches!(g.turn(later), Turn::Send(_)));
        }
        assert_eq!(g.turn(later), Turn::WaitUntil(later + BUDGET_RECHECK));
        // The next window opens with the vendor's Limit less what is in flight (4).
        let next = later + Duration::from_secs(10);
        assert!(matches!(g.turn(next), Turn::Send(_)), "5 - 4 in flight = 1");
        assert_eq!(g.turn(next), Turn::WaitUntil(next + BUDGET_RECHECK));
    }

    #[tokio::test(start_paused = true)]
    async fn answers_without_numbers_lift_the_probe() {
        let mut g = Gate::windowed();
        let t0 = Instant::now();
        let Turn::Send(a) = g.turn(t0) else { panic!() };
        g.answered(a);
        g.observe(RateState::default(), a, t0, false);
        for _ in 0..10 {
            assert!(matches!(g.turn(t0), Turn::Send(_)));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_closes_the_window_until_its_reset() {
        let mut g = Gate::windowed();
        let t0 = Instant::now();
        let Turn::Send(a) = g.turn(t0) else { panic!() };
        g.answered(a);
        // A 429 that says 5 remaining is still a closed window.
        assert_eq!(
            g.observe(state(5.0, 2), a, t0, true),
            Some(Duration::from_secs(2))
        );
        assert_eq!(g.turn(t0), Turn::WaitUntil(t0 + Duration::from_secs(2)));
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_zero_pauses_everyone_until_the_reset() {
        let mut g = Gate::default();
        let t0 = Instant::now();
        let Turn::Send(a) = g.turn(t0) else { panic!() };
        let Turn::Send(_b) = g.turn(t0) else { panic!() };
        g.answered(a);
        assert_eq!(
            g.observe(state(0.0, 3), a, t0, false),
            Some(Duration::from_secs(3))
        );
        assert_eq!(g.turn(t0), Turn::WaitUntil(t0 + Duration::from_secs(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn parallel_waits_count_once() {
        let mut g = Gate::default();
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(g.wait_time(t0, t0 + 2 * s), 2 * s);
        assert_eq!(g.wait_time(t0, t0 + 2 * s), Duration::ZERO);
        assert_eq!(g.wait_time(t0 + s, t0 + 3 * s), s);
    }
}
