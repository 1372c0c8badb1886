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
    /// The lowest `Remaining` an answer of this window reported: the vendor's
    /// count once every send is answered, whatever order the answers came in.
    lowest: f64,
}

impl Budget {
    fn new(left: f64, end: Option<Instant>) -> Self {
        Budget {
            left,
            end,
            lowest: f64::INFINITY,
        }
    }
}

/// Which window an answer's `Reset` belongs to, against the window the budget
/// keeps: resets are whole seconds, so the same window's answers give resets
/// within a second of each other (a `Reset` in seconds from now rounds up),
/// and the next window's is a whole window later.
#[derive(Debug, PartialEq)]
enum Window {
    /// An answer of a window already over (it was in flight across the reset).
    Older,
    Same,
    Newer,
}

/// An answer whose reset is this much before the budget's is of an older window.
const OLDER: Duration = Duration::from_millis(500);
/// ...and this much after, of a newer one (a one-second window's next reset is
/// exactly a second later, give or take the float rounding of the clocks).
const NEWER: Duration = Duration::from_millis(900);

fn window_of(reset_at: Instant, end: Instant) -> Window {
    if reset_at + OLDER < end {
        Window::Older
    } else if reset_at >= end + NEWER {
        Window::Newer
    } else {
        Window::Same
    }
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
            budget: Some(Budget::new(1.0, None)),
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
                *b = Budget::new((self.limit.unwrap_or(1.0) - in_flight).max(0.0), None);
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
        let budget = self.next_budget(remaining, reset_at, left)?;
        self.budget = Some(budget);
        if remaining < 1.0 {
            let at = budget.end.unwrap_or(reset_at);
            self.extend_pause(at);
            return Some(reset_in);
        }
        None
    }

    /// The budget after an answer of a window resetting at `reset_at` that
    /// says `remaining` (`left`: less the sends that left after it); `None`:
    /// its numbers are of an older window and say nothing of this one.
    fn next_budget(&self, remaining: f64, reset_at: Instant, left: f64) -> Option<Budget> {
        let budget = match self.budget {
            Some(b @ Budget { end: Some(at), .. }) => match window_of(reset_at, at) {
                // Its numbers say nothing of the window now open.
                Window::Older => return None,
                // Answers arrive out of order: trust the lowest count. With
                // nothing in flight, every send is answered and counted, so the
                // lowest `Remaining` reported is the vendor's count (an answer
                // counted early but arriving last must not re-open the budget).
                Window::Same => {
                    let lowest = b.lowest.min(remaining);
                    Budget {
                        left: if self.in_flight.is_empty() {
                            lowest.max(0.0)
                        } else {
                            b.left.min(left)
                        },
                        end: Some(at),
                        lowest,
                    }
                }
                // The first answer of the next window (sent across the reset):
                // the old window's budget says nothing of it.
                Window::Newer => Budget {
                    left,
                    end: Some(reset_at),
                    lowest: remaining,
                },
            },
            // The first answer of a new window: what we sent since counts too.
            Some(Budget {
                left: b, end: None, ..
            }) => Budget {
                left: if self.in_flight.is_empty() {
                    remaining.max(0.0)
                } else {
                    b.min(left)
                },
                end: Some(reset_at),
                lowest: remaining,
            },
            None => Budget {
                left,
                end: Some(reset_at),
                lowest: remaining,
            },
        };
        Some(budget)
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

    fn sends(g: &mut Gate, now: Instant) -> Vec<u64> {
        let mut out = vec![];
        while let Turn::Send(n) = g.turn(now) {
            out.push(n);
        }
        out
    }

    /// A gate whose probe was answered: `limit`, `remaining`, the window ending in `reset`.
    fn opened(limit: f64, remaining: f64, reset: Duration, t0: Instant) -> Gate {
        let mut g = Gate::windowed();
        let Turn::Send(probe) = g.turn(t0) else {
            panic!()
        };
        g.answered(probe);
        let s = RateState {
            limit: Some(limit),
            remaining: Some(remaining),
            reset_in: Some(reset),
        };
        g.observe(s, probe, t0, false);
        g
    }

    fn at(remaining: f64, reset_at: Instant, now: Instant) -> RateState {
        RateState {
            limit: None,
            remaining: Some(remaining),
            reset_in: Some(reset_at - now),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_counted_early_and_arriving_last_does_not_reopen_the_window() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(10);
        let mut g = opened(20.0, 19.0, Duration::from_secs(10), t0);
        let s: Vec<u64> = (0..9)
            .map(|_| match g.turn(t0) {
                Turn::Send(n) => n,
                w => panic!("{w:?}"),
            })
            .collect();
        // The vendor counted them in order (18 left after s[0] ... 10 after
        // s[8]); the answers come back in another order, s[0]'s last.
        let t1 = t0 + Duration::from_secs(1);
        for i in (1..9).rev() {
            g.answered(s[i]);
            g.observe(at(18.0 - i as f64, end, t1), s[i], t1, false);
        }
        g.answered(s[0]);
        g.observe(at(18.0, end, t1), s[0], t1, false);
        assert_eq!(g.in_flight(), 0);
        // Every send is answered: the vendor's count is the lowest reported
        // (10 left), not the 18 of the answer that came last.
        assert_eq!(sends(&mut g, t1).len(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_of_the_next_window_is_not_read_as_the_old_one() {
        // Our window ends at `end` (the vendor's reset plus the margin); the
        // vendor's next window has begun, and sends that leave now count there.
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(1);
        let mut g = opened(20.0, 5.0, Duration::from_secs(1), t0);
        let t1 = t0 + Duration::from_millis(970);
        let s = sends(&mut g, t1);
        assert_eq!(s.len(), 5, "the old window's budget");
        // Counted in the next window (19, 18, 17, 16, 15 left); its reset is a
        // second after ours, less a microsecond of float rounding.
        let next = end + Duration::from_secs(1) - Duration::from_micros(1);
        let t2 = t0 + Duration::from_millis(990);
        for (n, left) in s[..4].iter().zip([19.0, 18.0, 17.0, 16.0]) {
            g.answered(*n);
            g.observe(at(left, next, t2), *n, t2, false);
        }
        // One still in flight when our window ends: the next window's budget is
        // what the vendor said (16 after the fourth) less that one, not the Limit.
        let more = sends(&mut g, end);
        assert_eq!(more.len(), 15, "20 a window, 5 sent in it");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_of_the_old_window_arriving_late_does_not_close_the_new_one() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(1);
        let mut g = opened(20.0, 1.0, Duration::from_secs(1), t0);
        let s = sends(&mut g, t0);
        assert_eq!(s.len(), 1);
        // The next window opens, its first answer says 18 left.
        let Turn::Send(a) = g.turn(end) else { panic!() };
        let Turn::Send(b) = g.turn(end) else { panic!() };
        let t1 = end + Duration::from_millis(10);
        g.answered(a);
        g.observe(at(18.0, end + Duration::from_secs(1), t1), a, t1, false);
        // The old window's last answer (0 left, its reset long past plus the
        // margin still ahead) arrives now: it says nothing of this window.
        g.answered(s[0]);
        let old = at(0.0, t1 + Duration::from_millis(1), t1);
        assert_eq!(g.observe(old, s[0], t1, false), None, "no pause");
        g.answered(b);
        assert!(
            matches!(g.turn(t1), Turn::Send(_)),
            "the new window is open"
        );
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
