//! The engine: drives planned work through the lanes with bounded concurrency,
//! hands answers to the adapter, follows the steps it returns (splits, jobs,
//! follow-ups), records every outcome, shows progress, and stops cleanly.

mod admission;
mod gather;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use tokio::task::JoinSet;

use self::admission::Admission;
use self::gather::Pool;
use crate::exit::ExitCode;
use crate::http::lane::{Lane, RetryError, SendError, Stats, Stop};
use crate::output;
use crate::report::{Report, ReportError, Summary};
use crate::services::{self, Fatal, Kind, Outcome, Response, Service, Stage, Status, Step, Work};

/// Why a run ended early.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// 401/403, a redirect, or a request shape the vendor rejects (exit 3).
    Fatal(Fatal),
    /// A wait longer than `--max-wait` (exit 75).
    MaxWait { wait: Duration },
    /// Ctrl-C (exit 130) or SIGTERM (exit 143).
    Interrupted(Signal),
    /// The report could not be written.
    Report(String),
}

impl StopReason {
    pub fn describe(&self) -> String {
        match self {
            StopReason::Fatal(f) => f.describe(),
            StopReason::MaxWait { wait } => format!(
                "the vendor asked to wait {:.0}s, longer than --max-wait; run again with --resume later",
                wait.as_secs_f64()
            ),
            StopReason::Interrupted(s) => {
                format!("{}; run again with --resume to finish", s.name())
            }
            StopReason::Report(e) => format!("cannot write the report: {e}"),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            StopReason::Fatal(_) => ExitCode::Fatal,
            StopReason::MaxWait { .. } => ExitCode::MaxWait,
            StopReason::Interrupted(Signal::Interrupt) => ExitCode::Interrupted,
            StopReason::Interrupted(Signal::Terminate) => ExitCode::Terminated,
            StopReason::Report(_) => ExitCode::SomeFailed,
        }
    }
}

/// A signal that stops the run: the first drains what is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`timeout`, CI runners, service managers).
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupted",
            Signal::Terminate => "terminated (SIGTERM)",
        }
    }
}

/// What one finished send leads to.
enum Settled {
    /// Work to send next (follow-ups, halves of a split; or, when the run is
    /// stopping, the work itself, recorded as not attempted).
    Next(Vec<Work>),
    /// A submission to hold until one of our open jobs ends.
    Park(Work),
}

/// One finished send: the work, its request number, and what came back.
type Sent = (Work, u64, Result<crate::http::RawResponse, SendError>);

pub struct Engine {
    vendor: Arc<dyn Service>,
    kind: Kind,
    lanes: Vec<Arc<Lane>>,
    stats: Arc<Stats>,
    stop: Stop,
    report: Report,
    summary: Summary,
    /// Plan batches allowed to be sending at once (keeps the lane's semaphore full).
    admit: usize,
    seq: u64,
    reason: Option<StopReason>,
    started: Instant,
    /// Identifiers waiting on an open job.
    pending: HashSet<String>,
    /// Failure reasons and how many identifiers each ended.
    reasons: std::collections::HashMap<String, u64>,
    progress: crate::output::Progress,
    /// `-v` lines about outcomes recorded but not yet in the report file:
    /// printed only after [`Engine::flush`] wrote them (the report first).
    said: Vec<String>,
    /// Work held to be sent in fuller requests ([`Service::gathering`]).
    pool: Option<Pool>,
}

/// What the run loop waits for next.
enum Event {
    Sent(Box<Sent>),
    /// A task panicked (said, nothing to settle).
    Lost,
    Interrupt(Signal),
    /// The oldest gathered work is due.
    Due,
}

/// What an engine drives one vendor's work with.
pub struct Parts {
    pub service: Arc<dyn Service>,
    pub kind: Kind,
    /// The vendor's lanes, in the order of its profile.
    pub lanes: Vec<Arc<Lane>>,
    pub stats: Arc<Stats>,
    pub stop: Stop,
    pub report: Report,
    pub summary: Summary,
    /// Requests in flight at most on the main lane.
    pub concurrency: usize,
    pub progress: crate::output::Progress,
}

impl Engine {
    pub fn new(parts: Parts) -> Self {
        let Parts {
            service,
            kind,
            lanes,
            stats,
            stop,
            report,
            summary,
            concurrency,
            progress,
        } = parts;
        let pool = service.gathering(kind).map(Pool::new);
        Engine {
            vendor: service,
            kind,
            lanes,
            stats,
            stop,
            report,
            summary,
            admit: concurrency.max(1) * 2,
            seq: 0,
            reason: None,
            started: Instant::now(),
            pending: HashSet::new(),
            reasons: std::collections::HashMap::new(),
            progress,
            said: vec![],
            pool,
        }
    }

    /// Requests sent and not yet answered, over every lane.
    fn in_flight(&self) -> usize {
        self.lanes.iter().map(|l| l.in_flight()).sum()
    }

    fn lane(&self, index: usize) -> Arc<Lane> {
        Arc::clone(self.lanes.get(index).unwrap_or(&self.lanes[0]))
    }

    /// Record outcomes for one step; pending ones keep their identifiers open.
    fn record(&mut self, outcomes: &[Outcome], seq: Option<u64>) {
        if let Some(seq) = seq
            && let Some(line) = Self::log_decided(seq, outcomes)
        {
            self.said.push(line);
        }
        for o in outcomes {
            // With --hash-ids, nothing below (the summary's reasons) sees the identifier.
            let hidden = self.report.concealed(o);
            let o = hidden.as_ref().unwrap_or(o);
            if let Err(e) = self.report.write(o, seq) {
                self.fail_report(e);
            }
            if o.status == Status::Pending {
                self.pending.insert(o.ident.value.clone());
            } else {
                self.pending.remove(&o.ident.value);
                self.summary.count(o.status);
                if matches!(o.status, Status::Failed | Status::Refused) {
                    *self
                        .reasons
                        .entry(crate::report::reason_of(&o.detail))
                        .or_default() += 1;
                }
                self.progress.inc(1);
            }
        }
    }

    /// At `-v`, a line per request that decided identifiers: how they ended.
    fn log_decided(seq: u64, outcomes: &[Outcome]) -> Option<String> {
        if output::level() < 1 || outcomes.is_empty() {
            return None;
        }
        let mut counts: Vec<(Status, usize)> = vec![];
        for o in outcomes {
            match counts.iter_mut().find(|(s, _)| *s == o.status) {
                Some((_, n)) => *n += 1,
                None => counts.push((o.status, 1)),
            }
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(s, n)| {
                format!(
                    "{n} {}",
                    serde_json::to_value(s)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                )
            })
            .collect();
        Some(format!("request #{seq}: {}", parts.join(", ")))
    }

    /// Write the batch's lines to the report, then say them: an outcome is in
    /// the report before it is printed anywhere.
    fn flush(&mut self) {
        if let Err(e) = self.report.flush() {
            self.fail_report(e);
        }
        for line in std::mem::take(&mut self.said) {
            output::debug(1, &line);
        }
    }

    fn fail_report(&mut self, e: ReportError) {
        output::error(&e.to_string());
        self.halt(StopReason::Report(e.to_string()));
    }

    fn halt(&mut self, reason: StopReason) {
        if self.reason.is_none() {
            self.reason = Some(reason);
        }
        self.stop.stop();
    }

    /// A label for logs: request number, method, path with identifiers masked.
    fn label(seq: u64, work: &Work) -> String {
        format!(
            "#{seq} {} {} ({} id{})",
            work.request.method.as_str(),
            work.request.shown_path(&work.ids),
            work.ids.len(),
            if work.ids.len() == 1 { "" } else { "s" }
        )
    }

    /// Send `work` in its own task; returns its request number.
    fn spawn(&mut self, joins: &mut JoinSet<Sent>, work: Work) -> u64 {
        self.seq += 1;
        let seq = self.seq;
        let lane = self.lane(work.request.lane);
        let label = Self::label(seq, &work);
        let stop = self.stop.clone();
        joins.spawn(async move {
            if !work.delay.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(work.delay) => {},
                    () = stop.stopped() => return (work, seq, Err(SendError::Stopped)),
                }
            }
            let result = lane.send(&work.request, &label).await;
            (work, seq, result)
        });
        seq
    }

    /// Run `initial` (resumed jobs) and then every planned batch to the end, or
    /// until a stop; `interrupt` resolving (the first Ctrl-C) drains what is in
    /// flight and stops.
    pub async fn run(
        mut self,
        initial: Vec<Work>,
        mut plan: impl Iterator<Item = Work>,
        interrupt: impl Future<Output = Signal>,
    ) -> (Summary, Option<StopReason>) {
        let max_open_jobs = self.vendor.profile().max_open_jobs;
        let mut admission = Admission::new(initial, &mut plan, self.admit, max_open_jobs);
        let mut joins: JoinSet<Sent> = JoinSet::new();
        let mut interrupted = false;
        tokio::pin!(interrupt);
        loop {
            if !self.stop.is_stopped() {
                while let Some((w, submission)) = admission.next() {
                    let seq = self.spawn(&mut joins, w);
                    if submission {
                        admission.numbered(seq);
                    }
                }
            }
            if joins.is_empty() {
                // Nothing in flight can add to what is gathered: it goes now.
                let next = match self.stop.is_stopped() {
                    true => vec![],
                    false => self.release_pool(),
                };
                if next.is_empty() {
                    break;
                }
                admission.follow(&Stage::Delete, next, false);
                continue;
            }
            let event = self
                .next_event(&mut joins, &mut interrupt, interrupted)
                .await;
            match event {
                Event::Sent(sent) => {
                    let (work, seq, result) = *sent;
                    let held = admission.finished(seq, &work.stage);
                    let stage = work.stage.clone();
                    match self.settle(work, seq, result, admission.jobs_open()) {
                        Settled::Next(next) => {
                            let next = self.gather(next);
                            admission.follow(&stage, next, held)
                        }
                        Settled::Park(work) => admission.park(work),
                    }
                    self.flush();
                }
                Event::Due => admission.follow(&Stage::Delete, self.release_pool(), false),
                Event::Interrupt(signal) => {
                    interrupted = true;
                    // The run says once how to quit at once (`run::interrupt`);
                    // each vendor says what it has left to finish.
                    output::info(&format!(
                        "{}: finishing {} request(s) in flight",
                        self.vendor.profile().vendor,
                        self.in_flight(),
                    ));
                    self.halt(StopReason::Interrupted(signal));
                }
                Event::Lost => {}
            }
        }
        let pooled = self.pool.as_mut().map(Pool::take).unwrap_or_default();
        self.record_unsent(admission.unsent().chain(pooled));
        self.finish()
    }

    /// A finished send, the interrupt, or gathered work falling due.
    async fn next_event(
        &self,
        joins: &mut JoinSet<Sent>,
        interrupt: &mut std::pin::Pin<&mut impl Future<Output = Signal>>,
        interrupted: bool,
    ) -> Event {
        let due = self.pool.as_ref().and_then(Pool::due);
        let stopped = self.stop.is_stopped();
        tokio::select! {
            done = joins.join_next() => match done {
                Some(Ok(sent)) => Event::Sent(Box::new(sent)),
                Some(Err(e)) => {
                    output::error(&format!("internal error in a request task: {e}"));
                    Event::Lost
                }
                None => Event::Lost,
            },
            signal = interrupt.as_mut(), if !interrupted => Event::Interrupt(signal),
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() && !stopped => Event::Due,
        }
    }

    /// Work marked for gathering goes to the pool; the rest, and whatever
    /// the pool now sends, is returned.
    fn gather(&mut self, next: Vec<Work>) -> Vec<Work> {
        let Some(pool) = self.pool.as_mut() else {
            return next;
        };
        if self.stop.is_stopped() {
            return next;
        }
        let mut out = vec![];
        for w in next {
            if !w.gather {
                out.push(w);
                continue;
            }
            for group in pool.add(w) {
                out.extend(gather::combine(&*self.vendor, self.kind, group));
            }
        }
        out
    }

    /// Everything the pool holds, combined, to be sent now.
    fn release_pool(&mut self) -> Vec<Work> {
        match self.pool.as_mut() {
            Some(pool) if !pool.is_empty() => {
                let group = pool.take();
                gather::combine(&*self.vendor, self.kind, group)
            }
            _ => vec![],
        }
    }

    /// Whatever was not sent because the run stopped is recorded as such.
    fn record_unsent(&mut self, unsent: impl Iterator<Item = Work>) {
        let Some(reason) = self.reason.clone() else {
            return;
        };
        let why = format!("not attempted: {}", reason.describe());
        for w in unsent {
            if !matches!(w.stage, Stage::Poll { .. }) {
                let outs = services::all(&w.ids, Status::Failed, &why, None);
                self.record(&outs, None);
            }
        }
        self.flush();
    }

    /// The run's summary, once every send has ended.
    fn finish(mut self) -> (Summary, Option<StopReason>) {
        self.progress.finish();
        self.summary.pending = self.pending.len() as u64;
        self.summary.requests = self.seq;
        self.summary.attempts = self.stats.attempts.load(Ordering::Relaxed);
        self.summary.retries = self.stats.retries.load(Ordering::Relaxed);
        self.summary.throttled = self.stats.throttled.load(Ordering::Relaxed);
        self.summary.set_times(
            Duration::from_millis(self.stats.paused_ms.load(Ordering::Relaxed)),
            self.started.elapsed(),
        );
        self.summary.stopped = self.reason.as_ref().map(StopReason::describe);
        self.summary.failure_reasons = crate::report::top_reasons(&self.reasons);
        (self.summary, self.reason)
    }

    /// Turn one finished send into outcomes and follow-up work.
    fn settle(
        &mut self,
        work: Work,
        seq: u64,
        result: Result<crate::http::RawResponse, SendError>,
        jobs_open: usize,
    ) -> Settled {
        let resp = match result {
            Ok(raw) => Response {
                status: raw.status,
                body: raw.body,
            },
            // A submission still throttled while our own jobs are open (the vendor's
            // job limit): hold it until a job ends rather than fail it.
            Err(SendError::Exhausted(RetryError {
                status: Some(429), ..
            })) if jobs_open > 0 && matches!(work.stage, Stage::Delete) => {
                output::debug(
                    1,
                    &format!(
                        "request #{seq}: still throttled with {jobs_open} job(s) open; holding it until one ends"
                    ),
                );
                return Settled::Park(work);
            }
            Err(SendError::Exhausted(e)) => {
                output::debug(1, &e.logged());
                let outs = services::all(&work.ids, Status::Failed, &e.to_string(), e.status);
                self.record(&outs, Some(seq));
                return Settled::Next(vec![]);
            }
            Err(SendError::Fatal(f)) => {
                self.fatal(&work, seq, f);
                return Settled::Next(vec![]);
            }
            Err(SendError::WaitTooLong { wait }) => {
                self.halt(StopReason::MaxWait { wait });
                return Settled::Next(vec![work]);
            }
            Err(SendError::Stopped) => return Settled::Next(vec![work]),
        };
        Settled::Next(match self.vendor.read(self.kind, &work, &resp) {
            Step::Done(outs) => {
                self.record(&outs, Some(seq));
                vec![]
            }
            Step::Continue {
                done,
                pending,
                next,
            } => {
                self.record(&done, Some(seq));
                self.record(&pending, Some(seq));
                next
            }
            Step::Split {
                status,
                detail,
                alone,
            } => {
                if work.ids.len() <= 1 {
                    let outs = services::all(&work.ids, alone, &detail, Some(status));
                    self.record(&outs, Some(seq));
                    return Settled::Next(vec![]);
                }
                output::debug(
                    1,
                    &format!(
                        "request #{seq} rejected ({status}); splitting its {} identifiers to find the bad ones",
                        work.ids.len()
                    ),
                );
                let mut ids = work.ids;
                let right = ids.split_off(ids.len() / 2);
                vec![
                    self.vendor.start(self.kind, ids),
                    self.vendor.start(self.kind, right),
                ]
            }
            Step::Fatal(f) => {
                self.fatal(&work, seq, f);
                vec![]
            }
        })
    }

    /// A fatal answer: this work's identifiers fail with it, and the run stops (exit 3).
    fn fatal(&mut self, work: &Work, seq: u64, f: Fatal) {
        let outs = services::all(
            &work.ids,
            Status::Failed,
            &format!("HTTP {}: {}", f.status, f.detail),
            Some(f.status),
        );
        self.record(&outs, Some(seq));
        self.halt(StopReason::Fatal(f));
    }
}
