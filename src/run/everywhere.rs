//! `purge everywhere`: one list of people erased from every vendor of the
//! configuration file in one run. The same phases as a one-vendor run, done for
//! every vendor before the next phase starts: nothing is deleted anywhere until
//! every vendor's identifiers are read, its credential is present and accepted,
//! and the one confirmation is given. Then the vendors run at once, each through
//! its own lanes, into one report.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use url::Url;

use super::{RunError, Target, Todo, VendorRun};
use crate::cli::{Common, Everywhere, RunArgs};
use crate::config::RunConfig;
use crate::config_file::{self, VendorConfig};
use crate::engine::StopReason;
use crate::exit::ExitCode;
use crate::http::lane::{Lane, SendError, Stop};
use crate::http::{HttpClient, Transport};
use crate::input::Loaded;
use crate::output;
use crate::report::{Report, Summary};
use crate::services::{Credential, Endpoint, Kind, Request, Response, Service, Status};

/// A vendor's endpoint and the transport that reaches it.
type Client = (Url, Arc<dyn Transport>);

/// One configured vendor, through the phases.
struct Leg {
    target: Target,
    cfg: RunConfig,
    /// Where its credential comes from, for `--check` and errors.
    source: String,
}

/// `purge everywhere …`: each phase done for every vendor before the next.
pub fn everywhere(args: &Everywhere) -> Result<ExitCode, RunError> {
    let config = config_file::load(args.config.as_deref())?;
    let mut legs = legs_of(&config, args)?;
    if args.check {
        return check(&mut legs, args.run.output.json);
    }
    let plans = read_lists(&legs)?;
    if args.run.dry_run {
        return dry_run(&legs, plans);
    }
    let clients = connect(&mut legs)?;
    let runtime = super::runtime()?;
    // The credential accepted, where the run reads anyway.
    let checks = runtime.block_on(preflight(&legs, &clients));
    if let Some(code) = refused(&checks, &legs, args.run.output.json) {
        return Ok(code);
    }
    let people = people_in(&plans);
    let (todos, summaries) = open_report(&legs, plans, args)?;
    for ((leg, (base, _)), todo) in legs.iter().zip(&clients).zip(&todos) {
        todo.check_host(base, leg.target.display(), &leg.cfg)?;
    }
    if todos.iter().all(|t| t.open_count() == 0) {
        output::info("nothing left to send at any vendor");
        return Ok(report_all(
            summaries,
            vec![None; legs.len()],
            "purge everywhere",
            people,
            args.run.output.json,
            args.run.report.as_deref(),
        ));
    }
    let todos = confirm_all(&legs, &clients, todos, args.run.yes)?;
    let (summaries, reasons) = execute_all(&runtime, &legs, clients, todos, summaries)?;
    let code = report_all(
        summaries,
        reasons,
        "purge everywhere",
        people,
        args.run.output.json,
        args.run.report.as_deref(),
    );
    verify_after(args, code)
}

/// Every vendor of the file that takes part, with its run configuration (a
/// vendor left out is said, once).
fn legs_of(config: &config_file::ConfigFile, args: &Everywhere) -> Result<Vec<Leg>, RunError> {
    let stdin = stdin_once(args, config.vendors.len())?;
    let inputs = args.run.inputs.clone();
    let mut legs = vec![];
    for vc in &config.vendors {
        if let Some(why) = &vc.left_out {
            let place = format!("{}:{}", config.path.display(), vc.line);
            output::warn(&format!("{place} [{}]: {why}", vc.entry.name));
            continue;
        }
        let mut leg = leg(vc, args, &inputs, &config.path)?;
        leg.cfg.input.stdin = stdin.clone();
        legs.push(leg);
    }
    if legs.is_empty() {
        return Err(RunError::Usage(format!(
            "{}: every vendor was left out (none can look people up by e-mail): set kind in their tables",
            config.path.display()
        )));
    }
    Ok(legs)
}

/// Every vendor's identifiers, read once per kind and column.
fn read_lists(legs: &[Leg]) -> Result<Vec<Loaded>, RunError> {
    let mut loads: HashMap<(Kind, Option<String>), Loaded> = HashMap::new();
    let mut plans = vec![];
    for leg in legs {
        let key = (
            leg.target.kind,
            leg.cfg.input.column.as_ref().map(|c| format!("{c:?}")),
        );
        let loaded = match loads.get(&key) {
            Some(l) => l.clone(),
            None => {
                let l = super::load(&leg.target, &leg.cfg)?;
                loads.insert(key, l.clone());
                l
            }
        };
        plans.push(loaded);
    }
    Ok(plans)
}

/// Every vendor's credential and endpoint before anything else; the run stops
/// with nothing sent if any is missing.
fn connect(legs: &mut [Leg]) -> Result<Vec<Client>, RunError> {
    let mut creds = vec![];
    let mut missing = vec![];
    for leg in legs.iter_mut() {
        match credential(leg) {
            Ok(c) => creds.push(Some(c)),
            Err(why) => {
                missing.push(format!("{}: {why}", leg.target.display()));
                creds.push(None);
            }
        }
    }
    if !missing.is_empty() {
        return Err(RunError::Usage(format!(
            "nothing was sent to any vendor: {}",
            missing.join("; ")
        )));
    }
    let creds: Vec<Credential> = creds.into_iter().flatten().collect();
    let mut clients = vec![];
    for (leg, cred) in legs.iter().zip(&creds) {
        let base = leg.target.base(&leg.cfg, Some(cred))?;
        clients.push((
            base.clone(),
            Arc::new(HttpClient::new(base, cred, leg.cfg.send.timeout)?) as Arc<dyn Transport>,
        ));
    }
    Ok(clients)
}

/// The exit code when any vendor refused its preflight read (each refusal
/// said): nothing is deleted at any vendor.
fn refused(checks: &[Result<(), Refusal>], legs: &[Leg], json: bool) -> Option<ExitCode> {
    let refusals: Vec<(&Leg, &Refusal)> = checks
        .iter()
        .zip(legs)
        .filter_map(|(c, leg)| c.as_ref().err().map(|r| (leg, r)))
        .collect();
    let code = refusals.iter().map(|(_, r)| r.code).max()?;
    let why: Vec<String> = refusals
        .iter()
        .map(|(leg, r)| format!("{}: {}", leg.target.display(), r.why))
        .collect();
    let message = format!("nothing was deleted at any vendor: {}", why.join("; "));
    output::error(&message);
    if json {
        super::json_error(&message, code);
    }
    Some(code)
}

/// One report for every vendor, and what each has left to do.
fn open_report(
    legs: &[Leg],
    plans: Vec<Loaded>,
    args: &Everywhere,
) -> Result<(Vec<Todo>, Vec<Summary>), RunError> {
    let runs: Vec<(&'static str, Kind)> = legs
        .iter()
        .map(|l| (l.target.service.profile().vendor, l.target.kind))
        .collect();
    let opened = match &args.run.report {
        Some(path) => Some(Report::open_shared(
            path,
            args.run.resume,
            &runs,
            args.run.hash_ids,
        )?),
        None => None,
    };
    let (mut reports, mut priors) = opened.map_or((vec![], vec![]), |(r, p)| (r, p));
    let mut todos = vec![];
    let mut summaries = vec![];
    for (i, (leg, loaded)) in legs.iter().zip(plans).enumerate() {
        let mut summary = super::new_summary(&leg.target, &leg.cfg, &loaded);
        let invalid = super::invalid_outcomes(&loaded);
        let (report, prior) = if reports.is_empty() {
            let (vendor, kind) = runs[i];
            (
                Report::none(vendor, kind, args.run.hash_ids),
                Default::default(),
            )
        } else {
            (reports.remove(0), priors.remove(0))
        };
        let mut report = report;
        report.set_refs(&loaded.refs, &prior);
        let todo = super::merge_prior(
            &leg.target,
            &leg.cfg,
            loaded.idents,
            invalid,
            &mut summary,
            report,
            prior,
        )?;
        todos.push(todo);
        summaries.push(summary);
    }
    Ok((todos, summaries))
}

/// The one confirmation (or, with `--yes`, each vendor's expected duration);
/// a refusal removes the report this run created.
fn confirm_all(
    legs: &[Leg],
    clients: &[Client],
    todos: Vec<Todo>,
    yes: bool,
) -> Result<Vec<Todo>, RunError> {
    if !yes {
        if let Err(e) = confirm(legs, clients, &todos) {
            // One shared file: discarding one writer's removes it.
            if let Some(todo) = todos.into_iter().next() {
                todo.report.discard();
            }
            return Err(e);
        }
        return Ok(todos);
    }
    for (leg, todo) in legs.iter().zip(&todos) {
        if let Some(d) = super::expected_duration(&leg.target, &leg.cfg, todo.fresh.len()) {
            output::info(&format!(
                "{}: expected duration: {d}",
                leg.target.service.profile().vendor
            ));
        }
    }
    Ok(todos)
}

/// Every vendor at once, in one runtime; one Ctrl-C drains them all.
fn execute_all(
    runtime: &tokio::runtime::Runtime,
    legs: &[Leg],
    clients: Vec<Client>,
    todos: Vec<Todo>,
    summaries: Vec<Summary>,
) -> Result<(Vec<Summary>, Vec<Option<StopReason>>), RunError> {
    let signal = super::shared_interrupt(runtime);
    let mut handles = vec![];
    for ((leg, (base, transport)), (mut todo, summary)) in legs
        .iter()
        .zip(clients)
        .zip(todos.into_iter().zip(summaries))
    {
        todo.report.set_host(base.host_str().unwrap_or_default());
        todo.report.set_operator(&super::os_user());
        let run = VendorRun::new(&leg.target, &leg.cfg, transport, summary, todo);
        handles.push(runtime.spawn(super::execute(run, signal())));
    }
    let mut summaries = vec![];
    let mut reasons = vec![];
    for h in handles {
        let (summary, reason) = runtime
            .block_on(h)
            .map_err(|e| RunError::Runtime(std::io::Error::other(e.to_string())))?;
        if let Some(r) = &reason {
            output::error(&format!("{}: {}", summary.vendor, r.describe()));
        }
        summaries.push(summary);
        reasons.push(reason);
    }
    Ok((summaries, reasons))
}

/// `--verify`: the report just written, verified (unless the run was stopped).
fn verify_after(args: &Everywhere, code: ExitCode) -> Result<ExitCode, RunError> {
    match (&args.run.report, args.verify) {
        (Some(report), true) if code != ExitCode::Interrupted && code != ExitCode::Terminated => {
            let verify = crate::cli::Verify {
                report: report.clone(),
                config: args.config.clone(),
                wait: args.wait,
                output: args.run.output.clone(),
            };
            Ok(code.max(super::verify::verify(&verify)?))
        }
        _ => Ok(code),
    }
}

/// A vendor's table and the run's own flags → its target and run configuration.
fn leg(
    vc: &VendorConfig,
    args: &Everywhere,
    inputs: &[PathBuf],
    config: &Path,
) -> Result<Leg, RunError> {
    let name = vc.entry.name;
    let target = Target::new(vc.entry, &vc.matches)
        .map_err(|e| RunError::Usage(format!("{}:{}: [{name}]: {e}", config.display(), vc.line)))?;
    let table: &Common = &vc.common;
    let mut common = table.clone();
    // The run's flags come from the command line; a table may name its column and format.
    common.run = RunArgs {
        inputs: inputs.to_vec(),
        column: table.run.column.clone().or_else(|| args.run.column.clone()),
        format: table.run.format.or(args.run.format),
        ..args.run.clone()
    };
    let mut cfg = RunConfig::from(common);
    cfg.base_url_origin = format!(
        "set by base-url in {}:{} [{name}]",
        config.display(),
        vc.line
    );
    let source = target.credential_origin(&cfg);
    Ok(Leg {
        target,
        cfg,
        source,
    })
}

/// Read one vendor's credential (missing: why, naming the variable).
fn credential(leg: &mut Leg) -> Result<Credential, String> {
    table_credential(&mut leg.target, &leg.cfg)
}

/// A vendor's credential for a command configured by `purge.toml` (`everywhere`,
/// `verify`), its endpoint checked with it; a token file is named in the
/// vendor's table there, so the message says so.
pub(super) fn table_credential(target: &mut Target, cfg: &RunConfig) -> Result<Credential, String> {
    let read = target
        .credential
        .take()
        .ok_or_else(|| "the credential was already read".to_string())?;
    let cred =
        read(cfg.token_file.as_deref()).map_err(|e| e.in_table(target.service.profile().vendor))?;
    target.base(cfg, Some(&cred)).map_err(|e| e.to_string())?;
    Ok(cred)
}

/// Why a vendor's preflight read did not pass, and how the run exits for it.
#[derive(Debug, Clone, PartialEq)]
struct Refusal {
    code: ExitCode,
    why: String,
}

impl Refusal {
    fn fatal(why: String) -> Self {
        Refusal {
            code: ExitCode::Fatal,
            why,
        }
    }
}

/// Send each vendor's preflight read (if it has one) at once, through the
/// vendor's lane like every other request (its quota, a 429 waited out): `Ok`
/// when the answer shows a usable credential.
async fn preflight(
    legs: &[Leg],
    clients: &[(Url, Arc<dyn Transport>)],
) -> Vec<Result<(), Refusal>> {
    let mut handles = vec![];
    for (leg, (_, transport)) in legs.iter().zip(clients) {
        let service = Arc::clone(&leg.target.service);
        let request = service.preflight(leg.target.kind);
        let lanes = request.as_ref().map(|r| {
            let stats = Arc::default();
            let lanes = super::lanes(&leg.target, &leg.cfg, transport, &stats, &Stop::default());
            Arc::clone(&lanes[r.lane.min(lanes.len() - 1)])
        });
        handles.push(tokio::spawn(async move {
            match (request, lanes) {
                (Some(request), Some(lane)) => check_credential(&*service, &request, &lane).await,
                _ => Ok(()),
            }
        }));
    }
    let mut out = vec![];
    for h in handles {
        out.push(
            h.await
                .unwrap_or_else(|e| Err(Refusal::fatal(e.to_string()))),
        );
    }
    out
}

/// Send one preflight read through `lane` and judge its answer.
async fn check_credential(
    service: &dyn Service,
    request: &Request,
    lane: &Lane,
) -> Result<(), Refusal> {
    let what = format!("{} {}", request.method.as_str(), request.path_and_query);
    match lane.send(request, "preflight").await {
        Ok(raw) => {
            let resp = Response {
                status: raw.status,
                body: raw.body.clone(),
            };
            match raw.status {
                200..=299 => service
                    .preflight_ok(&resp)
                    .map_err(|e| Refusal::fatal(e.to_string())),
                s => Err(Refusal::fatal(format!(
                    "could not check the credential: {what} answered {s}: {}",
                    resp.snippet()
                ))),
            }
        }
        Err(SendError::Fatal(f)) if matches!(f.status, 401 | 403) => Err(Refusal::fatal(format!(
            "the credential was refused ({} for {what}): check the token and its permissions",
            f.status
        ))),
        Err(SendError::Fatal(f)) => Err(Refusal::fatal(format!(
            "{what} was redirected ({}): purge never follows redirects; check the base URL",
            f.status
        ))),
        Err(SendError::WaitTooLong { wait }) => Err(Refusal {
            code: ExitCode::MaxWait,
            why: format!(
                "could not check the credential: {what}: the vendor asks to wait {}s, more than --max-wait; run again later",
                wait.as_secs()
            ),
        }),
        Err(SendError::Exhausted(e)) => Err(Refusal::fatal(format!(
            "could not check the credential: {what}: {e}"
        ))),
        Err(SendError::Stopped) => Err(Refusal::fatal(format!(
            "could not check the credential: {what}: stopped"
        ))),
    }
}

/// One vendor's line of `--check`.
#[derive(Serialize)]
struct CheckRow {
    vendor: &'static str,
    #[serde(skip)]
    display: &'static str,
    host: String,
    credential: String,
    /// `ok`, `unchecked` (present; the run sends no read to try it on),
    /// `missing` or `refused`.
    state: &'static str,
    status: String,
    #[serde(skip)]
    code: ExitCode,
}

/// `--check`: credentials and endpoints only, as a table (with `--json`, one
/// object: a part per vendor, and the exit code).
fn check(legs: &mut [Leg], json: bool) -> Result<ExitCode, RunError> {
    let (mut rows, clients) = check_credentials(legs)?;
    let runtime = super::runtime()?;
    for ((leg, row), client) in legs.iter().zip(&mut rows).zip(clients) {
        let Some(c) = client else {
            continue;
        };
        row.host = format!("{} ({})", host_port(&c.0), leg.target.host_origin(&leg.cfg));
        let one = runtime.block_on(preflight(std::slice::from_ref(leg), &[c]));
        (row.state, row.status) = match &one[0] {
            Ok(()) if leg.target.service.preflight(leg.target.kind).is_some() => {
                ("ok", "ok".into())
            }
            // Never "ok": a wrong credential is only found out by the first deletion.
            Ok(()) => (
                "unchecked",
                format!(
                    "present, not checked ({} -k {} sends no read to try it on)",
                    leg.target.display(),
                    leg.target.kind
                ),
            ),
            Err(r) => {
                row.code = r.code;
                ("refused", r.why.clone())
            }
        };
    }
    let code = rows.iter().map(|r| r.code).max().unwrap_or(ExitCode::Ok);
    if json {
        output::data_line(&serde_json::json!({"vendors": rows, "exit_code": code}).to_string());
        return Ok(code);
    }
    print_check_table(&rows)?;
    Ok(code)
}

/// Every vendor's credential read (a client for each that has one), and its
/// row of `--check` so far.
#[allow(clippy::type_complexity)]
fn check_credentials(
    legs: &mut [Leg],
) -> Result<(Vec<CheckRow>, Vec<Option<(Url, Arc<dyn Transport>)>>), RunError> {
    let mut rows = vec![];
    let mut clients = vec![];
    for leg in legs.iter_mut() {
        let origin = leg.target.host_origin(&leg.cfg);
        let host = match (&leg.cfg.base_url, &leg.target.endpoint) {
            (Some(u), _) | (None, Endpoint::Url(u)) => Url::parse(u).map_or_else(
                |_| "?".to_string(),
                |u| format!("{} ({origin})", host_port(&u)),
            ),
            _ => "?".to_string(),
        };
        let (state, status, code) = match credential(leg) {
            Ok(cred) => {
                let base = leg.target.base(&leg.cfg, Some(&cred))?;
                let client = HttpClient::new(base.clone(), &cred, leg.cfg.send.timeout)?;
                clients.push(Some((base, Arc::new(client) as Arc<dyn Transport>)));
                ("ok", String::new(), ExitCode::Ok)
            }
            Err(why) => {
                clients.push(None);
                ("missing", why, ExitCode::Usage)
            }
        };
        rows.push(CheckRow {
            vendor: leg.target.service.profile().vendor,
            display: leg.target.display(),
            host,
            credential: leg.source.clone(),
            state,
            status,
            code,
        });
    }
    Ok((rows, clients))
}

/// `--check`'s table on stdout, columns sized to their content.
fn print_check_table(rows: &[CheckRow]) -> Result<(), RunError> {
    let cells: Vec<[&str; 4]> = std::iter::once(["vendor", "host", "credential", "status"])
        .chain(rows.iter().map(|r| {
            [
                r.display,
                r.host.as_str(),
                r.credential.as_str(),
                r.status.as_str(),
            ]
        }))
        .collect();
    let width = |c: usize| {
        cells
            .iter()
            .map(|r| r[c].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = String::new();
    for r in &cells {
        out.push_str(&format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            r[0], r[1], r[2], r[3]
        ));
    }
    let mut stdout = output::stdout();
    use std::io::Write;
    stdout
        .write_all(output::escape(&out).as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(RunError::Stdout)
}

/// `host` or `host:port` of a base URL.
fn host_port(u: &Url) -> String {
    let host = u.host_str().unwrap_or_default();
    match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// One question for every vendor, on the terminal.
fn confirm(
    legs: &[Leg],
    clients: &[(Url, Arc<dyn Transport>)],
    todos: &[Todo],
) -> Result<(), RunError> {
    let mut lines = vec![];
    let mut total = 0;
    for ((leg, (base, _)), todo) in legs.iter().zip(clients).zip(todos) {
        let n = todo.open_count();
        if n == 0 {
            continue;
        }
        total += n;
        let service = &leg.target.service;
        let mut note: String = service
            .erasure_note()
            .into_iter()
            .chain(service.scale_note(leg.target.kind, n))
            .map(|n| format!("\n      {n}"))
            .collect();
        if let Some(d) = super::expected_duration(&leg.target, &leg.cfg, todo.fresh.len()) {
            note.push_str(&format!("\n      expected duration: {d}"));
        }
        lines.push(format!(
            "  {:<14} {} people ({}), {} ({}), credential from {}{note}",
            leg.target.display(),
            n,
            leg.target.kind,
            host_port(base),
            leg.target.host_origin(&leg.cfg),
            leg.source,
        ));
    }
    // People, not vendor records: one person at four vendors is one person.
    let people = distinct_people(todos);
    let at = people_at(people as u64, lines.len(), total as u64);
    super::confirm::ask_text(
        &format!(
            "About to delete {at}:\n{}\nThis cannot be undone.",
            lines.join("\n")
        ),
        &format!("refusing to delete {at} without confirmation"),
    )
}

/// "40 people at 4 vendors: 160 vendor outcomes": people, not vendor records.
pub(super) fn people_at(people: u64, vendors: usize, outcomes: u64) -> String {
    format!(
        "{people} {} at {vendors} vendor{}: {outcomes} vendor outcome{}",
        if people == 1 { "person" } else { "people" },
        if vendors == 1 { "" } else { "s" },
        if outcomes == 1 { "" } else { "s" },
    )
}

/// The distinct people (identifiers) every vendor still has to do.
fn distinct_people(todos: &[Todo]) -> usize {
    let mut seen = std::collections::HashSet::new();
    for todo in todos {
        let resumed = todo.resumed.iter().flat_map(|w| &w.ids);
        for id in todo.fresh.iter().chain(resumed) {
            seen.insert(id.value.as_str());
        }
    }
    seen.len()
}

/// The people of the vendors' lists: each identifier once, whatever the
/// number of vendors it is sent to, and each invalid row once (by its place).
fn people_in(plans: &[Loaded]) -> u64 {
    let mut seen = std::collections::HashSet::new();
    for loaded in plans {
        seen.extend(loaded.idents.iter().map(|i| i.value.clone()));
        seen.extend(
            loaded
                .rejected
                .iter()
                .map(|r| format!("\0{}", loaded.place(r.source))),
        );
    }
    seen.len() as u64
}

/// `--dry-run`: every vendor's requests, grouped by vendor.
fn dry_run(legs: &[Leg], plans: Vec<Loaded>) -> Result<ExitCode, RunError> {
    let mut code = ExitCode::Ok;
    for (leg, loaded) in legs.iter().zip(plans) {
        let mut summary = super::new_summary(&leg.target, &leg.cfg, &loaded);
        let base = match (&leg.cfg.base_url, &leg.target.endpoint) {
            (None, Endpoint::Missing { why, placeholder }) => {
                summary.notes.push(format!(
                    "dry run against the placeholder host of {placeholder}: {why}"
                ));
                crate::http::check_base_url(placeholder).map_err(RunError::Usage)?
            }
            (None, Endpoint::FromCredential(_)) => {
                crate::http::check_base_url("https://from-the-credential.invalid")
                    .map_err(RunError::Usage)?
            }
            _ => leg.target.base(&leg.cfg, None)?,
        };
        if !leg.cfg.output.json {
            output::data_line(&format!("# {}", leg.target.service.profile().vendor));
        }
        let invalid = super::invalid_outcomes(&loaded);
        let c = super::dry_run::run(
            &leg.target,
            &base,
            loaded.idents,
            invalid,
            summary,
            &leg.cfg,
        )?;
        code = code.max(c);
    }
    Ok(code)
}

/// The `--json` summary of a run at several vendors.
#[derive(Serialize)]
struct Everything {
    /// People, not vendor records: each person once, at however many vendors.
    people: u64,
    vendors: Vec<Summary>,
    total: Traffic,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<String>,
    exit_code: ExitCode,
}

/// What a run cost at the vendors: requests, retries, answers 429, time
/// waiting on rate limits, time taken (per vendor, the fields of its
/// [`Summary`]; here for the run).
#[derive(Debug, Default, Serialize, PartialEq)]
struct Traffic {
    requests: u64,
    retries: u64,
    throttled: u64,
    /// Every vendor's waits added up (they wait side by side).
    wait_seconds: f64,
    /// The longest vendor's: they run at once.
    elapsed_seconds: f64,
}

impl Traffic {
    fn of(s: &Summary) -> Traffic {
        Traffic {
            requests: s.requests,
            retries: s.retries,
            throttled: s.throttled,
            wait_seconds: s.wait_seconds,
            elapsed_seconds: s.elapsed_seconds,
        }
    }

    fn total(summaries: &[Summary]) -> Traffic {
        summaries
            .iter()
            .map(Traffic::of)
            .fold(Traffic::default(), |t, s| Traffic {
                requests: t.requests + s.requests,
                retries: t.retries + s.retries,
                throttled: t.throttled + s.throttled,
                wait_seconds: ((t.wait_seconds + s.wait_seconds) * 10.0).round() / 10.0,
                elapsed_seconds: t.elapsed_seconds.max(s.elapsed_seconds),
            })
    }

    fn row(&self, name: &str) -> String {
        format!(
            "\n{name:<14} {:>9} {:>8} {:>13} {:>8.1}s {:>8.2}s",
            self.requests, self.retries, self.throttled, self.wait_seconds, self.elapsed_seconds
        )
    }

    /// The text table: a row per vendor and the run's total.
    fn table(summaries: &[Summary]) -> String {
        let mut text = format!(
            "\n{:<14} {:>9} {:>8} {:>13} {:>9} {:>9}",
            "vendor", "requests", "retries", "answered 429", "waiting", "elapsed"
        );
        for s in summaries {
            text.push_str(&Traffic::of(s).row(&s.vendor));
        }
        text.push_str(&Traffic::total(summaries).row("total"));
        text
    }
}

/// The summary of every vendor (a table on stderr, or one JSON object), and
/// the worst exit code (3 > 75 > 1 > 0). `people`: the distinct people of the
/// run (each vendor's row counts its own outcomes).
pub(super) fn report_all(
    mut summaries: Vec<Summary>,
    reasons: Vec<Option<StopReason>>,
    title: &str,
    people: u64,
    json: bool,
    report: Option<&Path>,
) -> ExitCode {
    let mut code = ExitCode::Ok;
    for (s, r) in summaries.iter_mut().zip(&reasons) {
        s.exit_code = super::exit_code_of(s, r.as_ref());
        code = code.max(s.exit_code);
    }
    if json {
        let all = Everything {
            people,
            total: Traffic::total(&summaries),
            report: report.map(|p| p.display().to_string()),
            vendors: summaries,
            exit_code: code,
        };
        output::data_line(&serde_json::to_string(&all).unwrap_or_default());
        return code;
    }
    // The outcomes any vendor has, and always the main ones of the command.
    let always: &[Status] = if title == "purge verify" {
        &[Status::Verified, Status::Present, Status::Unverifiable]
    } else {
        &[
            Status::Deleted,
            Status::Queued,
            Status::NotFound,
            Status::Failed,
        ]
    };
    let cols: Vec<Status> = Status::ALL
        .into_iter()
        .filter(|c| always.contains(c) || summaries.iter().any(|s| s.of(*c) > 0))
        .collect();
    let outcomes: u64 = summaries.iter().map(|s| s.identifiers).sum();
    let mut text = format!(
        "{title}: {}\n{:<14} {:>12}",
        people_at(people, summaries.len(), outcomes),
        "vendor",
        "people"
    );
    for c in &cols {
        text.push_str(&format!(" {:>12}", c.as_str()));
    }
    text.push_str("  exit");
    for s in &summaries {
        text.push_str(&format!("\n{:<14} {:>12}", s.vendor, s.identifiers));
        for c in &cols {
            text.push_str(&format!(" {:>12}", s.of(*c)));
        }
        text.push_str(&format!("  {:>4}", s.exit_code.code()));
    }
    text.push_str(&Traffic::table(&summaries));
    for s in &summaries {
        if let Some(why) = &s.stopped {
            text.push_str(&format!("\n{}: stopped: {why}", s.vendor));
        }
        for n in &s.notes {
            text.push_str(&format!("\n{}: {n}", s.vendor));
        }
        for r in &s.failure_reasons {
            text.push_str(&format!("\n{}: {} failed: {}", s.vendor, r.count, r.reason));
        }
    }
    if let Some(p) = report {
        text.push_str(&format!("\nreport: {}", p.display()));
    }
    output::info(&text);
    code
}

/// Stdin read once, into memory, when several vendors read `-i -`: each
/// vendor's list is read from these bytes (evidence still says `<stdin>:N`).
/// Never a temporary file, so no kill or second Ctrl-C can leave the list of
/// people behind on disk.
fn stdin_once(args: &Everywhere, vendors: usize) -> Result<Option<Arc<[u8]>>, RunError> {
    if vendors < 2 || !args.run.inputs.iter().any(|p| p == Path::new("-")) {
        return Ok(None);
    }
    let mut text = Vec::new();
    std::io::stdin()
        .read_to_end(&mut text)
        .map_err(|e| RunError::Usage(format!("cannot read the identifiers on stdin: {e}")))?;
    Ok(Some(text.into()))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use tokio::time::Instant;

    use super::*;
    use crate::http::lane::{Clock, LaneConfig, Stats};
    use crate::http::script::{Script, answer, ok};
    use crate::services::braze::{Braze, LOOKUP_QUOTA};
    use crate::services::gainsight_px::GainsightPx;

    /// `service`'s preflight read through its own lane (as the run builds it)
    /// on `script`, the wall clock at a whole Unix second.
    async fn check(service: &dyn Service, script: &Script) -> Result<(), Refusal> {
        let request = service.preflight(Kind::Email).expect("a preflight read");
        let spec = &service.profile().lanes[request.lane];
        let lane = Lane::with_clock(
            LaneConfig::new(spec, 8, None),
            Arc::new(script.clone()),
            Arc::new(Stats::default()),
            Stop::default(),
            Clock::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        );
        check_credential(service, &request, &lane).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_on_the_preflight_is_waited_out_at_the_windows_reset() {
        // Braze answers its 429s with X-RateLimit-* only: the window resets in 3 s.
        let script = Script::new(|n, _| {
            if n == 0 {
                Ok(answer(
                    429,
                    &[
                        ("x-ratelimit-limit", "250".into()),
                        ("x-ratelimit-remaining", "0".into()),
                        ("x-ratelimit-reset", "1700000003".into()),
                    ],
                    "Too Many Requests",
                ))
            } else {
                ok(201, r#"{"users":[],"message":"success"}"#)
            }
        });
        let t0 = Instant::now();
        let got = check(&Braze::new(None, LOOKUP_QUOTA), &script).await;
        assert_eq!(got, Ok(()), "a throttled credential check is not a refusal");
        let a = script.arrivals();
        assert_eq!(a.len(), 2);
        let retried = (a[1].at - t0).as_secs_f64();
        assert!(
            retried >= 3.0,
            "retried at {retried}s, before the reset at 3 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_429_on_the_preflight_is_waited_out() {
        // Gainsight PX says nothing: no rate headers, no Retry-After.
        let script = Script::new(|n, _| {
            if n < 2 {
                ok(429, "")
            } else {
                ok(200, r#"{"users":[],"totalHits":0}"#)
            }
        });
        let got = check(&GainsightPx::new(true), &script).await;
        assert_eq!(got, Ok(()));
        assert_eq!(script.count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_credential_on_the_preflight_still_exits_3() {
        let script = Script::new(|_, _| ok(401, "Unauthorized"));
        let got = check(&GainsightPx::new(true), &script).await.unwrap_err();
        assert_eq!(got.code, ExitCode::Fatal);
        assert!(
            got.why.contains("credential was refused (401"),
            "{}",
            got.why
        );
        assert_eq!(script.count(), 1, "a 401 is not retried");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_max_wait_on_the_preflight_exits_75() {
        let script = Script::new(|_, _| Ok(answer(429, &[("retry-after", "600".into())], "")));
        let service = GainsightPx::new(true);
        let request = service.preflight(Kind::Email).unwrap();
        let spec = &service.profile().lanes[request.lane];
        let lane = Lane::with_clock(
            LaneConfig::new(spec, 8, Some(Duration::from_secs(60))),
            Arc::new(script.clone()),
            Arc::new(Stats::default()),
            Stop::default(),
            Clock::system(),
        );
        let got = check_credential(&service, &request, &lane)
            .await
            .unwrap_err();
        assert_eq!(got.code, ExitCode::MaxWait, "{}", got.why);
    }
}
