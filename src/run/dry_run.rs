//! The dry run: every request the run would start with, on stdout; nothing sent.

use url::Url;

use super::{RunError, Target};
use crate::config::RunConfig;
use crate::exit::ExitCode;
use crate::output;
use crate::plan;
use crate::report::Summary;
use crate::services::{Ident, Outcome};

pub fn run(
    target: &Target,
    base: &Url,
    idents: Vec<Ident>,
    invalid: Vec<Outcome>,
    mut summary: Summary,
    cfg: &RunConfig,
) -> Result<ExitCode, RunError> {
    let (service, kind) = (&target.service, target.kind);
    summary.invalid = invalid.len() as u64;
    let n_ids = idents.len();
    let follows = service.dry_run_follows(kind, n_ids);
    let limit = service.batch_limit(kind).max(1);
    let mut out = output::stdout();
    let planned = idents
        .chunks(limit)
        .map(|b| service.start(kind, b.to_vec()));
    let json = cfg.output.json.then_some(service.profile().vendor);
    match plan::print_dry_run(base, planned, &mut out, json) {
        Ok(n) => summary.requests = n,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::Ok),
        Err(e) => return Err(RunError::Stdout(e)),
    }
    drop(out);
    match follows {
        None => summary.notes.push(format!(
            "dry run: every request for {n_ids} identifier(s) listed on stdout ({}); nothing was sent",
            summary.requests
        )),
        Some(then) => {
            summary.notes.push(format!(
                "dry run: the first request of each batch listed on stdout ({}) for {n_ids} identifier(s); nothing was sent",
                summary.requests
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
