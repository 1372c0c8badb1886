//! The shared model of a run: identifiers and kinds, request and response
//! descriptions, outcomes, and the steps an adapter hands back to the engine.

use std::fmt;
use std::time::Duration;

use crate::secret::Secret;

/// What the identifiers of a run are: a name a vendor declares in its
/// [`KindSpec`]s (`--kind`'s values). The kinds several vendors share are
/// constants here; a kind only one vendor has is a constant of its own file,
/// made with [`Kind::new`], so a new vendor brings its kinds with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kind(&'static str);

// Named like the variants of the closed enum they replaced, so a match on a
// kind reads as it did (constants of a `PartialEq, Eq` type match as patterns).
#[allow(non_upper_case_globals)]
impl Kind {
    /// An e-mail address, which the vendor looks up.
    pub const Email: Kind = Kind("email");
    /// The vendor's own record id.
    pub const Id: Kind = Kind("id");
    /// The id the customer gave the person at the vendor.
    pub const ExternalId: Kind = Kind("external-id");
    /// A phone number (E.164).
    pub const Phone: Kind = Kind("phone");
    /// `LABEL:NAME`.
    pub const Alias: Kind = Kind("alias");

    /// A kind named `name` (lower-case words joined by `-`, as `--kind` takes it).
    pub const fn new(name: &'static str) -> Kind {
        Kind(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an identifier of a kind is validated and normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// One `@`, non-empty local part, a dot in the domain, no spaces, ≤ 254 chars.
    Email,
    /// ASCII digits only (Zendesk user ids).
    Numeric,
    /// E.164 after removing spaces, dashes, dots and parentheses.
    Phone,
    /// `LABEL:NAME`, both non-empty.
    Alias,
    /// Any non-empty text without control characters.
    Text,
    /// An id the vendor assigns (Rally person ids, Braze ids): text that is not
    /// an e-mail address, which such an id never is.
    VendorId,
    /// Text that travels in a comma-separated list parameter (Zendesk's
    /// `external_ids=`): a comma would make one identifier two people.
    NoComma,
}

/// A kind a vendor accepts, how to check it, and the CSV headers that name it.
#[derive(Debug, Clone, Copy)]
pub struct KindSpec {
    pub kind: Kind,
    pub check: Check,
    /// Lower-case CSV header names that hold this kind (auto-detection).
    pub headers: &'static [&'static str],
    /// Two CSV columns that together make one identifier, joined as `A:B`
    /// (Braze's `alias_label` and `alias_name`), when no header names the kind.
    pub pair: Option<(&'static str, &'static str)>,
}

/// Where an identifier came from: index into the run's source names, and a 1-based line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRef {
    pub source: u32,
    pub line: u32,
}

/// One distinct, validated identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub value: String,
    pub source: SourceRef,
}

/// How the `Reset` rate-limit header is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetIs {
    /// Unix time (seconds) at which the window ends.
    UnixTime,
    /// Seconds to wait from now.
    Seconds,
}

/// The rate-limit headers a vendor sends (names are matched case-insensitively).
#[derive(Debug, Clone, Copy)]
pub struct RateHeaders {
    pub limit: &'static [&'static str],
    pub remaining: &'static [&'static str],
    pub reset: &'static [&'static str],
    pub reset_is: ResetIs,
}

/// The `X-RateLimit-*` dialect shared by Rally and Braze (Reset is Unix time).
pub const X_RATELIMIT_UNIX: RateHeaders = RateHeaders {
    limit: &["x-ratelimit-limit"],
    remaining: &["x-ratelimit-remaining"],
    reset: &["x-ratelimit-reset"],
    reset_is: ResetIs::UnixTime,
};

/// A request quota: `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    pub const fn per_second(count: u32) -> Rate {
        Rate {
            count,
            per: Duration::from_secs(1),
        }
    }
    pub const fn per_minute(count: u32) -> Rate {
        Rate {
            count,
            per: Duration::from_secs(60),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs() {
            1 => write!(f, "{}/s", self.count),
            60 => write!(f, "{}/min", self.count),
            3600 => write!(f, "{}/h", self.count),
            s if s % 60 == 0 => write!(f, "{} per {} min", self.count, s / 60),
            s => write!(f, "{}/{}s", self.count, s),
        }
    }
}

/// One path to the network with its own quota (most vendors have one).
#[derive(Debug, Clone, Copy)]
pub struct LaneSpec {
    pub name: &'static str,
    pub rate: Option<Rate>,
    /// Requests the quota lets go at once (1: evenly spaced). A vendor whose
    /// window allows a burst (Zendesk's 700 per 10 minutes) says so here.
    pub burst: u32,
    pub concurrency: usize,
    pub headers: Option<RateHeaders>,
    /// Raise the default quota to what the `limit` header reports, per this window.
    pub follow_limit: Option<Duration>,
}

impl LaneSpec {
    /// A lane with an evenly spaced quota and no header-driven raise.
    pub const fn new(
        name: &'static str,
        rate: Option<Rate>,
        concurrency: usize,
        headers: Option<RateHeaders>,
    ) -> Self {
        LaneSpec {
            name,
            rate,
            burst: 1,
            concurrency,
            headers,
            follow_limit: None,
        }
    }
}

/// How the credential travels.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Bearer <secret>`
    Bearer(Secret),
    /// `Authorization: Basic base64(<user>:<secret>)`
    Basic { user: String, secret: Secret },
    /// `<header>: <secret>`
    Header(&'static str, Secret),
}

/// A credential as the vendor wants it sent, and what the vendor derives from it.
#[derive(Debug, Clone)]
pub struct Credential {
    pub auth: Auth,
    /// An endpoint the credential itself names (a data-center suffix of the key,
    /// say); used when no `--base-url` is given.
    pub base: Option<String>,
    /// Fixed headers the vendor wants on every request.
    pub headers: Vec<(&'static str, String)>,
}

impl From<Auth> for Credential {
    fn from(auth: Auth) -> Self {
        Credential {
            auth,
            base: None,
            headers: vec![],
        }
    }
}

/// What the engine needs to know about a vendor.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The name used on the command line and in reports (`rally`).
    pub vendor: &'static str,
    /// The name shown to people (`Rally UXR`).
    pub display: &'static str,
    pub kinds: &'static [KindSpec],
    /// Lane 0 carries the delete calls; others are for extra steps with their own quota.
    pub lanes: Vec<LaneSpec>,
    /// Jobs the vendor lets be open at once (asynchronous vendors), if limited.
    pub max_open_jobs: Option<usize>,
}

impl Profile {
    pub fn kind_spec(&self, kind: Kind) -> Option<&KindSpec> {
        self.kinds.iter().find(|k| k.kind == kind)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// A request description: the engine sends it to `base URL + path_and_query`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Already percent-encoded, starting with `/`, with any query string.
    pub path_and_query: String,
    pub body: Option<serde_json::Value>,
    /// Index into [`Profile::lanes`].
    pub lane: usize,
    /// The path with `{id}` where it names identifiers or vendor ids, as the
    /// adapter wrote it ([`Request::at`]): what reports and logs show.
    pub template: Option<&'static str>,
    /// Whether sending it twice does what sending it once does (a delete of
    /// the same people). One that is not (it creates a vendor task) is sent
    /// again only when it certainly did not reach the vendor.
    pub idempotent: bool,
}

impl Request {
    /// A request whose path is fixed words of the API (and a query).
    pub fn new(method: Method, path_and_query: impl Into<String>) -> Self {
        Request {
            method,
            path_and_query: path_and_query.into(),
            body: None,
            lane: 0,
            template: None,
            idempotent: true,
        }
    }

    /// Mark the request not idempotent: each send creates something at the
    /// vendor (a deletion task), so a send that may have reached it is never
    /// repeated.
    pub fn once(mut self) -> Self {
        self.idempotent = false;
        self
    }

    /// A request whose path names identifiers or vendor ids: each `{id}` of
    /// `template` is the next of `ids`, percent-encoded as one segment.
    pub fn at(method: Method, template: &'static str, ids: &[&str]) -> Self {
        let mut parts = template.split("{id}");
        let mut path = parts.next().unwrap_or_default().to_string();
        for (part, id) in parts.zip(ids.iter().chain(std::iter::repeat(&""))) {
            path.push_str(&encode_segment(id));
            path.push_str(part);
        }
        Request {
            template: Some(template),
            ..Request::new(method, path)
        }
    }

    /// Append `?query` (or `&query`) of fixed words and values that are not identifiers.
    pub fn query(mut self, query: &str) -> Self {
        let sep = if self.path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        self.path_and_query = format!("{}{sep}{query}", self.path_and_query);
        self
    }

    /// The path as reports and logs show it: never the query, and `{id}`
    /// where the adapter marked identifiers ([`Request::at`]); in a path it
    /// did not mark, a segment that is one of `ids` (encoded) is masked too.
    /// Fixed words of the API stay, whatever their characters (`v3.0`,
    /// `data-deletions`).
    pub fn shown_path(&self, ids: &[Ident]) -> String {
        let path = self.template.unwrap_or(&self.path_and_query);
        let path = path.split('?').next().unwrap_or_default();
        if self.template.is_some() {
            return path.to_string();
        }
        path.split('/')
            .map(|seg| {
                let named = !seg.is_empty() && ids.iter().any(|i| encode_segment(&i.value) == seg);
                if named { "{id}" } else { seg }
            })
            .collect::<Vec<_>>()
            .join("/")
    }
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
    pub fn on_lane(mut self, lane: usize) -> Self {
        self.lane = lane;
        self
    }
}

/// What came back for a request the lane did not retry or stop on.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    /// The body cut to a length fit for a report `detail`.
    pub fn snippet(&self) -> String {
        snippet(&self.body)
    }
}

/// A piece of vendor text cut to a length fit for a report `detail`, on one line.
pub fn snippet(text: &str) -> String {
    const MAX: usize = 300;
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= MAX {
        flat
    } else {
        let cut: String = flat.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// The final (or pending) state of an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Deleted,
    Queued,
    NotFound,
    Failed,
    Invalid,
    Skipped,
    /// Not deleted on purpose: the vendor record is one purge protects (a
    /// Zendesk agent, admin or the account owner); the detail names the flag that
    /// allows it, if any.
    Refused,
    /// `purge verify`: the vendor says the person no longer exists.
    Verified,
    /// `purge verify`: the person still exists at the vendor.
    Present,
    /// `purge verify`: the vendor offers no way to ask (the detail says why).
    Unverifiable,
    /// Not final: submitted to an asynchronous job that is still open (`job_id` says which).
    Pending,
}

impl Status {
    pub const ALL: [Status; 11] = [
        Status::Deleted,
        Status::Queued,
        Status::NotFound,
        Status::Failed,
        Status::Refused,
        Status::Invalid,
        Status::Skipped,
        Status::Pending,
        Status::Verified,
        Status::Present,
        Status::Unverifiable,
    ];

    /// Whether a resumed run leaves this identifier alone.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Status::Deleted
                | Status::Queued
                | Status::NotFound
                | Status::Skipped
                | Status::Verified
                | Status::Present
                | Status::Unverifiable
        )
    }

    /// Whether this outcome makes the run exit 1 (someone asked is not gone).
    pub fn is_exception(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Invalid | Status::Refused | Status::Present
        )
    }

    /// The name used in reports and summaries (`not_found`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Deleted => "deleted",
            Status::Queued => "queued",
            Status::NotFound => "not_found",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Skipped => "skipped",
            Status::Refused => "refused",
            Status::Verified => "verified",
            Status::Present => "present",
            Status::Unverifiable => "unverifiable",
            Status::Pending => "pending",
        }
    }
}

/// What happened to one identifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ident: Ident,
    pub status: Status,
    pub detail: String,
    pub http_status: Option<u16>,
    pub job_id: Option<String>,
    /// The vendor ids this identifier resolved to, when a resumed run needs them
    /// (the users an open job covers); written to the report as a field.
    pub vendor_ids: Vec<String>,
    /// Why this outcome, though final, does not prove the person erased (a
    /// soft delete the vendor finishes later, an acceptance the vendor's
    /// answer did not confirm for this person); written to the report as a
    /// field, and the certificate lists the person as not proven.
    pub unproven: Option<String>,
}

impl Outcome {
    pub fn new(ident: Ident, status: Status, detail: impl Into<String>) -> Self {
        Outcome {
            ident,
            status,
            detail: detail.into(),
            http_status: None,
            job_id: None,
            vendor_ids: vec![],
            unproven: None,
        }
    }
    pub fn http(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.job_id = Some(job.into());
        self
    }
    pub fn with_vendor_ids(mut self, ids: Vec<String>) -> Self {
        self.vendor_ids = ids;
        self
    }
    /// Final, but not proof of erasure: why (see [`Outcome::unproven`]).
    pub fn unproven(mut self, why: impl Into<String>) -> Self {
        self.unproven = Some(why.into());
        self
    }
}

/// Where a piece of work is in a vendor's flow; the adapter reads it back with the response.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// The delete call for a batch.
    Delete,
    /// A lookup that turns identifiers into the vendor's ids: `at` is the
    /// identifier being looked up (vendors that search one at a time), `pages`
    /// the vendor's cursors followed so far for it (the last names the page in
    /// flight; a cursor named twice, or too many, is an endless scroll), `found`
    /// the (index into `ids`, vendor id) pairs from earlier answers.
    Lookup {
        at: usize,
        pages: Vec<String>,
        found: Vec<(usize, String)>,
    },
    /// Polling an asynchronous job; `attempt` counts polls for the backoff.
    Poll { job: String, attempt: u32 },
    /// A follow-up for one identifier after the first step (e.g. deleting each
    /// vendor id a lookup found, or a permanent erasure): the request in flight
    /// handles `todo[0]`; `done` lists the vendor ids already handled. `probe`:
    /// the vendor ids were not confirmed to exist (a 404 then means `not_found`).
    Follow {
        todo: Vec<String>,
        done: Vec<String>,
        probe: bool,
    },
    /// A `purge verify` read: whether the identifiers still exist (nothing is
    /// deleted by it).
    Check,
}

/// A request with the identifiers it decides.
#[derive(Debug, Clone)]
pub struct Work {
    pub ids: Vec<Ident>,
    pub request: Request,
    pub stage: Stage,
    /// Wait this long before sending (job polling backoff).
    pub delay: Duration,
    /// The vendor ids this work acts on, each with the index (into `ids`) of the
    /// identifier it belongs to; empty when the identifiers are the vendor ids.
    pub targets: Vec<(usize, String)>,
    /// The engine may hold this work a while and send it combined with others
    /// like it ([`crate::services::Service::combine`]).
    pub gather: bool,
}

/// How the engine gathers work marked [`Work::gather`]: up to `limit` targets
/// a request, none held longer than `within`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gathering {
    pub limit: usize,
    pub within: Duration,
}

impl Work {
    pub fn new(ids: Vec<Ident>, request: Request, stage: Stage) -> Self {
        Work {
            ids,
            request,
            stage,
            delay: Duration::ZERO,
            targets: vec![],
            gather: false,
        }
    }

    /// Marks the work as one the engine may gather (see [`Work::gather`]).
    pub fn gathered(mut self) -> Self {
        self.gather = true;
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn with_targets(mut self, targets: Vec<(usize, String)>) -> Self {
        self.targets = targets;
        self
    }
}

/// The adapter's reading of a response.
#[derive(Debug)]
pub enum Step {
    /// Final outcomes, one per identifier of the work.
    Done(Vec<Outcome>),
    /// Some identifiers are final, some wait on a job (recorded as pending), and
    /// more requests are to be sent.
    Continue {
        done: Vec<Outcome>,
        pending: Vec<Outcome>,
        next: Vec<Work>,
    },
    /// The vendor rejected the batch as a whole (a 400 naming a bad identifier,
    /// Rally's 404 for a person it does not know): the engine halves it to
    /// isolate the offenders; a batch of one ends `alone` with this detail.
    Split {
        status: u16,
        detail: String,
        /// How a batch of one ends: `Failed` (a 400 naming it), or `NotFound`
        /// (Rally's 404 `Person not found`).
        alone: Status,
    },
    /// The vendor rejected our request itself: stop the run (exit 3).
    Fatal(Fatal),
}

/// An answer that ends the run (exit 3): the credential refused (401/403), a
/// redirect (never followed), or the vendor rejecting our request itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Fatal {
    pub status: u16,
    pub detail: String,
}

impl Fatal {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Fatal {
            status,
            detail: detail.into(),
        }
    }

    /// What happened and what to do, for the user.
    pub fn describe(&self) -> String {
        let Fatal { status, detail } = self;
        if (300..400).contains(status) {
            return format!("HTTP {status}: {detail}");
        }
        let what = if matches!(status, 401 | 403) {
            "the credential was refused; check the token and its permissions"
        } else {
            "the vendor rejected the request itself"
        };
        format!("HTTP {status}: {what} ({detail})")
    }
}

/// Every identifier of a work item ending the same way.
pub fn all(ids: &[Ident], status: Status, detail: &str, http: Option<u16>) -> Vec<Outcome> {
    ids.iter()
        .map(|i| Outcome {
            ident: i.clone(),
            status,
            detail: detail.to_string(),
            http_status: http,
            job_id: None,
            vendor_ids: vec![],
            unproven: None,
        })
        .collect()
}

/// An identifier purge makes up itself (a preflight probe), from no input line.
pub fn probe_ident(value: &str) -> Ident {
    Ident {
        value: value.to_string(),
        source: SourceRef { source: 0, line: 0 },
    }
}

/// Identifiers for tests: `values` as given, one a line of one source.
#[cfg(test)]
pub fn idents<S: AsRef<str>>(values: &[S]) -> Vec<Ident> {
    values
        .iter()
        .enumerate()
        .map(|(n, v)| Ident {
            value: v.as_ref().to_string(),
            source: SourceRef {
                source: 0,
                line: n as u32 + 1,
            },
        })
        .collect()
}

/// Percent-encode a value for use as one path segment.
pub fn encode_segment(value: &str) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'?')
        .add(b'{')
        .add(b'}')
        .add(b'/')
        .add(b'%')
        .add(b'+')
        .add(b'@')
        .add(b'&')
        .add(b'=')
        .add(b';')
        .add(b':')
        .add(b',')
        .add(b'[')
        .add(b']')
        .add(b'\\')
        .add(b'^')
        .add(b'|')
        .add(b'\'')
        .add(b'$')
        .add(b'!')
        .add(b'*')
        .add(b'(')
        .add(b')');
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Percent-encode a value for use in a query string.
pub fn encode_query(value: &str) -> String {
    encode_segment(value)
}
