//! The dry run: every request the run would start with, on stdout; nothing sent.

use url::Url;

use super::{RunError, Target};
use crate::config::RunConfig;
use crate::exit::ExitCode;
use crate::output;
use crate::plan;
use crate::report::Summary;
use crate::services::{Ident, Outcome, Stage};

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
    let looks_up = idents.first().is_some_and(|i| {
        matches!(
            service.start(kind, vec![i.clone()]).stage,
            Stage::Lookup { .. }
        )
    });
    let limit = service.batch_limit(kind).max(1);
    let mut out = output::stdout();
    let planned = idents
        .chunks(limit)
        .map(|b| service.start(kind, b.to_vec()));
    match plan::print_dry_run(base, planned, &mut out) {
        Ok(n) => summary.requests = n,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::Ok),
        Err(e) => return Err(RunError::Stdout(e)),
    }
    drop(out);
    summary.notes.push(format!(
        "dry run: {} request(s) for {n_ids} identifier(s) listed on stdout; nothing was sent",
        summary.requests
    ));
    if looks_up {
        summary.notes.push(
            "dry run: these are each batch's first lookup; further lookups and the delete requests follow from their answers".into(),
        );
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
