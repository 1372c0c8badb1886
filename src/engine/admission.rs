//! Admission: which piece of work may be sent now. Follow-ups (polls, lookups'
//! next pages, erasures) go at once; new submissions (plan batches, halves of a
//! split, resubmissions) wait for room under the admit limit and the vendor's
//! limit of open jobs; a submission still throttled while our own jobs are open
//! is parked until one of them ends. A batch that is looked up one request after
//! another keeps its room until its lookups end, so a few batches finish early
//! rather than every batch of the plan late.

use std::collections::{HashSet, VecDeque};

use crate::model::{Stage, Work};

pub struct Admission<P> {
    plan: P,
    /// Work handed back by answers, in order.
    queue: VecDeque<Work>,
    /// Submissions waiting for room.
    held: VecDeque<Work>,
    /// The next lookups of admitted batches: they keep their batch's room.
    chained: VecDeque<Work>,
    /// Submissions throttled while jobs were open: held again when one ends.
    parked: Vec<Work>,
    /// Request numbers of admitted submissions still sending.
    admitted: HashSet<u64>,
    /// Admitted submissions not yet finished (numbered or about to be).
    sending: usize,
    jobs_open: usize,
    /// Submissions allowed to be sending at once (keeps the lane's semaphore full).
    admit: usize,
    max_open_jobs: Option<usize>,
}

fn is_poll(stage: &Stage) -> bool {
    matches!(stage, Stage::Poll { .. })
}

impl<P: Iterator<Item = Work>> Admission<P> {
    /// `initial` work (resumed jobs' polls) goes first, then the plan.
    pub fn new(initial: Vec<Work>, plan: P, admit: usize, max_open_jobs: Option<usize>) -> Self {
        let jobs_open = initial.iter().filter(|w| is_poll(&w.stage)).count();
        Admission {
            plan,
            queue: initial.into(),
            held: VecDeque::new(),
            chained: VecDeque::new(),
            parked: vec![],
            admitted: HashSet::new(),
            sending: 0,
            jobs_open,
            admit: admit.max(1),
            max_open_jobs,
        }
    }

    /// The next work to send now, and whether it is a submission (then pass
    /// its request number to [`Admission::numbered`]).
    pub fn next(&mut self) -> Option<(Work, bool)> {
        if let Some(w) = self.chained.pop_front() {
            // Its room was kept for it in `follow`.
            return Some((w, true));
        }
        while let Some(w) = self.queue.pop_front() {
            if matches!(w.stage, Stage::Delete) {
                self.held.push_back(w);
            } else {
                return Some((w, false));
            }
        }
        let room = self.sending < self.admit
            && self
                .max_open_jobs
                .is_none_or(|m| self.jobs_open + self.sending < m);
        if !room {
            return None;
        }
        let w = self.held.pop_front().or_else(|| self.plan.next())?;
        self.sending += 1;
        Some((w, true))
    }

    /// The submission just taken from [`Admission::next`] is request `seq`.
    pub fn numbered(&mut self, seq: u64) {
        self.admitted.insert(seq);
    }

    /// Request `seq` finished (answered, failed or stopped); whether it held
    /// room as an admitted submission (pass it on to [`Admission::follow`]).
    pub fn finished(&mut self, seq: u64, stage: &Stage) -> bool {
        let held = self.admitted.remove(&seq);
        if held {
            self.sending = self.sending.saturating_sub(1);
        }
        if is_poll(stage) {
            self.jobs_open = self.jobs_open.saturating_sub(1);
        }
        held
    }

    /// The work an answer to a request of `stage` led to; `held`: that request
    /// held room, which its batch's next lookup keeps.
    pub fn follow(&mut self, stage: &Stage, next: Vec<Work>, held: bool) {
        let polls_again = next.iter().any(|w| is_poll(&w.stage));
        let mut keep = held && matches!(stage, Stage::Lookup { .. });
        for w in next {
            if is_poll(&w.stage) {
                self.jobs_open += 1;
            }
            if keep && matches!(w.stage, Stage::Lookup { .. }) {
                keep = false;
                self.sending += 1;
                self.chained.push_back(w);
                continue;
            }
            self.queue.push_back(w);
        }
        if (is_poll(stage) && !polls_again) || self.jobs_open == 0 {
            // A job ended: throttled submissions may go again.
            self.held.extend(self.parked.drain(..));
        }
    }

    /// Hold a submission still throttled while jobs are open until one ends.
    pub fn park(&mut self, work: Work) {
        self.parked.push(work);
    }

    pub fn jobs_open(&self) -> usize {
        self.jobs_open
    }

    /// Everything not sent (the run stopped): handed-back work, held, parked, and the rest of the plan.
    pub fn unsent(self) -> impl Iterator<Item = Work> {
        self.chained
            .into_iter()
            .chain(self.queue)
            .chain(self.held)
            .chain(self.parked)
            .chain(self.plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Method, Request, idents};

    fn work(stage: Stage) -> Work {
        Work::new(idents(&["x"]), Request::new(Method::Get, "/"), stage)
    }

    fn poll() -> Stage {
        Stage::Poll {
            job: "J".into(),
            attempt: 0,
        }
    }

    #[test]
    fn submissions_wait_for_room_under_the_job_limit() {
        let plan = (0..10).map(|_| work(Stage::Delete));
        let mut a = Admission::new(vec![work(poll())], plan, 4, Some(3));
        // The resumed poll goes first, then two submissions (1 job + 2 sending = 3).
        let (w, sub) = a.next().unwrap();
        assert!(is_poll(&w.stage) && !sub);
        assert!(a.next().unwrap().1);
        a.numbered(1);
        assert!(a.next().unwrap().1);
        a.numbered(2);
        assert!(a.next().is_none(), "the job limit is reached");
        // Submission 1 opens a job: still 3 (2 jobs + 1 sending).
        a.finished(1, &Stage::Delete);
        a.follow(&Stage::Delete, vec![work(poll())], true);
        assert!(is_poll(&a.next().unwrap().0.stage));
        assert!(a.next().is_none());
        // The first job ends: room for one more submission.
        a.finished(0, &poll());
        a.follow(&poll(), vec![], false);
        assert!(a.next().unwrap().1);
    }

    #[test]
    fn parked_submissions_return_when_a_job_ends() {
        let mut a = Admission::new(vec![work(poll())], std::iter::empty(), 4, None);
        let _ = a.next();
        a.park(work(Stage::Delete));
        assert!(a.next().is_none(), "parked while the job is open");
        a.finished(0, &poll());
        a.follow(&poll(), vec![], false);
        assert!(a.next().unwrap().1, "back once the job ended");
        assert_eq!(a.jobs_open(), 0);
    }

    #[test]
    fn a_batch_looked_up_in_turn_keeps_its_room_until_its_lookups_end() {
        let lookup = || Stage::Lookup {
            at: 0,
            pages: vec![],
            found: vec![],
        };
        let plan = (0..5).map(move |_| work(lookup()));
        let mut a = Admission::new(vec![], plan, 2, None);
        for seq in 1..=2 {
            assert!(a.next().unwrap().1);
            a.numbered(seq);
        }
        assert!(a.next().is_none(), "two batches at once");
        // Batch 1's next lookup takes its room: still no third batch.
        let held = a.finished(1, &lookup());
        assert!(held);
        a.follow(&lookup(), vec![work(lookup())], held);
        let (w, sub) = a.next().unwrap();
        assert!(matches!(w.stage, Stage::Lookup { .. }) && sub);
        a.numbered(3);
        assert!(a.next().is_none(), "batch 1 is still looking up");
        // Its lookups end in a delete, which waits for room like any submission;
        // the room is free now, so the delete goes before a new batch.
        let held = a.finished(3, &lookup());
        a.follow(&lookup(), vec![work(Stage::Delete)], held);
        let (w, sub) = a.next().unwrap();
        assert!(matches!(w.stage, Stage::Delete) && sub);
        a.numbered(4);
        assert!(a.next().is_none());
    }

    #[test]
    fn unsent_work_is_everything_left() {
        let plan = (0..5).map(|_| work(Stage::Delete));
        let mut a = Admission::new(vec![], plan, 2, None);
        let _ = a.next();
        let _ = a.next();
        a.park(work(Stage::Delete));
        assert_eq!(a.unsent().count(), 4);
    }
}
