//! The confirmation phase: read the credential and ask on the terminal, only
//! when something will really be sent.

use std::io::{BufRead, BufReader, Write};

use super::{RunError, Target, Todo};
use crate::config::RunConfig;
use crate::output;
use crate::services::Credential;

/// The credential to send with, or `None` when nothing is left to send.
/// Without `--yes`, asks on the terminal (not stdin, which may carry the list).
pub fn confirm(
    target: &mut Target,
    cfg: &RunConfig,
    todo: &Todo,
) -> Result<Option<Credential>, RunError> {
    let count = todo.open_count();
    if count == 0 {
        return Ok(None);
    }
    let read = target
        .credential
        .take()
        .ok_or_else(|| RunError::Usage("the credential was already read".into()))?;
    let credential = read(cfg.token_file.as_deref()).map_err(|e| RunError::Usage(e.to_string()))?;
    let duration = super::expected_duration(target, cfg, todo.fresh.len());
    let scale = target.service.scale_note(target.kind, count);
    if let (Some(s), true) = (&scale, cfg.yes) {
        output::warn(s);
    }
    if !cfg.yes {
        let base = target.base(cfg, Some(&credential))?;
        let host = format!(
            "{}, {}; credential from {}",
            base.host_str().unwrap_or_default(),
            target.host_origin(cfg),
            target.credential_origin(cfg)
        );
        ask(target, &host, count, duration.as_deref(), scale.as_deref())?;
    } else if let Some(d) = &duration {
        output::info(&format!("expected duration: {d}"));
    }
    Ok(Some(credential))
}

fn ask(
    target: &Target,
    host: &str,
    count: usize,
    duration: Option<&str>,
    scale: Option<&str>,
) -> Result<(), RunError> {
    let display = target.display();
    let note: String = target
        .service
        .erasure_note()
        .into_iter()
        .chain(scale.map(str::to_string))
        .map(|n| format!("\n{n}"))
        .collect();
    let duration = duration
        .map(|d| format!("\nExpected duration: {d}."))
        .unwrap_or_default();
    ask_text(
        &format!(
            "About to delete {count} people from {display} ({host}), identified by {}. This cannot be undone.{note}{duration}",
            target.kind
        ),
        &format!("refusing to delete {count} people from {display} without confirmation"),
    )
}

/// Show `what` on the terminal and go on only if the answer is `yes`; without
/// a terminal, refuse with `refusing` and say to pass `--yes`.
pub fn ask_text(what: &str, refusing: &str) -> Result<(), RunError> {
    let refuse = |why: &str| {
        RunError::NotConfirmed(format!(
            "{refusing}: {why}; pass --yes to confirm non-interactively"
        ))
    };
    if !output::stderr_is_terminal() {
        return Err(refuse("no terminal to ask on"));
    }
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| refuse("cannot open the terminal"))?;
    let prompt = output::escape(&format!("{what}\nType 'yes' to continue: "));
    let _ = write!(tty, "{prompt}");
    let _ = tty.flush();
    let mut answer = String::new();
    if BufReader::new(&tty).read_line(&mut answer).is_err() {
        return Err(refuse("could not read an answer"));
    }
    // Only what the prompt asks for: a destructive step is not confirmed by `y`.
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(RunError::NotConfirmed(
            "not confirmed (type the word yes to go on): nothing sent".into(),
        ))
    }
}
