//! The vendor interface: what an adapter tells the engine, and the shared types
//! (identifiers, requests, responses, outcomes) that flow between them.
//!
//! Adapters are sans-IO: they turn a batch of identifiers into a [`Request`]
//! description and a [`Response`] into a [`Step`]. The engine does every send,
//! through the lane the request names.

//!
//! Each vendor is self-contained in its own file: its flags (a clap `Args`
//! group), endpoint, credential, kinds and adapter, registered once in
//! [`REGISTRY`]. Nothing outside this folder names a vendor.

pub mod amplitude;
pub mod braze;
mod error;
pub mod gainsight_px;
pub mod mixpanel;
pub mod rally;
pub(crate) mod spec;
pub mod zendesk;

use std::path::Path;
use std::sync::Arc;

pub use crate::model::*;
pub use error::{
    CannotFollow, CredentialError, FileType, NoCheck, Refused, SetupError, TOKEN_FILE,
    TokenFileProblem,
};
pub use spec::*;

use crate::secret::Secret;

/// Every vendor purge knows, in the order `--help` lists them. Adding a vendor is
/// one file in this folder (its flags, setup and adapter) and one line here.
pub const REGISTRY: &[Entry] = &[
    rally::ENTRY,
    braze::ENTRY,
    gainsight_px::ENTRY,
    zendesk::ENTRY,
    mixpanel::ENTRY,
    amplitude::ENTRY,
];

/// The kind named `name` that some vendor of the registry takes (a report
/// line's `kind`, read back).
pub fn kind_named(name: &str) -> Option<Kind> {
    REGISTRY
        .iter()
        .flat_map(|e| e.kinds)
        .map(|k| k.kind)
        .find(|k| k.as_str() == name)
}

/// Every kind some vendor of the registry takes, each once, in registry order.
pub fn all_kinds() -> Vec<Kind> {
    let mut kinds: Vec<Kind> = vec![];
    for k in REGISTRY.iter().flat_map(|e| e.kinds) {
        if !kinds.contains(&k.kind) {
            kinds.push(k.kind);
        }
    }
    kinds
}

/// The registry entry of a subcommand name.
pub fn entry(name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.name == name)
}

/// A vendor's flags read back from clap's matches.
pub fn flags_from<A: clap::FromArgMatches>(m: &clap::ArgMatches) -> Result<A, SetupError> {
    A::from_arg_matches(m).map_err(|e| SetupError::Flags(e.to_string()))
}

/// What a vendor's flags resolve to.
pub struct Setup {
    pub service: Arc<dyn Service>,
    pub kind: Kind,
    /// Where requests go when no `--base-url` is given.
    pub endpoint: Endpoint,
    /// Reads the credential; called only when requests will really be sent.
    pub credential: CredentialFn,
    /// A flag a real run cannot do without, not given, whose value the
    /// requests carry in their path, query or body rather than in the host (a
    /// project token, who asked for the deletion): why, and what to pass. A real run refuses with it before
    /// anything is sent, whatever `--base-url` says; a dry run shows the
    /// adapter's placeholder in its requests and says so.
    pub missing: Option<String>,
}

/// Where a vendor's requests go when no `--base-url` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Url(String),
    /// The credential names it ([`Credential::base`]); the text says what to do if it does not.
    FromCredential(String),
    /// The flags do not say (a missing instance or subdomain): why, and what to
    /// pass; a dry run shows its plan against `placeholder` and says so.
    Missing {
        why: String,
        placeholder: &'static str,
    },
}

/// Reads a vendor's credential, from `--token-file` when given.
pub type CredentialFn =
    Box<dyn FnOnce(Option<&Path>) -> Result<Credential, CredentialError> + Send>;

/// The endpoint a vendor's named place maps to (a Braze instance, a Gainsight
/// region), case-insensitively; else an error, about `flag`, that lists the
/// valid names.
pub fn endpoint_named(
    table: &[(&str, &str)],
    flag: &'static str,
    name: &str,
    what: &'static str,
) -> Result<String, SetupError> {
    let want = name.trim().to_ascii_lowercase();
    table
        .iter()
        .find(|(n, _)| *n == want)
        .map(|(_, url)| (*url).to_string())
        .ok_or_else(|| SetupError::UnknownPlace {
            flag,
            what,
            name: name.to_string(),
            valid: names_of(table),
        })
}

/// A flag naming one of a table of named endpoints: its names are the flag's
/// possible values, so clap refuses any other and the shells complete them.
pub fn closed_set(
    table: &'static [(&'static str, &'static str)],
) -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(table.iter().map(|(name, _)| *name))
}

/// The names of a table of named endpoints, comma-separated.
pub fn names_of(table: &[(&str, &str)]) -> String {
    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// A check the vendor did not answer as documented: `unverifiable` for now,
/// and checked again by the next `purge verify`.
pub fn verify_unanswered(work: &Work, resp: &Response) -> Vec<Outcome> {
    all(
        &work.ids,
        Status::Unverifiable,
        &format!(
            "could not ask: {} {} answered {}: {}; run purge verify again",
            work.request.method.as_str(),
            work.request.shown_path(&work.ids),
            resp.status,
            resp.snippet()
        ),
        Some(resp.status),
    )
}

/// The most a token file may hold: a token is tens of bytes; 16 KiB leaves room
/// for a long JWT, and anything larger is not a token file.
pub const TOKEN_FILE_MAX: u64 = 16 * 1024;

/// A credential from `--token-file` or the environment variable `var`.
pub fn secret_from(var: &str, token_file: Option<&Path>) -> Result<Secret, CredentialError> {
    if let Some(path) = token_file {
        let bad = |problem| CredentialError::TokenFile {
            path: path.to_path_buf(),
            problem,
        };
        let text = read_token_file(path).map_err(bad)?;
        warn_if_shared(path);
        let value = text.trim();
        if value.is_empty() {
            return Err(bad(TokenFileProblem::Empty));
        }
        return Ok(Secret::new(value));
    }
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
        _ => Err(CredentialError::NotSet {
            var: var.to_string(),
        }),
    }
}

/// A token file's text: a regular file of at most [`TOKEN_FILE_MAX`] bytes. It
/// is opened without blocking (a FIFO would wait for a writer forever) and
/// checked on the open file, so a swap after a check changes nothing; a device
/// such as `/dev/zero` is refused before anything is read.
fn read_token_file(path: &Path) -> Result<String, TokenFileProblem> {
    use std::io::Read;
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK);
    }
    let file = open.open(path).map_err(TokenFileProblem::Unreadable)?;
    let meta = file.metadata().map_err(TokenFileProblem::Unreadable)?;
    if !meta.is_file() {
        return Err(TokenFileProblem::NotAFile(if meta.is_dir() {
            FileType::Directory
        } else {
            FileType::Special
        }));
    }
    if meta.len() > TOKEN_FILE_MAX {
        return Err(TokenFileProblem::TooLarge(meta.len()));
    }
    let mut bytes = Vec::new();
    file.take(TOKEN_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(TokenFileProblem::Unreadable)?;
    if bytes.len() as u64 > TOKEN_FILE_MAX {
        return Err(TokenFileProblem::Grew);
    }
    String::from_utf8(bytes).map_err(|_| TokenFileProblem::NotUtf8)
}

/// A token file others can read or write is a leaked credential waiting to happen: say so.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                crate::output::warn(&format!(
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

/// A vendor adapter: knows its API and nothing else.
pub trait Service: Send + Sync {
    fn profile(&self) -> &Profile;
    /// How many identifiers of `kind` one first request carries.
    fn batch_limit(&self, kind: Kind) -> usize;
    /// The first request for a batch of identifiers (at most `batch_limit`).
    fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work;
    /// Read the answer to `work` (any status the lane did not retry or stop on).
    fn read(&self, kind: Kind, work: &Work, resp: &Response) -> Step;
    /// Pick up a job recorded as pending by an earlier run; `vendor_ids` are the
    /// pending lines' `vendor_ids`, one list per identifier (default: resubmit).
    /// `Err` says why the job cannot be followed (the run stops before sending).
    fn resume_job(
        &self,
        kind: Kind,
        job: &str,
        ids: Vec<Ident>,
        vendor_ids: Vec<Vec<String>>,
    ) -> Result<Work, CannotFollow> {
        let _ = (job, vendor_ids);
        Ok(self.start(kind, ids))
    }
    /// A line shown in the confirmation and summary about what the delete means.
    fn erasure_note(&self) -> Option<String> {
        None
    }
    /// What the vendor asks of a run of `count` people of `kind` (Gainsight
    /// PX: contact its support past 1,000), shown in the confirmation and the
    /// dry run.
    fn scale_note(&self, kind: Kind, count: usize) -> Option<String> {
        let _ = (kind, count);
        None
    }
    /// A cheap read this run makes anyway, sent to every vendor before
    /// anything is deleted at any of them (`purge everywhere`), so a refused
    /// credential stops the run with nothing deleted. `None`: this run reads
    /// nothing (the credential is only checked to be present).
    fn preflight(&self, _kind: Kind) -> Option<Request> {
        None
    }
    /// Whether a 2xx answer to [`Service::preflight`] shows a credential the
    /// run can use (why not, if not).
    fn preflight_ok(&self, _resp: &Response) -> Result<(), Refused> {
        Ok(())
    }
    /// `purge verify`: the vendor's checks, if it offers a way to ask whether
    /// people still exist (`None`: every identifier ends `unverifiable`).
    fn verifier(&self) -> Option<&dyn Verify> {
        None
    }
    /// What the answers of this run said that the summary should tell (read
    /// once the run has ended).
    fn run_notes(&self) -> Vec<String> {
        vec![]
    }
    /// The requests `count` identifiers of `kind` will take at least, per lane
    /// whose quota makes a run long (one lookup per identifier, say): the run
    /// shows the expected duration from them and the lanes' quotas before it
    /// starts. Default: none (nothing is claimed).
    fn load(&self, kind: Kind, count: usize) -> Vec<Load> {
        let _ = (kind, count);
        vec![]
    }
    /// A dry run lists the first request of each batch. When more follow from
    /// the answers (lookups before the deletions), what they are for `count`
    /// identifiers of `kind`, plainly: "40 searches, then …; the deletions are
    /// known only after the lookups". Default: nothing follows.
    fn dry_run_follows(&self, kind: Kind, count: usize) -> Option<String> {
        let _ = (kind, count);
        None
    }
    /// Whether the engine gathers the work of `kind` marked [`Work::gather`]
    /// (deletions by the vendor ids earlier answers found), and how far.
    /// Default: each is sent as it comes.
    fn gathering(&self, kind: Kind) -> Option<Gathering> {
        let _ = kind;
        None
    }
    /// One request for gathered work: `ids` and `targets` (each vendor id with
    /// the index of its identifier in `ids`) of several pieces, at most
    /// [`Gathering::limit`] targets. `None`: they are sent one by one.
    fn combine(&self, kind: Kind, ids: Vec<Ident>, targets: Vec<(usize, String)>) -> Option<Work> {
        let _ = (kind, ids, targets);
        None
    }
}

/// What the report recorded for one identifier, given to its check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The vendor ids of its last line that named any.
    pub vendor_ids: Vec<String>,
    /// The vendor job of its last line that named one (a deletion task).
    pub job: Option<String>,
}

/// One `purge verify` check: identifiers and what the report recorded for
/// each (`recorded[i]` is `ids[i]`'s).
#[derive(Debug, Clone, Default)]
pub struct ToVerify {
    pub ids: Vec<Ident>,
    pub recorded: Vec<Recorded>,
}

impl ToVerify {
    /// The recorded vendor ids, each with the index of its identifier.
    pub fn targets(&self) -> Vec<(usize, String)> {
        self.recorded
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.vendor_ids.iter().map(move |v| (i, v.clone())))
            .collect()
    }

    /// The recorded jobs, each with the index of its identifier.
    pub fn jobs(&self) -> Vec<(usize, String)> {
        self.recorded
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.job.clone().map(|j| (i, j)))
            .collect()
    }
}

/// `purge verify`: asking a vendor whether people are gone, a capability a
/// vendor may offer beside its purge ([`Service::verifier`]). Its reads are
/// sent and retried by the engine like any other, on the vendor's lanes.
pub trait Verify: Send + Sync {
    /// How many identifiers of `kind` one check carries.
    fn verify_batch_limit(&self, _kind: Kind) -> usize {
        1
    }
    /// Requests in flight on the main lane when the user set no
    /// `--concurrency` (`None`: the lane's own). For a vendor whose checks are
    /// many small reads, enough to keep up with its quota.
    fn verify_concurrency(&self, _kind: Kind) -> Option<usize> {
        None
    }
    /// The read that tells whether these identifiers still exist at the
    /// vendor, from the identifiers and what the report recorded for them
    /// (their vendor ids, their job), or why the vendor offers no way to ask
    /// (they end `unverifiable`).
    fn verify_start(&self, kind: Kind, check: ToVerify) -> Result<Work, NoCheck>;
    /// Read the answer to a check: `verified`, `present`, `unverifiable`, or
    /// more reads. A check is a read: it never splits a batch ([`Step::Split`]
    /// ends its identifiers `unverifiable`).
    fn verify_read(&self, kind: Kind, work: &Work, resp: &Response) -> Step;
}

/// Requests a run will send on one lane of its vendor (see [`Service::load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Index into [`Profile::lanes`].
    pub lane: usize,
    pub requests: u64,
    /// What the requests are, plural, for people (`lookups`).
    pub what: &'static str,
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

    use super::*;
    use crate::cli::{Invocation, parse_from};
    use crate::http::headers::{RESET_MARGIN, rate_state};

    fn service(name: &str) -> Arc<dyn Service> {
        let Invocation::Purge { entry, matches, .. } =
            parse_from(["purge", name, "--dry-run", "x"]).unwrap()
        else {
            panic!("{name}")
        };
        entry.resolve(&matches).unwrap().service
    }

    /// A vendor's data says what its verify reads, and it matches the
    /// adapter: no verifier exactly when the proof is `Nothing`.
    #[test]
    fn each_entry_says_what_its_verify_reads() {
        for e in REGISTRY {
            let offers = service(e.name).verifier().is_some();
            assert_eq!(offers, e.proof != Proof::Nothing, "{}", e.name);
        }
        assert_eq!(entry("zendesk").unwrap().proof, Proof::VendorIds);
        assert_eq!(entry("mixpanel").unwrap().proof, Proof::Job);
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    /// Each vendor's documented "window used up" headers (DESIGN §4, the vendor
    /// pages) read as `Remaining: 0` until the reset, by the vendor's own lane.
    #[test]
    fn every_vendor_reads_its_documented_rate_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let unix = [
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000002"),
        ];
        // Braze sends them lower-case over HTTP/2; header names are case-blind here.
        let cases: [(&str, HeaderMap, Option<Duration>); 4] = [
            (
                "rally",
                headers(&unix),
                Some(Duration::from_secs(2) + RESET_MARGIN),
            ),
            (
                "braze",
                headers(&unix),
                Some(Duration::from_secs(2) + RESET_MARGIN),
            ),
            (
                "zendesk",
                headers(&[
                    ("x-rate-limit", "700"),
                    ("x-rate-limit-remaining", "0"),
                    ("rate-limit-reset", "2"),
                ]),
                Some(Duration::from_secs(2)),
            ),
            // The Ticketing APIs' documented names alone (the rate-limits page).
            (
                "zendesk",
                headers(&[
                    ("ratelimit-limit", "700"),
                    ("ratelimit-remaining", "0"),
                    ("ratelimit-reset", "41"),
                ]),
                Some(Duration::from_secs(41)),
            ),
        ];
        for (name, h, reset) in cases {
            let svc = service(name);
            let dialect = svc.profile().lanes[0].headers.expect(name);
            let state = rate_state(&h, &dialect, now);
            assert_eq!(state.remaining, Some(0.0), "{name}");
            assert_eq!(state.reset_in, reset, "{name}");
        }
        // Gainsight PX documents none: its lane adapts to 429s instead.
        assert!(service("gainsight-px").profile().lanes[0].headers.is_none());
    }

    /// A kind only one vendor has is declared in its file, and read back from
    /// a report line's `kind` through the registry (a new vendor's kinds need no
    /// change to the shared model).
    #[test]
    fn a_vendors_own_kind_is_read_back_through_the_registry() {
        assert_eq!(kind_named("braze-id"), Some(braze::BRAZE_ID));
        assert_eq!(kind_named("email"), Some(Kind::Email));
        assert_eq!(kind_named("nope"), None);
        let all = all_kinds();
        assert!(all.contains(&braze::BRAZE_ID) && all.contains(&Kind::Id));
        for e in REGISTRY {
            for k in e.kinds {
                assert_eq!(kind_named(k.kind.as_str()), Some(k.kind), "{}", e.name);
            }
        }
    }

    #[test]
    fn the_registry_names_each_subcommand_once() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        for e in REGISTRY {
            assert_eq!(service(e.name).profile().vendor, e.name);
        }
    }
}
