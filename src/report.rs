//! The JSON Lines report (which doubles as the checkpoint), resuming from it,
//! and the run summary.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub use crate::conceal::sha256_hex;
use crate::model::{Ident, Kind, Outcome, Status};

#[derive(Debug, Serialize, Deserialize)]
pub struct Line {
    pub vendor: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_sha256: Option<String>,
    pub outcome: Status,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub http_status: Option<u16>,
    #[serde(default)]
    pub request: Option<u64>,
    #[serde(default)]
    pub job_id: Option<String>,
    /// The vendor ids the identifier resolved to, while a resumed run needs them
    /// (the users an open job covers). The checkpoint: never read from `detail`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vendor_ids: Vec<String>,
    /// The vendor host the requests went to (evidence for the certificate);
    /// absent on lines decided before anything was sent (`invalid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Why this final outcome does not prove the person erased (a soft
    /// delete, an acceptance the vendor did not confirm for this person): the
    /// certificate lists such people as not proven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unproven: Option<String>,
    /// The person's request reference (`--ref-column`: a ticket id), on
    /// every line of the person; in clear even with `--hash-ids` (it names a
    /// request, not the person).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Who ran the purge (or the verification) that wrote the line: the OS
    /// user, evidence the certificate names on its first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default)]
    pub at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "{0}: the report file exists; pass --resume to continue that run, or choose a new --report file"
    )]
    Exists(PathBuf),
    #[error(
        "{0}: the report is a symbolic link; purge appends only to a regular file it can trust (pass the link's target, or a new --report file)"
    )]
    Symlink(PathBuf),
    #[error(
        "{path}: the report belongs to another user (uid {owner}, you are {me}); purge will not append to it: copy it to a file of your own, or run as its owner"
    )]
    Owner { path: PathBuf, owner: u32, me: u32 },
    #[error("{path}: cannot encode a report line: {err}")]
    Encode { path: PathBuf, err: String },
    #[error("{path}: cannot {what}: {err}")]
    Io {
        path: PathBuf,
        what: &'static str,
        err: std::io::Error,
    },
    #[error("{path}:{line}: not a purge report line ({why}); fix or move the file")]
    Corrupt {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error(
        "{path}: this report is from a `purge {vendor}` run with --kind {kind}; resume it with the same vendor and kind"
    )]
    Mismatch {
        path: PathBuf,
        vendor: String,
        kind: String,
    },
}

/// An identifier as the report knows it: the first 128 bits of its SHA-256
/// (a hashed report has only the hash). Two of a million identifiers share
/// one with a chance below 10⁻²⁶.
type Key = [u8; 16];

/// The [`Key`] of an identifier.
fn key_of(id: &str) -> Key {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The [`Key`] a line's `id_sha256` (64 hex digits) names; `None` if it is no hash.
fn key_of_hex(hex: &str) -> Option<Key> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut key = [0; 16];
    for (i, k) in key.iter_mut().enumerate() {
        *k = digit(hex[2 * i])? << 4 | digit(hex[2 * i + 1])?;
    }
    Some(key)
}

/// A settled identifier's entry in [`Prior::last`] (else an index into `jobs`).
const SETTLED: u32 = u32::MAX;
/// An identifier whose last line leaves it to send again (failed, skipped, invalid).
const OPEN: u32 = u32::MAX - 1;

/// What an earlier run recorded: one entry per identifier of the report,
/// 20 bytes each (its whole [`Key`] and what its last line says), in the
/// tables the input's dedupe uses (`input::Table`, 4,096 open-addressing
/// tables between 61% and 85% full: about 28 bytes an identifier).
#[derive(Debug, Default)]
pub struct Prior {
    /// Per identifier: [`SETTLED`] (`deleted`, `queued`, `not_found`: leave
    /// alone), [`OPEN`], or pending in the open job `jobs[i]` (poll it
    /// instead of resubmitting).
    last: crate::input::Table<[u32; 4]>,
    /// Open jobs: the job id and, per entry pointing here, the vendor ids it covers.
    jobs: Vec<(String, Vec<String>)>,
    /// `invalid` already recorded: do not write again.
    invalid: HashSet<Key, foldhash::fast::RandomState>,
    /// The hosts its lines were sent to (a resumed run must be at the same one).
    pub hosts: std::collections::BTreeSet<String>,
    /// The references its lines recorded (`ref`), by the SHA-256 of the identifier.
    pub refs: HashMap<String, String>,
    /// Lines read, and whether a torn last line was cut off.
    pub lines: usize,
    pub repaired: bool,
}

impl Prior {
    pub fn status_of(&self, ident: &Ident) -> PriorState {
        self.status_at(self.prepare(ident))
    }

    /// The key `ident` is looked up by, its entry asked of the cache ahead of
    /// [`Prior::status_at`] (the misses of a few look-ups then overlap).
    pub fn prepare(&self, ident: &Ident) -> u128 {
        let key = u128::from_be_bytes(key_of(&ident.value));
        self.last.prefetch(key);
        key
    }

    /// What the report says of the identifier of `key` ([`Prior::prepare`]).
    pub fn status_at(&self, key: u128) -> PriorState {
        match self.last.get(key) {
            Some(SETTLED) => PriorState::Settled,
            None | Some(OPEN) => PriorState::Open,
            Some(i) => {
                let (job, vendor_ids) = &self.jobs[i as usize];
                PriorState::Pending {
                    job: job.clone(),
                    vendor_ids: vendor_ids.clone(),
                }
            }
        }
    }

    /// Whether the report already has `value` as `invalid`.
    pub fn has_invalid(&self, value: &str) -> bool {
        self.invalid.contains(&key_of(value))
    }

    /// A line's outcome, the last word on its identifier so far.
    fn note(&mut self, key: Key, note: Note) {
        let at = u128::from_be_bytes(key);
        match note {
            Note::Settled => self.last.set(at, SETTLED),
            Note::Job(job, vendor_ids) => {
                self.jobs.push((job, vendor_ids));
                self.last.set(at, (self.jobs.len() - 1) as u32);
            }
            Note::Open { invalid } => {
                if self.last.get(at).is_some() {
                    self.last.set(at, OPEN);
                }
                if invalid {
                    self.invalid.insert(key);
                }
            }
        }
    }
}

/// What a line says of its identifier, for [`Prior::note`].
enum Note {
    Settled,
    /// Pending in this open job, covering these vendor ids.
    Job(String, Vec<String>),
    /// To send again (`invalid`: recorded as invalid).
    Open {
        invalid: bool,
    },
}

impl Note {
    fn of(line: LineIn) -> Note {
        match line.outcome {
            s if s.is_settled() => Note::Settled,
            Status::Pending if line.job_id.is_some() => Note::Job(
                line.job_id.unwrap_or_default().into_owned(),
                line.vendor_ids,
            ),
            s => Note::Open {
                invalid: s == Status::Invalid,
            },
        }
    }
}

/// Lines whose entries are fetched together before they are noted.
const NOTES: usize = 16;

/// The fields of a report line a resumed run reads, borrowed where they can be.
#[derive(Deserialize)]
struct LineIn<'a> {
    #[serde(borrow)]
    vendor: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    id_sha256: Option<std::borrow::Cow<'a, str>>,
    outcome: Status,
    #[serde(default, borrow)]
    job_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    vendor_ids: Vec<String>,
    #[serde(default, borrow)]
    host: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "ref", default)]
    reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriorState {
    Settled,
    Pending {
        job: String,
        vendor_ids: Vec<String>,
    },
    Open,
}

/// The report writer. Lines are appended as outcomes become final; the caller
/// flushes after every batch.
pub struct Report {
    out: Option<File>,
    /// Lines of the batch being recorded; written with one `write` at [`Report::flush`].
    pending: String,
    path: Option<PathBuf>,
    vendor: &'static str,
    kind: Kind,
    hash_ids: bool,
    /// The host requests go to, written on each line.
    host: Option<String>,
    /// Who runs purge, written on each line with the host.
    operator: Option<String>,
    /// This run created the file (not `--resume`): [`Report::discard`] may remove it.
    created: bool,
    /// Each person's reference by the SHA-256 of its identifier
    /// (`--ref-column`, or the lines being resumed).
    refs: HashMap<String, String>,
}

impl Report {
    /// The people's references: the input's (`--ref-column`), else the ones
    /// the resumed lines recorded, written as `ref` on each later line.
    pub fn set_refs(&mut self, input: &HashMap<String, String>, prior: &Prior) {
        self.refs = prior.refs.clone();
        for (value, r) in input {
            self.refs.insert(sha256_hex(value), r.clone());
        }
    }

    /// The reference of the person with identifier `value`, if any.
    fn reference(&self, value: &str) -> Option<String> {
        if self.refs.is_empty() {
            return None;
        }
        self.refs.get(&sha256_hex(value)).cloned()
    }

    /// Name the host the run's requests go to (written on every later line).
    pub fn set_host(&mut self, host: &str) {
        self.host = Some(host.to_string());
    }

    /// Name who runs purge (written on every later line).
    pub fn set_operator(&mut self, who: &str) {
        self.operator = Some(who.to_string());
    }

    /// A report that writes nothing (no `--report`).
    pub fn none(vendor: &'static str, kind: Kind, hash_ids: bool) -> Self {
        Report {
            out: None,
            pending: String::new(),
            path: None,
            vendor,
            kind,
            hash_ids,
            host: None,
            created: false,
            operator: None,
            refs: HashMap::new(),
        }
    }

    /// The run was not confirmed: remove the file this run created (it holds
    /// at most the invalid identifiers' lines, written again by the next run),
    /// so the same command with `--yes` starts afresh. A resumed report stays.
    pub fn discard(mut self) {
        self.out = None;
        if self.created
            && let Some(path) = &self.path
        {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Open `path`: a new file (mode 0600), or with `resume` the existing one,
    /// read back and repaired (a torn last line is cut off).
    pub fn open(
        path: &Path,
        resume: bool,
        vendor: &'static str,
        kind: Kind,
        hash_ids: bool,
    ) -> Result<(Report, Prior), ReportError> {
        let (mut reports, mut priors) =
            Report::open_shared(path, resume, &[(vendor, kind)], hash_ids)?;
        Ok((reports.remove(0), priors.remove(0)))
    }

    /// One report file for several vendors (`purge everywhere`): a writer and
    /// the earlier run's state for each `(vendor, kind)`, in order. Every line
    /// of a resumed report must belong to one of them. The writers share the
    /// file (one `write` per batch each, so lines never interleave).
    pub fn open_shared(
        path: &Path,
        resume: bool,
        runs: &[(&'static str, Kind)],
        hash_ids: bool,
    ) -> Result<(Vec<Report>, Vec<Prior>), ReportError> {
        let io = |what: &'static str| {
            move |err| ReportError::Io {
                path: path.to_path_buf(),
                what,
                err,
            }
        };
        // `symlink_metadata`: a symlink (even a dangling one) counts as existing.
        let link = std::fs::symlink_metadata(path).ok();
        let exists = link.is_some();
        if exists && !resume {
            return Err(ReportError::Exists(path.to_path_buf()));
        }
        if link.is_some_and(|m| m.file_type().is_symlink()) {
            return Err(ReportError::Symlink(path.to_path_buf()));
        }
        let mut priors: Vec<Prior> = runs.iter().map(|_| Prior::default()).collect();
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = if exists {
            #[cfg(unix)]
            {
                // Refuse a symlink swapped in since the check above, too.
                use std::os::unix::fs::OpenOptionsExt;
                opts.custom_flags(libc::O_NOFOLLOW);
            }
            let file = opts.open(path).map_err(|err| {
                if err.raw_os_error() == Some(libc::ELOOP) {
                    ReportError::Symlink(path.to_path_buf())
                } else {
                    io("open")(err)
                }
            })?;
            check_owner(path, &file)?;
            file
        } else {
            opts.create_new(true).open(path).map_err(io("create"))?
        };
        if exists {
            let good = read_prior(path, &file, runs, &mut priors)?;
            let len = file.metadata().map_err(io("read"))?.len();
            if good < len {
                file.set_len(good).map_err(io("repair"))?;
                priors[0].repaired = true;
            }
            file.seek(SeekFrom::End(0)).map_err(io("seek"))?;
        }
        let mut reports = Vec::with_capacity(runs.len());
        for (vendor, kind) in runs {
            reports.push(Report {
                out: Some(file.try_clone().map_err(io("open"))?),
                pending: String::new(),
                path: Some(path.to_path_buf()),
                vendor,
                kind: *kind,
                hash_ids,
                host: None,
                created: !exists,
                refs: HashMap::new(),
                operator: None,
            });
        }
        drop(file);
        Ok((reports, priors))
    }

    /// Whether identifiers are recorded only as their SHA-256 (`--hash-ids`).
    pub fn hashes_ids(&self) -> bool {
        self.hash_ids
    }

    /// With `--hash-ids`, `o` as purge may write it anywhere: the identifier
    /// (as given or URL-encoded) and any e-mail address a vendor echoed in its
    /// detail replaced by the start of their hash, vendor ids that are the
    /// identifier itself left out (a resume knows them from the identifier),
    /// and vendor ids that are addresses hashed. `None`: nothing to hide.
    pub fn concealed(&self, o: &Outcome) -> Option<Outcome> {
        if !self.hash_ids {
            return None;
        }
        let conceal = |t: &str| crate::conceal::conceal(t, Some(&o.ident.value)).into_owned();
        let mut hidden = o.clone();
        hidden.detail = conceal(&o.detail);
        hidden.vendor_ids = o
            .vendor_ids
            .iter()
            .filter(|v| **v != o.ident.value)
            .map(|v| conceal(v))
            .collect();
        Some(hidden)
    }

    /// Append one line for `o`, decided by request `seq`.
    pub fn write(&mut self, o: &Outcome, seq: Option<u64>) -> Result<(), ReportError> {
        if self.out.is_none() {
            return Ok(());
        }
        let hidden = self.concealed(o);
        let o = hidden.as_ref().unwrap_or(o);
        let (id, id_sha256) = if self.hash_ids {
            (None, Some(sha256_hex(&o.ident.value)))
        } else {
            (Some(o.ident.value.clone()), None)
        };
        let line = Line {
            vendor: self.vendor.to_string(),
            kind: self.kind.as_str().to_string(),
            id,
            id_sha256,
            outcome: o.status,
            detail: o.detail.clone(),
            http_status: o.http_status,
            request: seq,
            job_id: o.job_id.clone(),
            vendor_ids: o.vendor_ids.clone(),
            host: if o.status == Status::Invalid {
                None
            } else {
                self.host.clone()
            },
            unproven: o.unproven.clone(),
            reference: self.reference(&o.ident.value),
            operator: self.operator.clone(),
            at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        self.push(&line)
    }

    /// Append a line for an identifier known only by its SHA-256 (a report
    /// written with `--hash-ids`, read back by `purge verify`).
    pub fn write_hashed(
        &mut self,
        sha256: &str,
        status: Status,
        detail: &str,
    ) -> Result<(), ReportError> {
        if self.out.is_none() {
            return Ok(());
        }
        let line = Line {
            vendor: self.vendor.to_string(),
            kind: self.kind.as_str().to_string(),
            id: None,
            id_sha256: Some(sha256.to_string()),
            outcome: status,
            detail: detail.to_string(),
            http_status: None,
            request: None,
            job_id: None,
            vendor_ids: vec![],
            host: None,
            unproven: None,
            reference: self.refs.get(sha256).cloned(),
            operator: self.operator.clone(),
            at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        self.push(&line)
    }

    /// Add `line` to the batch being recorded.
    fn push(&mut self, line: &Line) -> Result<(), ReportError> {
        let text = serde_json::to_string(line).map_err(|e| ReportError::Encode {
            path: self.path.clone().unwrap_or_default(),
            err: e.to_string(),
        })?;
        self.pending.push_str(&text);
        self.pending.push('\n');
        Ok(())
    }

    /// Push everything written so far to the file.
    pub fn flush(&mut self) -> Result<(), ReportError> {
        if let Some(out) = self.out.as_mut()
            && !self.pending.is_empty()
        {
            // One write per batch: a kill leaves whole lines, or at worst one torn last line.
            let text = std::mem::take(&mut self.pending);
            out.write_all(text.as_bytes())
                .map_err(|err| ReportError::Io {
                    path: self.path.clone().unwrap_or_default(),
                    what: "write",
                    err,
                })?;
        }
        Ok(())
    }
}

/// A report to resume must belong to the user running purge.
fn check_owner(path: &Path, file: &File) -> Result<(), ReportError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().map_err(|err| ReportError::Io {
            path: path.to_path_buf(),
            what: "read",
            err,
        })?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(ReportError::Owner {
                path: path.to_path_buf(),
                owner: meta.uid(),
                me,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file);
    Ok(())
}

/// The longest report line purge reads back: a line is a few hundred bytes (a
/// Zendesk line with 100 user ids a few KiB), so a longer one is not a report
/// (`/dev/zero`, a binary file) and must not cost unbounded memory.
pub const MAX_LINE: usize = 1 << 20;

/// Read one line (through `\n`, kept) into `buf`, at most [`MAX_LINE`] bytes:
/// `Ok(0)` at the end; past the cap, an `InvalidData` error that [`too_long`]
/// recognises (the caller names `file:line`).
pub fn read_line_capped<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::io::Read;
    let n = reader.take(MAX_LINE as u64 + 1).read_until(b'\n', buf)?;
    if buf.len() > MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            LineTooLong,
        ));
    }
    Ok(n)
}

/// The error of [`read_line_capped`] past [`MAX_LINE`].
#[derive(Debug, thiserror::Error)]
#[error("a line longer than 1 MiB: this is not a purge report")]
pub struct LineTooLong;

/// Whether `err` is [`read_line_capped`]'s line past the cap (its text, if so).
pub fn too_long(err: &std::io::Error) -> Option<String> {
    err.get_ref()
        .filter(|e| e.is::<LineTooLong>())
        .map(|e| e.to_string())
}

/// Read an earlier report into `priors` (one a run), once, line by line;
/// returns the byte length of the good part.
fn read_prior(
    path: &Path,
    file: &File,
    runs: &[(&'static str, Kind)],
    priors: &mut [Prior],
) -> Result<u64, ReportError> {
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    // The tables made ready for the report's lines at once (a read error is
    // said by the read that follows).
    if let Ok(head) = reader.fill_buf() {
        let lines = crate::input::expected_lines(Some(path), head);
        for prior in priors.iter_mut() {
            prior.last.reserve(lines / runs.len().max(1));
        }
    }
    let mut buf = Vec::new();
    let mut good: u64 = 0;
    let mut line_no = 0;
    // Each line's note waits a few lines, its entry asked of the cache meanwhile.
    let mut notes: Vec<(usize, Key, Note)> = Vec::with_capacity(NOTES);
    let settle = |priors: &mut [Prior], notes: &mut Vec<(usize, Key, Note)>| {
        for (at, key, note) in notes.drain(..) {
            priors[at].note(key, note);
        }
    };
    loop {
        if notes.len() >= NOTES {
            settle(priors, &mut notes);
        }
        buf.clear();
        let n = read_report_line(path, &mut reader, &mut buf, line_no)?;
        if n == 0 {
            settle(priors, &mut notes);
            return Ok(good);
        }
        line_no += 1;
        let complete = buf.ends_with(b"\n");
        if buf.iter().all(u8::is_ascii_whitespace) {
            good += n as u64;
            continue;
        }
        let Some(mut line) = parse_line(path, &buf, line_no, complete)? else {
            // A last line cut off by a kill: drop it; its batch is sent again.
            settle(priors, &mut notes);
            return Ok(good);
        };
        let at = prior_of(path, runs, &line)?;
        let prior = &mut priors[at];
        good += n as u64;
        if !complete {
            // A whole JSON object without its newline: keep it, add the newline.
            let mut f = file;
            let _ = f.seek(SeekFrom::End(0));
            let _ = f.write_all(b"\n");
            good += 1;
        }
        prior.lines += 1;
        if let Some(host) = &line.host
            && !prior.hosts.contains(host.as_ref())
        {
            prior.hosts.insert(host.to_string());
        }
        if let Some(r) = line.reference.take() {
            let hex = match (&line.id_sha256, &line.id) {
                (Some(hex), _) => hex.to_string(),
                (None, id) => sha256_hex(id.as_deref().unwrap_or_default()),
            };
            prior.refs.insert(hex, r);
        }
        let key = match (&line.id_sha256, &line.id) {
            (Some(hex), _) => key_of_hex(hex).unwrap_or_else(|| key_of(hex)),
            (None, id) => key_of(id.as_deref().unwrap_or_default()),
        };
        prior.last.prefetch(u128::from_be_bytes(key));
        notes.push((at, key, Note::of(line)));
    }
}

/// One line of the report, capped ([`read_line_capped`]).
fn read_report_line(
    path: &Path,
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    line_no: usize,
) -> Result<usize, ReportError> {
    read_line_capped(reader, buf).map_err(|err| match too_long(&err) {
        Some(why) => ReportError::Corrupt {
            path: path.to_path_buf(),
            line: line_no + 1,
            why,
        },
        None => ReportError::Io {
            path: path.to_path_buf(),
            what: "read",
            err,
        },
    })
}

/// A line as JSON with an identifier; `None`: a last line cut off by a kill.
fn parse_line<'a>(
    path: &Path,
    buf: &'a [u8],
    line_no: usize,
    complete: bool,
) -> Result<Option<LineIn<'a>>, ReportError> {
    let corrupt = |why: String| ReportError::Corrupt {
        path: path.to_path_buf(),
        line: line_no,
        why,
    };
    match serde_json::from_slice::<LineIn>(buf) {
        Ok(l) if l.id.is_some() || l.id_sha256.is_some() => Ok(Some(l)),
        Ok(_) => Err(corrupt("no id or id_sha256".to_string())),
        Err(_) if !complete => Ok(None),
        Err(e) => Err(corrupt(e.to_string())),
    }
}

/// The run a line belongs to (its index in `runs`: vendor and kind), or the mismatch.
fn prior_of(
    path: &Path,
    runs: &[(&'static str, Kind)],
    line: &LineIn,
) -> Result<usize, ReportError> {
    match runs
        .iter()
        .position(|(v, k)| line.vendor == *v && line.kind == k.as_str())
    {
        Some(at) => Ok(at),
        None => Err(ReportError::Mismatch {
            path: path.to_path_buf(),
            vendor: line.vendor.to_string(),
            kind: line.kind.to_string(),
        }),
    }
}

/// Counts for the end-of-run summary.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub vendor: String,
    pub kind: String,
    pub dry_run: bool,
    pub identifiers: u64,
    pub deleted: u64,
    pub queued: u64,
    pub not_found: u64,
    pub failed: u64,
    pub invalid: u64,
    pub skipped: u64,
    pub refused: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub verified: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub present: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub unverifiable: u64,
    pub pending: u64,
    pub duplicates: u64,
    pub requests: u64,
    pub attempts: u64,
    pub retries: u64,
    pub throttled: u64,
    pub wait_seconds: f64,
    pub elapsed_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why identifiers failed, the commonest first (at most [`TOP_REASONS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failure_reasons: Vec<Reason>,
    pub exit_code: crate::exit::ExitCode,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How many failure reasons the summary lists.
pub const TOP_REASONS: usize = 3;

/// One reason identifiers failed, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub reason: String,
    pub count: u64,
}

/// A failure's `detail` without what differs between identifiers failing the
/// same way (the attempt count), so they group.
pub fn reason_of(detail: &str) -> String {
    match detail.rfind(" (gave up after ") {
        Some(i) if detail.ends_with(')') => detail[..i].to_string(),
        _ => detail.to_string(),
    }
}

/// The commonest reasons first, at most [`TOP_REASONS`].
pub fn top_reasons(counts: &std::collections::HashMap<String, u64>) -> Vec<Reason> {
    let mut all: Vec<Reason> = counts
        .iter()
        .map(|(r, n)| Reason {
            reason: r.clone(),
            count: *n,
        })
        .collect();
    all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    all.truncate(TOP_REASONS);
    all
}

impl Summary {
    pub fn count(&mut self, s: Status) {
        *self.counter(s) += 1;
    }

    /// How many identifiers ended `s`.
    pub fn of(&self, s: Status) -> u64 {
        match s {
            Status::Deleted => self.deleted,
            Status::Queued => self.queued,
            Status::NotFound => self.not_found,
            Status::Failed => self.failed,
            Status::Invalid => self.invalid,
            Status::Skipped => self.skipped,
            Status::Refused => self.refused,
            Status::Verified => self.verified,
            Status::Present => self.present,
            Status::Unverifiable => self.unverifiable,
            Status::Pending => self.pending,
        }
    }

    /// Identifiers that are not gone (`Status::is_exception`): any makes the exit code 1.
    pub fn exceptions(&self) -> u64 {
        Status::ALL
            .into_iter()
            .filter(|s| s.is_exception())
            .map(|s| self.of(s))
            .sum()
    }

    fn counter(&mut self, s: Status) -> &mut u64 {
        match s {
            Status::Deleted => &mut self.deleted,
            Status::Queued => &mut self.queued,
            Status::NotFound => &mut self.not_found,
            Status::Failed => &mut self.failed,
            Status::Invalid => &mut self.invalid,
            Status::Skipped => &mut self.skipped,
            Status::Refused => &mut self.refused,
            Status::Verified => &mut self.verified,
            Status::Present => &mut self.present,
            Status::Unverifiable => &mut self.unverifiable,
            Status::Pending => &mut self.pending,
        }
    }

    /// Time spent waiting on rate limits (never more than the run took) and elapsed.
    pub fn set_times(&mut self, wait: Duration, elapsed: Duration) {
        self.wait_seconds = (wait.min(elapsed).as_secs_f64() * 10.0).round() / 10.0;
        self.elapsed_seconds = (elapsed.as_secs_f64() * 100.0).round() / 100.0;
    }

    /// The text form for stderr.
    pub fn text(&self) -> String {
        let mut parts = vec![];
        for (n, name) in [
            (self.deleted, "deleted"),
            (self.queued, "queued"),
            (self.not_found, "not found"),
            (self.failed, "failed"),
            (self.invalid, "invalid"),
            (self.refused, "refused"),
            (self.verified, "verified gone"),
            (self.present, "still present"),
            (self.unverifiable, "unverifiable"),
            (self.skipped, "skipped (already done)"),
            (self.pending, "pending in open jobs"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {name}"));
            }
        }
        let mut s = format!(
            "purge {}: {} {} ({}): {}",
            self.vendor,
            self.identifiers,
            if self.identifiers == 1 {
                "person"
            } else {
                "people"
            },
            self.kind,
            if parts.is_empty() {
                "nothing done".to_string()
            } else {
                parts.join(", ")
            }
        );
        if self.dry_run {
            s.push_str(&format!(
                "\n  {} duplicate{} dropped; {} request{} listed",
                self.duplicates,
                if self.duplicates == 1 { "" } else { "s" },
                self.requests,
                if self.requests == 1 { "" } else { "s" },
            ));
        } else {
            s.push_str(&format!(
            "\n  {} duplicate{} dropped; {} request{}, {} retr{}, {} answered 429, {:.1}s waiting on rate limits, {:.2}s elapsed",
            self.duplicates,
            if self.duplicates == 1 { "" } else { "s" },
            self.requests,
            if self.requests == 1 { "" } else { "s" },
            self.retries,
            if self.retries == 1 { "y" } else { "ies" },
            self.throttled,
            self.wait_seconds,
            self.elapsed_seconds
        ));
        }
        for r in &self.failure_reasons {
            s.push_str(&format!("\n  failed: {} ×{}", r.reason, r.count));
        }
        for n in &self.notes {
            s.push_str(&format!("\n  {n}"));
        }
        if let Some(r) = &self.report {
            s.push_str(&format!("\n  report: {r}"));
        }
        if let Some(why) = &self.stopped {
            s.push_str(&format!("\n  stopped: {why}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceRef;

    fn outcome(id: &str, status: Status) -> Outcome {
        Outcome::new(
            Ident {
                value: id.into(),
                source: SourceRef { source: 0, line: 1 },
            },
            status,
            "x",
        )
    }

    #[test]
    fn existing_file_needs_resume_and_torn_line_is_repaired() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        {
            let (mut r, _) = Report::open(&p, false, "rally", Kind::Email, false).unwrap();
            r.write(&outcome("a@x.io", Status::Queued), Some(1))
                .unwrap();
            r.write(&outcome("b@x.io", Status::Failed), Some(1))
                .unwrap();
            r.flush().unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            Report::open(&p, false, "rally", Kind::Email, false),
            Err(ReportError::Exists(_))
        ));
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"vendor\":\"rally\",\"ki").unwrap();
        drop(f);
        let (_, prior) = Report::open(&p, true, "rally", Kind::Email, false).unwrap();
        assert!(prior.repaired);
        assert_eq!(prior.lines, 2);
        assert_eq!(
            prior.status_of(&outcome("a@x.io", Status::Queued).ident),
            PriorState::Settled
        );
        assert_eq!(
            prior.status_of(&outcome("b@x.io", Status::Queued).ident),
            PriorState::Open
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.ends_with("}\n") && text.lines().count() == 2);
        assert!(matches!(
            Report::open(&p, true, "braze", Kind::Email, false),
            Err(ReportError::Mismatch { .. })
        ));
    }

    #[test]
    fn hashed_ids_resume_too() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        {
            let (mut r, _) = Report::open(&p, false, "rally", Kind::Email, true).unwrap();
            r.write(&outcome("a@x.io", Status::Deleted), Some(3))
                .unwrap();
            r.flush().unwrap();
        }
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("a@x.io"));
        assert!(text.contains(&sha256_hex("a@x.io")));
        let (_, prior) = Report::open(&p, true, "rally", Kind::Email, false).unwrap();
        assert_eq!(
            prior.status_of(&outcome("a@x.io", Status::Queued).ident),
            PriorState::Settled
        );
    }
}
