//! The dry run: every request the run would start with, on stdout; nothing sent.
//! `purge <vendor> --dry-run` lists each request as soon as its batch is read
//! ([`stream`]): the identifiers are not kept, only their dedupe keys.

use std::io::Write;

use url::Url;

use super::{RunError, Target};
use crate::config::RunConfig;
use crate::exit::ExitCode;
use crate::input::{self, InputSpec, Loaded};
use crate::output;
use crate::plan;
use crate::report::Summary;
use crate::services::{Ident, Kind, Outcome};

/// Requests listed as their identifiers arrive, a batch at a time.
pub struct Lister<'a> {
    target: &'a Target,
    base: &'a Url,
    json: Option<&'static str>,
    limit: usize,
    batch: Vec<Ident>,
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    /// The listing so far, while a check on the whole input could still
    /// refuse the run (then nothing is printed).
    held: Option<Vec<u8>>,
    /// Held until an identifier that is no e-mail arrives (else to the end).
    until_not_email: bool,
    requests: u64,
    error: Option<std::io::Error>,
    /// Every identifier so far is an e-mail address.
    pub all_emails: bool,
}

impl<'a> Lister<'a> {
    fn new(target: &'a Target, base: &'a Url, cfg: &RunConfig) -> Self {
        let until_end = cfg.input.strict;
        let until_not_email = super::emails_matter(target);
        let limit = target.service.batch_limit(target.kind).max(1);
        Lister {
            target,
            base,
            json: cfg.output.json.then_some(target.service.profile().vendor),
            limit,
            batch: Vec::with_capacity(limit.min(1024)),
            out: output::stdout(),
            held: (until_end || until_not_email).then(Vec::new),
            until_not_email: until_not_email && !until_end,
            requests: 0,
            error: None,
            all_emails: true,
        }
    }

    /// One more identifier; `false` once stdout fails (read no further).
    pub fn push(&mut self, ident: Ident) -> bool {
        if self.all_emails
            && self.target.kind != Kind::Email
            && !input::validate::is_email(&ident.value)
        {
            self.all_emails = false;
            if self.until_not_email {
                self.release();
            }
        }
        self.batch.push(ident);
        if self.batch.len() >= self.limit {
            self.emit();
        }
        self.error.is_none()
    }

    /// The batch so far as its first request, printed (or held).
    fn emit(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.limit.min(1024)));
        if batch.is_empty() || self.error.is_some() {
            return;
        }
        let work = self.target.service.start(self.target.kind, batch);
        self.requests += 1;
        let written = match self.held.as_mut() {
            Some(held) => plan::print_request(self.base, &work.request, held, self.json),
            None => plan::print_request(self.base, &work.request, &mut self.out, self.json),
        };
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    /// Print what was held, and print from now on.
    fn release(&mut self) {
        if let Some(held) = self.held.take()
            && let Err(e) = self.out.write_all(&held)
        {
            self.error.get_or_insert(e);
        }
    }

    /// The listing is refused: nothing held is printed.
    pub fn discard(mut self) {
        self.held = Some(vec![]);
        self.batch.clear();
    }

    /// The last batch, and what was held, printed: how many requests
    /// (`None`: stdout was closed, which ends the dry run quietly).
    pub fn finish(mut self) -> Result<Option<u64>, RunError> {
        self.emit();
        self.release();
        let flushed = self.out.flush();
        match self.error.take().map_or(flushed, Err) {
            Ok(()) => Ok(Some(self.requests)),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(None),
            Err(e) => Err(RunError::Stdout(e)),
        }
    }
}

/// Read the input and list each request as its batch fills.
pub fn stream<'a>(
    target: &'a Target,
    base: &'a Url,
    cfg: &RunConfig,
    spec: &InputSpec,
) -> Result<(Loaded, Lister<'a>), RunError> {
    let mut lister = Lister::new(target, base, cfg);
    let loaded = input::stream(spec, &mut |ident| lister.push(ident))?;
    Ok((loaded, lister))
}

/// `purge everywhere --dry-run`: a vendor's identifiers, read before, listed.
pub fn run(
    target: &Target,
    base: &Url,
    idents: Vec<Ident>,
    invalid: Vec<Outcome>,
    summary: Summary,
    cfg: &RunConfig,
) -> Result<ExitCode, RunError> {
    let n_ids = idents.len();
    let mut lister = Lister::new(target, base, cfg);
    lister.held = None;
    for ident in idents {
        if !lister.push(ident) {
            break;
        }
    }
    match lister.finish()? {
        Some(requests) => conclude(target, n_ids, invalid, summary, requests, cfg),
        None => Ok(ExitCode::Ok),
    }
}

/// The dry run's summary: what was listed, what would follow, how long.
pub fn conclude(
    target: &Target,
    n_ids: usize,
    invalid: Vec<Outcome>,
    mut summary: Summary,
    requests: u64,
    cfg: &RunConfig,
) -> Result<ExitCode, RunError> {
    let (service, kind) = (&target.service, target.kind);
    summary.invalid = invalid.len() as u64;
    summary.requests = requests;
    match service.dry_run_follows(kind, n_ids) {
        None => summary.notes.push(format!(
            "dry run: every request for {n_ids} identifier(s) listed on stdout ({requests}); nothing was sent"
        )),
        Some(then) => {
            summary.notes.push(format!(
                "dry run: the first request of each batch listed on stdout ({requests}) for {n_ids} identifier(s); nothing was sent"
            ));
            summary.notes.push(format!("dry run: the run would send {then}"));
        }
    }
    if let Some(s) = service.scale_note(kind, n_ids) {
        summary.notes.push(format!("dry run: {s}"));
    }
    if let Some(d) = super::expected_duration(target, cfg, n_ids) {
        summary
            .notes
            .push(format!("dry run: expected duration of the real run: {d}"));
    }
    if cfg.report.path.is_some() {
        summary
            .notes
            .push("dry run: the --report file was not touched".into());
    }
    Ok(super::summarise(summary, None, cfg))
}
