//! One run, as small phases: load the identifiers → merge with the report →
//! confirm (and read the credential) → execute → summarise. Vendor-neutral: a
//! vendor is whatever its registry entry sets up.
//!
//! [`execute`] is async and takes everything it needs, so several vendors can
//! be executed at once in one runtime.

mod confirm;
mod dry_run;
mod everywhere;
mod verify;

use std::collections::BTreeMap;
use std::sync::Arc;

use url::Url;

use crate::cli::{self, Invocation};
use crate::config::RunConfig;
use crate::config_file::{self, ConfigError};
use crate::engine::{Engine, Parts, Signal, StopReason};
use crate::exit::ExitCode;
use crate::http::lane::{Lane, LaneConfig, Stats, Stop};
use crate::http::{ClientError, HttpClient, Transport};
use crate::input::{self, InputError, InputSpec, Loaded};
use crate::output;
use crate::plan;
use crate::report::{Prior, PriorState, Report, ReportError, Summary};
use crate::services::{
    Credential, CredentialFn, Endpoint, Entry, Ident, Kind, KindSpec, Outcome, Service, Status,
    Work,
};

/// Why a run could not start. Every variant means nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Certificate(#[from] crate::certificate::CertError),
    #[error("{0}")]
    NotConfirmed(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}

impl RunError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            RunError::Usage(_)
            | RunError::Input(_)
            | RunError::Report(_)
            | RunError::Config(_)
            | RunError::Client(_)
            | RunError::Certificate(_)
            | RunError::NotConfirmed(_) => ExitCode::Usage,
            RunError::Runtime(_) | RunError::Stdout(_) => ExitCode::SomeFailed,
        }
    }
}

/// Parse the command line, run, and return the exit code.
pub fn main() -> ExitCode {
    let invocation = match cli::parse_from(std::env::args_os()) {
        Ok(i) => i,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return ExitCode::Ok; // --help, --version
            }
            if std::env::args_os().any(|a| a == "--json") {
                json_error(&e.kind().to_string(), ExitCode::Usage);
            }
            return ExitCode::Usage;
        }
    };
    match invocation {
        Invocation::Completions(shell) => completions(shell),
        Invocation::Verify(args) => {
            output::set_level(args.output.verbosity());
            finish(verify::verify(&args), args.output.json)
        }
        Invocation::Everywhere(args) => {
            output::set_level(args.run.output.verbosity());
            output::set_concealing(args.run.hash_ids);
            finish(everywhere::everywhere(&args), args.run.output.json)
        }
        Invocation::Init { config, force } => init(&config, force).unwrap_or_else(|e| {
            output::error(&e.to_string());
            e.exit_code()
        }),
        Invocation::Certificate(args) => certificate(&args).unwrap_or_else(|e| {
            output::error(&e.to_string());
            e.exit_code()
        }),
        Invocation::Purge {
            entry,
            matches,
            common,
        } => {
            output::set_level(common.run.output.verbosity());
            let Some((matches, cfg)) = with_table(entry, matches, *common) else {
                return ExitCode::Usage;
            };
            output::set_concealing(cfg.report.hash_ids);
            purge(entry, &matches, &cfg).unwrap_or_else(|e| {
                output::error(&e.to_string());
                if cfg.output.json {
                    // `> summary.json` still gets one object saying what happened.
                    json_error(&e.to_string(), e.exit_code());
                }
                e.exit_code()
            })
        }
    }
}

/// A vendor command's settings: its table of the configuration file under
/// its command line ([`config_file::for_vendor`]); `None` (said) when the file
/// or the two together cannot be used.
fn with_table(
    entry: &'static Entry,
    matches: clap::ArgMatches,
    common: cli::Common,
) -> Option<(clap::ArgMatches, RunConfig)> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let from_command_line = common.base_url.is_some();
    let json = common.run.output.json;
    match config_file::for_vendor(entry, &matches, common.config.as_deref(), &args) {
        Ok(None) => Some((matches, RunConfig::from(common))),
        Ok(Some(applied)) => {
            output::info(&format!(
                "{}: settings from {} (the command line overrides them)",
                entry.name, applied.place
            ));
            let mut cfg = RunConfig::from(applied.common);
            cfg.table = Some(applied.place.clone());
            if cfg.base_url.is_some() && !from_command_line {
                cfg.base_url_origin = format!("set by base-url in {}", applied.place);
            }
            Some((applied.matches, cfg))
        }
        Err(e) => {
            output::error(&e);
            if json {
                json_error(&e, ExitCode::Usage);
            }
            None
        }
    }
}

/// A command's exit code; an error is said on stderr (and with `--json`, as
/// one JSON object on stdout too).
fn finish(result: Result<ExitCode, RunError>, json: bool) -> ExitCode {
    result.unwrap_or_else(|e| {
        output::error(&e.to_string());
        if json {
            json_error(&e.to_string(), e.exit_code());
        }
        e.exit_code()
    })
}

/// The async runtime a run's vendors share (two workers: the work is I/O).
fn runtime() -> Result<tokio::runtime::Runtime, RunError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .map_err(RunError::Runtime)
}

/// Watch for the first Ctrl-C / SIGTERM on `runtime`; each call of the
/// returned function gives a future that resolves when it comes, so every
/// vendor of a run drains on the same signal.
fn shared_interrupt(
    runtime: &tokio::runtime::Runtime,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Signal> + Send>> {
    let (tx, rx) = tokio::sync::watch::channel(None::<Signal>);
    runtime.spawn(async move {
        let first = interrupt().await;
        let _ = tx.send(Some(first));
    });
    move || {
        let mut rx = rx.clone();
        Box::pin(async move {
            loop {
                if let Some(s) = *rx.borrow_and_update() {
                    return s;
                }
                if rx.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        })
    }
}

/// With `--json`, an error that ends the run is one JSON object on stdout too.
fn json_error(message: &str, code: ExitCode) {
    output::data_line(&serde_json::json!({"error": message, "exit_code": code}).to_string());
}

fn completions(shell: clap_complete::Shell) -> ExitCode {
    use std::io::Write;
    let mut out = output::stdout();
    clap_complete::generate(shell, &mut cli::command(), "purge", &mut out);
    let _ = out.flush();
    ExitCode::Ok
}

/// `purge init`: write the configuration template, say what it is and what next.
fn init(path: &std::path::Path, force: bool) -> Result<ExitCode, RunError> {
    config_file::init(path, force)?;
    let vendors: Vec<&str> = crate::services::REGISTRY.iter().map(|e| e.name).collect();
    output::info(&format!(
        "wrote {}: a commented-out table for each of {}",
        path.display(),
        vendors.join(", ")
    ));
    output::info(&format!(
        "next: uncomment the tables of the vendors you use and set their keys (the flags of `purge VENDOR --help`), \
         export each one's credential (or point its token-file at a file), then check with \
         `purge everywhere{} -i people.csv --dry-run`",
        if path == std::path::Path::new(config_file::DEFAULT_PATH) {
            String::new()
        } else {
            format!(" --config {}", path.display())
        }
    ));
    Ok(ExitCode::Ok)
}

/// The OS user running purge: `$USER`, `$LOGNAME`, else the account name of
/// the real user id (`getpwuid_r`), else the id itself.
pub(crate) fn os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.trim().is_empty()
        {
            return u;
        }
    }
    // SAFETY: getuid cannot fail; getpwuid_r writes into the buffers given
    // and `result` points into them (or is null) until they are dropped.
    unsafe {
        let uid = libc::getuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) == 0
            && !result.is_null()
            && !pwd.pw_name.is_null()
        {
            return std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned();
        }
        format!("uid {uid}")
    }
}

/// `purge certificate`: write the document, say what it holds.
fn certificate(args: &crate::certificate::Args) -> Result<ExitCode, RunError> {
    let table = match config_file::load(args.config.as_deref()) {
        Ok(c) => c.certificate,
        Err(config_file::ConfigError::NotFound) => Default::default(),
        Err(e) => return Err(e.into()),
    };
    let attest = crate::certificate::Attest {
        controller: table.controller,
        contact: table.contact,
        operator: args.operator.clone().unwrap_or_else(os_user),
    };
    let w = crate::certificate::run(args, attest)?;
    output::info(&format!(
        "wrote {} ({}): {} {} at {} vendor{}: {} vendor outcome{}, {} not proven, {}; made from {} (SHA-256 {})",
        if args.output.as_os_str() == "-" {
            "the certificate to stdout".to_string()
        } else {
            args.output.display().to_string()
        },
        match w.format {
            crate::certificate::Format::Html => "HTML",
            crate::certificate::Format::Md => "Markdown",
            crate::certificate::Format::Json => "JSON",
        },
        w.people,
        if w.people == 1 { "person" } else { "people" },
        w.vendors,
        if w.vendors == 1 { "" } else { "s" },
        w.identifiers,
        if w.identifiers == 1 { "" } else { "s" },
        w.not_proven,
        match w.exceptions {
            0 => "no exceptions".to_string(),
            1 => "1 exception listed first".to_string(),
            n => format!("{n} exceptions listed first"),
        },
        args.report.display(),
        w.sha256,
    ));
    if let Some(rows) = &w.rows {
        output::info(&format!(
            "the people rows ({} lines, one a person) are in {} beside it (SHA-256 {}), as the certificate says: past --inline-people {}",
            rows.rows,
            rows.path.display(),
            rows.sha256,
            rows.limit
        ));
    }
    Ok(ExitCode::Ok)
}

/// One vendor's part of a run: its adapter, the kind of its identifiers, and
/// where its requests go.
pub struct Target {
    pub service: Arc<dyn Service>,
    pub kind: Kind,
    /// Whether the kind was chosen (`-k`, or `kind` in a `purge.toml` table),
    /// not the vendor's default.
    pub kind_chosen: bool,
    pub kind_spec: KindSpec,
    entry: &'static Entry,
    endpoint: Endpoint,
    credential: Option<CredentialFn>,
    /// [`crate::services::Setup::missing`].
    missing: Option<String>,
}

impl Target {
    /// The vendor's registry entry.
    pub fn entry(&self) -> &'static Entry {
        self.entry
    }
    fn new(entry: &'static Entry, matches: &clap::ArgMatches) -> Result<Target, RunError> {
        let setup = entry
            .resolve(matches)
            .map_err(|e| RunError::Usage(e.to_string()))?;
        let profile = setup.service.profile();
        let kind_spec = *profile.kind_spec(setup.kind).ok_or_else(|| {
            RunError::Usage(format!("{} has no --kind {}", profile.display, setup.kind))
        })?;
        Ok(Target {
            kind: setup.kind,
            kind_chosen: matches.value_source("kind")
                != Some(clap::parser::ValueSource::DefaultValue),
            kind_spec,
            entry,
            endpoint: setup.endpoint,
            service: setup.service,
            credential: Some(setup.credential),
            missing: setup.missing,
        })
    }

    /// The base URL: `--base-url`, else the vendor's endpoint, else the one the
    /// credential names (`None` until the credential is read). One not written
    /// as `--base-url` (or `base-url` in the vendor's table) must be loopback or
    /// a host the vendor documents: the credential goes nowhere else.
    fn base(&self, cfg: &RunConfig, credential: Option<&Credential>) -> Result<Url, RunError> {
        if let Some(why) = self.missing.as_ref().filter(|_| !cfg.dry_run) {
            return Err(RunError::Usage(why.clone()));
        }
        let raw = match (&cfg.base_url, &self.endpoint) {
            (Some(u), _) => u.clone(),
            (None, Endpoint::Url(u)) => u.clone(),
            (None, Endpoint::Missing { why, .. }) => return Err(RunError::Usage(why.clone())),
            (None, Endpoint::FromCredential(why)) => {
                match credential.and_then(|c| c.base.clone()) {
                    Some(u) => u,
                    None => return Err(RunError::Usage(why.clone())),
                }
            }
        };
        let url = crate::http::check_base_url(&raw).map_err(RunError::Usage)?;
        let host = url.host_str().unwrap_or_default();
        if cfg.base_url.is_none()
            && !crate::http::is_loopback(&url)
            && !self.entry.documents_host(host)
        {
            return Err(RunError::Usage(format!(
                "{host} is not a host {} documents for its API ({}): purge sends its credential \
                 only there, to loopback, or to a base-url written for it",
                self.display(),
                self.entry.hosts.join(", ")
            )));
        }
        Ok(url)
    }

    /// Where the base URL comes from, for the confirmation and `--check`.
    fn host_origin(&self, cfg: &RunConfig) -> String {
        match &cfg.base_url {
            Some(_) => cfg.base_url_origin.clone(),
            None => format!("{}'s documented host", self.display()),
        }
    }

    /// Where the credential comes from: the token file, else the variables
    /// the vendor reads.
    fn credential_origin(&self, cfg: &RunConfig) -> String {
        match &cfg.token_file {
            Some(f) => format!("token file {}", f.display()),
            None => format!("env {}", self.entry.credential.usual()),
        }
    }

    fn display(&self) -> &'static str {
        self.service.profile().display
    }
}

/// `purge <vendor> …`: the phases in order.
fn purge(
    entry: &'static Entry,
    matches: &clap::ArgMatches,
    cfg: &RunConfig,
) -> Result<ExitCode, RunError> {
    let mut target = Target::new(entry, matches)?;
    let resolved_later = matches!(target.endpoint, Endpoint::FromCredential(_))
        || (cfg.dry_run && matches!(target.endpoint, Endpoint::Missing { .. }));
    if cfg.base_url.is_some() || !resolved_later {
        // Fail early on a bad or missing endpoint, before the input is read.
        target.base(cfg, None)?;
    }
    if cfg.dry_run {
        return dry_run(&target, cfg);
    }
    let (todo, summary) = read_and_merge(&target, cfg)?;
    if let Ok(base) = target.base(cfg, None) {
        // Before anything is asked or skipped: a report of another host is refused.
        todo.check_host(&base, target.display(), cfg)?;
    }
    let confirmed = match confirm::confirm(&mut target, cfg, &todo) {
        Ok(c) => c,
        Err(e) => {
            todo.report.discard();
            return Err(e);
        }
    };
    let Some(credential) = confirmed else {
        output::info("nothing left to send");
        return Ok(summarise(summary, None, cfg));
    };
    let base = target.base(cfg, Some(&credential))?;
    todo.check_host(&base, target.display(), cfg)?;
    let transport: Arc<dyn Transport> = Arc::new(HttpClient::new(
        base.clone(),
        &credential,
        cfg.send.timeout,
    )?);
    let runtime = runtime()?;
    let mut todo = todo;
    todo.report.set_host(base.host_str().unwrap_or_default());
    todo.report.set_operator(&os_user());
    let vendor_run = VendorRun::new(&target, cfg, transport, summary, todo);
    let (summary, reason) = runtime.block_on(execute(vendor_run, interrupt()));
    if let Some(r) = &reason {
        output::error(&r.describe());
    }
    Ok(summarise(summary, reason, cfg))
}

/// `purge <vendor> --dry-run`: the requests listed as the input is read,
/// against the vendor's host (or, without one, a placeholder it names).
fn dry_run(target: &Target, cfg: &RunConfig) -> Result<ExitCode, RunError> {
    let mut notes = vec![];
    let base = match (&cfg.base_url, &target.endpoint) {
        (None, Endpoint::Missing { why, placeholder }) => {
            notes.push(format!(
                "dry run against the placeholder host of {placeholder}: {why}"
            ));
            crate::http::check_base_url(placeholder).map_err(RunError::Usage)?
        }
        _ => target.base(cfg, None)?,
    };
    let spec = input_spec(target, cfg);
    let (loaded, listed) = dry_run::stream(target, &base, cfg, &spec)?;
    if let Err(e) = loaded_checks(target, cfg, &loaded, listed.all_emails) {
        listed.discard();
        return Err(e);
    }
    let Some(requests) = listed.finish()? else {
        return Ok(ExitCode::Ok);
    };
    let mut summary = new_summary(target, cfg, &loaded);
    summary.notes.extend(notes);
    let invalid = invalid_outcomes(&loaded);
    dry_run::conclude(target, loaded.distinct, invalid, summary, requests, cfg)
}

/// Read, validate and dedupe the identifiers; warn about each invalid one.
fn load(target: &Target, cfg: &RunConfig) -> Result<Loaded, RunError> {
    let loaded = input::load(&input_spec(target, cfg))?;
    let all_emails = loaded
        .idents
        .iter()
        .all(|i| input::validate::is_email(&i.value));
    loaded_checks(target, cfg, &loaded, all_emails)?;
    Ok(loaded)
}

/// What `--input` and the arguments say to read, for the target's kind.
fn input_spec(target: &Target, cfg: &RunConfig) -> InputSpec {
    InputSpec {
        positional: cfg.input.positional.clone(),
        files: cfg.input.files.clone(),
        column: cfg.input.column.clone(),
        ref_column: cfg.input.ref_column.clone(),
        format: cfg.input.format,
        kind: target.kind_spec,
        stdin: cfg.input.stdin.clone(),
    }
}

/// Once everything is read: each invalid row and the first duplicates said on
/// stderr, then the checks on the whole list (`all_emails`: every distinct
/// identifier is an e-mail address), which stop the run before anything is sent.
fn loaded_checks(
    target: &Target,
    cfg: &RunConfig,
    loaded: &Loaded,
    all_emails: bool,
) -> Result<(), RunError> {
    for r in &loaded.rejected {
        // With --hash-ids the value stays out of stderr (and CI logs): its place says which.
        let value = if cfg.report.hash_ids {
            String::new()
        } else {
            format!(" {:?}", r.value)
        };
        output::warn(&format!(
            "{}: invalid {}{value}: {}",
            loaded.place(r.source),
            target.kind,
            r.reason
        ));
    }
    for (dup, first) in &loaded.duplicate_of {
        output::info(&format!(
            "{}: duplicate of {}, dropped",
            loaded.place(*dup),
            loaded.place(*first)
        ));
    }
    if loaded.duplicates > loaded.duplicate_of.len() {
        output::info(&format!(
            "… and {} more duplicate(s), dropped",
            loaded.duplicates - loaded.duplicate_of.len()
        ));
    }
    all_emails_under_another_kind(target, cfg, loaded.distinct, all_emails)?;
    if cfg.input.strict && !loaded.rejected.is_empty() {
        return Err(RunError::Usage(format!(
            "{} invalid identifier(s) and --strict: nothing sent",
            loaded.rejected.len()
        )));
    }
    Ok(())
}

/// Whether [`all_emails_under_another_kind`] can refuse this run: then the
/// dry run holds its listing until an identifier that is no e-mail is read.
fn emails_matter(target: &Target) -> bool {
    target.kind != Kind::Email
        && target.service.profile().kind_spec(Kind::Email).is_some()
        && !target.kind_chosen
}

/// Identifiers that all look like e-mail addresses under a kind that could be
/// either (Gainsight identifyIds and Braze external ids often are e-mails):
/// under the vendor's default kind, the run stops before anything is sent
/// (deleting `alice@x.io` as an external id gives `queued` while her profile
/// stays); under a kind chosen on purpose (`-k`, or `kind` in the vendor's
/// table), a warning. (`purge everywhere` always chooses: the table's `kind`,
/// else `email`.)
fn all_emails_under_another_kind(
    target: &Target,
    cfg: &RunConfig,
    count: usize,
    all_emails: bool,
) -> Result<(), RunError> {
    let profile = target.service.profile();
    if target.kind == Kind::Email
        || profile.kind_spec(Kind::Email).is_none()
        || count == 0
        || !all_emails
    {
        return Ok(());
    }
    let what = format!(
        "all {count} identifiers look like e-mail addresses, but --kind is {}: {} would take them as {} values",
        target.kind, profile.display, target.kind
    );
    if target.kind_chosen {
        output::warn(&format!(
            "{what}; if they are e-mail addresses, use -k email"
        ));
        return Ok(());
    }
    Err(RunError::Usage(format!(
        "{what} (its default kind), so nothing was sent: if they are e-mail addresses, pass -k email{}; \
         if they really are {} values, pass -k {} to say so",
        cfg.table
            .as_deref()
            .map(|t| format!(" (or set kind = \"email\" in {t})"))
            .unwrap_or_default(),
        target.kind,
        target.kind
    )))
}

fn new_summary(target: &Target, cfg: &RunConfig, loaded: &Loaded) -> Summary {
    let profile = target.service.profile();
    let mut summary = Summary {
        vendor: profile.vendor.to_string(),
        kind: target.kind.to_string(),
        dry_run: cfg.dry_run,
        identifiers: (loaded.distinct + loaded.rejected.len()) as u64,
        duplicates: loaded.duplicates as u64,
        invalid: loaded.rejected.len() as u64,
        ..Summary::default()
    };
    if let Some(note) = target.service.erasure_note() {
        summary.notes.push(note);
    }
    if let Some(why) = target.missing.as_ref().filter(|_| cfg.dry_run) {
        summary
            .notes
            .push(format!("dry run with placeholders in the requests: {why}"));
    }
    summary
}

/// How long the run will take at least, when a lane's quota makes it long
/// (over a minute): "10,000 lookups at 250/min: about 40 min", from what the
/// vendor says `count` identifiers take ([`Service::load`]) and each lane's
/// quota with the user's overrides. The longest lane decides (lanes run side by side).
fn expected_duration(target: &Target, cfg: &RunConfig, count: usize) -> Option<String> {
    let lanes = &target.service.profile().lanes;
    target
        .service
        .load(target.kind, count)
        .into_iter()
        .filter_map(|l| {
            let spec = cfg.send.apply(l.lane, lanes.get(l.lane)?);
            let rate = spec.rate.filter(|r| r.count > 0)?;
            let secs = l.requests as f64 * rate.per.as_secs_f64() / f64::from(rate.count);
            Some((secs, l, rate))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(secs, ..)| *secs > 60.0)
        .map(|(secs, l, rate)| {
            format!(
                "{} {} at {rate}: about {}",
                thousands(l.requests),
                l.what,
                about(secs)
            )
        })
}

/// `12345` → `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration over a minute, rounded for people: `40 min`, `2 h 5 min`.
fn about(secs: f64) -> String {
    let mins = (secs / 60.0).round().max(1.0) as u64;
    if mins < 120 {
        format!("{mins} min")
    } else if mins.is_multiple_of(60) {
        format!("{} h", mins / 60)
    } else {
        format!("{} h {} min", mins / 60, mins % 60)
    }
}

fn invalid_outcomes(loaded: &Loaded) -> Vec<Outcome> {
    loaded
        .rejected
        .iter()
        .map(|r| {
            Outcome::new(
                Ident {
                    value: r.value.clone(),
                    source: r.source,
                },
                Status::Invalid,
                format!("{}: {}", loaded.place(r.source), r.reason),
            )
        })
        .collect()
}

/// What is left to do after the report of an earlier run is read.
pub struct Todo {
    pub report: Report,
    /// Identifiers to send.
    pub fresh: Vec<Ident>,
    /// Open jobs recorded by an earlier run, picked up again (polls).
    pub resumed: Vec<Work>,
    /// The hosts the resumed report's lines for this vendor were sent to.
    pub hosts: std::collections::BTreeSet<String>,
}

impl Todo {
    /// The report is input, not authority: a resumed report written against
    /// another host (a sandbox, another account) is refused before anything is
    /// sent, or its `done` lines would skip people never deleted here.
    pub fn check_host(&self, base: &Url, vendor: &str, cfg: &RunConfig) -> Result<(), RunError> {
        let here = base.host_str().unwrap_or_default();
        let other: Vec<&str> = self
            .hosts
            .iter()
            .map(String::as_str)
            .filter(|h| *h != here)
            .collect();
        if other.is_empty() {
            return Ok(());
        }
        let path = cfg
            .report
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Err(RunError::Usage(format!(
            "{path}: its {vendor} lines were sent to {}, but this run goes to {here}: nothing sent. \
             Resume it against the host it was written for, or start a new --report for {here}",
            other.join(", ")
        )))
    }

    /// Identifiers that still need requests.
    pub fn open_count(&self) -> usize {
        self.fresh.len() + self.resumed.iter().map(|w| w.ids.len()).sum::<usize>()
    }
}

/// The input read and set against the report: with `--resume`, the report is
/// read first and the input streamed past it ([`resume`]); else the input is
/// read whole, before the report is created ([`merge`]).
fn read_and_merge(target: &Target, cfg: &RunConfig) -> Result<(Todo, Summary), RunError> {
    if let (Some(path), true) = (&cfg.report.path, cfg.report.resume) {
        return resume(target, cfg, path);
    }
    let loaded = load(target, cfg)?;
    let mut summary = new_summary(target, cfg, &loaded);
    let invalid = invalid_outcomes(&loaded);
    let todo = merge(
        target,
        cfg,
        (loaded.idents, &loaded.refs),
        invalid,
        &mut summary,
    )?;
    Ok((todo, summary))
}

/// `--resume`: the report read once (one compact entry a person), then the
/// input streamed past it, each identifier sorted as it is read: only those
/// still to send (or in open jobs) are kept. An input that cannot be used
/// leaves the report as it was (one this run created is removed).
fn resume(
    target: &Target,
    cfg: &RunConfig,
    path: &std::path::Path,
) -> Result<(Todo, Summary), RunError> {
    let vendor = target.service.profile().vendor;
    let (mut report, prior) = Report::open(path, true, vendor, target.kind, cfg.report.hash_ids)?;
    let mut sorter = Sorter::default();
    let read = input::stream(&input_spec(target, cfg), &mut |id| {
        sorter.push(&prior, id);
        true
    })
    .map_err(RunError::from)
    .and_then(|loaded| loaded_checks(target, cfg, &loaded, sorter.all_emails).map(|()| loaded));
    let loaded = match read {
        Ok(loaded) => loaded,
        Err(e) => {
            report.discard();
            return Err(e);
        }
    };
    let mut summary = new_summary(target, cfg, &loaded);
    report.set_refs(&loaded.refs, &prior);
    let invalid = invalid_outcomes(&loaded);
    let todo = settle_prior(target, cfg, sorter, invalid, &mut summary, report, prior)?;
    Ok((todo, summary))
}

/// The identifiers read, sorted by what the report being resumed says of each.
struct Sorter {
    /// Still to send.
    fresh: Vec<Ident>,
    /// Pending in an open job: by job, each with the vendor ids it covers.
    jobs: BTreeMap<String, Vec<(Ident, Vec<String>)>>,
    /// Settled already: skipped.
    skipped: u64,
    /// Every identifier read is an e-mail address.
    all_emails: bool,
    /// Read, their entries asked of the cache, looked up a few at a time.
    pending: Vec<(Ident, u128)>,
}

/// Identifiers whose report entries are fetched together ([`Prior::prepare`]).
const LOOKUPS: usize = 16;

impl Default for Sorter {
    fn default() -> Self {
        Sorter {
            fresh: vec![],
            jobs: BTreeMap::new(),
            skipped: 0,
            all_emails: true,
            pending: Vec::with_capacity(LOOKUPS),
        }
    }
}

impl Sorter {
    fn push(&mut self, prior: &Prior, id: Ident) {
        self.all_emails = self.all_emails && input::validate::is_email(&id.value);
        let key = prior.prepare(&id);
        self.pending.push((id, key));
        if self.pending.len() >= LOOKUPS {
            self.settle(prior);
        }
    }

    /// Sort the pending identifiers, in the order read.
    fn settle(&mut self, prior: &Prior) {
        for (id, key) in self.pending.drain(..) {
            match prior.status_at(key) {
                PriorState::Settled => self.skipped += 1,
                PriorState::Pending { job, vendor_ids } => {
                    self.jobs.entry(job).or_default().push((id, vendor_ids));
                }
                PriorState::Open => self.fresh.push(id),
            }
        }
    }
}

/// Open the report (new, or the one to resume), skip what it already settled,
/// and record the invalid identifiers it does not have yet.
fn merge(
    target: &Target,
    cfg: &RunConfig,
    (idents, refs): (Vec<Ident>, &std::collections::HashMap<String, String>),
    invalid: Vec<Outcome>,
    summary: &mut Summary,
) -> Result<Todo, RunError> {
    let vendor = target.service.profile().vendor;
    let Some(path) = &cfg.report.path else {
        return Ok(Todo {
            report: Report::none(vendor, target.kind, cfg.report.hash_ids),
            fresh: idents,
            resumed: vec![],
            hosts: Default::default(),
        });
    };
    let (mut report, prior) = Report::open(
        path,
        cfg.report.resume,
        vendor,
        target.kind,
        cfg.report.hash_ids,
    )?;
    report.set_refs(refs, &prior);
    merge_prior(target, cfg, idents, invalid, summary, report, prior)
}

/// [`merge`] with the report already open (`purge everywhere` opens one for
/// every vendor at once).
fn merge_prior(
    target: &Target,
    cfg: &RunConfig,
    idents: Vec<Ident>,
    invalid: Vec<Outcome>,
    summary: &mut Summary,
    report: Report,
    prior: Prior,
) -> Result<Todo, RunError> {
    if cfg.report.path.is_none() {
        return Ok(Todo {
            report,
            fresh: idents,
            resumed: vec![],
            hosts: Default::default(),
        });
    }
    let mut sorter = Sorter::default();
    for id in idents {
        sorter.push(&prior, id);
    }
    settle_prior(target, cfg, sorter, invalid, summary, report, prior)
}

/// [`merge_prior`] once every identifier is sorted: the skipped counted, the
/// open jobs picked up again, the invalid identifiers the report does not
/// have yet recorded.
fn settle_prior(
    target: &Target,
    cfg: &RunConfig,
    mut sorter: Sorter,
    mut invalid: Vec<Outcome>,
    summary: &mut Summary,
    mut report: Report,
    prior: Prior,
) -> Result<Todo, RunError> {
    sorter.settle(&prior);
    let Sorter {
        fresh,
        jobs,
        skipped,
        ..
    } = sorter;
    let path = cfg
        .report
        .path
        .as_deref()
        .unwrap_or(std::path::Path::new(""));
    summary.report = Some(path.display().to_string());
    summary.skipped += skipped;
    if prior.repaired {
        output::warn(&format!(
            "{}: the last line was cut off (the run was killed while writing); removed it, its batch is sent again",
            path.display()
        ));
    }
    invalid.retain(|o| !prior.has_invalid(&o.ident.value));
    if cfg.report.resume {
        output::info(&format!(
            "resuming {} ({}): {} already done, {} in open jobs, {} to send",
            path.display(),
            target.service.profile().vendor,
            summary.skipped,
            jobs.values().map(Vec::len).sum::<usize>(),
            fresh.len()
        ));
    }
    let resumed = jobs
        .into_iter()
        .map(|(job, pairs)| {
            let (ids, vendor_ids) = pairs.into_iter().unzip();
            target
                .service
                .resume_job(target.kind, &job, ids, vendor_ids)
                .map_err(|why| RunError::Usage(format!("{}: {why}", path.display())))
        })
        .collect::<Result<Vec<Work>, RunError>>()?;
    // Invalid identifiers are final before anything is sent.
    for o in &invalid {
        report.write(o, None)?;
    }
    report.flush()?;
    Ok(Todo {
        report,
        fresh,
        resumed,
        hosts: prior.hosts,
    })
}

/// Everything one vendor's execution needs, built before the runtime runs it.
pub struct VendorRun {
    pub parts: Parts,
    pub resumed: Vec<Work>,
    pub fresh: Vec<Ident>,
}

impl VendorRun {
    pub fn new(
        target: &Target,
        cfg: &RunConfig,
        transport: Arc<dyn Transport>,
        summary: Summary,
        todo: Todo,
    ) -> VendorRun {
        let profile = target.service.profile();
        let stats = Arc::new(Stats::default());
        let stop = Stop::default();
        let lanes = lanes(target, cfg, &transport, &stats, &stop);
        VendorRun {
            parts: Parts {
                service: Arc::clone(&target.service),
                kind: target.kind,
                concurrency: cfg.send.apply(0, &profile.lanes[0]).concurrency,
                lanes,
                stats,
                stop,
                report: todo.report,
                summary,
                progress: Default::default(),
            },
            resumed: todo.resumed,
            fresh: todo.fresh,
        }
    }
}

/// The vendor's lanes with the user's overrides: the only way a request of
/// `target` goes out (the preflight's reads too).
pub fn lanes(
    target: &Target,
    cfg: &RunConfig,
    transport: &Arc<dyn Transport>,
    stats: &Arc<Stats>,
    stop: &Stop,
) -> Vec<Arc<Lane>> {
    target
        .service
        .profile()
        .lanes
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let spec = cfg.send.apply(i, spec);
            let lane = LaneConfig::new(&spec, cfg.send.max_retries, cfg.send.max_wait);
            Arc::new(Lane::new(
                lane,
                Arc::clone(transport),
                Arc::clone(stats),
                stop.clone(),
            ))
        })
        .collect()
}

/// Drive one vendor's work to the end (or to a stop); `interrupt` resolves on
/// the first Ctrl-C.
pub async fn execute(
    run: VendorRun,
    interrupt: impl std::future::Future<Output = Signal> + Send,
) -> (Summary, Option<StopReason>) {
    let VendorRun {
        mut parts,
        resumed,
        fresh,
    } = run;
    parts.progress = output::progress(
        (fresh.len() + resumed.iter().map(|w| w.ids.len()).sum::<usize>()) as u64,
        parts.service.profile().vendor,
    );
    let service = Arc::clone(&parts.service);
    let work = plan::plan(Arc::clone(&parts.service), parts.kind, fresh);
    let (mut summary, stopped) = Engine::new(parts).run(resumed, work, interrupt).await;
    summary.notes.extend(service.run_notes());
    (summary, stopped)
}

/// Resolves on the first Ctrl-C or SIGTERM; from then on a second signal quits at once.
async fn interrupt() -> Signal {
    let first = next_signal().await;
    output::warn(&drain_message(first));
    tokio::spawn(async move {
        next_signal().await;
        output::error(
            "signalled twice: quitting now; the report holds every outcome recorded so far",
        );
        let code = StopReason::Interrupted(first).exit_code();
        std::process::exit(i32::from(code.code()));
    });
    first
}

/// What the first signal does, said once per run (not once per vendor), in
/// the words of the signal that came: a SIGTERM was sent by a program, not typed.
fn drain_message(first: Signal) -> String {
    let again = match first {
        Signal::Interrupt => "press Ctrl-C again to quit at once",
        Signal::Terminate => "a second SIGTERM (or Ctrl-C) quits at once",
    };
    format!(
        "{}: finishing the requests in flight and writing the report; {again}",
        first.name()
    )
}

/// The next SIGINT or SIGTERM (never, if signals cannot be watched).
async fn next_signal() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => match r {
                    Ok(()) => Signal::Interrupt,
                    Err(_) => std::future::pending().await,
                },
                _ = term.recv() => Signal::Terminate,
            };
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    Signal::Interrupt
}

/// The exit code of one vendor's run: how it stopped, else whether anyone asked is not gone.
fn exit_code_of(summary: &Summary, stopped: Option<&StopReason>) -> ExitCode {
    stopped.map_or(
        if summary.exceptions() > 0 {
            ExitCode::SomeFailed
        } else {
            ExitCode::Ok
        },
        StopReason::exit_code,
    )
}

/// Print the summary and pick the exit code.
pub fn summarise(mut summary: Summary, stopped: Option<StopReason>, cfg: &RunConfig) -> ExitCode {
    let code = exit_code_of(&summary, stopped.as_ref());
    summary.exit_code = code;
    if cfg.output.json {
        output::data_line(&serde_json::to_string(&summary).unwrap_or_default());
    } else {
        output::info(&summary.text());
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_from;
    use crate::services::Auth;

    fn config(args: &[&str]) -> RunConfig {
        match parse_from(args).unwrap() {
            Invocation::Purge { common, .. } => RunConfig::from(*common),
            _ => unreachable!(),
        }
    }

    /// A vendor whose credential names its data center (`us7.api.example.com`).
    static DATA_CENTER: Entry = Entry {
        name: "rally",
        hosts: &["*.api.example.com"],
        ..crate::services::rally::ENTRY
    };

    fn target(endpoint: Endpoint) -> Target {
        Target {
            entry: &DATA_CENTER,
            service: Arc::new(crate::services::rally::Rally::new()),
            kind: Kind::Email,
            kind_chosen: false,
            kind_spec: *crate::services::rally::Rally::new()
                .profile()
                .kind_spec(Kind::Email)
                .unwrap(),
            endpoint,
            credential: None,
            missing: None,
        }
    }

    /// Trap 4: an account flag the requests name in their query (a project
    /// token) is not needed by a dry run, which says it shows placeholders;
    /// a real run refuses without it, whatever --base-url says.
    #[test]
    fn a_missing_account_flag_stops_a_real_run_but_not_a_dry_run() {
        let mut t = target(Endpoint::Url("https://us1.api.example.com".into()));
        t.missing = Some("say which project: --project-token TOKEN".into());
        let real = config(&[
            "purge",
            "rally",
            "--base-url",
            "http://127.0.0.1:9",
            "a@b.io",
        ]);
        let err = t.base(&real, None).unwrap_err().to_string();
        assert!(err.contains("--project-token"), "{err}");
        let dry = config(&["purge", "rally", "--dry-run", "a@b.io"]);
        assert!(t.base(&dry, None).is_ok());
        let loaded = Loaded::default();
        let notes = new_summary(&t, &dry, &loaded).notes;
        assert!(
            notes
                .iter()
                .any(|n| n.contains("placeholders") && n.contains("--project-token")),
            "{notes:?}"
        );
        assert!(new_summary(&t, &real, &loaded).notes.is_empty());
    }

    #[test]
    fn a_vendor_may_name_its_endpoint_after_reading_the_credential() {
        let cfg = config(&["purge", "rally", "a@b.io"]);
        let t = target(Endpoint::FromCredential(
            "the key names no data center".into(),
        ));
        let err = t.base(&cfg, None).unwrap_err();
        assert!(err.to_string().contains("no data center"), "{err}");
        let cred = Credential {
            auth: Auth::Bearer(crate::secret::Secret::new("k-us7")),
            base: Some("https://us7.api.example.com/3.0".into()),
            headers: vec![],
        };
        let base = t.base(&cfg, Some(&cred)).unwrap();
        assert_eq!(base.host_str(), Some("us7.api.example.com"));
        // One the vendor does not document is refused: the credential goes
        // only to the vendor's hosts (or a base URL written for it).
        let elsewhere = Credential {
            base: Some("https://us7.api.example.com.evil.example/3.0".into()),
            ..cred.clone()
        };
        let err = t.base(&cfg, Some(&elsewhere)).unwrap_err().to_string();
        assert!(
            err.contains("not a host") && err.contains("*.api.example.com"),
            "{err}"
        );
        // --base-url still wins.
        let cfg = config(&[
            "purge",
            "rally",
            "--base-url",
            "http://127.0.0.1:9",
            "a@b.io",
        ]);
        assert_eq!(t.base(&cfg, Some(&cred)).unwrap().port(), Some(9));
        // A missing endpoint says what to pass.
        let t = target(Endpoint::Missing {
            why: "say which account: --subdomain".into(),
            placeholder: "https://SUBDOMAIN.zendesk.com",
        });
        let cfg = config(&["purge", "rally", "a@b.io"]);
        assert!(
            t.base(&cfg, None)
                .unwrap_err()
                .to_string()
                .contains("--subdomain")
        );
    }

    #[test]
    fn a_long_run_says_how_long_from_the_vendors_load_and_lane_quotas() {
        let cfg = config(&["purge", "rally", "a@b.io"]);
        let braze = |args: &[&str]| {
            let mut all = vec!["purge", "braze", "--dry-run"];
            all.extend(args);
            let Invocation::Purge { entry, matches, .. } = parse_from(all).unwrap() else {
                unreachable!()
            };
            Target::new(entry, &matches).unwrap()
        };
        let t = braze(&["-k", "email", "a@b.io"]);
        assert_eq!(
            expected_duration(&t, &cfg, 10_000).as_deref(),
            Some("10,000 lookups at 250/min: about 40 min")
        );
        // A minute or less is not worth a line.
        assert_eq!(expected_duration(&t, &cfg, 250), None);
        let t = braze(&["-k", "phone", "--lookup-rate", "2500/min", "+15550100199"]);
        assert_eq!(
            expected_duration(&t, &cfg, 1_000_000).as_deref(),
            Some("1,000,000 lookups at 2500/min: about 6 h 40 min")
        );
        // No lookups, nothing claimed.
        let t = braze(&["-k", "email", "--prioritization", "identified", "a@b.io"]);
        assert_eq!(expected_duration(&t, &cfg, 1_000_000), None);
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(about(7200.0), "2 h");
    }

    #[test]
    fn run_errors_map_to_one_exit_code() {
        assert_eq!(RunError::Usage("x".into()).exit_code(), ExitCode::Usage);
        assert_eq!(
            RunError::NotConfirmed("x".into()).exit_code(),
            ExitCode::Usage
        );
        let config = ConfigError::Exists {
            path: "purge.toml".into(),
        };
        assert_eq!(RunError::from(config).exit_code(), ExitCode::Usage);
        let io = || std::io::Error::other("x");
        assert_eq!(RunError::Runtime(io()).exit_code(), ExitCode::SomeFailed);
    }
}
