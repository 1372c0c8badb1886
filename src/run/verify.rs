//! `purge verify`: ask every vendor of a report, with its own read endpoints
//! and within its quotas, whether the people the report says are deleted,
//! queued or not found still exist; append one line per identifier:
//! `verified`, `present` or `unverifiable`. Nothing else is written or sent.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{RunError, Target, Todo, VendorRun};
use crate::cli::Verify;
use crate::config_file::{self, VendorConfig};
use crate::engine::{Engine, Signal, StopReason};
use crate::exit::ExitCode;
use crate::http::{HttpClient, Transport};
use crate::output;
use crate::report::{Line, Report, Summary};
use crate::services::{
    Ident, Kind, NoCheck, Outcome, Profile, Proof, Recorded, Response, Service, SourceRef, Status,
    Step, ToVerify, Verify as Verifier, Work,
};

/// One identifier of the report, as its lines left it.
struct Entry {
    /// The identifier in clear (`None` when the report holds only its hash).
    id: Option<String>,
    /// Its SHA-256, when the report holds only that.
    sha256: Option<String>,
    last: Status,
    /// The vendor ids and job recorded for it (the latest line naming any).
    recorded: Recorded,
}

/// The identifiers of one (vendor, kind) of the report, in order of first line.
struct Group {
    vendor: String,
    kind: Kind,
    entries: Vec<Entry>,
    /// The hosts its lines were sent to (verify asks the same one).
    hosts: std::collections::BTreeSet<String>,
}

/// An identifier of the report: (vendor, kind, identifier or its hash).
type Key = (String, String, String);

/// Read the report into groups (the last line of an identifier decides).
fn read(path: &Path) -> Result<Vec<Group>, RunError> {
    let file = std::fs::File::open(path)
        .map_err(|e| RunError::Usage(format!("{}: cannot read the report: {e}", path.display())))?;
    let mut groups: Vec<Group> = vec![];
    let mut index: HashMap<Key, (usize, usize)> = HashMap::new();
    let mut reader = std::io::BufReader::new(file);
    let mut buf = vec![];
    for n in 0.. {
        buf.clear();
        let read = crate::report::read_line_capped(&mut reader, &mut buf).map_err(|e| {
            match crate::report::too_long(&e) {
                Some(why) => RunError::Usage(format!("{}:{}: {why}", path.display(), n + 1)),
                None => RunError::Usage(format!("{}: cannot read: {e}", path.display())),
            }
        })?;
        if read == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        if line.trim().is_empty() {
            continue;
        }
        let (l, kind) = parse(path, n + 1, &line)?;
        let (g, e) = slot(&mut groups, &mut index, &l, kind);
        if let Some(host) = &l.host
            && !groups[g].hosts.contains(host)
        {
            groups[g].hosts.insert(host.clone());
        }
        let entry = &mut groups[g].entries[e];
        entry.last = l.outcome;
        if !l.vendor_ids.is_empty() {
            entry.recorded.vendor_ids = l.vendor_ids;
        }
        if l.job_id.is_some() {
            entry.recorded.job = l.job_id;
        }
    }
    if groups.is_empty() {
        return Err(RunError::Usage(format!(
            "{}: the report has no lines: nothing to verify",
            path.display()
        )));
    }
    Ok(groups)
}

/// Report line `n` (1-based) and its kind, or why it is not a report line.
fn parse(path: &Path, n: usize, line: &str) -> Result<(Line, Kind), RunError> {
    let Ok(l) = serde_json::from_str::<Line>(line) else {
        // A torn last line of a killed run: the resume repairs it.
        return Err(RunError::Usage(format!(
            "{}:{n}: not a report line; if the run was killed while writing, run it again with --resume first",
            path.display(),
        )));
    };
    let kind = crate::services::kind_named(&l.kind).ok_or_else(|| {
        RunError::Usage(format!("{}:{n}: unknown kind {:?}", path.display(), l.kind))
    })?;
    Ok((l, kind))
}

/// Where a line's identifier is kept: (group, entry), both made on its first line.
fn slot(
    groups: &mut Vec<Group>,
    index: &mut HashMap<Key, (usize, usize)>,
    l: &Line,
    kind: Kind,
) -> (usize, usize) {
    let key_id = l.id_sha256.clone().or(l.id.clone()).unwrap_or_default();
    let key = (l.vendor.clone(), l.kind.clone(), key_id);
    if let Some(at) = index.get(&key) {
        return *at;
    }
    let g = match groups
        .iter()
        .position(|g| g.vendor == l.vendor && g.kind == kind)
    {
        Some(g) => g,
        None => {
            groups.push(Group {
                vendor: l.vendor.clone(),
                kind,
                entries: vec![],
                hosts: Default::default(),
            });
            groups.len() - 1
        }
    };
    groups[g].entries.push(Entry {
        id: l.id.clone(),
        sha256: l.id_sha256.clone(),
        last: l.outcome,
        recorded: Recorded::default(),
    });
    let at = (g, groups[g].entries.len() - 1);
    index.insert(key, at);
    at
}

/// Whether `purge verify` asks about an identifier with this last outcome.
fn to_check(s: Status) -> bool {
    matches!(
        s,
        Status::Deleted
            | Status::Queued
            | Status::NotFound
            | Status::Present
            | Status::Unverifiable
    )
}

/// The vendor's checks ([`Verifier`]) as the engine drives them: its reads, on
/// its lanes.
struct Verifying {
    inner: Arc<dyn Service>,
    /// Identifiers found still present by this pass (for `--wait`).
    present: Mutex<Vec<Ident>>,
}

impl Verifying {
    fn verifier(&self) -> Option<&dyn Verifier> {
        self.inner.verifier()
    }
}

impl Service for Verifying {
    fn profile(&self) -> &Profile {
        self.inner.profile()
    }
    fn batch_limit(&self, kind: Kind) -> usize {
        self.verifier().map_or(1, |v| v.verify_batch_limit(kind))
    }
    /// The engine starts work only for a plan (verify gives it none: its
    /// checks are built before the run, see [`checks`]) and for the halves of
    /// a [`Step::Split`], which [`Verifying::read`] never returns.
    fn start(&self, _kind: Kind, _batch: Vec<Ident>) -> Work {
        unreachable!("purge verify's checks are built by checks() and never split")
    }
    fn read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        let step = match self.verifier() {
            Some(v) => v.verify_read(kind, work, resp),
            None => Step::Done(crate::services::verify_unanswered(work, resp)),
        };
        // A check is a read: a batch refused as a whole is not split to find
        // a bad identifier, its identifiers are unverifiable for now.
        let step = match step {
            Step::Split { .. } => Step::Done(crate::services::verify_unanswered(work, resp)),
            other => other,
        };
        let done = match &step {
            Step::Done(d) | Step::Continue { done: d, .. } => d.as_slice(),
            _ => &[],
        };
        if let Ok(mut p) = self.present.lock() {
            p.extend(
                done.iter()
                    .filter(|o| o.status == Status::Present)
                    .map(|o| o.ident.clone()),
            );
        }
        step
    }
}

/// One (vendor, kind) of the report, ready to check.
struct Leg {
    target: Target,
    cfg: crate::config::RunConfig,
    service: Arc<Verifying>,
    /// The identifiers to ask about, with what the report recorded for them.
    todo: Vec<(Ident, Recorded)>,
    /// In the report only as SHA-256: `unverifiable`, written by hash.
    hashed: Vec<String>,
    /// What the report recorded for each identifier (for `--wait`'s re-checks).
    known: HashMap<String, Recorded>,
}

fn ident(value: &str, n: usize) -> Ident {
    Ident {
        value: value.to_string(),
        source: SourceRef {
            source: 0,
            line: n as u32 + 1,
        },
    }
}

/// The checks for `todo`, in batches; a batch the vendor cannot be asked
/// about ends `unverifiable` with the reason. Where the vendor's proof is the
/// recorded job, a person the report recorded none for is not asked about.
fn checks(
    service: &dyn Service,
    kind: Kind,
    proof: Proof,
    todo: &[(Ident, Recorded)],
) -> (Vec<Work>, Vec<Outcome>) {
    if proof == Proof::Job {
        let (with, without): (Vec<_>, Vec<_>) =
            todo.iter().cloned().partition(|(_, r)| r.job.is_some());
        let why = NoCheck::NoJob {
            job: "deletion job",
            why: "this vendor's proof is the status of the job a purge recorded; purge them again",
        }
        .to_string();
        let (works, mut decided) = asked(service, kind, &with);
        decided.extend(
            without
                .into_iter()
                .map(|(i, _)| Outcome::new(i, Status::Unverifiable, why.clone())),
        );
        return (works, decided);
    }
    asked(service, kind, todo)
}

/// The checks the vendor is asked for `todo`, in its batches.
fn asked(
    service: &dyn Service,
    kind: Kind,
    todo: &[(Ident, Recorded)],
) -> (Vec<Work>, Vec<Outcome>) {
    let Some(verifier) = service.verifier() else {
        let why = format!(
            "purge cannot ask {} whether identifiers of kind {kind} still exist",
            service.profile().display
        );
        let outs = todo
            .iter()
            .map(|(i, _)| Outcome::new(i.clone(), Status::Unverifiable, why.clone()))
            .collect();
        return (vec![], outs);
    };
    let limit = verifier.verify_batch_limit(kind).max(1);
    let mut works = vec![];
    let mut decided = vec![];
    for chunk in todo.chunks(limit) {
        let (ids, recorded) = chunk.iter().cloned().unzip();
        let check = ToVerify { ids, recorded };
        let batch = check.ids.clone();
        match verifier.verify_start(kind, check) {
            Ok(w) => works.push(w),
            Err(why) => decided.extend(
                batch
                    .into_iter()
                    .map(|i| Outcome::new(i, Status::Unverifiable, why.to_string())),
            ),
        }
    }
    (works, decided)
}

/// An interrupt to run under: each call gives the run-wide Ctrl-C as a future.
type Interrupt<'a> = &'a dyn Fn() -> Pin<Box<dyn Future<Output = Signal> + Send>>;

/// What a vendor is asked about, pass after pass.
type Asking = Vec<(Ident, Recorded)>;

/// `purge verify --report FILE [--config FILE] [--wait DURATION]`: the report's
/// vendors set up from the configuration file, every credential read, then
/// the first pass, and (with `--wait`) passes over the present ones, backing off.
pub fn verify(args: &Verify) -> Result<ExitCode, RunError> {
    let mut groups = read(&args.report)?;
    let config = config_file::load(args.config.as_deref())?;
    // Vendors in the order of the configuration file, whatever order their
    // lines reached the report in (`purge everywhere` runs them at once).
    groups.sort_by_key(|g| config.vendors.iter().position(|v| v.entry.name == g.vendor));
    let mut legs = groups
        .iter()
        .map(|g| leg_for(args, &config, g))
        .collect::<Result<Vec<Leg>, RunError>>()?;
    let people = people_asked(&groups);
    let (clients, hosts) = connect(&mut legs, &groups)?;
    let runtime = super::runtime()?;
    let signal = super::shared_interrupt(&runtime);
    let mut totals: Vec<Summary> = vec![];
    let mut reasons: Vec<Option<StopReason>> = vec![None; legs.len()];
    let deadline = args.wait.map(|w| std::time::Instant::now() + w);
    let mut todos: Vec<Asking> = legs
        .iter_mut()
        .map(|l| std::mem::take(&mut l.todo))
        .collect();
    for pass in 0u32.. {
        let this = Pass {
            runtime: &runtime,
            legs: &legs,
            clients: &clients,
            hosts: &hosts,
            report: &args.report,
            first: pass == 0,
        };
        let summaries = this.run(&todos, &mut reasons, &signal)?;
        totals = if totals.is_empty() {
            summaries
        } else {
            merge_pass(totals, summaries)
        };
        // --wait: the present ones again, until they are gone or time is up.
        let Some(deadline) = deadline else { break };
        todos = legs.iter().map(still_present).collect();
        let left: usize = todos.iter().map(Vec::len).sum();
        let pause = Duration::from_secs((1u64 << pass.min(6)).min(60));
        if left == 0
            || reasons.iter().any(Option::is_some)
            || std::time::Instant::now() + pause > deadline
        {
            break;
        }
        output::info(&format!(
            "{left} still present; asking again in {}s (--wait)",
            pause.as_secs()
        ));
        std::thread::sleep(pause);
    }
    Ok(super::everywhere::report_all(
        totals,
        reasons,
        "purge verify",
        people,
        args.output.json,
        Some(&args.report),
    ))
}

/// A group of the report set up as its vendor's table says, with the checks
/// wrapped as the service the engine drives.
fn leg_for(args: &Verify, config: &config_file::ConfigFile, g: &Group) -> Result<Leg, RunError> {
    let vc: &VendorConfig = config
        .vendors
        .iter()
        .find(|v| v.entry.name == g.vendor)
        .ok_or_else(|| {
            RunError::Usage(format!(
                "{} has {} lines, but {} has no [{}] table: add one (its settings and credential are what verify uses)",
                args.report.display(),
                g.vendor,
                config.path.display(),
                g.vendor
            ))
        })?;
    let mut target = Target::new(vc.entry, &vc.matches)?;
    target.kind = g.kind;
    target.kind_spec = *target
        .service
        .profile()
        .kind_spec(g.kind)
        .ok_or_else(|| RunError::Usage(format!("{} has no kind {}", g.vendor, g.kind)))?;
    let mut common = vc.common.clone();
    common.run = crate::cli::RunArgs {
        report: Some(args.report.clone()),
        resume: true,
        output: args.output.clone(),
        yes: true,
        ..Default::default()
    };
    // Many small reads: as many in flight as the vendor's checks need to
    // keep up with its quota, unless the table sets --concurrency.
    if common.concurrency.is_none() {
        common.concurrency = target
            .service
            .verifier()
            .and_then(|v| v.verify_concurrency(g.kind))
            .and_then(|n| u32::try_from(n).ok());
    }
    let mut cfg = crate::config::RunConfig::from(common);
    cfg.base_url_origin = format!(
        "set by base-url in {}:{} [{}]",
        config.path.display(),
        vc.line,
        g.vendor
    );
    let mut todo = vec![];
    let mut hashed = vec![];
    for (n, e) in g.entries.iter().enumerate() {
        if !to_check(e.last) {
            continue;
        }
        match &e.id {
            Some(value) => todo.push((ident(value, n), e.recorded.clone())),
            None => hashed.push(e.sha256.clone().unwrap_or_default()),
        }
    }
    let service = Arc::new(Verifying {
        inner: Arc::clone(&target.service),
        present: Mutex::new(vec![]),
    });
    target.service = Arc::clone(&service) as Arc<dyn Service>;
    let known = todo
        .iter()
        .map(|(i, r)| (i.value.clone(), r.clone()))
        .collect();
    Ok(Leg {
        target,
        cfg,
        service,
        todo,
        hashed,
        known,
    })
}

/// People, not vendor records: each identifier asked about counts once, at
/// however many vendors. Those the report holds only hashed are said.
fn people_asked(groups: &[Group]) -> u64 {
    let entries = || {
        groups
            .iter()
            .flat_map(|g| &g.entries)
            .filter(|e| to_check(e.last))
    };
    let people = entries()
        .filter_map(|e| e.sha256.as_ref().or(e.id.as_ref()))
        .collect::<std::collections::HashSet<_>>()
        .len() as u64;
    let hashed = entries().filter(|e| e.id.is_none()).count();
    if hashed > 0 {
        output::warn(&format!(
            "{hashed} identifier(s) are in the report only as SHA-256 (--hash-ids): they cannot be asked about and are reported unverifiable"
        ));
    }
    people
}

/// Each vendor's transport, and the host it reaches.
type Connected = (Vec<Arc<dyn Transport>>, Vec<String>);

/// Every vendor's credential and endpoint first (the host the report's lines
/// went to): its transport and host, or nothing is asked.
fn connect(legs: &mut [Leg], groups: &[Group]) -> Result<Connected, RunError> {
    let mut clients: Vec<Arc<dyn Transport>> = vec![];
    let mut hosts = vec![];
    let mut missing = vec![];
    for (leg, group) in legs.iter_mut().zip(groups) {
        match super::everywhere::table_credential(&mut leg.target, &leg.cfg) {
            Ok(cred) => {
                let base = leg.target.base(&leg.cfg, Some(&cred))?;
                let recorded = Todo {
                    report: Report::none(leg.target.service.profile().vendor, group.kind, false),
                    fresh: vec![],
                    resumed: vec![],
                    hosts: group.hosts.clone(),
                };
                recorded.check_host(&base, leg.target.display(), &leg.cfg)?;
                hosts.push(base.host_str().unwrap_or_default().to_string());
                clients.push(Arc::new(HttpClient::new(
                    base,
                    &cred,
                    leg.cfg.send.timeout,
                )?));
            }
            Err(why) => missing.push(format!("{}: {why}", leg.target.display())),
        }
    }
    if !missing.is_empty() {
        return Err(RunError::Usage(format!(
            "nothing was asked: {}",
            missing.join("; ")
        )));
    }
    Ok((clients, hosts))
}

/// The identifiers a leg's last pass found still present, with what the
/// report recorded for them.
fn still_present(l: &Leg) -> Asking {
    let present = l
        .service
        .present
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    present
        .into_iter()
        .map(|i| {
            let v = l.known.get(&i.value).cloned().unwrap_or_default();
            (i, v)
        })
        .collect()
}

/// One pass: every vendor asked at once, each into the report.
struct Pass<'a> {
    runtime: &'a tokio::runtime::Runtime,
    legs: &'a [Leg],
    clients: &'a [Arc<dyn Transport>],
    hosts: &'a [String],
    report: &'a Path,
    /// The first pass also writes the hashed identifiers' `unverifiable`.
    first: bool,
}

impl Pass<'_> {
    fn run(
        &self,
        todos: &[Asking],
        reasons: &mut [Option<StopReason>],
        signal: Interrupt<'_>,
    ) -> Result<Vec<Summary>, RunError> {
        let runs: Vec<(&'static str, Kind)> = self
            .legs
            .iter()
            .map(|l| (l.target.service.profile().vendor, l.target.kind))
            .collect();
        let (mut reports, priors) = Report::open_shared(self.report, true, &runs, false)?;
        let mut handles = vec![];
        for (i, leg) in self.legs.iter().enumerate() {
            let mut report = reports.remove(0);
            // The people's references (`ref`) on the verification's lines too.
            report.set_refs(&HashMap::new(), &priors[i]);
            let (run, works) = self.vendor_run(i, leg, report, &todos[i])?;
            let sig = signal();
            handles.push(self.runtime.spawn(async move {
                let VendorRun { mut parts, .. } = run;
                let asking: usize = works.iter().map(|w| w.ids.len()).sum();
                parts.progress = output::progress(asking as u64, parts.service.profile().vendor);
                Engine::new(parts).run(vec![], works.into_iter(), sig).await
            }));
        }
        let mut summaries = vec![];
        for (i, h) in handles.into_iter().enumerate() {
            let (summary, reason) = self
                .runtime
                .block_on(h)
                .map_err(|e| RunError::Runtime(std::io::Error::other(e.to_string())))?;
            if reason.is_some() {
                reasons[i] = reason;
            }
            summaries.push(summary);
        }
        Ok(summaries)
    }

    /// Leg `i`'s run for this pass: the checks it sends, and the outcomes
    /// decided without asking (and, first, the hashed ones) written at once.
    fn vendor_run(
        &self,
        i: usize,
        leg: &Leg,
        mut report: Report,
        todo: &Asking,
    ) -> Result<(VendorRun, Vec<Work>), RunError> {
        let mut summary = Summary {
            vendor: leg.target.service.profile().vendor.to_string(),
            kind: leg.target.kind.to_string(),
            report: Some(self.report.display().to_string()),
            ..Summary::default()
        };
        let (works, decided) = checks(
            leg.service.inner.as_ref(),
            leg.target.kind,
            leg.target.entry().proof,
            todo,
        );
        summary.identifiers = todo.len() as u64;
        if self.first {
            summary.identifiers += leg.hashed.len() as u64;
            for h in &leg.hashed {
                report.write_hashed(
                    h,
                    Status::Unverifiable,
                    "the report holds only the SHA-256 of the identifier (--hash-ids): the vendor can only be asked with the identifier itself",
                )?;
                summary.count(Status::Unverifiable);
            }
        }
        for o in &decided {
            report.write(o, None)?;
            summary.count(o.status);
        }
        report.flush()?;
        report.set_host(&self.hosts[i]);
        report.set_operator(&super::os_user());
        leg.service.present.lock().map(|mut p| p.clear()).ok();
        let todo = Todo {
            report,
            fresh: vec![],
            resumed: vec![],
            hosts: Default::default(),
        };
        let run = VendorRun::new(
            &leg.target,
            &leg.cfg,
            Arc::clone(&self.clients[i]),
            summary,
            todo,
        );
        Ok((run, works))
    }
}

/// A later pass's counts folded into the first's: an identifier asked again
/// moves from `present` to what the later pass found.
fn merge_pass(mut first: Vec<Summary>, later: Vec<Summary>) -> Vec<Summary> {
    for (f, l) in first.iter_mut().zip(later) {
        let asked = l.verified + l.present + l.unverifiable;
        f.present = f.present.saturating_sub(asked) + l.present;
        f.verified += l.verified;
        f.unverifiable += l.unverifiable;
        f.requests += l.requests;
        f.attempts += l.attempts;
        f.retries += l.retries;
        f.throttled += l.throttled;
        f.wait_seconds += l.wait_seconds;
        f.elapsed_seconds += l.elapsed_seconds;
        if l.stopped.is_some() {
            f.stopped = l.stopped;
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::{Method, Request, Stage};

    /// A vendor whose proof is its deletion task's status: its check reads
    /// the recorded job (`GET /tasks/{job}`), and it has no purge here.
    struct ByJob(Profile);

    impl Service for ByJob {
        fn profile(&self) -> &Profile {
            &self.0
        }
        fn batch_limit(&self, _kind: Kind) -> usize {
            1
        }
        fn start(&self, _kind: Kind, _batch: Vec<Ident>) -> Work {
            unreachable!("not purged in this test")
        }
        fn read(&self, _kind: Kind, _work: &Work, _resp: &Response) -> Step {
            unreachable!("not purged in this test")
        }
        fn verifier(&self) -> Option<&dyn Verifier> {
            Some(self)
        }
    }

    impl Verifier for ByJob {
        fn verify_start(&self, _kind: Kind, check: ToVerify) -> Result<Work, NoCheck> {
            let jobs = check.jobs();
            let Some((_, job)) = jobs.first() else {
                return Err(NoCheck::NoJob {
                    job: "job",
                    why: "purge them again",
                });
            };
            let request = Request::new(Method::Get, format!("/tasks/{job}"));
            Ok(Work::new(check.ids, request, Stage::Check))
        }
        fn verify_read(&self, _kind: Kind, _work: &Work, _resp: &Response) -> Step {
            Step::Done(vec![])
        }
    }

    fn by_job() -> ByJob {
        ByJob(Profile {
            vendor: "tasks",
            display: "Tasks",
            kinds: &[],
            lanes: vec![],
            max_open_jobs: None,
        })
    }

    /// Trap 6: the job a report line recorded reaches the vendor's check,
    /// beside its vendor ids; an identifier without one is unverifiable with
    /// the vendor's reason.
    #[test]
    fn a_check_that_reads_the_job_is_given_the_recorded_job() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let line = |id: &str, extra: &str| {
            format!(
                r#"{{"vendor":"tasks","kind":"id","id":"{id}","outcome":"queued","at":"2026-11-24T21:40:03Z"{extra}}}"#
            )
        };
        let text = [
            line("p-1", r#","job_id":"T-77","vendor_ids":["v-1"]"#),
            line("p-2", ""),
        ]
        .join("\n");
        std::fs::write(&path, text + "\n").unwrap();
        let groups = read(&path).unwrap();
        let todo: Vec<(Ident, Recorded)> = groups[0]
            .entries
            .iter()
            .enumerate()
            .map(|(n, e)| (ident(e.id.as_deref().unwrap(), n), e.recorded.clone()))
            .collect();
        assert_eq!(todo[0].1.job.as_deref(), Some("T-77"));
        assert_eq!(todo[0].1.vendor_ids, ["v-1"]);
        let (works, decided) = checks(&by_job(), Kind::Id, Proof::Job, &todo);
        assert_eq!(works.len(), 1);
        assert_eq!(works[0].request.path_and_query, "/tasks/T-77");
        assert_eq!(works[0].stage, Stage::Check);
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0].status, Status::Unverifiable);
        // Not asked about: the vendor's proof is the job, and none is recorded
        // (decided before the adapter, whose own refusal says otherwise).
        assert_eq!(
            decided[0].detail,
            "no deletion job is recorded for these people: this vendor's proof is the status of the job a purge recorded; purge them again"
        );
    }

    /// A vendor that offers no checks: every identifier unverifiable, nothing sent.
    #[test]
    fn a_vendor_without_checks_leaves_everyone_unverifiable() {
        struct NoChecks(ByJob);
        impl Service for NoChecks {
            fn profile(&self) -> &Profile {
                self.0.profile()
            }
            fn batch_limit(&self, kind: Kind) -> usize {
                self.0.batch_limit(kind)
            }
            fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work {
                self.0.start(kind, batch)
            }
            fn read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
                self.0.read(kind, work, resp)
            }
        }
        let todo = vec![(ident("p-1", 0), Recorded::default())];
        let (works, decided) = checks(&NoChecks(by_job()), Kind::Id, Proof::Nothing, &todo);
        assert!(works.is_empty());
        assert!(
            decided[0].detail.contains("purge cannot ask Tasks"),
            "{decided:?}"
        );
    }
}
