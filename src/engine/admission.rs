//! Admission: which piece of work may be sent now. Follow-ups (polls, lookups'
//! next pages, erasures) go at once; new submissions (plan batches, halves of a
//! split, resubmissions) wait for room under the admit limit and the vendor's
//! limit of open jobs; a submission still throttled while our own jobs are open
//! is parked until one of them ends.

use std::collections::{HashSet, VecDeque};

use crate::services::{Stage, Work};

pub struct Admission<P> {
    plan: P,
    /// Work handed back by answers, in order.
    queue: VecDeque<Work>,
    /// Submissions waiting for room.
    held: VecDeque<Work>,
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

    /// Request `seq` finished (answered, failed or stopped).
    pub fn finished(&mut self, seq: u64, stage: &Stage) {
        if self.admitted.remove(&seq) {
            self.sending = self.sending.saturating_sub(1);
        }
        if is_poll(stage) {
            self.jobs_open = self.jobs_open.saturating_sub(1);
        }
    }

    /// The work an answer to a request of `stage` led to.
    pub fn follow(&mut self, stage: &Stage, next: Vec<Work>) {
        let polls_again = next.iter().any(|w| is_poll(&w.stage));
        for w in next {
            if is_poll(&w.stage) {
                self.jobs_open += 1;
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
        self.queue
            .into_iter()
            .chain(self.held)
            .chain(self.parked)
            .chain(self.plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::{Method, Request, idents};

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
        a.follow(&Stage::Delete, vec![work(poll())]);
        assert!(is_poll(&a.next().unwrap().0.stage));
        assert!(a.next().is_none());
        // The first job ends: room for one more submission.
        a.finished(0, &poll());
        a.follow(&poll(), vec![]);
        assert!(a.next().unwrap().1);
    }

    #[test]
    fn parked_submissions_return_when_a_job_ends() {
        let mut a = Admission::new(vec![work(poll())], std::iter::empty(), 4, None);
        let _ = a.next();
        a.park(work(Stage::Delete));
        assert!(a.next().is_none(), "parked while the job is open");
        a.finished(0, &poll());
        a.follow(&poll(), vec![]);
        assert!(a.next().unwrap().1, "back once the job ended");
        assert_eq!(a.jobs_open(), 0);
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
