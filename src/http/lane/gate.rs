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

#[derive(Debug, Default)]
pub struct Gate {
    paused_until: Option<Instant>,
    /// Sends left in the vendor's current window (its `Remaining` less what was
    /// sent after the answer that said so), and when the window ends.
    budget: Option<(f64, Instant)>,
    /// Numbers of the sends still waiting for an answer.
    in_flight: BTreeSet<u64>,
    next_send: u64,
    /// The end of the waits already counted as waiting time.
    waited_until: Option<Instant>,
}

impl Gate {
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
        let mut at = now;
        if let Some(p) = self.paused_until {
            at = at.max(p);
        }
        if let Some((_, end)) = self.budget
            && now >= end
        {
            self.budget = None;
        }
        if at <= now
            && let Some((left, end)) = self.budget
            && left < 1.0
        {
            at = if self.in_flight.is_empty() {
                // Every send is answered and none is left: wait for the window's end.
                self.extend_pause(end);
                end
            } else {
                // Answers still to come will say what is left.
                now + BUDGET_RECHECK
            };
        }
        if at > now {
            return Turn::WaitUntil(at);
        }
        let n = self.next_send;
        self.next_send += 1;
        self.in_flight.insert(n);
        if let Some((left, _)) = self.budget.as_mut() {
            *left -= 1.0;
        }
        Turn::Send(n)
    }

    /// Send `send` got its answer (or failed).
    pub fn answered(&mut self, send: u64) {
        self.in_flight.remove(&send);
    }

    /// Take in the rate headers of the answer to `send` (after
    /// [`Gate::answered`] for it). Returns the wait until the window's reset
    /// when the vendor says it is used up.
    pub fn observe(&mut self, state: RateState, send: u64, now: Instant) -> Option<Duration> {
        let (Some(remaining), Some(reset_in)) = (state.remaining, state.reset_in) else {
            return None;
        };
        let reset_at = now + reset_in;
        // Sends that left after this one may not be in the vendor's count yet.
        let later = self.in_flight.range(send + 1..).count() as f64;
        let left = (remaining - later).max(0.0);
        self.budget = match self.budget {
            // With nothing else in flight the count is exact.
            _ if self.in_flight.is_empty() => Some((remaining.max(0.0), reset_at)),
            // Same window: trust the lower count (answers can arrive out of order).
            Some((b, at)) if reset_at < at + Duration::from_secs(1) => Some((b.min(left), at)),
            _ => Some((left, reset_at)),
        };
        if remaining < 1.0 {
            let at = self.budget.map_or(reset_at, |(_, at)| at);
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
        let mut g = Gate::default();
        let t0 = Instant::now();
        let Turn::Send(first) = g.turn(t0) else {
            panic!("first send waits")
        };
        // The vendor says 2 left in a window ending in 10 s.
        g.answered(first);
        assert_eq!(g.observe(state(2.0, 10), first, t0), None);
        assert!(matches!(g.turn(t0), Turn::Send(_)));
        assert!(matches!(g.turn(t0), Turn::Send(_)));
        // Spent, answers outstanding: look again soon.
        assert_eq!(g.turn(t0), Turn::WaitUntil(t0 + BUDGET_RECHECK));
        g.answered(1);
        g.answered(2);
        // Spent and nothing in flight: wait for the window's end.
        assert_eq!(g.turn(t0), Turn::WaitUntil(t0 + Duration::from_secs(10)));
        let later = t0 + Duration::from_secs(10);
        assert!(matches!(g.turn(later), Turn::Send(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_zero_pauses_everyone_until_the_reset() {
        let mut g = Gate::default();
        let t0 = Instant::now();
        let Turn::Send(a) = g.turn(t0) else { panic!() };
        let Turn::Send(_b) = g.turn(t0) else { panic!() };
        g.answered(a);
        assert_eq!(
            g.observe(state(0.0, 3), a, t0),
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
