//! `purge certificate`: an erasure certificate a data-protection officer can
//! file (issue #16), made from a run's JSON Lines report.
//!
//! The report is streamed once: its SHA-256 is computed while it is read, and
//! only what the document needs is kept (per vendor: counts, kinds, hosts; per
//! identifier: its last line, evidence strings shared). Identifiers are shown
//! hashed unless `--show-ids`; vendor text is hostile and is escaped for the
//! format (HTML: one file, inline CSS, no scripts, nothing external; Markdown:
//! tables with `|` and newlines escaped).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

pub use crate::conceal::conceal;
use crate::model::Status;
use crate::report::Line;

/// `purge certificate --report FILE -o FILE`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The JSON Lines report the certificate is made from (a run's --report file)
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// Where to write the certificate (`-` for stdout)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// The most people whose rows a certificate written to a file holds itself; past it the rows go to FILE's companion, NAME.people.jsonl beside it (one JSON line a person), which the certificate names with its SHA-256
    #[arg(long, value_name = "N", default_value_t = INLINE_PEOPLE)]
    pub inline_people: usize,
    /// html (one self-contained printable file) or md (Markdown); default: md for a .md -o file, html otherwise
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Show identifiers in clear instead of their SHA-256 (the file is then written with mode 0600)
    #[arg(long)]
    pub show_ids: bool,
    /// Overwrite the -o file if it exists
    #[arg(long)]
    pub force: bool,
    /// Answer for this person only (repeatable): the identifier as it was purged; works on a --hash-ids report too
    #[arg(long, value_name = "ADDRESS")]
    pub person: Vec<String>,
    /// Who made this certificate, named on the first page (default: the user making it, from $USER, $LOGNAME or the account); who ran each purge and verify is in the report's lines (Run by)
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// The configuration file whose [certificate] table names the controller and a contact (default: ./purge.toml, if there is one)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Who the certificate names: the data controller and a contact (the
/// `[certificate]` table of purge.toml) and the operator.
#[derive(Debug, Clone, Default)]
pub struct Attest {
    pub controller: Option<String>,
    pub contact: Option<String>,
    pub operator: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One self-contained HTML file (inline CSS, no scripts), printable on A4
    Html,
    /// Markdown
    Md,
    /// One JSON object (for a GRC tool): the same content, with a `people` array
    Json,
}

impl Format {
    /// `--format`, else from the output's extension (`.md`, `.markdown`), else HTML.
    pub fn choose(given: Option<Format>, output: &Path) -> Format {
        given.unwrap_or_else(|| {
            match output
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("md" | "markdown") => Format::Md,
                Some("json") => Format::Json,
                _ => Format::Html,
            }
        })
    }
}

/// Why no certificate was written. Nothing is left behind (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{}: no such report file; pass the file a purge run wrote with --report", path.display())]
    Missing { path: PathBuf },
    #[error("{}: cannot read the report: {err}; check the path and its permissions", path.display())]
    Read { path: PathBuf, err: io::Error },
    #[error(
        "{}:{line}: not a purge report line ({why}); a certificate is made only from an intact report: restore the file, or remove the line and keep a note of why",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error(
        "{}:{line}: the last line is cut off (the run was killed while writing it); resume that run with --resume (it repairs the report), then make the certificate",
        path.display()
    )]
    Torn { path: PathBuf, line: usize },
    #[error(
        "{}: the report has no lines, so there is nothing to certify; pass the report of a run that recorded outcomes",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error("{} exists already: choose another -o file, or pass --force to overwrite it", path.display())]
    Exists { path: PathBuf },
    #[error(
        "{}: is not a regular file (a device, FIFO, socket, directory or symbolic link); --force replaces only a regular file: choose another -o file",
        path.display()
    )]
    NotRegular { path: PathBuf },
    #[error("{}: -o names the report itself; write the certificate to another file", path.display())]
    SameFile { path: PathBuf },
    #[error("{}: cannot write the certificate: {err}", path.display())]
    Write { path: PathBuf, err: io::Error },
}

/// Outcome columns, in the order the per-vendor table shows them.
const COLUMNS: [Status; 11] = [
    Status::Verified,
    Status::Deleted,
    Status::Queued,
    Status::NotFound,
    Status::Unverifiable,
    Status::Skipped,
    Status::Present,
    Status::Failed,
    Status::Refused,
    Status::Invalid,
    Status::Pending,
];

/// Final outcomes that are exceptions (someone not erased), listed first, in this order;
/// an identifier whose last line is `pending` is one too.
const EXCEPTIONS: [Status; 4] = [
    Status::Present,
    Status::Failed,
    Status::Refused,
    Status::Invalid,
];

/// Where a person stands at one vendor, as the certificate sorts and counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Not erased: `present`, `failed`, `refused`, `invalid`. Needs action.
    Exception,
    /// Not proven erased: accepted or deleted without a verification,
    /// `unverifiable`, or still `pending` in an open job.
    NotProven,
    /// Verified gone, or the vendor never had the person (`not_found`, `skipped`).
    Proven,
}

/// The one place that decides a person's [`Standing`] at a vendor, from the
/// last purge outcome and the last verification (`verified`, `present`,
/// `unverifiable`), if any, and the evidence (`detail`) of the purge outcome
/// (a vendor's words may make an accepted deletion weaker than it looks).
pub fn standing(purge: Option<Status>, verify: Option<Status>, _detail: &str) -> Standing {
    match (purge, verify) {
        (_, Some(Status::Verified)) => Standing::Proven,
        (_, Some(Status::Present)) => Standing::Exception,
        (_, Some(_)) => Standing::NotProven,
        (Some(s), None) if s.is_exception() => Standing::Exception,
        (Some(Status::Queued | Status::Deleted | Status::Pending) | None, None) => {
            Standing::NotProven
        }
        (Some(_), None) => Standing::Proven,
    }
}

/// An outcome written by `purge verify`.
fn is_verification(s: Status) -> bool {
    matches!(s, Status::Verified | Status::Present | Status::Unverifiable)
}

/// The run's exceptions (`Status::is_exception`).
fn is_exception(s: Status) -> bool {
    s.is_exception()
}

/// Where an identifier's row goes: exceptions first (in [`EXCEPTIONS`] order), then the rest.
fn rank(s: Status) -> usize {
    EXCEPTIONS
        .iter()
        .position(|e| *e == s)
        .unwrap_or_else(|| EXCEPTIONS.len() + COLUMNS.iter().position(|c| *c == s).unwrap_or(0))
}

/// What each outcome means, as the certificate states it.
pub fn meaning(s: Status) -> &'static str {
    match s {
        Status::Verified => {
            "`purge verify` asked the vendor after the deletion, and the vendor no longer has the person."
        }
        Status::Deleted => {
            "The vendor answered that it erased the person's record (the evidence says `permanent`, or `soft`: the vendor keeps a soft-deleted record for a grace period, then erases it)."
        }
        Status::Queued => {
            "Accepted by the vendor for asynchronous deletion; not yet verified (the vendor notes below say what a vendor's acceptance counts)."
        }
        Status::NotFound => "The vendor has no such person: there was nothing to erase.",
        Status::Unverifiable => {
            "`purge verify` could not ask: the vendor offers no way to look the person up (the evidence says why)."
        }
        Status::Skipped => "Already done by an earlier run recorded in this report.",
        Status::Present => {
            "`purge verify` asked the vendor after the deletion, and the vendor STILL HAS the person: not erased."
        }
        Status::Failed => {
            "Not erased: the request failed (the evidence gives the HTTP status and the vendor's words, or `not attempted` when the run stopped first). Run it again with --resume."
        }
        Status::Refused => {
            "Not erased on purpose: the vendor record is one purge protects (the vendor notes below say which); the evidence names the flag that allows it."
        }
        Status::Invalid => {
            "Not sent: the identifier is not a valid one of its kind (the evidence gives its input file:line)."
        }
        Status::Pending => {
            "Not final: submitted in a vendor job that was still open when the report ended. Resume the run with --resume to finish it."
        }
    }
}

mod companion;
mod table;

pub use companion::RowsFile;
use table::{Key, Last, More, Strings, Table};

/// The most operators the certificate names (a report is a few runs).
const OPERATORS_SHOWN: usize = 20;

/// The most people whose rows a certificate written to a file holds itself
/// (`--inline-people`). Past it (issue #24: a million rows make an HTML file
/// no browser opens), the rows go to a companion JSON Lines file beside the
/// certificate, which names it with its SHA-256 and its count of lines.
pub const INLINE_PEOPLE: usize = 5_000;

/// The counts the document states, made once.
#[derive(Debug, Clone, Copy)]
struct Totals {
    people: usize,
    exceptions: usize,
    not_proven: usize,
}

/// Everything the certificate says, read from one report.
pub struct Aggregate {
    show_ids: bool,
    /// `--person`: the SHA-256 of the people the person table is limited to.
    pub only: Vec<[u8; 32]>,
    vendors: Vec<String>,
    kinds: Vec<String>,
    /// Hosts named on any line, per vendor.
    hosts: Vec<BTreeSet<String>>,
    /// Who ran the purges and verifications (the lines' `operator`), at most
    /// [`OPERATORS_SHOWN`] of them.
    operators: BTreeSet<String>,
    /// Each identifier's last line.
    last: Table,
    strings: Strings,
    /// The last `at` parsed (a report's times repeat).
    at_seen: Option<(Box<str>, SystemTime)>,
    first_at: Option<SystemTime>,
    last_at: Option<SystemTime>,
    totals: std::cell::OnceCell<Totals>,
    /// Every entry's index, by person (see [`Self::order`]).
    order: std::cell::OnceCell<Vec<u32>>,
    /// Non-blank lines read.
    pub lines: usize,
    /// SHA-256 hex of the report's bytes.
    pub sha256: String,
}

/// Hex of a digest, lower case.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `part` after what `out` holds, with ` · ` between.
fn push_part(out: &mut String, part: &str) {
    if !out.is_empty() {
        out.push_str(" · ");
    }
    out.push_str(part);
}

impl Aggregate {
    /// The host a line went to (per vendor) and who ran it.
    fn note_where(&mut self, vendor: u16, line: &Line) {
        if self.hosts.len() < self.vendors.len() {
            self.hosts.resize_with(self.vendors.len(), BTreeSet::new);
        }
        if let Some(h) = &line.host
            && !self.hosts[usize::from(vendor)].contains(h.as_str())
        {
            self.hosts[usize::from(vendor)].insert(h.clone());
        }
        if let Some(who) = &line.operator
            && self.operators.len() < OPERATORS_SHOWN
            && !self.operators.contains(who.as_str())
        {
            self.operators.insert(who.clone());
        }
    }

    /// Who ran the purges and verifications of the report, as its lines say.
    fn ran_by(&self) -> String {
        if self.operators.is_empty() {
            return "not recorded (a report written before purge recorded its operator)".into();
        }
        self.operators
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn new(show_ids: bool) -> Self {
        Aggregate {
            show_ids,
            only: vec![],
            vendors: vec![],
            kinds: vec![],
            hosts: vec![],
            operators: BTreeSet::new(),
            last: Table::default(),
            strings: Strings::default(),
            at_seen: None,
            first_at: None,
            last_at: None,
            totals: std::cell::OnceCell::new(),
            order: std::cell::OnceCell::new(),
            lines: 0,
            sha256: String::new(),
        }
    }

    fn index(names: &mut Vec<String>, name: &str) -> Result<u16, String> {
        if let Some(i) = names.iter().position(|n| n == name) {
            return Ok(i as u16);
        }
        if names.len() >= usize::from(u16::MAX) {
            return Err("too many distinct vendors or kinds".into());
        }
        names.push(name.to_string());
        Ok((names.len() - 1) as u16)
    }

    /// Take in report line `line_no` (1-based); the error says why it is not a report line.
    pub fn add(&mut self, line: Line, line_no: usize) -> Result<(), String> {
        if line.vendor.is_empty() {
            return Err("no vendor".into());
        }
        let hash = match (&line.id, &line.id_sha256) {
            (_, Some(h)) => {
                parse_hex(h).ok_or_else(|| "id_sha256 is not 64 hexadecimal digits".to_string())?
            }
            (Some(id), None) => Sha256::digest(id.as_bytes()).into(),
            (None, None) => return Err("no id or id_sha256".into()),
        };
        let line_no = u32::try_from(line_no)
            .map_err(|_| "the report has more than 4,294,967,295 lines".to_string())?;
        let at = self.note_time(&line.at)?;
        let vendor = Self::index(&mut self.vendors, &line.vendor)?;
        let kind = Self::index(&mut self.kinds, &line.kind)?;
        self.note_where(vendor, &line);
        let key = (vendor, kind, hash);
        let last = self.last_of(&line, line_no, at, &key);
        if let Some(old) = self.last.insert(key, last) {
            for id in [old.at, old.detail, old.job_id, old.unproven] {
                self.strings.release(id);
            }
        }
        self.lines += 1;
        self.totals.take();
        self.order.take();
        Ok(())
    }

    /// A line's `at`, kept once (its string id), and the report's first and last times.
    fn note_time(&mut self, at: &str) -> Result<u32, String> {
        if at.is_empty() || self.at_seen.as_ref().is_some_and(|(seen, _)| **seen == *at) {
            return Ok(self.strings.id(at));
        }
        let t = humantime::parse_rfc3339_weak(at)
            .map_err(|e| format!("`at` is not an RFC 3339 time: {e}"))?;
        self.at_seen = Some((at.into(), t));
        if self.first_at.is_none_or(|f| t < f) {
            self.first_at = Some(t);
        }
        if self.last_at.is_none_or(|l| t >= l) {
            self.last_at = Some(t);
        }
        Ok(self.strings.id(at))
    }

    /// The line as the certificate keeps it: its evidence concealed unless
    /// `--show-ids`; what an earlier line of the identifier had and this one
    /// lacks (the purge outcome beside a verification, the identifier in
    /// clear, the request reference) carried over.
    fn last_of(&mut self, line: &Line, line_no: u32, at: u32, key: &Key) -> Last {
        let clear = line.id.as_deref();
        let show = self.show_ids;
        let hide = |s: &str| -> String {
            if show {
                s.to_string()
            } else {
                conceal(s, clear).into_owned()
            }
        };
        let (purge_before, before) = match self.last.get_mut(key) {
            Some(l) => (l.purge, l.more.take().map(|m| *m).unwrap_or_default()),
            None => (None, More::default()),
        };
        let vendor_ids = (!line.vendor_ids.is_empty()).then(|| {
            let ids: Vec<String> = line.vendor_ids.iter().map(|v| hide(v)).collect();
            ids.join(", ").into_boxed_str()
        });
        let more = More {
            reference: (line.reference.as_deref().map(|r| hide(r).into_boxed_str()))
                .or(before.reference),
            clear: show
                .then(|| clear.map(Box::from).or(before.clear))
                .flatten(),
        };
        Last {
            status: line.outcome,
            purge: if is_verification(line.outcome) {
                purge_before
            } else {
                Some(line.outcome)
            },
            http_status: line.http_status,
            line: line_no,
            at,
            detail: self.strings.id(&hide(&line.detail)),
            job_id: (line.job_id.as_deref()).map_or(0, |j| self.strings.id(&hide(j))),
            unproven: (line.unproven.as_deref()).map_or(0, |u| self.strings.id(&hide(u))),
            vendor_ids,
            more: more.boxed(),
        }
    }

    /// Stream the report at `path`.
    pub fn read(path: &Path, show_ids: bool) -> Result<Aggregate, CertError> {
        let file = File::open(path).map_err(|err| {
            if err.kind() == io::ErrorKind::NotFound {
                CertError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                CertError::Read {
                    path: path.to_path_buf(),
                    err,
                }
            }
        })?;
        let read_err = |err| CertError::Read {
            path: path.to_path_buf(),
            err,
        };
        if file.metadata().map_err(read_err)?.is_dir() {
            return Err(CertError::Read {
                path: path.to_path_buf(),
                err: io::Error::other("it is a directory"),
            });
        }
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut agg = Aggregate::new(show_ids);
        let mut digest = Sha256::new();
        let mut buf = Vec::new();
        let mut line_no = 0;
        loop {
            buf.clear();
            let n = crate::report::read_line_capped(&mut reader, &mut buf).map_err(|err| {
                match crate::report::too_long(&err) {
                    Some(why) => CertError::Corrupt {
                        path: path.to_path_buf(),
                        line: line_no + 1,
                        why,
                    },
                    None => read_err(err),
                }
            })?;
            if n == 0 {
                break;
            }
            digest.update(&buf);
            line_no += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let complete = buf.ends_with(b"\n");
            let corrupt = |why: String| CertError::Corrupt {
                path: path.to_path_buf(),
                line: line_no,
                why,
            };
            let line: Line = match serde_json::from_slice(&buf) {
                Ok(l) => l,
                Err(_) if !complete => {
                    return Err(CertError::Torn {
                        path: path.to_path_buf(),
                        line: line_no,
                    });
                }
                Err(e) => return Err(corrupt(e.to_string())),
            };
            agg.add(line, line_no).map_err(corrupt)?;
        }
        if agg.lines == 0 {
            return Err(CertError::Empty {
                path: path.to_path_buf(),
            });
        }
        agg.sha256 = hex(&digest.finalize());
        Ok(agg)
    }

    /// Identifiers (distinct per vendor and kind).
    pub fn identifiers(&self) -> usize {
        self.last.len()
    }

    /// Vendor outcomes (a person at a vendor) that are exceptions.
    pub fn exceptions(&self) -> usize {
        self.totals().exceptions
    }

    /// Vendor outcomes not proven: accepted or deleted without a verification,
    /// unverifiable, or pending.
    pub fn not_proven(&self) -> usize {
        self.totals().not_proven
    }

    /// Distinct people (identifiers), whatever the vendors they are at.
    pub fn people(&self) -> usize {
        self.totals().people
    }

    fn totals(&self) -> Totals {
        *self.totals.get_or_init(|| {
            let (mut exceptions, mut not_proven) = (0, 0);
            for (_, l) in self.last.entries() {
                match self.standing_of(l) {
                    Standing::Exception => exceptions += 1,
                    Standing::NotProven => not_proven += 1,
                    Standing::Proven => {}
                }
            }
            Totals {
                people: self.count_people(self.order()),
                exceptions,
                not_proven,
            }
        })
    }

    fn standing_of(&self, l: &Last) -> Standing {
        let verify = is_verification(l.status).then_some(l.status);
        standing(l.purge, verify, self.strings.get(l.detail))
    }

    /// Every entry's index, by person (their hash), then vendor and kind;
    /// made once. Sorted by the first 64 bits of the hash (integers, in one
    /// array), then runs that share them (a person at several vendors) by the whole.
    fn order(&self) -> &[u32] {
        self.order.get_or_init(|| {
            let e = self.last.entries();
            let prefix = |i: u32| {
                let mut first = [0u8; 8];
                first.copy_from_slice(&e[i as usize].0.2[..8]);
                u64::from_be_bytes(first)
            };
            let mut keyed: Vec<(u64, u32)> = (0..e.len() as u32).map(|i| (prefix(i), i)).collect();
            keyed.sort_unstable();
            let mut order: Vec<u32> = keyed.iter().map(|(_, i)| *i).collect();
            drop(keyed);
            for run in order.chunk_by_mut(|a, b| prefix(*a) == prefix(*b)) {
                run.sort_unstable_by(|a, b| {
                    let (ka, kb) = (&e[*a as usize].0, &e[*b as usize].0);
                    (ka.2.cmp(&kb.2))
                        .then_with(|| {
                            self.vendors[usize::from(ka.0)].cmp(&self.vendors[usize::from(kb.0)])
                        })
                        .then_with(|| {
                            self.kinds[usize::from(ka.1)].cmp(&self.kinds[usize::from(kb.1)])
                        })
                });
            }
            order
        })
    }

    /// [`Self::order`] of the people in `only` (empty: everyone).
    fn by_person(&self, only: &[[u8; 32]]) -> std::borrow::Cow<'_, [u32]> {
        let order = self.order();
        if only.is_empty() {
            return order.into();
        }
        let e = self.last.entries();
        (order.iter().copied())
            .filter(|i| only.contains(&e[*i as usize].0.2))
            .collect::<Vec<u32>>()
            .into()
    }

    /// The people of a [`Self::by_person`] order.
    fn count_people(&self, order: &[u32]) -> usize {
        self.person_groups(order).count()
    }

    fn person_groups<'o>(
        &self,
        order: &'o [u32],
    ) -> std::slice::ChunkBy<'o, u32, impl FnMut(&u32, &u32) -> bool> {
        let e = self.last.entries();
        order.chunk_by(move |a, b| e[*a as usize].0.2 == e[*b as usize].0.2)
    }

    /// People in the People table: everyone, or those `--person` named who are in the report.
    fn people_shown(&self) -> usize {
        if self.only.is_empty() {
            self.people()
        } else {
            self.count_people(&self.by_person(&self.only))
        }
    }

    /// One row a person (the hash, or the identifier with `--show-ids`, and
    /// at each vendor the purge outcome, the verification and the evidence),
    /// in the order of their hash, each handed to `f` as it is made: no row
    /// is held. `only`: the people asked for (`--person`), by SHA-256;
    /// empty: everyone. Returns the number of rows.
    pub fn for_each_person(
        &self,
        only: &[[u8; 32]],
        mut f: impl FnMut(&PersonRow) -> io::Result<()>,
    ) -> io::Result<usize> {
        let e = self.last.entries();
        let order = self.by_person(only);
        let mut rows = 0;
        for group in self.person_groups(&order) {
            let at: Vec<&(Key, Last)> = group.iter().map(|i| &e[*i as usize]).collect();
            f(&self.person_row(&at))?;
            rows += 1;
        }
        Ok(rows)
    }

    /// The row of one person, from their entries (by vendor).
    fn person_row<'a>(&'a self, at: &[&'a (Key, Last)]) -> PersonRow<'a> {
        let sha256 = hex(&at[0].0.2);
        let id = match (self.show_ids, at.iter().find_map(|(_, l)| l.clear())) {
            (true, Some(clear)) => clear.to_string(),
            (true, None) => format!("sha256:{sha256}"),
            (false, _) => sha256.clone(),
        };
        let reference = at
            .iter()
            .filter(|(_, l)| l.reference().is_some())
            .max_by_key(|(_, l)| l.line)
            .and_then(|(_, l)| l.reference());
        PersonRow {
            id,
            sha256,
            reference,
            vendors: at
                .iter()
                .map(|(k, l)| VendorCell {
                    vendor: &self.vendors[usize::from(k.0)],
                    kind: &self.kinds[usize::from(k.1)],
                    purge: l.purge,
                    verify: is_verification(l.status).then_some(l.status),
                    standing: self.standing_of(l),
                    at: self.strings.get(l.at),
                    evidence: self.evidence(l),
                })
                .collect(),
        }
    }

    /// Whether any person of the People table has a request reference.
    fn has_refs(&self) -> bool {
        self.last.entries().iter().any(|(k, l)| {
            l.reference().is_some() && (self.only.is_empty() || self.only.contains(&k.2))
        })
    }

    /// Per vendor (by name): its kinds and the count of each final outcome ([`COLUMNS`] order).
    /// The last count is of people at the vendor.
    fn per_vendor(&self) -> Vec<(usize, BTreeSet<&str>, [u64; COLUMNS.len() + 1])> {
        let mut rows: Vec<(usize, BTreeSet<&str>, [u64; COLUMNS.len() + 1])> =
            (0..self.vendors.len())
                .map(|v| (v, BTreeSet::new(), [0; COLUMNS.len() + 1]))
                .collect();
        for ((v, k, _), l) in self.last.entries() {
            let row = &mut rows[usize::from(*v)];
            row.1.insert(self.kinds[usize::from(*k)].as_str());
            row.2[COLUMNS.len()] += 1;
            // The purge outcome and, beside it, the verification.
            let verify = is_verification(l.status).then_some(l.status);
            for s in l.purge.iter().chain(verify.iter()) {
                if let Some(c) = COLUMNS.iter().position(|c| c == s) {
                    row.2[c] += 1;
                }
            }
        }
        rows.sort_by(|a, b| self.vendors[a.0].cmp(&self.vendors[b.0]));
        rows
    }

    /// Every identifier's last line: exceptions first, then by outcome, vendor, kind, hash.
    fn rows(&self) -> Vec<(&Key, &Last)> {
        self.rows_where(|_| true)
    }

    /// [`Self::rows`] of the identifiers whose standing `keep` keeps.
    fn rows_where(&self, keep: impl Fn(Standing) -> bool) -> Vec<(&Key, &Last)> {
        let mut rows: Vec<(&Key, &Last)> = (self.last.entries().iter())
            .filter(|(_, l)| keep(self.standing_of(l)))
            .map(|(k, l)| (k, l))
            .collect();
        rows.sort_by(|(ka, la), (kb, lb)| {
            (self.standing_of(la).cmp(&self.standing_of(lb)))
                .then_with(|| rank(la.status).cmp(&rank(lb.status)))
                .then_with(|| self.vendors[usize::from(ka.0)].cmp(&self.vendors[usize::from(kb.0)]))
                .then_with(|| self.kinds[usize::from(ka.1)].cmp(&self.kinds[usize::from(kb.1)]))
                .then_with(|| ka.2.cmp(&kb.2))
        });
        rows
    }

    /// The identifier cell: its hash, or with `--show-ids` the identifier (when a line had it).
    fn shown_id(&self, key: &Key, last: &Last) -> String {
        match (last.clear(), self.show_ids) {
            (Some(c), true) => c.to_string(),
            (None, true) => format!("sha256:{}", hex(&key.2)),
            _ => hex(&key.2),
        }
    }

    /// The evidence cell of an identifier's last line.
    fn evidence(&self, last: &Last) -> String {
        let mut out = String::new();
        let job = (last.job_id != 0).then(|| self.strings.get(last.job_id));
        if last.unproven != 0 {
            let why = self.strings.get(last.unproven);
            push_part(&mut out, &format!("NOT PROVEN ERASED: {why}"));
        }
        if last.status == Status::Pending {
            push_part(
                &mut out,
                &match job {
                    Some(j) => format!("still pending in job {j}"),
                    None => "still pending (no job recorded)".to_string(),
                },
            );
        }
        if last.detail != 0 {
            push_part(&mut out, self.strings.get(last.detail));
        }
        if let Some(s) = last.http_status {
            push_part(&mut out, &format!("HTTP {s}"));
        }
        if let Some(j) = job.filter(|_| last.status != Status::Pending) {
            push_part(&mut out, &format!("job {j}"));
        }
        if let Some(ids) = last.vendor_ids() {
            push_part(&mut out, &format!("vendor ids: {ids}"));
        }
        push_part(&mut out, &format!("report line {}", last.line));
        out
    }
}

/// One person's row: who (hash, or the identifier with `--show-ids`) and
/// what each vendor's purge and verification ended. The JSON certificate's
/// `people` entries and the lines of the companion file (past
/// [`INLINE_PEOPLE`]) are these, serialized.
#[derive(Debug, serde::Serialize)]
pub struct PersonRow<'a> {
    /// The SHA-256 hex, or the identifier in clear with `--show-ids`.
    pub id: String,
    pub sha256: String,
    /// The request the person came from (`ref` in the report: `--ref-column`).
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'a str>,
    pub vendors: Vec<VendorCell<'a>>,
}

/// A person at one vendor: the cells of the People table and of the
/// identifier tables.
#[derive(Debug, serde::Serialize)]
pub struct VendorCell<'a> {
    pub vendor: &'a str,
    pub kind: &'a str,
    pub purge: Option<Status>,
    pub verify: Option<Status>,
    pub standing: Standing,
    /// When the last line was written.
    pub at: &'a str,
    /// The vendor's words, HTTP status, job and vendor ids, the report line.
    pub evidence: String,
}

impl VendorCell<'_> {
    /// `queued → verified`, `deleted`, `— → unverifiable`.
    fn text(&self) -> String {
        let purge = self.purge.map_or("—", Status::as_str);
        match self.verify {
            Some(v) => format!("{purge} → {}", v.as_str()),
            None => purge.to_string(),
        }
    }
}

/// What the document says about where it came from.
pub struct Meta {
    /// The report's path as given, and absolute (when it resolves).
    pub report: String,
    pub report_absolute: Option<String>,
    pub made: SystemTime,
    pub version: &'static str,
    pub attest: Attest,
    /// The companion file holding the per-person rows, past
    /// `--inline-people` people; `None`: the document holds them.
    pub rows: Option<RowsFile>,
}

/// How a column is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Text,
    Num,
    Mono,
    /// An outcome name (HTML marks an exception's in red).
    Outcome,
    /// A time stamp, never broken.
    Time,
    /// Long text that may break anywhere (evidence).
    Wrap,
}

/// A document being written, block by block; every `&str` is plain text the sink escapes.
trait Sink {
    fn begin(&mut self, title: &str) -> io::Result<()>;
    fn heading(&mut self, level: u8, text: &str) -> io::Result<()>;
    fn para(&mut self, text: &str) -> io::Result<()>;
    /// A boxed notice; `alarm` when it warns.
    fn note(&mut self, text: &str, alarm: bool) -> io::Result<()>;
    fn table(&mut self, head: &[(&str, Col)]) -> io::Result<()>;
    /// A row; `class` names the outcome (HTML styles exceptions).
    fn row(&mut self, class: Option<&str>, cells: &[&str]) -> io::Result<()>;
    fn end_table(&mut self) -> io::Result<()>;
    fn end(&mut self) -> io::Result<()>;
}

/// Text made safe for HTML: terminal-unsafe characters written as escapes, then `&<>"'` as entities.
pub fn html_escape(text: &str) -> String {
    let text = crate::output::escape(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Text made safe for a Markdown table cell: one line; invisible and
/// separator characters shown as `\u{…}`; Markdown punctuation
/// backslash-escaped (so no `|` ends the cell and no HTML or link is made).
/// Text a renderer would turn into something live even when escaped — a URL
/// (`https://`, `www.`), an address or `@mention`, an `:emoji:` — becomes a
/// code span, inside which GitHub and CommonMark make no link, mention or
/// emoji.
pub fn md_escape(text: &str) -> String {
    let text = crate::output::escape(text).replace(['\r', '\n', '\t'], " ");
    if live_in_markdown(&text) {
        return md_code(&text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether a renderer of GitHub Flavored Markdown would make a link, a
/// mention or an emoji of some of `text` (its autolink extension: `www.`,
/// `scheme://`, `mailto:`, an address; GitHub's `@name` and `:name:`).
fn live_in_markdown(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("://")
        || lower.contains("www.")
        || lower.contains("mailto:")
        || lower.contains("xmpp:")
        || text.contains('@')
        || {
            // `:name:`: a word between two colons, with a letter in it.
            let words: Vec<&str> = text.split(':').collect();
            words.len() > 2
                && words[1..words.len() - 1].iter().any(|w| {
                    w.bytes().any(|b| b.is_ascii_alphabetic())
                        && w.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
                })
        }
}

/// `text` as one inline code span: fenced by more backticks than it holds in a
/// row, padded when it starts or ends with one, `|` escaped for the table.
fn md_code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('|', "\\|"))
}

const CSS: &str = "\
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font: 10pt/1.4 \"DejaVu Sans\", \"Segoe UI\", Arial, sans-serif; color: #111; background: #fff; max-width: 200mm; margin: 0 auto; padding: 10mm 8mm; }
h1 { font-size: 20pt; margin: 0 0 6pt; }
h2 { font-size: 13pt; margin: 16pt 0 5pt; padding-bottom: 2pt; border-bottom: 1.5pt solid #333; break-after: avoid; }
p { margin: 4pt 0; }
.note { border: 1pt solid #888; background: #f4f4f4; padding: 5pt 8pt; margin: 8pt 0; }
.note.alarm { border-color: #b00; background: #fde8e8; color: #700; font-weight: bold; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0 8pt; font-size: 8.5pt; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th, td { border: 0.75pt solid #aaa; padding: 2pt 4pt; text-align: left; vertical-align: top; }
th { background: #e8e8e8; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.mono { font-family: \"DejaVu Sans Mono\", Menlo, Consolas, monospace; font-size: 7.5pt; word-break: break-all; }
td.mono { width: 29mm; }
td.wrap { overflow-wrap: anywhere; }
td.time { white-space: nowrap; font-size: 7.5pt; }
tr.alarm td { color: #900; font-weight: bold; }
tr.exception td { background: #fff1f1; }
tr.exception td.outcome { color: #900; font-weight: bold; }
@media print { body { padding: 0; max-width: none; } .note, th, tr.exception td, tr.alarm td { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
";

struct Html<W: Write> {
    w: W,
    cols: Vec<Col>,
}

impl<W: Write> Sink for Html<W> {
    fn begin(&mut self, title: &str) -> io::Result<()> {
        write!(
            self.w,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
            html_escape(title)
        )
    }
    fn heading(&mut self, level: u8, text: &str) -> io::Result<()> {
        writeln!(self.w, "<h{level}>{}</h{level}>", html_escape(text))
    }
    fn para(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.w, "<p>{}</p>", html_escape(text))
    }
    fn note(&mut self, text: &str, alarm: bool) -> io::Result<()> {
        writeln!(
            self.w,
            "<p class=\"note{}\">{}</p>",
            if alarm { " alarm" } else { "" },
            html_escape(text)
        )
    }
    fn table(&mut self, head: &[(&str, Col)]) -> io::Result<()> {
        self.cols = head.iter().map(|(_, c)| *c).collect();
        write!(self.w, "<table>\n<thead><tr>")?;
        for (name, col) in head {
            let class = if *col == Col::Num {
                " class=\"num\""
            } else {
                ""
            };
            write!(self.w, "<th{class}>{}</th>", html_escape(name))?;
        }
        writeln!(self.w, "</tr></thead>\n<tbody>")
    }
    fn row(&mut self, class: Option<&str>, cells: &[&str]) -> io::Result<()> {
        match class {
            Some(c) => write!(self.w, "<tr class=\"{}\">", html_escape(c))?,
            None => write!(self.w, "<tr>")?,
        }
        for (i, cell) in cells.iter().enumerate() {
            let class = match self.cols.get(i) {
                Some(Col::Num) => " class=\"num\"",
                Some(Col::Mono) => " class=\"mono\"",
                Some(Col::Outcome) => " class=\"outcome\"",
                Some(Col::Time) => " class=\"time\"",
                Some(Col::Wrap) => " class=\"wrap\"",
                _ => "",
            };
            write!(self.w, "<td{class}>{}</td>", html_escape(cell))?;
        }
        writeln!(self.w, "</tr>")
    }
    fn end_table(&mut self) -> io::Result<()> {
        writeln!(self.w, "</tbody>\n</table>")
    }
    fn end(&mut self) -> io::Result<()> {
        writeln!(self.w, "</body>\n</html>")?;
        self.w.flush()
    }
}

struct Md<W: Write> {
    w: W,
}

impl<W: Write> Sink for Md<W> {
    fn begin(&mut self, _title: &str) -> io::Result<()> {
        Ok(())
    }
    fn heading(&mut self, level: u8, text: &str) -> io::Result<()> {
        writeln!(
            self.w,
            "{} {}\n",
            "#".repeat(usize::from(level)),
            md_escape(text)
        )
    }
    fn para(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.w, "{}\n", md_escape(text))
    }
    fn note(&mut self, text: &str, alarm: bool) -> io::Result<()> {
        let text = md_escape(text);
        if alarm {
            writeln!(self.w, "> **{text}**\n")
        } else {
            writeln!(self.w, "> {text}\n")
        }
    }
    fn table(&mut self, head: &[(&str, Col)]) -> io::Result<()> {
        let names: Vec<String> = head.iter().map(|(n, _)| md_escape(n)).collect();
        writeln!(self.w, "| {} |", names.join(" | "))?;
        let rule: Vec<&str> = head
            .iter()
            .map(|(_, c)| if *c == Col::Num { "---:" } else { "---" })
            .collect();
        writeln!(self.w, "| {} |", rule.join(" | "))
    }
    fn row(&mut self, _class: Option<&str>, cells: &[&str]) -> io::Result<()> {
        let cells: Vec<String> = cells.iter().map(|c| md_escape(c)).collect();
        writeln!(self.w, "| {} |", cells.join(" | "))
    }
    fn end_table(&mut self) -> io::Result<()> {
        writeln!(self.w)
    }
    fn end(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `12345` → `12,345`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Write the certificate for `agg` in `format` to `w`.
pub fn render(agg: &Aggregate, meta: &Meta, format: Format, w: impl Write) -> io::Result<()> {
    match format {
        Format::Html => document(agg, meta, &mut Html { w, cols: vec![] }),
        Format::Md => document(agg, meta, &mut Md { w }),
        Format::Json => render_json(agg, meta, w),
    }
}

/// The certificate, section by section, into one format's [`Sink`].
fn document(agg: &Aggregate, meta: &Meta, out: &mut dyn Sink) -> io::Result<()> {
    front_page(agg, meta, out)?;
    per_vendor_section(agg, out)?;
    people_table(agg, meta, out)?;
    hosts_section(agg, out)?;
    identifier_sections(agg, meta, out)?;
    legend(agg, meta, out)?;
    out.end()
}

/// The title, the counts of people, the identifier mode and the facts table.
/// The first facts an auditor asks for: who is responsible, who ran the
/// erasure, who made this certificate.
fn who(agg: &Aggregate, meta: &Meta) -> Vec<(&'static str, String)> {
    let unset = |v: &Option<String>, key: &str| {
        v.clone().unwrap_or_else(|| {
            format!("not named (set {key} in the [certificate] table of purge.toml)")
        })
    };
    vec![
        ("Controller", unset(&meta.attest.controller, "controller")),
        ("Contact", unset(&meta.attest.contact, "contact")),
        (
            "Run by (the OS user of each purge and verify)",
            agg.ran_by(),
        ),
        (
            "Operator (who made this certificate of the run)",
            meta.attest.operator.clone(),
        ),
    ]
}

fn front_page(agg: &Aggregate, meta: &Meta, out: &mut dyn Sink) -> io::Result<()> {
    let when = |a: &Option<SystemTime>| a.map_or_else(|| "not recorded".to_string(), rfc3339);
    let exceptions = agg.exceptions();
    out.begin("Erasure certificate")?;
    out.heading(1, "Erasure certificate")?;
    out.para(&format!(
        "This certificate records what purge did to erase people from the vendors below. It is made from the report named here; a person's outcome at a vendor is the last purge line the report holds for it, beside the last verification. {} {} at {} vendor{}: {} vendor outcome{}; {} not proven; {} exception{}.",
        grouped(agg.people() as u64),
        if agg.people() == 1 { "person" } else { "people" },
        agg.vendors.len(),
        if agg.vendors.len() == 1 { "" } else { "s" },
        grouped(agg.identifiers() as u64),
        if agg.identifiers() == 1 { "" } else { "s" },
        grouped(agg.not_proven() as u64),
        grouped(exceptions as u64),
        if exceptions == 1 { "" } else { "s" },
    ))?;
    let mode = if agg.show_ids {
        out.note(
            "IDENTIFIERS IN CLEAR (made with --show-ids): this document holds personal data. Keep it as confidential as the list of people itself.",
            true,
        )?;
        "in clear (--show-ids)"
    } else {
        out.note(
            "Identifiers are shown as SHA-256 hashes (lower-case hex of the identifier as purge sent it, as --hash-ids writes them). Where a vendor's answer repeated an identifier or an e-mail address, it is replaced by sha256: and the start of its hash.",
            false,
        )?;
        "SHA-256 hashes"
    };
    out.table(&[("Item", Col::Text), ("Value", Col::Text)])?;
    let mut facts = who(agg, meta);
    facts.extend([
        ("Report file", meta.report.clone()),
        (
            "Report file (absolute)",
            meta.report_absolute
                .clone()
                .unwrap_or_else(|| "cannot be resolved".into()),
        ),
        ("Report SHA-256", agg.sha256.clone()),
        ("Report lines", grouped(agg.lines as u64)),
        ("Run started (first line)", when(&agg.first_at)),
        ("Run ended (last line)", when(&agg.last_at)),
        ("People", grouped(agg.people() as u64)),
        (
            "Vendor outcomes (a person at a vendor)",
            grouped(agg.identifiers() as u64),
        ),
        (
            "Not proven (no verification, unverifiable, pending)",
            grouped(agg.not_proven() as u64),
        ),
        (
            "Exceptions (present, failed, refused, invalid)",
            grouped(exceptions as u64),
        ),
        ("Identifiers shown as", mode.to_string()),
        ("Made by", format!("purge {}", meta.version)),
        ("Certificate made", rfc3339(meta.made)),
    ]);
    if let Some(file) = &meta.rows {
        facts.extend([
            (
                "People rows file (beside this certificate)",
                file.name.clone(),
            ),
            ("People rows file SHA-256", file.sha256.clone()),
            (
                "People rows file lines (one a person)",
                grouped(file.rows as u64),
            ),
        ]);
    }
    for (k, v) in &facts {
        out.row(None, &[k, v])?;
    }
    out.end_table()?;
    Ok(())
}

/// Each vendor's purge outcomes beside its verifications, counted.
fn per_vendor_section(agg: &Aggregate, out: &mut dyn Sink) -> io::Result<()> {
    out.heading(2, "Outcomes per vendor")?;
    out.para("Each person's last purge outcome and, beside it, the last verification, counted per vendor: a person verified after a deletion counts in both rows; `total` counts people at the vendor (what each outcome means is stated at the end).")?;
    let per_vendor = agg.per_vendor();
    let all = per_vendor.len() > 1;
    let mut head: Vec<(&str, Col)> = vec![("Outcome", Col::Text)];
    head.extend(
        per_vendor
            .iter()
            .map(|(v, _, _)| (agg.vendors[*v].as_str(), Col::Num)),
    );
    if all {
        head.push(("all vendors", Col::Num));
    }
    out.table(&head)?;
    let count_row =
        |out: &mut dyn Sink, name: &str, of: &dyn Fn(&[u64; COLUMNS.len() + 1]) -> u64| {
            let mut cells: Vec<String> = vec![name.to_string()];
            cells.extend(per_vendor.iter().map(|(_, _, c)| grouped(of(c))));
            if all {
                cells.push(grouped(per_vendor.iter().map(|(_, _, c)| of(c)).sum()));
            }
            let total: u64 = per_vendor.iter().map(|(_, _, c)| of(c)).sum();
            let class = (name != "total" && total > 0)
                .then(|| COLUMNS.iter().find(|s| s.as_str() == name))
                .flatten()
                .filter(|s| is_exception(**s))
                .map(|_| "alarm");
            out.row(class, &cells.iter().map(String::as_str).collect::<Vec<_>>())
        };
    for (i, s) in COLUMNS.iter().enumerate() {
        count_row(out, s.as_str(), &|c| c[i])?;
    }
    count_row(out, "total", &|c| c[COLUMNS.len()])?;
    out.end_table()?;
    Ok(())
}

/// The kinds and the hosts each vendor's requests went to.
fn hosts_section(agg: &Aggregate, out: &mut dyn Sink) -> io::Result<()> {
    let per_vendor = agg.per_vendor();
    out.heading(2, "Vendors and hosts contacted")?;
    out.table(&[
        ("Vendor", Col::Text),
        ("Kinds of identifier", Col::Text),
        ("Hosts contacted", Col::Text),
    ])?;
    for (v, kinds, _) in &per_vendor {
        let hosts = &agg.hosts[*v];
        let text = if hosts.is_empty() {
            "none recorded (nothing was sent, or the report predates host recording)".to_string()
        } else {
            hosts.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        let kinds = kinds.iter().copied().collect::<Vec<_>>().join(", ");
        out.row(None, &[&agg.vendors[*v], &kinds, &text])?;
    }
    out.end_table()?;
    Ok(())
}

/// Exceptions, then not proven, then the rest: one row a vendor outcome.
/// With a companion file (past `--inline-people`) only the exceptions stay
/// here, and only when they are no more than that: the other rows are the
/// companion's.
fn identifier_sections(agg: &Aggregate, meta: &Meta, out: &mut dyn Sink) -> io::Result<()> {
    let (exceptions, not_proven) = (agg.exceptions(), agg.not_proven());
    let file = meta.rows.as_ref();
    let exceptions_here = file.is_none_or(|f| exceptions <= f.limit);
    let rows = match (file, exceptions_here) {
        (None, _) => agg.rows(),
        (Some(_), true) => agg.rows_where(|s| s == Standing::Exception),
        (Some(_), false) => vec![],
    };
    let (exc, rest) = rows.split_at(if exceptions_here { exceptions } else { 0 });
    let (unproven, rest) = rest.split_at(if file.is_none() { not_proven } else { 0 });
    let here = file.is_none();
    let mut table = IdTable {
        agg,
        n: 0,
        elsewhere: file.map_or_else(String::new, |f| {
            format!(
                "Their rows are in {}, the people rows file named on the first page: each person's line gives at each vendor the standing (`exception`, `not_proven` or `proven`) and the evidence.",
                f.name
            )
        }),
    };
    out.heading(2, &format!("Exceptions ({})", grouped(exceptions as u64)))?;
    if exceptions == 0 {
        out.para("None: no person is still present, failed, refused or invalid at any vendor.")?;
    } else {
        out.para("Not erased: still present after the deletion, failed, refused, or invalid. They need action.")?;
        table.part(out, exceptions_here.then_some(exc))?;
    }
    out.heading(2, &format!("Not proven ({})", grouped(not_proven as u64)))?;
    if not_proven == 0 {
        out.para("None: every deletion the vendors accepted was verified.")?;
    } else {
        out.para("Accepted or deleted by the vendor but not verified afterwards (run `purge verify`), unverifiable (the vendor offers no way to ask), or still pending in an open vendor job (resume the run). The vendor's answer is the evidence; it is not proof that the person is gone.")?;
        table.part(out, here.then_some(unproven))?;
    }
    let others = agg.identifiers() - exceptions - not_proven;
    out.heading(
        2,
        &format!("All other identifiers ({})", grouped(others as u64)),
    )?;
    if others == 0 {
        out.para("None.")?;
    } else {
        table.part(out, here.then_some(rest))?;
    }
    Ok(())
}

/// The identifier tables of [`identifier_sections`], numbered across them.
struct IdTable<'a> {
    agg: &'a Aggregate,
    n: u64,
    /// Where the rows are when they are not here (the companion file).
    elsewhere: String,
}

impl IdTable<'_> {
    /// A table of `rows`, or (`None`) where they are instead.
    fn part(&mut self, out: &mut dyn Sink, rows: Option<&[(&Key, &Last)]>) -> io::Result<()> {
        let Some(rows) = rows else {
            return out.para(&self.elsewhere);
        };
        let agg = self.agg;
        out.table(&[
            ("#", Col::Num),
            ("Vendor", Col::Text),
            ("Kind", Col::Text),
            (
                if agg.show_ids {
                    "Identifier"
                } else {
                    "Identifier (SHA-256)"
                },
                Col::Mono,
            ),
            ("Outcome", Col::Outcome),
            ("At", Col::Time),
            ("Evidence", Col::Wrap),
        ])?;
        for (key, last) in rows {
            self.n += 1;
            let outcome = last.status.as_str();
            let class = if is_exception(last.status) {
                "exception"
            } else {
                outcome
            };
            out.row(
                Some(class),
                &[
                    &self.n.to_string(),
                    &agg.vendors[usize::from(key.0)],
                    &agg.kinds[usize::from(key.1)],
                    &agg.shown_id(key, last),
                    outcome,
                    agg.strings.get(last.at),
                    &agg.evidence(last),
                ],
            )?;
        }
        out.end_table()
    }
}

/// What each outcome means, how people are counted, and how to check the report.
fn legend(agg: &Aggregate, meta: &Meta, out: &mut dyn Sink) -> io::Result<()> {
    out.heading(2, "What each outcome means")?;
    out.table(&[("Outcome", Col::Text), ("Meaning", Col::Text)])?;
    for s in EXCEPTIONS
        .iter()
        .chain(COLUMNS.iter().filter(|s| !is_exception(**s)))
    {
        out.row(None, &[s.as_str(), meaning(*s)])?;
    }
    out.end_table()?;
    vendor_notes(agg, out)?;
    out.para("How people are counted: a person is one identifier, at every vendor it was sent to; a vendor outcome is a person at one vendor. Each vendor outcome is in one of three parts. Exceptions: present after the deletion, failed, refused or invalid — not erased, they need action. Not proven: queued or deleted without a verification, unverifiable, or pending — the vendor accepted or reported the deletion, but nothing asked it afterwards (run `purge verify`). The rest: verified gone, or the vendor never had the person (not_found, skipped). The People table gives each person's request reference (when the run had --ref-column) and purge outcome → verification at every vendor.")?;
    out.para("Controller and Contact come from the [certificate] table of purge.toml; Run by is the OS user of each purge and verify, as the report's lines record it (operator); Operator is the --operator given when this certificate was made, else the OS user who made it.")?;
    out.para(&format!(
        "Made by purge {} on {} from {} (SHA-256 {}). To check that the report is the one certified, compare its SHA-256 (sha256sum) with the one above.{}",
        meta.version,
        rfc3339(meta.made),
        meta.report,
        agg.sha256,
        meta.rows.as_ref().map_or_else(String::new, |f| format!(
            " The people rows are in {} beside this certificate: `sha256sum {}` must print {}.",
            f.name, f.name, f.sha256
        )),
    ))?;
    Ok(())
}

/// What each vendor of the report says about its own outcomes (its registry
/// entry's `legend`).
fn vendor_notes(agg: &Aggregate, out: &mut dyn Sink) -> io::Result<()> {
    let mut vendors: Vec<&str> = agg.vendors.iter().map(String::as_str).collect();
    vendors.sort_unstable();
    for v in vendors {
        let Some(entry) = crate::services::entry(v) else {
            continue;
        };
        out.para(&format!("{v}: purge verify {}.", entry.proof.says()))?;
        for note in entry.legend {
            out.para(&format!("{v}: {note}"))?;
        }
    }
    Ok(())
}

/// One row a person: the hash (or identifier), and per vendor the purge
/// outcome → the verification; or, with a companion file, where the rows are.
fn people_table(agg: &Aggregate, meta: &Meta, out: &mut dyn Sink) -> io::Result<()> {
    if let Some(file) = &meta.rows {
        out.heading(2, &format!("People ({})", grouped(file.rows as u64)))?;
        return out.para(&rows_file_text(file));
    }
    out.heading(
        2,
        &format!("People ({})", grouped(agg.people_shown() as u64)),
    )?;
    out.para("One row a person: its request reference where the run recorded one (`--ref-column`), and at each vendor the purge outcome → the verification (— where the report holds none for that vendor).")?;
    let mut vendors: Vec<&str> = agg.vendors.iter().map(String::as_str).collect();
    vendors.sort_unstable();
    let id_head = if agg.show_ids {
        "Person"
    } else {
        "Person (SHA-256)"
    };
    let refs = agg.has_refs();
    let mut head: Vec<(&str, Col)> = vec![(id_head, Col::Mono)];
    if refs {
        head.push(("Reference", Col::Mono));
    }
    head.extend(vendors.iter().map(|v| (*v, Col::Text)));
    out.table(&head)?;
    agg.for_each_person(&agg.only, |row| {
        let mut cells = vec![row.id.clone()];
        if refs {
            cells.push(row.reference.unwrap_or("—").to_string());
        }
        for v in &vendors {
            cells.push(
                row.vendors
                    .iter()
                    .find(|c| c.vendor == *v)
                    .map_or_else(|| "—".to_string(), VendorCell::text),
            );
        }
        let worst = row.vendors.iter().map(|c| c.standing).min();
        let class = match worst {
            Some(Standing::Exception) => Some("alarm"),
            _ => None,
        };
        out.row(class, &cells.iter().map(String::as_str).collect::<Vec<_>>())
    })?;
    out.end_table()
}

/// What the document says of its companion file, where the People table would be.
fn rows_file_text(file: &RowsFile) -> String {
    format!(
        "More than {} people: their rows are not in this document but in {}, a file beside it (JSON Lines: {} lines, one a person). Each line holds the person's hash (`id`, `sha256`; the identifier with --show-ids), the request reference (`ref`), and at each vendor (`vendors`) the kind, the purge outcome and the verification (`purge`, `verify`), the standing (`exception`, `not_proven` or `proven`), the time of the last line (`at`) and the evidence. Its SHA-256 is {}: to check that the file is the one certified, compare `sha256sum {}` with it.",
        grouped(file.limit as u64),
        file.name,
        grouped(file.rows as u64),
        file.sha256,
        file.name,
    )
}

/// The certificate as one JSON object (`--format json`): the same content,
/// with a `people` array of one entry a person.
fn render_json(agg: &Aggregate, meta: &Meta, mut w: impl Write) -> io::Result<()> {
    let mut doc = json_head(agg, meta);
    if let Some(file) = &meta.rows {
        doc["people_file"] = serde_json::json!({
            "name": file.name,
            "sha256": file.sha256,
            "rows": file.rows,
        });
        serde_json::to_writer(&mut w, &doc).map_err(io::Error::other)?;
    } else {
        // The object without its closing brace, then `people`, streamed.
        let mut head = serde_json::to_vec(&doc).map_err(io::Error::other)?;
        head.pop();
        w.write_all(&head)?;
        w.write_all(b",\"people\":[")?;
        let mut first = true;
        agg.for_each_person(&agg.only, |row| {
            if !std::mem::take(&mut first) {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut w, row).map_err(io::Error::other)
        })?;
        w.write_all(b"]}")?;
    }
    writeln!(w)?;
    w.flush()
}

/// The JSON certificate but its people.
fn json_head(agg: &Aggregate, meta: &Meta) -> serde_json::Value {
    let vendors: Vec<serde_json::Value> = agg
        .per_vendor()
        .iter()
        .map(|(v, kinds, counts)| {
            let outcomes: serde_json::Map<String, serde_json::Value> = COLUMNS
                .iter()
                .zip(counts)
                .filter(|(_, n)| **n > 0)
                .map(|(s, n)| (s.as_str().to_string(), (*n).into()))
                .collect();
            serde_json::json!({
                "vendor": agg.vendors[*v],
                "kinds": kinds,
                "hosts": agg.hosts[*v],
                "outcomes": outcomes,
            })
        })
        .collect();
    serde_json::json!({
        "report": meta.report,
        "report_sha256": agg.sha256,
        "report_lines": agg.lines,
        "made": rfc3339(meta.made),
        "made_by": format!("purge {}", meta.version),
        "controller": meta.attest.controller,
        "contact": meta.attest.contact,
        "operator": meta.attest.operator,
        "ran_by": agg.operators,
        "identifiers_shown_as": if agg.show_ids { "clear" } else { "sha256" },
        "people_count": agg.people(),
        "vendor_outcomes": agg.identifiers(),
        "not_proven": agg.not_proven(),
        "exceptions": agg.exceptions(),
        "vendors": vendors,
    })
}

/// What was written, for the message on stderr.
pub struct Written {
    pub format: Format,
    pub people: usize,
    pub not_proven: usize,
    pub identifiers: usize,
    pub exceptions: usize,
    pub vendors: usize,
    pub sha256: String,
    /// The companion file of the per-person rows, if there is one.
    pub rows: Option<RowsFile>,
}

/// `purge certificate`: read the report, write the document (and, past
/// `--inline-people` people, its companion file first: the document names
/// its SHA-256).
pub fn run(args: &Args, attest: Attest) -> Result<Written, CertError> {
    let format = Format::choose(args.format, &args.output);
    let to_stdout = args.output.as_os_str() == "-";
    if !to_stdout {
        check_target(&args.output, args)?;
    }
    let mut agg = Aggregate::read(&args.report, args.show_ids)?;
    agg.only = args
        .person
        .iter()
        .map(|p| Sha256::digest(p.trim().as_bytes()).into())
        .collect();
    let mut meta = Meta {
        report: args.report.display().to_string(),
        report_absolute: std::fs::canonicalize(&args.report)
            .ok()
            .map(|p| p.display().to_string()),
        made: SystemTime::now(),
        version: env!("CARGO_PKG_VERSION"),
        attest,
        rows: None,
    };
    let mut written = Written {
        format,
        people: agg.people(),
        not_proven: agg.not_proven(),
        identifiers: agg.identifiers(),
        exceptions: agg.exceptions(),
        vendors: agg.vendors.len(),
        sha256: agg.sha256.clone(),
        rows: None,
    };
    if to_stdout {
        // Nowhere to put a companion: every row is written, streamed.
        let out = crate::output::stdout();
        render(&agg, &meta, format, out).map_err(|err| CertError::Write {
            path: PathBuf::from("stdout"),
            err,
        })?;
        return Ok(written);
    }
    if agg.people() > args.inline_people {
        meta.rows = Some(write_rows(args, &agg)?);
    }
    let document = write_new(&args.output, args, |file| {
        render(
            &agg,
            &meta,
            format,
            io::BufWriter::with_capacity(256 * 1024, file),
        )
    });
    if let (Err(_), Some(rows)) = (&document, &meta.rows) {
        let _ = std::fs::remove_file(&rows.path);
    }
    document?;
    written.rows = meta.rows;
    Ok(written)
}

/// The companion file beside `-o FILE`: the per-person rows, one JSON line a person.
fn write_rows(args: &Args, agg: &Aggregate) -> Result<RowsFile, CertError> {
    let path = companion::path_for(&args.output);
    check_target(&path, args)?;
    let (sha256, rows) = write_new(&path, args, |file| companion::write(agg, file))?;
    Ok(RowsFile {
        name: path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        path,
        sha256,
        rows,
        limit: args.inline_people,
    })
}

/// A file to be written (`-o FILE`, its companion), before it is: a file
/// there is replaced only with `--force`, and only if it is a regular file
/// that is not the report itself.
fn check_target(path: &Path, args: &Args) -> Result<(), CertError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !args.force {
            return Err(CertError::Exists {
                path: path.to_path_buf(),
            });
        }
        // --force replaces a certificate, never a device, a FIFO, a
        // directory or what a symbolic link points to.
        if !meta.file_type().is_file() {
            return Err(CertError::NotRegular {
                path: path.to_path_buf(),
            });
        }
    }
    if let (Ok(a), Ok(b)) = (
        std::fs::canonicalize(&args.report),
        std::fs::canonicalize(path),
    ) && a == b
    {
        return Err(CertError::SameFile {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Write `path` with `body`: a new file (0600 with `--show-ids`), synced,
/// and removed again if writing it failed.
fn write_new<T>(
    path: &Path,
    args: &Args,
    body: impl FnOnce(&File) -> io::Result<T>,
) -> Result<T, CertError> {
    let write_err = |err| CertError::Write {
        path: path.to_path_buf(),
        err,
    };
    if args.force {
        // Replace, not truncate: the new file gets its own mode, and a symlink is not followed.
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(write_err(e)),
            _ => {}
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(
        &mut options,
        if args.show_ids { 0o600 } else { 0o644 },
    );
    let file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            CertError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            write_err(e)
        }
    })?;
    let result = body(&file).and_then(|t| file.sync_all().map(|()| t));
    result.map_err(|err| {
        let _ = std::fs::remove_file(path);
        write_err(err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conceal::tag;

    fn line(vendor: &str, id: &str, outcome: &str, extra: &str) -> Line {
        let text = format!(
            r#"{{"vendor":"{vendor}","kind":"email","id":"{id}","outcome":"{outcome}","at":"2026-11-24T21:40:03Z"{extra}}}"#
        );
        serde_json::from_str(&text).unwrap()
    }

    fn meta() -> Meta {
        Meta {
            report: "r.jsonl".into(),
            report_absolute: Some("/tmp/r.jsonl".into()),
            made: SystemTime::UNIX_EPOCH,
            version: "9.9.9",
            attest: Attest::default(),
            rows: None,
        }
    }

    fn render_to(agg: &Aggregate, format: Format) -> String {
        let mut out = Vec::new();
        render(agg, &meta(), format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn agg(lines: Vec<Line>, show_ids: bool) -> Aggregate {
        let mut a = Aggregate::new(show_ids);
        for (i, l) in lines.into_iter().enumerate() {
            a.add(l, i + 1).unwrap();
        }
        a
    }

    /// The legend's notes on a vendor come from its registry entry, for the
    /// vendors of the report only.
    #[test]
    fn the_legend_has_the_notes_of_the_reports_vendors() {
        let md = render_to(
            &agg(vec![line("braze", "a@x.io", "queued", "")], false),
            Format::Md,
        );
        let braze = crate::services::entry("braze").unwrap();
        for note in braze.legend {
            assert!(md.contains(&format!("braze: {note}")), "{md}");
        }
        // And what its verify reads, from the same entry.
        assert!(
            md.contains(
                "braze: purge verify asks the vendor about each person by the identifier given."
            ),
            "{md}"
        );
        let zendesk = crate::services::entry("zendesk").unwrap();
        assert!(!zendesk.legend.is_empty());
        assert!(!md.contains(zendesk.legend[0]), "{md}");
    }

    #[test]
    fn the_last_line_of_each_identifier_decides_and_pending_is_not_proven() {
        let a = agg(
            vec![
                line("rally", "a@x.io", "failed", r#","detail":"HTTP 500""#),
                line("zendesk", "a@x.io", "pending", r#","job_id":"J1""#),
                line("rally", "b@x.io", "queued", ""),
                line("rally", "a@x.io", "queued", ""),
                line("zendesk", "c@x.io", "pending", r#","job_id":"J2""#),
                line("zendesk", "c@x.io", "deleted", ""),
            ],
            false,
        );
        assert_eq!(a.identifiers(), 4, "per vendor: rally a, b; zendesk a, c");
        assert_eq!(a.exceptions(), 0);
        assert_eq!(
            a.not_proven(),
            4,
            "pending, queued and deleted, none verified"
        );
        assert_eq!(a.people(), 3, "a, b and c");
        let counts = a.per_vendor();
        let col = |s: Status| COLUMNS.iter().position(|c| *c == s).unwrap();
        let (rally, zendesk) = (&counts[0], &counts[1]);
        assert_eq!(a.vendors[rally.0], "rally");
        assert_eq!(rally.2[col(Status::Queued)], 2);
        assert_eq!(rally.2[col(Status::Failed)], 0);
        assert_eq!(zendesk.2[col(Status::Deleted)], 1);
        assert_eq!(zendesk.2[col(Status::Pending)], 1);
        let rows = a.rows();
        let pending = rows.iter().find(|r| r.1.status == Status::Pending).unwrap();
        assert_eq!(
            a.evidence(pending.1),
            "still pending in job J1 · report line 2"
        );
        let md = render_to(&a, Format::Md);
        assert!(md.contains("still pending in job J1"), "{md}");
        assert!(!md.contains("job J2"), "c's last line is deleted: {md}");
    }

    #[test]
    fn an_unproven_line_says_why_in_its_evidence() {
        let a = agg(
            vec![
                line(
                    "zendesk",
                    "b@x.io",
                    "deleted",
                    r#","detail":"soft","unproven":"soft-deleted only: Zendesk erases soft-deleted users within 30 days""#,
                ),
                line(
                    "zendesk",
                    "a@x.io",
                    "not_found",
                    r#","detail":"no such user""#,
                ),
            ],
            false,
        );
        let rows = a.rows();
        let soft = rows.iter().find(|(_, l)| l.unproven != 0).unwrap().1;
        assert!(
            a.evidence(soft)
                .starts_with("NOT PROVEN ERASED: soft-deleted only"),
            "{}",
            a.evidence(soft)
        );
        let other = rows.iter().find(|(_, l)| l.unproven == 0).unwrap().1;
        assert!(!a.evidence(other).contains("NOT PROVEN"));
    }

    #[test]
    fn exceptions_come_first_in_their_order() {
        let mut lines = vec![];
        for (i, s) in [
            "deleted",
            "invalid",
            "queued",
            "refused",
            "pending",
            "failed",
            "present",
            "not_found",
            "verified",
        ]
        .iter()
        .enumerate()
        {
            lines.push(line("braze", &format!("p{i}@x.io"), s, ""));
        }
        let a = agg(lines, false);
        let order: Vec<&str> = a.rows().iter().map(|(_, l)| l.status.as_str()).collect();
        assert_eq!(
            order,
            [
                "present",
                "failed",
                "refused",
                "invalid",
                "deleted",
                "queued",
                "pending",
                "verified",
                "not_found"
            ]
        );
        assert_eq!(a.exceptions(), 4);
        assert_eq!(a.not_proven(), 3);
        let html = render_to(&a, Format::Html);
        let exc = html.find("Exceptions (4)").unwrap();
        let rest = html.find("All other identifiers (2)").unwrap();
        let present_row = html.find("<td class=\"outcome\">present</td>").unwrap();
        let verified_row = html.find("<td class=\"outcome\">verified</td>").unwrap();
        assert!(exc < present_row && present_row < rest && rest < verified_row);
    }

    #[test]
    fn identifiers_are_hashed_and_echoes_concealed_unless_show_ids() {
        let l = || {
            vec![
                line(
                    "gainsight-px",
                    "Ann@Example.com",
                    "failed",
                    r#","detail":"user ann@example.com not deletable; see bob@corp.example.org (Ann@Example.com)","vendor_ids":["Ann@Example.com","gp-7"],"http_status":409"#,
                ),
                serde_json::from_str(&format!(
                    r#"{{"vendor":"rally","kind":"email","id_sha256":"{}","outcome":"deleted","at":"2026-11-24T21:40:05Z"}}"#,
                    crate::report::sha256_hex("zed@x.io")
                ))
                .unwrap(),
            ]
        };
        let a = agg(l(), false);
        let html = render_to(&a, Format::Html);
        let md = render_to(&a, Format::Md);
        for doc in [&html, &md] {
            for clear in ["ann@example.com", "Ann@Example.com", "bob@corp", "zed@x.io"] {
                assert!(!doc.contains(clear), "{clear} in clear: {doc}");
            }
            assert!(doc.contains(&crate::report::sha256_hex("Ann@Example.com")));
            assert!(doc.contains(&crate::report::sha256_hex("zed@x.io")));
            assert!(doc.contains(&tag("Ann@Example.com")));
            assert!(doc.contains(&tag("bob@corp.example.org")));
            assert!(doc.contains("gp-7") && doc.contains("HTTP 409"));
            assert!(doc.contains("SHA-256 hashes"));
        }
        let a = agg(l(), true);
        let html = render_to(&a, Format::Html);
        assert!(html.contains("IDENTIFIERS IN CLEAR"));
        assert!(html.contains("user ann@example.com not deletable"));
        assert!(html.contains("<td class=\"mono\">Ann@Example.com</td>"));
        // A line that had only the hash stays a hash, marked as one.
        assert!(html.contains(&format!("sha256:{}", crate::report::sha256_hex("zed@x.io"))));
    }

    #[test]
    fn hostile_vendor_text_is_escaped() {
        let hostile = r#"<script>alert(1)</script><img src=x onerror=alert(2)> | pipe\nnew \"q\" 'a' & [l](http://e.vil) \u001b[2J"#;
        let a = agg(
            vec![line(
                "zendesk",
                "a@x.io",
                "failed",
                &format!(r#","detail":"{hostile}","job_id":"<b>j</b>","host":"<i>h</i>""#),
            )],
            false,
        );
        let html = render_to(&a, Format::Html);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>") && !html.contains("<i>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;q&quot; &#39;a&#39; &amp;"));
        assert!(!html.contains('\u{1b}'), "terminal escapes written out");
        assert!(!html.contains("href") && !html.contains("url(") && !html.contains("src=\""));
        let md = render_to(&a, Format::Md);
        let row = md
            .lines()
            .find(|l| l.contains("alert(1)"))
            .expect("the failed row");
        // It holds a URL, so it is one code span: literal text, no markup.
        assert!(
            row.contains("`<script>alert(1)</script>") && row.contains(r"\| pipe"),
            "{row}"
        );
        assert_eq!(
            md_escape("<b>bold</b> *x*"),
            r"\<b\>bold\</b\> \*x\*",
            "without one, punctuation is escaped"
        );
        assert!(row.contains("pipe new"), "the newline is a space: {row}");
        let cells = row.replace(r"\|", "").matches('|').count();
        assert_eq!(cells, 8, "7 cells: {row}");
    }

    #[test]
    fn corrupt_torn_and_empty_reports_say_where() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        let good = r#"{"vendor":"rally","kind":"email","id":"a@x.io","outcome":"queued","at":"2026-11-24T21:40:03Z"}"#;
        std::fs::write(
            &p,
            format!("{good}\n{{\"vendor\":\"rally\",\"outcome\":\"gone\"}}\n"),
        )
        .unwrap();
        let e = Aggregate::read(&p, false).err().unwrap().to_string();
        assert!(e.contains("r.jsonl:2: not a purge report line"), "{e}");
        std::fs::write(&p, format!("{good}\n{good}\n{{\"vendor\":\"ra")).unwrap();
        let e = Aggregate::read(&p, false).err().unwrap().to_string();
        assert!(
            e.contains("r.jsonl:3: the last line is cut off") && e.contains("--resume"),
            "{e}"
        );
        std::fs::write(
            &p,
            format!(
                "{}\n",
                good.replace("a@x.io\"", "a@x.io\",\"at\":\"yesterday\"")
            ),
        )
        .unwrap();
        assert!(Aggregate::read(&p, false).is_err());
        std::fs::write(&p, "\n  \n").unwrap();
        let e = Aggregate::read(&p, false).err().unwrap().to_string();
        assert!(e.contains("no lines"), "{e}");
        let e = Aggregate::read(&d.path().join("none.jsonl"), false)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("none.jsonl: no such report file"), "{e}");
        // A good report: its hash is of its bytes.
        let text = format!("{good}\n");
        std::fs::write(&p, &text).unwrap();
        let a = Aggregate::read(&p, false).unwrap();
        assert_eq!(a.sha256, crate::report::sha256_hex(&text));
    }

    #[test]
    fn run_refuses_to_overwrite_and_sets_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let report = d.path().join("r.jsonl");
        std::fs::write(
            &report,
            "{\"vendor\":\"rally\",\"kind\":\"email\",\"id\":\"a@x.io\",\"outcome\":\"queued\"}\n",
        )
        .unwrap();
        let out = d.path().join("c.md");
        let args = |output: &Path, show_ids: bool, force: bool| Args {
            report: report.clone(),
            output: output.to_path_buf(),
            inline_people: INLINE_PEOPLE,
            format: None,
            show_ids,
            force,
            person: vec![],
            operator: None,
            config: None,
        };
        let run_ = |a: &Args| run(a, Attest::default());
        assert_eq!(run_(&args(&out, false, false)).unwrap().format, Format::Md);
        assert!(matches!(
            run_(&args(&out, false, false)),
            Err(CertError::Exists { .. })
        ));
        run_(&args(&out, true, true)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "--show-ids: 0600");
        }
        assert!(matches!(
            run_(&args(&report, false, true)),
            Err(CertError::SameFile { .. })
        ));
        assert_eq!(
            Format::choose(None, Path::new("erasure.html")),
            Format::Html
        );
        assert_eq!(Format::choose(None, Path::new("-")), Format::Html);
        assert_eq!(
            Format::choose(Some(Format::Md), Path::new("x.html")),
            Format::Md
        );
    }

    #[test]
    fn a_hundred_thousand_lines_keep_one_entry_per_identifier() {
        // Streamed: 100k lines over 50k identifiers (pending, then final) keep
        // 50k entries and share their repeated evidence strings.
        let mut a = Aggregate::new(false);
        for i in 0..100_000usize {
            let id = format!("person{}@example.com", i % 50_000);
            let (outcome, extra) = if i < 50_000 {
                ("pending", format!(r#","job_id":"job-{}""#, i / 100))
            } else {
                (
                    "deleted",
                    r#","detail":"permanent","http_status":200"#.to_string(),
                )
            };
            a.add(line("zendesk", &id, outcome, &extra), i + 1).unwrap();
        }
        assert_eq!(a.identifiers(), 50_000);
        assert_eq!(a.exceptions(), 0);
        // The pending lines' job ids went with them: the time and `permanent` are left.
        assert_eq!(a.strings.len(), 2);
        let mut out = Vec::new();
        render(&a, &meta(), Format::Html, &mut out).unwrap();
        assert!(out.len() > 50_000 * 64);
    }
}
