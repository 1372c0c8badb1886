//! One run from parsed arguments to exit code: input, plan, confirmation,
//! credentials, lanes, engine, report and summary. Vendor-neutral.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;

use crate::cli::{Cli, Command, Common, FormatArg};
use crate::engine::Engine;
use crate::http::HttpClient;
use crate::http::lane::{Lane, LaneConfig, Stats, Stop};
use crate::input::{self, Column, Format, InputSpec};
use crate::output;
use crate::plan;
use crate::report::{PriorState, Report, Summary};
use crate::secret::Secret;
use crate::vendor::{Auth, Ident, Kind, Outcome, Status, Vendor};

/// Exit codes (DESIGN §3).
pub const EXIT_OK: i32 = 0;
pub const EXIT_SOME_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// A resolver for the credential, called only when requests will really be sent.
pub type AuthFn = Box<dyn FnOnce(Option<&Path>) -> Result<Auth, String>>;

/// What a vendor's argument group turns into.
pub struct Setup {
    pub vendor: Arc<dyn Vendor>,
    pub kind: Kind,
    /// The endpoint when no `--base-url` is given, or why there is none.
    pub default_base: Result<String, String>,
    pub auth: AuthFn,
}

/// A credential from `--token-file` or the environment variable `var`.
pub fn secret_from(var: &str, token_file: Option<&Path>) -> Result<Secret, String> {
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--token-file {}: cannot read: {e}", path.display()))?;
        warn_if_shared(path);
        let value = text.trim();
        if value.is_empty() {
            return Err(format!(
                "--token-file {}: the file is empty",
                path.display()
            ));
        }
        return Ok(Secret::new(value));
    }
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
        _ => Err(format!(
            "{var} is not set: export it, or pass --token-file FILE (or try --dry-run, which needs no credential)"
        )),
    }
}

/// A token file others can read or write is a leaked credential waiting to happen: say so.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                output::warn(&format!(
                    "--token-file {}: other users can access it (mode {mode:03o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Parse, run, and return the process exit code.
pub fn main() -> i32 {
    use clap::Parser;
    let cli = Cli::parse();
    let (setup, common) = match cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = output::stdout();
            clap_complete::generate(shell, &mut Cli::command(), "purge", &mut out);
            let _ = out.flush();
            return EXIT_OK;
        }
        Command::Rally(a) => (crate::vendor::rally::setup(&a), a.common),
        Command::Braze(a) => (crate::vendor::braze::setup(&a), a.common),
        Command::GainsightPx(a) => (crate::vendor::gainsight_px::setup(&a), a.common),
        Command::Zendesk(a) => (crate::vendor::zendesk::setup(&a), a.common),
    };
    output::set_level(if common.quiet {
        -1
    } else {
        i8::try_from(common.verbose).unwrap_or(i8::MAX)
    });
    match setup {
        Ok(setup) => run(setup, common),
        Err(e) => {
            output::error(&e);
            EXIT_USAGE
        }
    }
}

fn usage(msg: impl AsRef<str>) -> i32 {
    output::error(msg.as_ref());
    EXIT_USAGE
}

/// Run one purge.
pub fn run(setup: Setup, c: Common) -> i32 {
    let Setup {
        vendor,
        kind,
        default_base,
        auth,
    } = setup;
    let profile = vendor.profile().clone();
    let Some(kind_spec) = profile.kind_spec(kind).copied() else {
        return usage(format!("{} has no --kind {kind}", profile.display));
    };

    // Where requests go.
    let base = match c
        .base_url
        .as_deref()
        .map_or(default_base, |u| Ok(u.to_string()))
    {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    let base = match crate::http::check_base_url(&base) {
        Ok(u) => u,
        Err(e) => return usage(e),
    };
    let host = base.host_str().unwrap_or_default().to_string();

    // Input.
    let spec = InputSpec {
        positional: c.ids.clone(),
        files: c.inputs.clone(),
        column: c.column.as_deref().map(Column::parse),
        format: c.format.map(|f| match f {
            FormatArg::Lines => Format::Lines,
            FormatArg::Csv => Format::Csv,
        }),
        kind: kind_spec,
    };
    let loaded = match input::load(&spec) {
        Ok(l) => l,
        Err(e) => return usage(e.to_string()),
    };
    for r in &loaded.rejected {
        output::warn(&format!(
            "{}: invalid {kind} {:?}: {}",
            loaded.place(r.source),
            r.value,
            r.reason
        ));
    }
    if c.strict && !loaded.rejected.is_empty() {
        return usage(format!(
            "{} invalid identifier(s) and --strict: nothing sent",
            loaded.rejected.len()
        ));
    }

    let mut summary = Summary {
        vendor: profile.vendor.to_string(),
        kind: kind.to_string(),
        dry_run: c.dry_run,
        identifiers: (loaded.idents.len() + loaded.rejected.len()) as u64,
        duplicates: loaded.duplicates as u64,
        ..Summary::default()
    };
    if let Some(note) = vendor.erasure_note() {
        summary.notes.push(note);
    }
    let invalid: Vec<Outcome> = loaded
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
        .collect();

    if c.dry_run {
        return dry_run(&*vendor, kind, &base, loaded.idents, invalid, summary, &c);
    }

    // The report, and what an earlier run already did.
    let mut report = Report::none(profile.vendor, kind, c.hash_ids);
    let mut todo: Vec<Ident> = Vec::with_capacity(loaded.idents.len());
    let mut jobs: BTreeMap<String, Vec<(Ident, String)>> = BTreeMap::new();
    let mut invalid_new = invalid.clone();
    match &c.report {
        Some(path) => match Report::open(path, c.resume, profile.vendor, kind, c.hash_ids) {
            Ok((r, prior)) => {
                report = r;
                summary.report = Some(path.display().to_string());
                if prior.repaired {
                    output::warn(&format!(
                        "{}: the last line was cut off (the run was killed while writing); removed it, its batch is sent again",
                        path.display()
                    ));
                }
                for id in loaded.idents {
                    match prior.status_of(&id) {
                        PriorState::Settled => summary.skipped += 1,
                        PriorState::Pending { job, detail } => {
                            jobs.entry(job).or_default().push((id, detail));
                        }
                        PriorState::Open => todo.push(id),
                    }
                }
                invalid_new.retain(|o| {
                    !prior
                        .invalid
                        .contains(&crate::report::sha256_hex(&o.ident.value))
                });
                if c.resume {
                    output::info(&format!(
                        "resuming {}: {} already done, {} in open jobs, {} to send",
                        path.display(),
                        summary.skipped,
                        jobs.values().map(Vec::len).sum::<usize>(),
                        todo.len()
                    ));
                }
            }
            Err(e) => return usage(e.to_string()),
        },
        None => todo = loaded.idents,
    }
    let open_count = todo.len() + jobs.values().map(Vec::len).sum::<usize>();

    // Confirmation and credentials, only when something will be sent.
    let auth = if open_count > 0 {
        let auth = match auth(c.token_file.as_deref()) {
            Ok(a) => a,
            Err(e) => return usage(e),
        };
        if !c.yes
            && let Err(code) = confirm(
                profile.display,
                &host,
                kind,
                open_count,
                vendor.erasure_note(),
            )
        {
            return code;
        }
        Some(auth)
    } else {
        None
    };

    // Invalid identifiers are final before anything is sent.
    for o in &invalid_new {
        let _ = report.write(o, None);
    }
    if let Err(e) = report.flush() {
        return usage(e.to_string());
    }
    summary.invalid = invalid.len() as u64;

    let Some(auth) = auth else {
        output::info("nothing left to send");
        return finish(summary, None, c.json);
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage(format!("cannot start the async runtime: {e}")),
    };
    let _guard = runtime.enter();
    let http = match HttpClient::new(base, &auth, c.timeout) {
        Ok(h) => Arc::new(h),
        Err(e) => return usage(e.to_string()),
    };
    let stats = Arc::new(Stats::default());
    let stop = Stop::default();
    let lanes: Vec<Arc<Lane>> = profile
        .lanes
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let main = i == 0;
            let user_rate = main && c.rate.is_some();
            let cfg = LaneConfig {
                name: spec.name,
                // A quota the user set is kept as set, evenly spaced.
                burst: if user_rate { 1 } else { spec.burst },
                follow_limit: if user_rate { None } else { spec.follow_limit },
                rate: if main {
                    c.rate.or(spec.rate)
                } else {
                    spec.rate
                },
                concurrency: if main {
                    c.concurrency.map_or(spec.concurrency, |n| n as usize)
                } else {
                    spec.concurrency
                },
                headers: spec.headers,
                max_retries: c.max_retries,
                max_wait: c.max_wait,
                seed: None,
            };
            Arc::new(Lane::new(
                cfg,
                Arc::clone(&http),
                Arc::clone(&stats),
                stop.clone(),
            ))
        })
        .collect();
    let concurrency = c
        .concurrency
        .map_or(profile.lanes[0].concurrency, |n| n as usize);
    output::progress_start(open_count as u64);
    let initial: Vec<_> = jobs
        .into_iter()
        .map(|(job, pairs)| {
            let (ids, details) = pairs.into_iter().unzip();
            vendor.resume_job(kind, &job, ids, details)
        })
        .collect();
    let engine = Engine::new(
        Arc::clone(&vendor),
        kind,
        lanes,
        stats,
        stop,
        report,
        summary,
        concurrency,
    );
    let work = plan::plan(Arc::clone(&vendor), kind, todo);
    let (summary, reason) = runtime.block_on(engine.run(initial, work));
    if let Some(r) = &reason {
        output::error(&r.describe());
    }
    finish(summary, reason.map(|r| r.exit_code()), c.json)
}

fn dry_run(
    vendor: &dyn Vendor,
    kind: Kind,
    base: &url::Url,
    idents: Vec<Ident>,
    invalid: Vec<Outcome>,
    mut summary: Summary,
    c: &Common,
) -> i32 {
    summary.invalid = invalid.len() as u64;
    let n_ids = idents.len();
    let looks_up = idents.first().is_some_and(|i| {
        matches!(
            vendor.start(kind, vec![i.clone()]).stage,
            crate::vendor::Stage::Lookup { .. }
        )
    });
    let limit = vendor.batch_limit(kind).max(1);
    let mut out = output::stdout();
    let planned = idents.chunks(limit).map(|b| vendor.start(kind, b.to_vec()));
    match plan::print_dry_run(base, planned, &mut out) {
        Ok(n) => summary.requests = n,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return EXIT_OK,
        Err(e) => return usage(format!("cannot write to stdout: {e}")),
    }
    drop(out);
    summary.notes.push(format!(
        "dry run: {} request(s) for {n_ids} identifier(s) listed on stdout; nothing was sent",
        summary.requests
    ));
    if looks_up {
        summary.notes.push(
            "dry run: these are the lookups; the delete requests follow from their answers".into(),
        );
    }
    if c.report.is_some() {
        summary
            .notes
            .push("dry run: the --report file was not touched".into());
    }
    finish(summary, None, c.json)
}

/// Ask on the terminal (not stdin, which may carry the list). `Err` holds the exit code.
fn confirm(
    display: &str,
    host: &str,
    kind: Kind,
    count: usize,
    note: Option<String>,
) -> Result<(), i32> {
    let refuse = |why: &str| {
        output::error(&format!(
            "refusing to delete {count} people from {display} without confirmation: {why}; pass --yes to confirm non-interactively"
        ));
        Err(EXIT_USAGE)
    };
    if !output::stderr_is_terminal() {
        return refuse("no terminal to ask on");
    }
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty");
    let Ok(mut tty) = tty else {
        return refuse("cannot open the terminal");
    };
    let note = note.map(|n| format!("\n{n}")).unwrap_or_default();
    let prompt = output::escape(&format!(
        "About to delete {count} people from {display} ({host}), identified by {kind}. This cannot be undone.{note}\nType 'yes' to continue: "
    ));
    let _ = write!(tty, "{prompt}");
    let _ = tty.flush();
    let mut answer = String::new();
    if BufReader::new(&tty).read_line(&mut answer).is_err() {
        return refuse("could not read an answer");
    }
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "yes" | "y") {
        Ok(())
    } else {
        output::error("not confirmed: nothing sent");
        Err(EXIT_USAGE)
    }
}

/// Print the summary and pick the exit code.
fn finish(mut summary: Summary, stopped: Option<i32>, json: bool) -> i32 {
    let code = stopped.unwrap_or(if summary.failed > 0 || summary.invalid > 0 {
        EXIT_SOME_FAILED
    } else {
        EXIT_OK
    });
    summary.exit_code = code;
    if json {
        output::data_line(&serde_json::to_string(&summary).unwrap_or_default());
    } else {
        output::info(&summary.text());
    }
    code
}
