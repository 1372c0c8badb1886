//! Input: positional ids, files and stdin; plain lines or CSV; validation,
//! dedupe and `file:line` sources. Streams each source, keeping only the
//! distinct identifiers in memory.

mod handoff;
mod seen;
pub mod validate;

pub(crate) use seen::Table;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::model::{Check, Ident, KindSpec, SourceRef};

/// How a source is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Lines,
    Csv,
}

/// `--column`: a header name or a 1-based column number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Name(String),
    Number(usize),
}

impl Column {
    pub fn parse(s: &str) -> Column {
        match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => Column::Number(n),
            _ => Column::Name(s.trim().to_string()),
        }
    }
}

/// What to read and how.
#[derive(Debug, Clone)]
pub struct InputSpec {
    pub positional: Vec<String>,
    /// `-i FILE`; `-` is stdin.
    pub files: Vec<PathBuf>,
    pub column: Option<Column>,
    /// `--ref-column`: the CSV column of each person's reference.
    pub ref_column: Option<String>,
    pub format: Option<Format>,
    pub kind: KindSpec,
    /// `-` read from these bytes (stdin, read once for several vendors), not
    /// from the process's stdin.
    pub stdin: Option<std::sync::Arc<[u8]>>,
}

/// An identifier rejected before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub value: String,
    pub source: SourceRef,
    pub reason: String,
}

/// Everything read from the inputs.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub idents: Vec<Ident>,
    pub rejected: Vec<Rejected>,
    pub duplicates: usize,
    /// Where the first few duplicates are, and where each was first read.
    pub duplicate_of: Vec<(SourceRef, SourceRef)>,
    /// Distinct identifiers read (as many as `idents` when they are kept).
    pub distinct: usize,
    /// Source names, indexed by [`SourceRef::source`].
    pub sources: Vec<String>,
    /// `--ref-column`: each identifier's reference (its first row's).
    pub refs: HashMap<String, String>,
}

impl Loaded {
    /// `file:line` of a source reference.
    pub fn place(&self, s: SourceRef) -> String {
        let name = self
            .sources
            .get(s.source as usize)
            .map_or("?", String::as_str);
        format!("{name}:{}", s.line)
    }
}

/// An input that cannot be used: nothing is sent (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{place}: {message}")]
    Bad { place: String, message: String },
    #[error("{0}")]
    Usage(String),
}

fn bad(name: &str, line: Option<u64>, message: impl Into<String>) -> InputError {
    let place = match line {
        Some(l) => format!("{name}:{l}"),
        None => name.to_string(),
    };
    InputError::Bad {
        place,
        message: message.into(),
    }
}

/// Read every source in order, keeping every distinct identifier.
pub fn load(spec: &InputSpec) -> Result<Loaded, InputError> {
    let mut idents = vec![];
    let mut loaded = stream(spec, &mut |i| {
        idents.push(i);
        true
    })?;
    loaded.idents = idents;
    Ok(loaded)
}

/// Read every source in order, handing each distinct identifier to `sink` as
/// it is read (the dry run lists its requests as they fill), until the sink
/// answers `false`; the identifiers are not kept (`Loaded::idents` is empty,
/// `Loaded::distinct` counts them). Only their dedupe keys are: 12 bytes each
/// ([`seen`]). The sources are read, and the keys deduplicated, on two
/// threads of their own ([`handoff`]); `sink` is called on the caller's.
pub fn stream(spec: &InputSpec, sink: &mut dyn FnMut(Ident) -> bool) -> Result<Loaded, InputError> {
    let handoff::Pipeline {
        chunker,
        dedupe,
        taker,
    } = handoff::pipeline();
    let (read, found) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_all(spec, chunker));
        let deduper = scope.spawn(move || handoff::dedupe(dedupe, DUPLICATES_SHOWN));
        handoff::hand_to(taker, sink);
        (
            reader
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            deduper
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        )
    });
    let (mut loaded, bases) = read?;
    loaded.distinct = found.distinct;
    loaded.duplicates = found.duplicates;
    loaded.duplicate_of = found
        .first
        .into_iter()
        .map(|(at, first)| (at, place_of(&bases, first)))
        .collect();
    if loaded.distinct == 0 && loaded.rejected.is_empty() {
        return Err(nothing_read(spec));
    }
    Ok(loaded)
}

/// [`stream`]'s reading side: every source in order, each valid identifier
/// with its key to the pipeline until the sink wants no more; what was read
/// (all but the dedupe's counts), and each source's base ordinal.
fn read_all(spec: &InputSpec, chunker: handoff::Chunker) -> Result<(Loaded, Vec<u32>), InputError> {
    let mut acc = Accumulator {
        loaded: Loaded::default(),
        keys: seen::Keys::default(),
        check: spec.kind.check,
        bases: vec![],
        top: 0,
        chunker,
        stopped: false,
    };
    if !spec.positional.is_empty() {
        let src = acc.source("argument");
        for (n, raw) in spec.positional.iter().enumerate() {
            acc.push(raw, src, n as u64 + 1, None);
        }
    }
    let mut stdin_used = false;
    for path in &spec.files {
        if acc.stopped {
            break;
        }
        if path == Path::new("-") {
            if stdin_used {
                return Err(InputError::Usage(
                    "-i - (stdin) is given more than once".into(),
                ));
            }
            stdin_used = true;
            let src = acc.source("<stdin>");
            match &spec.stdin {
                Some(bytes) => read_source(spec, &mut acc, src, "<stdin>", None, &bytes[..])?,
                None => read_source(spec, &mut acc, src, "<stdin>", None, io::stdin().lock())?,
            }
        } else {
            let name = path.display().to_string();
            let file =
                File::open(path).map_err(|e| bad(&name, None, format!("cannot open: {e}")))?;
            if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                return Err(bad(&name, None, "is a directory, not a file"));
            }
            let src = acc.source(&name);
            read_source(spec, &mut acc, src, &name, Some(path), file)?;
        }
    }
    acc.chunker.send();
    Ok((acc.loaded, acc.bases))
}

/// The error of inputs that held no identifier.
fn nothing_read(spec: &InputSpec) -> InputError {
    let from = if spec.files.is_empty() && spec.positional.is_empty() {
        "no identifiers given: pass them as arguments, with -i FILE, or -i - for stdin".to_string()
    } else {
        let names: Vec<String> = spec.files.iter().map(|p| p.display().to_string()).collect();
        format!(
            "no identifiers found in {}",
            if names.is_empty() {
                "the arguments".to_string()
            } else {
                names.join(", ")
            }
        )
    };
    InputError::Usage(from)
}

/// How many duplicates are named by place (the rest are counted).
pub const DUPLICATES_SHOWN: usize = 3;

struct Accumulator {
    loaded: Loaded,
    keys: seen::Keys,
    check: Check,
    /// Per source, the ordinal of its line 0: where an identifier was first
    /// read is one number, `bases[source] + line`.
    bases: Vec<u32>,
    /// The highest ordinal so far.
    top: u32,
    /// Where valid identifiers go, with their keys, to be deduplicated.
    chunker: handoff::Chunker,
    /// The sink wants no more: the sources are not read further.
    stopped: bool,
}

/// The `file:line` of an ordinal, given each source's base ([`Accumulator::bases`]).
fn place_of(bases: &[u32], ordinal: u32) -> SourceRef {
    let source = bases.iter().rposition(|b| *b < ordinal).unwrap_or(0);
    SourceRef {
        source: source as u32,
        line: ordinal - bases.get(source).copied().unwrap_or(0),
    }
}

impl Accumulator {
    fn source(&mut self, name: &str) -> u32 {
        self.loaded.sources.push(name.to_string());
        self.bases.push(self.top);
        (self.loaded.sources.len() - 1) as u32
    }

    /// Take `raw`, read at `line` (with its reference, `--ref-column`).
    fn push(&mut self, raw: &str, source: u32, line: u64, reference: Option<&str>) {
        let source = SourceRef {
            source,
            line: u32::try_from(line).unwrap_or(u32::MAX),
        };
        let raw = trim(raw);
        // Almost every e-mail: valid, in small letters, its own dedupe bytes.
        if self.check == Check::Email
            && reference.is_none()
            && validate::plain_email(raw.as_bytes()) == Some(true)
        {
            let key = self.keys.key(raw.as_bytes());
            return self.take(raw, source, key);
        }
        let value = match validate::validate(self.check, raw) {
            Ok(value) => value,
            Err(reason) => {
                return self.loaded.rejected.push(Rejected {
                    value: raw.chars().take(validate::MAX_TEXT_LEN).collect(),
                    source,
                    reason,
                });
            }
        };
        if let Some(r) = reference.filter(|r| !r.is_empty())
            && !self.loaded.refs.contains_key(&*value)
        {
            self.loaded.refs.insert(value.to_string(), r.to_string());
        }
        let key = validate::with_dedupe_bytes(self.check, &value, |b| self.keys.key(b));
        self.take(&value, source, key);
    }

    /// A valid identifier, with its dedupe key, on to the dedupe.
    fn take(&mut self, value: &str, source: SourceRef, key: u128) {
        let ordinal = self.bases[source.source as usize].saturating_add(source.line);
        self.top = self.top.max(ordinal);
        self.stopped = !self.chunker.push(value, source, key, ordinal);
    }
}

/// `s` without white space at either end (`str::trim`), by bytes when its
/// ends are printable ASCII (almost every list).
fn trim(s: &str) -> &str {
    let t = s.trim_ascii();
    match (t.as_bytes().first(), t.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => t,
        _ => t.trim(),
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn read_source(
    spec: &InputSpec,
    acc: &mut Accumulator,
    src: u32,
    name: &str,
    path: Option<&Path>,
    reader: impl Read,
) -> Result<(), InputError> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let head = reader
        .fill_buf()
        .map_err(|e| bad(name, None, format!("cannot read: {e}")))?;
    if head.starts_with(BOM) {
        reader.consume(BOM.len());
    }
    let head = reader
        .fill_buf()
        .map_err(|e| bad(name, None, format!("cannot read: {e}")))?;
    acc.chunker.reserve(expected_lines(path, head));
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let ext = path
        .and_then(|p| p.extension())
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let format = spec.format.unwrap_or_else(|| {
        let sniffed = first_line.iter().any(|b| matches!(b, b',' | b'\t' | b';'));
        // A first line that is a header naming the kind (`email`, `id`, …): a
        // one-column CSV, as a spreadsheet export piped to stdin looks.
        let header = std::str::from_utf8(first_line).is_ok_and(|l| {
            let l = l.trim();
            spec.kind.headers.iter().any(|h| h.eq_ignore_ascii_case(l))
        });
        if spec.column.is_some()
            || spec.ref_column.is_some()
            || matches!(ext.as_deref(), Some("csv" | "tsv"))
            || sniffed
            || header
        {
            Format::Csv
        } else {
            Format::Lines
        }
    });
    match format {
        Format::Lines if spec.ref_column.is_some() => Err(bad(
            name,
            None,
            "--ref-column needs CSV input with a header row, but this is read as one identifier a line (--format lines)",
        )),
        Format::Lines => read_lines(acc, src, name, reader),
        Format::Csv => {
            let delimiter = if ext.as_deref() == Some("tsv") {
                b'\t'
            } else {
                sniff_delimiter(first_line)
            };
            read_csv(spec, acc, src, name, delimiter, reader)
        }
    }
}

/// How many lines a regular file at `path` holds, judged by its first
/// bytes (`head`): its size over their lines' length (0 for a pipe), and
/// never more than [`RESERVED_LINES`]. The dedupe tables are made that big at
/// once (about 15 bytes a line) rather than copied as they grow.
pub(crate) fn expected_lines(path: Option<&Path>, head: &[u8]) -> usize {
    let size = path
        .and_then(|p| std::fs::metadata(p).ok())
        .filter(std::fs::Metadata::is_file)
        .map_or(0, |m| m.len());
    let lines = head.iter().filter(|&&b| b == b'\n').count().max(1) as u64;
    let judged = size.saturating_mul(lines) / head.len().max(1) as u64;
    usize::try_from(judged).map_or(RESERVED_LINES, |n| n.min(RESERVED_LINES))
}

/// The most lines the dedupe tables are made ready for ahead (about 250 MB):
/// a file whose first lines are short, then long, costs no more than this.
const RESERVED_LINES: usize = 1 << 24;

fn sniff_delimiter(line: &[u8]) -> u8 {
    [b',', b'\t', b';']
        .into_iter()
        .max_by_key(|d| line.iter().filter(|b| *b == d).count())
        .filter(|d| line.contains(d))
        .unwrap_or(b',')
}

/// One identifier a line, read a buffer at a time: the whole lines in it
/// are checked for UTF-8 at once, a line cut by the buffer's end is carried
/// to the next.
fn read_lines(
    acc: &mut Accumulator,
    src: u32,
    name: &str,
    mut reader: impl BufRead,
) -> Result<(), InputError> {
    let mut lines = Lines {
        acc,
        src,
        name,
        line_no: 0,
    };
    let mut carry = Vec::new();
    loop {
        let line_no = lines.line_no;
        let buf = reader
            .fill_buf()
            .map_err(|e| bad(name, Some(line_no + 1), format!("cannot read: {e}")))?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let mut rest = buf;
        if !carry.is_empty() {
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                carry.extend_from_slice(rest);
                reader.consume(n);
                continue;
            };
            carry.extend_from_slice(&rest[..=end]);
            rest = &rest[end + 1..];
            lines.take(&carry)?;
            carry.clear();
        }
        let whole = rest.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        lines.take(&rest[..whole])?;
        carry.extend_from_slice(&rest[whole..]);
        reader.consume(n);
        if lines.acc.stopped {
            return Ok(());
        }
    }
    lines.take(&carry)
}

/// [`read_lines`]' lines, numbered as read.
struct Lines<'a> {
    acc: &'a mut Accumulator,
    src: u32,
    name: &'a str,
    line_no: u64,
}

impl Lines<'_> {
    /// Whole lines (the last may lack its newline): each one's identifier,
    /// unless it is blank or a comment; a line that is not UTF-8 ends the
    /// read, after the lines before it.
    fn take(&mut self, bytes: &[u8]) -> Result<(), InputError> {
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let upto = bytes[..e.valid_up_to()]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                self.take(&bytes[..upto])?;
                if self.acc.stopped {
                    return Ok(());
                }
                return Err(bad(
                    self.name,
                    Some(self.line_no + 1),
                    "not UTF-8 text (convert the file to UTF-8, e.g. with iconv)",
                ));
            }
        };
        for line in text.split_inclusive('\n') {
            self.line_no += 1;
            let line = trim(line);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            self.acc.push(line, self.src, self.line_no, None);
            if self.acc.stopped {
                break;
            }
        }
        Ok(())
    }
}

fn read_csv(
    spec: &InputSpec,
    acc: &mut Accumulator,
    src: u32,
    name: &str,
    delimiter: u8,
    reader: impl Read,
) -> Result<(), InputError> {
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        // Records end at LF; a CR before it is trimmed as white space. (With the
        // default CRLF terminator the csv crate miscounts lines in CRLF files.)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    // The first row is the header.
    if !csv
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(name, e))?
    {
        return Ok(());
    }
    let (headers, pick) = read_header(spec, name, &record)?;
    let header_line = record.position().map_or(1, |p| p.line());
    let reference = ref_column(spec, &headers).map_err(|m| bad(name, Some(header_line), m))?;
    while !acc.stopped
        && csv
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(name, e))?
    {
        read_row(acc, (src, name), &record, &headers, pick, reference)?;
    }
    Ok(())
}

fn csv_error(name: &str, e: csv::Error) -> InputError {
    let line = e.position().map(|p| p.line());
    bad(name, line, format!("cannot read CSV: {e}"))
}

/// The header row: its names and the column(s) the identifiers are in; a
/// warning when a one-column header looks like an identifier itself.
fn read_header(
    spec: &InputSpec,
    name: &str,
    record: &csv::ByteRecord,
) -> Result<(Vec<String>, Pick), InputError> {
    let header_line = record.position().map_or(1, |p| p.line());
    let headers: Vec<String> = record
        .iter()
        .map(|f| {
            std::str::from_utf8(f)
                .map(|s| s.trim().to_string())
                .map_err(|_| bad(name, Some(header_line), "header is not UTF-8 text"))
        })
        .collect::<Result<_, _>>()?;
    let pick = pick_columns(spec, &headers).map_err(|m| bad(name, Some(header_line), m))?;
    if headers.len() == 1
        && !matches!(
            spec.kind.check,
            Check::Text | Check::VendorId | Check::NoComma
        )
        && validate::validate(spec.kind.check, &headers[0]).is_ok()
    {
        crate::output::warn(&format!(
            "{name}:{header_line}: the first row ({}) is read as the CSV header, not as an identifier; \
             use --format lines for a list without a header",
            headers[0]
        ));
    }
    Ok((headers, pick))
}

/// One data row: its identifier, or why the row has none.
fn read_row(
    acc: &mut Accumulator,
    (src, name): (u32, &str),
    record: &csv::ByteRecord,
    headers: &[String],
    pick: Pick,
    reference: Option<usize>,
) -> Result<(), InputError> {
    let line = record.position().map_or(0, |p| p.line());
    let field = |i: usize| -> Result<Option<&str>, InputError> {
        match record.get(i) {
            None => Ok(None),
            Some(f) => std::str::from_utf8(f).map(Some).map_err(|_| {
                bad(
                    name,
                    Some(line),
                    "not UTF-8 text (convert the file to UTF-8, e.g. with iconv)",
                )
            }),
        }
    };
    let value = match pick {
        Pick::One(i) => field(i)?.map(str::to_string),
        Pick::Pair(a, b) => match (field(a)?, field(b)?) {
            (Some(l), Some(n)) => Some(format!("{l}:{n}")),
            _ => None,
        },
    };
    match value {
        Some(v) => {
            let reference = reference.map(field).transpose()?.flatten();
            acc.push(&v, src, line, reference);
        }
        None => acc.loaded.rejected.push(Rejected {
            value: String::new(),
            source: SourceRef {
                source: src,
                line: u32::try_from(line).unwrap_or(u32::MAX),
            },
            reason: format!("row has no column {}", pick.describe(headers)),
        }),
    }
    Ok(())
}

/// The index of `--ref-column`'s column in the header, if it is set.
fn ref_column(spec: &InputSpec, headers: &[String]) -> Result<Option<usize>, String> {
    let Some(want) = &spec.ref_column else {
        return Ok(None);
    };
    headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case(want))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "--ref-column {want:?}: no such column; the header has {}",
                headers
                    .iter()
                    .map(|h| format!("{h:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

#[derive(Debug, Clone, Copy)]
enum Pick {
    One(usize),
    /// Two columns making one identifier ([`KindSpec::pair`]), joined as `A:B`.
    Pair(usize, usize),
}

impl Pick {
    fn describe(&self, headers: &[String]) -> String {
        let h = |i: usize| {
            headers
                .get(i)
                .cloned()
                .unwrap_or_else(|| (i + 1).to_string())
        };
        match *self {
            Pick::One(i) => h(i),
            Pick::Pair(a, b) => format!("{} and {}", h(a), h(b)),
        }
    }
}

fn pick_columns(spec: &InputSpec, headers: &[String]) -> Result<Pick, String> {
    let find = |want: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(want));
    let listed = || {
        headers
            .iter()
            .map(|h| format!("{h:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &spec.column {
        Some(Column::Name(n)) => find(n)
            .map(Pick::One)
            .ok_or_else(|| format!("no column named {n:?}; the header has {}", listed())),
        Some(Column::Number(n)) => {
            if *n <= headers.len() {
                Ok(Pick::One(n - 1))
            } else {
                Err(format!(
                    "--column {n} but the header has {} column(s): {}",
                    headers.len(),
                    listed()
                ))
            }
        }
        None => {
            if let Some(i) = spec.kind.headers.iter().find_map(|h| find(h)) {
                return Ok(Pick::One(i));
            }
            if let Some((a, b)) = spec.kind.pair
                && let (Some(l), Some(n)) = (find(a), find(b))
            {
                return Ok(Pick::Pair(l, n));
            }
            if headers.len() == 1 {
                return Ok(Pick::One(0));
            }
            Err(format!(
                "cannot tell which column holds the {} identifiers; the header has {}: pass --column NAME or --column N",
                spec.kind.kind,
                listed()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use std::io::Write;

    const EMAIL: KindSpec = KindSpec {
        kind: Kind::Email,
        check: Check::Email,
        headers: &["email", "e-mail"],
        pair: None,
    };

    fn spec(files: Vec<PathBuf>) -> InputSpec {
        InputSpec {
            positional: vec![],
            files,
            column: None,
            ref_column: None,
            format: None,
            kind: EMAIL,
            stdin: None,
        }
    }

    fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.path().join(name);
        File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    #[test]
    fn csv_with_bom_crlf_quotes_and_header_detection() {
        let d = tempfile::tempdir().unwrap();
        let p = file(
            &d,
            "x.csv",
            b"\xEF\xBB\xBFname,E-Mail\r\n\"Doe, J\",\"j@x.io\"\r\nA, A@X.io \r\nB,a@x.io\r\nC,nope\r\n",
        );
        let l = load(&spec(vec![p])).unwrap();
        let v: Vec<&str> = l.idents.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(v, ["j@x.io", "A@X.io"]);
        assert_eq!(l.duplicates, 1);
        assert_eq!(l.rejected.len(), 1);
        assert_eq!(
            l.place(l.rejected[0].source),
            format!("{}:5", d.path().join("x.csv").display())
        );
    }

    #[test]
    fn lines_skip_blanks_and_comments_and_keep_line_numbers() {
        let d = tempfile::tempdir().unwrap();
        let p = file(&d, "list.txt", b"# header\n\na@x.io\r\n  b@x.io  \nbad\n");
        let l = load(&spec(vec![p])).unwrap();
        assert_eq!(l.idents.len(), 2);
        assert_eq!(l.idents[1].source.line, 4);
        assert_eq!(l.rejected[0].source.line, 5);
    }

    #[test]
    fn non_utf8_names_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let p = file(&d, "l.txt", b"a@x.io\nb\xff@x.io\n");
        let e = load(&spec(vec![p])).unwrap_err().to_string();
        assert!(e.contains("l.txt:2") && e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn ambiguous_csv_lists_headers() {
        let d = tempfile::tempdir().unwrap();
        let p = file(&d, "x.csv", b"a,b\n1,2\n");
        let e = load(&spec(vec![p])).unwrap_err().to_string();
        assert!(e.contains("\"a\", \"b\"") && e.contains("--column"), "{e}");
    }

    #[test]
    fn column_by_name_and_number() {
        let d = tempfile::tempdir().unwrap();
        let p = file(&d, "x.tsv", b"who\tmail\nx\ta@x.io\n");
        let mut s = spec(vec![p.clone()]);
        s.column = Some(Column::parse("MAIL"));
        assert_eq!(load(&s).unwrap().idents[0].value, "a@x.io");
        s.column = Some(Column::parse("2"));
        assert_eq!(load(&s).unwrap().idents[0].value, "a@x.io");
        s.column = Some(Column::parse("3"));
        assert!(load(&s).is_err());
    }

    #[test]
    fn empty_input_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = file(&d, "e.txt", b"\n# nothing\n");
        assert!(load(&spec(vec![p])).is_err());
        assert!(load(&spec(vec![])).is_err());
        assert!(load(&spec(vec![d.path().join("missing.txt")])).is_err());
    }

    /// Lines that the read buffer cuts (one longer than the buffer itself)
    /// keep their text and their numbers, and so does a line that is not
    /// UTF-8 far into the file.
    #[test]
    fn lines_cut_by_the_read_buffer_keep_their_text_and_numbers() {
        let d = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..20_000 {
            text += &format!("{}{i}@example.com\r\n", "x".repeat(i % 37));
            if i % 1000 == 0 {
                text += "# a comment\n\n";
            }
        }
        let long_at = 20_000 + 2 * 20 + 1;
        text += &format!("{}@example.com\nlast@example.com", "y".repeat(100_000));
        let l = load(&spec(vec![file(&d, "l.txt", text.as_bytes())])).unwrap();
        assert_eq!(l.idents.len(), 20_001);
        assert_eq!(
            l.idents[19_999].value,
            format!("{}19999@example.com", "x".repeat(19_999 % 37))
        );
        let last = l.idents.last().unwrap();
        assert_eq!(
            (last.value.as_str(), last.source.line),
            ("last@example.com", long_at + 1)
        );
        assert_eq!(l.rejected.len(), 1);
        assert_eq!(l.rejected[0].source.line, long_at);
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"\nok@example.com\nbad\xff@example.com\n");
        let e = load(&spec(vec![file(&d, "b.txt", &bytes)])).unwrap_err();
        assert!(
            e.to_string().contains(&format!("b.txt:{}", long_at + 3)),
            "{e}"
        );
    }

    /// A sink that wants no more stops the reading and the dedupe a few
    /// chunks later (at most the queued ones: about 270,000 identifiers).
    #[test]
    fn a_sink_that_wants_no_more_stops_the_read() {
        let d = tempfile::tempdir().unwrap();
        let text: String = (0..1_000_000)
            .map(|i| format!("u{i}@example.com\n"))
            .collect();
        let mut handed = 0;
        let loaded = stream(&spec(vec![file(&d, "l.txt", text.as_bytes())]), &mut |_| {
            handed += 1;
            handed < 10
        })
        .unwrap();
        assert_eq!(handed, 10);
        assert!(loaded.distinct < 400_000, "{}", loaded.distinct);
    }

    /// The dedupe tables are sized from a file's bytes over its first
    /// lines' length; a stream's size is not known.
    #[test]
    fn a_files_lines_are_judged_from_its_size_and_first_lines() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..100_000)
            .map(|i| format!("u{i:06}@example.com\n"))
            .collect();
        let p = file(&dir, "list.txt", text.as_bytes());
        let head = &text.as_bytes()[..64 * 1024];
        let judged = expected_lines(Some(&p), head);
        assert!((99_900..=100_000).contains(&judged), "{judged}");
        assert_eq!(expected_lines(None, head), 0);
        assert_eq!(expected_lines(Some(dir.path()), head), 0);
        // A terabyte (sparse) of short first lines: no more than the cap.
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(1 << 40)
            .unwrap();
        assert_eq!(expected_lines(Some(&p), b"a@b.c\n"), RESERVED_LINES);
    }

    #[test]
    fn a_first_line_naming_the_kind_is_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("list");
        std::fs::write(&p, "Email\nperson1@example.com\nperson2@example.com\n").unwrap();
        let spec = InputSpec {
            positional: vec![],
            files: vec![p],
            column: None,
            ref_column: None,
            format: None,
            kind: EMAIL,
            stdin: None,
        };
        let loaded = load(&spec).unwrap();
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        assert_eq!(loaded.idents.len(), 2);
    }
}
