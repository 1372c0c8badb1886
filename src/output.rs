//! Everything purge prints: data on stdout, messages and the progress bar on stderr.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI8, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

static LEVEL: AtomicI8 = AtomicI8::new(0);
static CONCEAL: AtomicBool = AtomicBool::new(false);
static BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// -1 quiet, 0 normal, 1.. `-v` count.
pub fn set_level(level: i8) {
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn level() -> i8 {
    LEVEL.load(Ordering::Relaxed)
}

/// `--hash-ids`: from now on every e-mail address in anything printed (a
/// vendor's answer at `-vvv`, a message, the `--json` summary) is replaced by
/// the start of its hash, as the report writes it.
pub fn set_concealing(on: bool) {
    CONCEAL.store(on, Ordering::Relaxed);
}

/// Whether `--hash-ids` conceals what is printed (see [`set_concealing`]).
pub fn concealing() -> bool {
    CONCEAL.load(Ordering::Relaxed)
}

/// `text` as purge may print it (see [`set_concealing`]).
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if CONCEAL.load(Ordering::Relaxed) {
        crate::conceal::conceal(text, None)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// `text` made safe for a terminal: control characters (ESC sequences, carriage
/// returns, …) and bidirectional overrides are written as escapes (`\u{1b}`), so
/// an identifier or a vendor's answer can never move the cursor, clear the screen
/// or disguise a message. Newlines and tabs stay.
pub fn escape(text: &str) -> String {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            // Bidirectional overrides, line and paragraph separators, and the
            // zero-width characters that hide text or split a word unseen.
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
    };
    if !text.chars().any(unsafe_char) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// One line on stderr. A closed stderr (a pager quit, `| head -1`: EPIPE)
/// stops the printing, never the run: `eprintln!` would panic there, with
/// outcomes still unrecorded.
fn emit(line: &str) {
    let line = escape(&printable(line));
    let line = line.as_str();
    let print = || {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    };
    let bars = BARS.lock().ok().and_then(|b| b.clone());
    match bars {
        Some(bars) => bars.suspend(print),
        None => print(),
    }
}

/// A problem the user must see, whatever the verbosity.
pub fn error(msg: &str) {
    emit(&format!("purge: error: {msg}"));
}

/// Something surprising that does not stop the run (hidden by nothing).
pub fn warn(msg: &str) {
    emit(&format!("purge: warning: {msg}"));
}

/// Normal progress messages (hidden by `-q`).
pub fn info(msg: &str) {
    if level() >= 0 {
        emit(msg);
    }
}

/// Shown from `-v` (1), `-vv` (2) or `-vvv` (3) on.
pub fn debug(at: i8, msg: &str) {
    if level() >= at {
        emit(msg);
    }
}

/// Data on stdout (dry-run plan, `--json` summary); buffered, flushed by the caller.
pub fn stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock())
}

/// One line of data on stdout.
pub fn data_line(line: &str) {
    let line = printable(line);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Whether stderr is a terminal (progress bar, confirmation prompt).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// One vendor's progress bar (hidden when stderr is not a terminal, or `-q`).
/// Several show at once, one line each (`purge everywhere`).
#[derive(Clone, Default)]
pub struct Progress(Option<ProgressBar>);

/// A progress bar over `total` identifiers, labelled with the vendor's name.
pub fn progress(total: u64, label: &str) -> Progress {
    if level() < 0 || !stderr_is_terminal() {
        return Progress(None);
    }
    let Ok(mut bars) = BARS.lock() else {
        return Progress(None);
    };
    let multi = bars.get_or_insert_with(MultiProgress::new);
    let bar = multi.add(ProgressBar::new(total));
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {prefix:12} [{elapsed_precise}] {bar:30} {pos}/{len} people ({per_sec}, eta {eta}) {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(label.to_string());
    Progress(Some(bar))
}

impl Progress {
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    /// Clear this bar (the others go on drawing).
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
            if let Ok(bars) = BARS.lock()
                && let Some(multi) = bars.as_ref()
            {
                multi.remove(bar);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(escape("plain text\nnext\tcol"), "plain text\nnext\tcol");
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("over\rwrite"), "over\\u{d}write");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape("bell\x07"), "bell\\u{7}");
    }
}
