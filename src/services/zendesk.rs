//! Zendesk: `DELETE /api/v2/users/destroy_many` (100 a job), job polling, then
//! permanent erasure with `DELETE /api/v2/deleted_users/{id}` in its own lane.
//!
//! Follows the Zendesk Support API reference
//! (<https://developer.zendesk.com/api-reference/ticketing/users/users/#bulk-delete-users>,
//! `../shared/vendor-docs/003_f86746ab5eeb1ad9.txt`, and `DestroyManyUsers`,
//! `ShowJobStatus`, `PermanentlyDeleteUser`, `SearchUsers`, `ShowManyUsers` in
//! `../shared/vendor-specs/zendesk-support-oas.yaml`).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Auth, Check, Credential, Endpoint, Entry, Fatal, Ident, Kind, KindSpec, LaneSpec, Load, Method,
    Outcome, Profile, Rate, RateHeaders, Request, ResetIs, Response, Service, Setup, Stage, Status,
    Step, Work, all, encode_query, encode_segment, flags_from, secret_from, snippet,
};
use crate::secret::Secret;

/// "Accepts a comma-separated list of up to 100 user ids."
pub const BATCH_LIMIT: usize = 100;
/// Requests per minute of the smallest plan; raised to what `x-rate-limit` reports.
pub const DEFAULT_QUOTA: Rate = Rate::per_minute(200);
/// `DELETE /api/v2/deleted_users/{id}`: 700 requests per 10 minutes.
pub const ERASE_QUOTA: Rate = Rate {
    count: 700,
    per: Duration::from_secs(600),
};
/// "Only a certain number of jobs can be queued or running at the same time" (30).
pub const MAX_OPEN_JOBS: usize = 30;
pub const DEFAULT_CONCURRENCY: usize = 4;
/// `purge verify`'s reads in flight (see `verify_concurrency`).
pub const VERIFY_CONCURRENCY: usize = 16;
/// Job polling backoff: 1 s, doubling, at most 30 s.
pub const POLL_FIRST: Duration = Duration::from_secs(1);
pub const POLL_MAX: Duration = Duration::from_secs(30);
/// E-mails looked up one after another, then submitted together as one job.
pub const EMAIL_BATCH: usize = 100;

/// Zendesk's rate headers: the reset is seconds to wait, not a time.
pub const ZENDESK_HEADERS: RateHeaders = RateHeaders {
    limit: &["x-rate-limit", "rate-limit"],
    remaining: &["x-rate-limit-remaining", "rate-limit-remaining"],
    reset: &["rate-limit-reset", "ratelimit-reset"],
    reset_is: ResetIs::Seconds,
};

/// The lane for permanent erasure (index into [`Profile::lanes`]).
const ERASE_LANE: usize = 1;

const KINDS: &[KindSpec] = &[
    KindSpec {
        kind: Kind::Id,
        check: Check::Numeric,
        headers: &["id", "user_id", "userid", "user id", "zendesk_id"],
        pair: None,
    },
    KindSpec {
        kind: Kind::ExternalId,
        check: Check::NoComma,
        headers: &["external_id", "externalid", "external id", "external-id"],
        pair: None,
    },
    KindSpec {
        kind: Kind::Email,
        check: Check::Email,
        headers: &["email", "e-mail", "email_address", "emailaddress", "mail"],
        pair: None,
    },
];

pub struct Zendesk {
    profile: Profile,
    permanent: bool,
    wait: bool,
    /// `--brand-id` scopes searched for external ids (empty: no `brand_id`).
    brands: Vec<String>,
    /// `--include-staff`: agents and admins may be deleted too.
    include_staff: bool,
}

/// What a Zendesk adapter is asked to do (from its flags).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Erase soft-deleted users for good (not `--soft`).
    pub permanent: bool,
    /// Follow the jobs (not `--no-wait`).
    pub wait: bool,
    pub brands: Vec<String>,
    pub include_staff: bool,
}

impl Zendesk {
    pub fn new(o: Options) -> Self {
        let mut api = LaneSpec::new(
            "api",
            Some(DEFAULT_QUOTA),
            DEFAULT_CONCURRENCY,
            Some(ZENDESK_HEADERS),
        );
        api.follow_limit = Some(Duration::from_secs(60));
        let mut erase = LaneSpec::new(
            "deleted_users",
            Some(ERASE_QUOTA),
            DEFAULT_CONCURRENCY,
            Some(ZENDESK_HEADERS),
        );
        // The window is 10 minutes: its 700 may go at once.
        erase.burst = ERASE_QUOTA.count;
        Zendesk {
            profile: Profile {
                vendor: "zendesk",
                display: "Zendesk",
                kinds: KINDS,
                lanes: vec![api, erase],
                max_open_jobs: o.wait.then_some(MAX_OPEN_JOBS),
            },
            permanent: o.permanent,
            wait: o.wait,
            brands: o.brands,
            include_staff: o.include_staff,
        }
    }

    /// `destroy_many` for the numeric user ids the identifiers resolved to.
    fn submission(&self, ids: Vec<Ident>, targets: Vec<(usize, String)>) -> Work {
        Work::new(
            ids,
            Request::new(
                Method::Delete,
                format!(
                    "/api/v2/users/destroy_many?ids={}",
                    unique(&targets).join(",")
                ),
            ),
            Stage::Delete,
        )
        .with_targets(targets)
    }

    /// Submissions of at most [`BATCH_LIMIT`] users each for the identifiers
    /// that resolved to `targets` (identifier indexes into `ids`).
    fn submissions(&self, ids: &[Ident], targets: &[(usize, String)]) -> Vec<Work> {
        let mut out = vec![];
        let mut batch_ids = vec![];
        let mut batch_targets: Vec<(usize, String)> = vec![];
        for (i, ident) in ids.iter().enumerate() {
            let users: Vec<String> = users_of(targets, i);
            if users.is_empty() {
                continue;
            }
            if batch_targets.len() + users.len() > BATCH_LIMIT && !batch_ids.is_empty() {
                out.push(self.submission(
                    std::mem::take(&mut batch_ids),
                    std::mem::take(&mut batch_targets),
                ));
            }
            let idx = batch_ids.len();
            batch_ids.push(ident.clone());
            batch_targets.extend(users.into_iter().map(|u| (idx, u)));
        }
        if !batch_ids.is_empty() {
            out.push(self.submission(batch_ids, batch_targets));
        }
        out
    }

    fn poll(&self, work: &Work, job: &str, attempt: u32) -> Work {
        let delay = POLL_FIRST
            .saturating_mul(2u32.saturating_pow(attempt.min(8)))
            .min(POLL_MAX);
        Work::new(
            work.ids.clone(),
            Request::new(
                Method::Get,
                format!("/api/v2/job_statuses/{}", encode_segment(job)),
            ),
            Stage::Poll {
                job: job.to_string(),
                attempt,
            },
        )
        .with_targets(work.targets.clone())
        .after(delay)
    }

    /// `GET /api/v2/users/search?query=email:…` for e-mail `at`, or the next
    /// page Zendesk named (offset pagination, `next_page`).
    fn search(
        &self,
        ids: Vec<Ident>,
        at: usize,
        page: Option<String>,
        found: Vec<(usize, String)>,
    ) -> Work {
        let path = page.clone().unwrap_or_else(|| {
            let query = encode_query(&format!("email:{}", ids[at].value));
            format!("{SEARCH}?query={query}")
        });
        Work::new(
            ids,
            Request::new(Method::Get, path),
            Stage::Lookup { at, page, found },
        )
    }

    /// `show_many?ids=` for user ids: `found` pairs them with the identifiers;
    /// `identities` sideloads the e-mail identities (to confirm a search hit).
    fn show_many(&self, ids: Vec<Ident>, found: Vec<(usize, String)>, identities: bool) -> Work {
        let include = if identities {
            "&include=identities"
        } else {
            ""
        };
        Work::new(
            ids,
            Request::new(
                Method::Get,
                format!("{SHOW_MANY}?ids={}{include}", unique(&found).join(",")),
            ),
            Stage::Lookup {
                at: 0,
                page: None,
                found,
            },
        )
    }

    /// `show_many?external_ids=` in brand scope `at` of `--brand-id` (or none).
    fn by_external(&self, ids: Vec<Ident>, at: usize, found: Vec<(usize, String)>) -> Work {
        let list: Vec<String> = ids.iter().map(|i| encode_query(&i.value)).collect();
        let brand = self
            .brands
            .get(at)
            .map(|b| format!("&brand_id={b}"))
            .unwrap_or_default();
        Work::new(
            ids,
            Request::new(
                Method::Get,
                format!("{SHOW_MANY}?external_ids={}{brand}", list.join(",")),
            ),
            Stage::Lookup {
                at,
                page: None,
                found,
            },
        )
    }

    fn erase(&self, ident: Ident, todo: Vec<String>, done: Vec<String>, probe: bool) -> Work {
        Work::new(
            vec![ident],
            Request::new(
                Method::Delete,
                format!("/api/v2/deleted_users/{}", encode_segment(&todo[0])),
            )
            .on_lane(ERASE_LANE),
            Stage::Follow { todo, done, probe },
        )
    }

    /// `GET /api/v2/deleted_users/{id}` for the first of `todo` (verify).
    fn deleted_user(&self, ident: Ident, todo: Vec<String>, done: Vec<String>) -> Work {
        Work::new(
            vec![ident],
            Request::new(
                Method::Get,
                format!("/api/v2/deleted_users/{}", encode_segment(&todo[0])),
            ),
            Stage::Follow {
                todo,
                done,
                probe: false,
            },
        )
    }

    /// Which scope external ids were looked up in, for a detail.
    fn scope(&self) -> String {
        match self.brands.as_slice() {
            [] => "searched without brand_id (account-scoped users)".to_string(),
            [b] => format!("searched brand_id {b}"),
            bs => format!("searched brand_ids {}", bs.join(", ")),
        }
    }

    /// Why a user record may not be deleted, if so.
    fn protected(&self, user: &Value, id: &str) -> Option<String> {
        if self.include_staff {
            return None;
        }
        match user["role"].as_str() {
            Some("end-user") => None,
            Some(role) => Some(format!(
                "user {id} is {} {role}: purge deletes only end-users; pass --include-staff to delete agents and admins too (the account owner never)",
                if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                }
            )),
            None => Some(format!(
                "Zendesk did not say the role of user {id}, so purge does not know it is an end-user; pass --include-staff to delete it anyway"
            )),
        }
    }
}

const SEARCH: &str = "/api/v2/users/search";
const SHOW_MANY: &str = "/api/v2/users/show_many";

/// The user ids identifier `i` resolved to, in order.
fn users_of(targets: &[(usize, String)], i: usize) -> Vec<String> {
    targets
        .iter()
        .filter(|(k, _)| *k == i)
        .map(|(_, u)| u.clone())
        .collect()
}

/// The distinct user ids of `pairs`, in order.
fn unique(pairs: &[(usize, String)]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for (_, u) in pairs {
        if !out.contains(u) {
            out.push(u.clone());
        }
    }
    out
}

/// A user record's numeric id as text.
fn id_of(u: &Value) -> Option<String> {
    match &u["id"] {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

/// Whether `address` is the user's primary e-mail, or one of its verified
/// e-mail identities (sideloaded with `include=identities`, which Zendesk
/// supports on `show_many`:
/// <https://developer.zendesk.com/documentation/ticketing/using-the-zendesk-api/side_loading/>;
/// identity fields per `UserIdentitiesResponseExample` in the OAS).
fn has_address(user: &Value, identities: &[Value], address: &str) -> bool {
    let same = |v: &Value| v.as_str().is_some_and(|e| e.eq_ignore_ascii_case(address));
    if same(&user["email"]) {
        return true;
    }
    let id = id_of(user);
    identities.iter().any(|i| {
        id.is_some()
            && id_of(&json!({"id": i["user_id"]})) == id
            && i["type"].as_str() == Some("email")
            && i["verified"].as_bool() == Some(true)
            && same(&i["value"])
    })
}

/// `purge zendesk`'s own flags.
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// What the identifiers are: numeric user ids, external ids, or e-mails to look up first
    #[arg(short, long, value_parser = ["id", "external-id", "email"], default_value = "id")]
    pub kind: String,
    /// The account's subdomain (acme for acme.zendesk.com)
    #[arg(long, value_name = "NAME", env = "ZENDESK_SUBDOMAIN")]
    pub subdomain: Option<String>,
    /// With --kind external-id: the brand scopes to look external ids up in, e.g. 0 (account-scoped users) or 0,360001 (each searched; the detail says which)
    #[arg(long, value_name = "N[,N…]")]
    pub brand_id: Option<String>,
    /// Delete agents and admins too (default: only end-users; the others end `refused`). The account owner is never deleted
    #[arg(long)]
    pub include_staff: bool,
    /// Soft delete only: skip the permanent erasure (Zendesk keeps soft-deleted users up to 30 days, then erases them)
    #[arg(long)]
    pub soft: bool,
    /// Submit the jobs and report them `queued` without polling (no permanent erasure)
    #[arg(long)]
    pub no_wait: bool,
}

pub const ENTRY: Entry = Entry {
    name: "zendesk",
    about: "Zendesk: destroy_many jobs (100 users each), job polling, then permanent erasure",
    after_help: "Credential: ZENDESK_EMAIL + ZENDESK_API_TOKEN (or --token-file FILE holding the token; \
ZENDESK_EMAIL is still needed), or ZENDESK_OAUTH_TOKEN.\n\
Defaults: --kind id; --rate 200/min, raised to what x-rate-limit reports; --concurrency 4, at most \
30 jobs open; permanent erasure 700 per 10 minutes; --max-wait none.",
    flags: <Flags as clap::Args>::augment_args,
    setup: |m| setup(&flags_from(m)?),
};

/// `purge zendesk` flags → the adapter, its endpoint and credential.
pub fn setup(a: &Flags) -> Result<Setup, String> {
    let kind = Kind::parse(&a.kind).ok_or_else(|| format!("zendesk has no --kind {}", a.kind))?;
    let mut brands = vec![];
    if let Some(list) = &a.brand_id {
        if kind != Kind::ExternalId {
            return Err(format!(
                "--brand-id goes with --kind external-id only (user ids are global, and e-mails are searched across the account), not --kind {kind}"
            ));
        }
        for b in list.split(',').map(str::trim) {
            if b.is_empty() || !b.bytes().all(|c| c.is_ascii_digit()) || b.len() > 20 {
                return Err(format!(
                    "--brand-id {list:?}: each must be 0 (account-scoped users) or a numeric brand id, comma-separated; `all` is not a scope Zendesk looks external ids up in"
                ));
            }
            if !brands.iter().any(|x| x == b) {
                brands.push(b.to_string());
            }
        }
        if brands.len() > 10 {
            return Err(format!(
                "--brand-id {list:?}: at most 10 brands (each is looked up separately)"
            ));
        }
    }
    let endpoint = match a.subdomain.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') => {
            Endpoint::Url(format!("https://{}.zendesk.com", s.to_ascii_lowercase()))
        }
        Some(s) => {
            return Err(format!(
                "--subdomain {s:?}: give the account's subdomain only (letters, digits, dashes), e.g. acme for acme.zendesk.com"
            ));
        }
        None => Endpoint::Missing {
            why: "say which Zendesk account: --subdomain NAME or ZENDESK_SUBDOMAIN, or --base-url URL"
                .to_string(),
            placeholder: "https://SUBDOMAIN.zendesk.com",
        },
    };
    Ok(Setup {
        service: Arc::new(Zendesk::new(Options {
            permanent: !a.soft,
            wait: !a.no_wait,
            brands,
            include_staff: a.include_staff,
        })),
        kind,
        endpoint,
        credential: Box::new(|f| zendesk_auth(f).map(Credential::from)),
    })
}

/// OAuth token, or e-mail + API token (`{email}/token:{token}` in Basic auth).
fn zendesk_auth(token_file: Option<&std::path::Path>) -> Result<Auth, String> {
    let env = |v: &str| std::env::var(v).ok().filter(|s| !s.trim().is_empty());
    if token_file.is_none()
        && let Some(oauth) = env("ZENDESK_OAUTH_TOKEN")
    {
        return Ok(Auth::Bearer(Secret::new(oauth.trim())));
    }
    let both = "set ZENDESK_EMAIL and ZENDESK_API_TOKEN (or --token-file FILE), or ZENDESK_OAUTH_TOKEN (or try --dry-run, which needs no credential)";
    let Some(email) = env("ZENDESK_EMAIL") else {
        if let Some(f) = token_file {
            return Err(format!(
                "--token-file {} holds the API token, but Zendesk also needs the e-mail of the agent it belongs to: set ZENDESK_EMAIL",
                f.display()
            ));
        }
        return Err(format!("no Zendesk credential: {both}"));
    };
    let token = secret_from("ZENDESK_API_TOKEN", token_file)
        .map_err(|_| format!("ZENDESK_EMAIL is set but no API token: {both}"))?;
    Ok(Auth::Basic {
        user: format!("{}/token", email.trim()),
        secret: token,
    })
}

#[derive(Debug, Deserialize)]
struct Envelope {
    job_status: JobStatus,
}

#[derive(Debug, Deserialize)]
struct JobStatus {
    id: String,
    status: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    results: Option<Value>,
}

/// What a job said about one submitted user.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Deleted,
    NotFound(String),
    Failed(String),
    /// Zendesk will not delete it (the account owner).
    Refused(String),
    Missing,
}

fn classify(r: &Value) -> Item {
    let ok = r["success"].as_bool() == Some(true)
        || r["status"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("deleted"));
    if ok && r.get("error").is_none() {
        return Item::Deleted;
    }
    let error = r["error"].as_str().unwrap_or("");
    let details = match &r["details"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let words = [error, details.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(": ");
    let lower = words.to_ascii_lowercase();
    if lower.contains("not found") || lower.contains("notfound") || lower.contains("does not exist")
    {
        Item::NotFound(snippet(&words))
    } else if lower.contains("owner") {
        // "Administrators can delete all users except the account owner"
        // (`DeleteUser` in the OAS).
        Item::Refused(format!(
            "the account owner: Zendesk never deletes it, and purge does not try again (Zendesk said: {})",
            snippet(&words)
        ))
    } else if lower.contains("ticket") {
        Item::Failed(format!(
            "Zendesk will not delete this user while it has tickets that are not closed (Zendesk said: {}): solve or close them, or make another user their requester, then run purge again",
            snippet(&words)
        ))
    } else if words.is_empty() {
        Item::Failed(format!(
            "job result without success: {}",
            snippet(&r.to_string())
        ))
    } else {
        Item::Failed(snippet(&words))
    }
}

/// Find the result for the user id submitted at `pos`: by `id` (a number, or
/// the id as a string), else by `index` unless that result names another user.
fn find<'a>(results: &'a [Value], pos: usize, key: &str) -> Option<&'a Value> {
    let names = |r: &Value| match &r["id"] {
        Value::Number(n) => Some(n.to_string() == key),
        Value::String(s) => Some(s == key),
        _ => None,
    };
    results.iter().find(|r| names(r) == Some(true)).or_else(|| {
        results
            .iter()
            .find(|r| r["index"].as_u64() == Some(pos as u64) && names(r) != Some(false))
    })
}

fn error_text(resp: &Response) -> String {
    match serde_json::from_str::<Value>(&resp.body) {
        Ok(v) if v.get("error").is_some() || v.get("description").is_some() => {
            let error = match &v["error"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            let desc = v["description"].as_str().unwrap_or_default();
            snippet(
                &[error.as_str(), desc]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(": "),
            )
        }
        _ => resp.snippet(),
    }
}

impl Service for Zendesk {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn batch_limit(&self, kind: Kind) -> usize {
        match kind {
            Kind::Email => EMAIL_BATCH,
            // Each brand may hold a user per external id: the users found stay
            // within one `show_many?ids=` and one job.
            Kind::ExternalId => BATCH_LIMIT / self.brands.len().max(1),
            _ => BATCH_LIMIT,
        }
    }

    /// Every kind is resolved to user records first (role, e-mail identities),
    /// and only numeric user ids are ever submitted for deletion.
    fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work {
        match kind {
            Kind::Email => self.search(batch, 0, None, vec![]),
            Kind::ExternalId => self.by_external(batch, 0, vec![]),
            _ => {
                let found = batch
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (i, id.value.clone()))
                    .collect();
                self.show_many(batch, found, false)
            }
        }
    }

    fn read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        match &work.stage {
            Stage::Delete => self.read_submit(work, resp),
            Stage::Poll { job, attempt } => self.read_poll(work, job, *attempt, resp),
            // A job Zendesk no longer knows: its users looked up again.
            Stage::Lookup { .. } if !work.targets.is_empty() => self.read_recheck(work, resp),
            Stage::Lookup { at, found, .. } if work.request.path_and_query.starts_with(SEARCH) => {
                self.read_search(work, *at, found, resp)
            }
            Stage::Lookup { at, found, .. }
                if work.request.path_and_query.contains("external_ids=") =>
            {
                self.read_external(kind, work, *at, found, resp)
            }
            Stage::Lookup { found, .. } => match users_in(resp) {
                Ok((users, identities)) => self.decide(kind, work, found, &users, &identities),
                Err(step) => self.lookup_failed(work, "GET /api/v2/users/show_many", resp, step),
            },
            Stage::Follow { todo, done, probe } => self.read_erase(work, todo, done, *probe, resp),
        }
    }

    fn resume_job(
        &self,
        kind: Kind,
        job: &str,
        ids: Vec<Ident>,
        vendor_ids: Vec<Vec<String>>,
    ) -> Result<Work, String> {
        // Pending lines carry the user ids the job covers; a user id is its own.
        let vendor_ids: Vec<Vec<String>> = vendor_ids
            .into_iter()
            .zip(&ids)
            .map(|(v, id)| {
                if v.is_empty() && kind == Kind::Id {
                    vec![id.value.clone()]
                } else {
                    v
                }
            })
            .collect();
        if vendor_ids.iter().any(Vec::is_empty) {
            return Err(format!(
                "the report has {kind} identifiers pending in Zendesk job {job} without the user ids the job covers \
                 (written by an earlier purge version), so the job cannot be followed safely: its users may \
                 already be soft-deleted, where a new lookup would not find them. Once the job has ended \
                 (Zendesk keeps jobs about an hour), erase those users with `purge zendesk -k id`, and start \
                 a new --report for the rest"
            ));
        }
        let targets = vendor_ids
            .into_iter()
            .enumerate()
            .flat_map(|(i, users)| users.into_iter().map(move |u| (i, u)))
            .collect();
        let base =
            Work::new(ids, Request::new(Method::Get, "/"), Stage::Delete).with_targets(targets);
        let mut w = self.poll(&base, job, 0);
        w.delay = Duration::ZERO;
        Ok(w)
    }

    /// Searches (one an e-mail) and, a batch of 100, a lookup, a job and its
    /// polls on the API lane; one permanent erasure a user on its own lane
    /// (700 per 10 minutes: 10,000 users take about 2 h 23 min).
    fn load(&self, kind: Kind, count: usize) -> Vec<Load> {
        let batches = count.div_ceil(BATCH_LIMIT) as u64;
        let searches = if kind == Kind::Email { count as u64 } else { 0 };
        let mut out = vec![Load {
            lane: 0,
            requests: searches + batches * 4,
            what: "requests (searches, lookups, jobs and polls)",
        }];
        if self.permanent && self.wait {
            out.push(Load {
                lane: ERASE_LANE,
                requests: count as u64,
                what: "permanent erasures",
            });
        }
        out
    }

    fn verify_needs_vendor_ids(&self, kind: Kind) -> bool {
        kind != Kind::Id
    }

    fn verify_batch_limit(&self, _kind: Kind) -> usize {
        BATCH_LIMIT
    }

    /// One `GET deleted_users/{id}` a user (`show_many` covers 100): at
    /// 2,500/min (Enterprise Plus, High Volume add-on) and 100 ms an answer,
    /// 4 in flight would cap the checks at 40/s, under the quota's 41.7/s
    /// (the bench's `verify zendesk: 2500/min, 100 ms latency`); 16 keep up
    /// to 400 ms. The quota, not the concurrency, paces them.
    fn verify_concurrency(&self, _kind: Kind) -> Option<usize> {
        Some(VERIFY_CONCURRENCY)
    }

    /// `show_many?ids=` for the user ids (an active user is still there), then
    /// `GET /api/v2/deleted_users/{id}` for the others (`ShowDeletedUser`:
    /// a soft-deleted user until Zendesk erases it; 404 once erased).
    fn verify_start(
        &self,
        kind: Kind,
        batch: Vec<Ident>,
        targets: Vec<(usize, String)>,
    ) -> Result<Work, String> {
        let targets = if targets.is_empty() && kind == Kind::Id {
            batch
                .iter()
                .enumerate()
                .map(|(i, id)| (i, id.value.clone()))
                .collect()
        } else {
            targets
        };
        let mut w = self.show_many(batch, targets.clone(), false);
        w.targets = targets;
        Ok(w)
    }

    fn verify_read(&self, _kind: Kind, work: &Work, resp: &Response) -> Step {
        match &work.stage {
            Stage::Follow { todo, done, .. } => {
                let Some((current, rest)) = todo.split_first() else {
                    return Step::Done(vec![]);
                };
                let ident = work.ids[0].clone();
                match resp.status {
                    200 => Step::Done(vec![
                        Outcome::new(
                            ident,
                            Status::Present,
                            format!(
                                "soft-deleted, erased by Zendesk within 30 days: GET /api/v2/deleted_users/{{id}} → 200 for user {current}"
                            ),
                        )
                        .http(200)
                        .with_vendor_ids(vec![current.clone()]),
                    ]),
                    404 => {
                        let mut done = done.clone();
                        done.push(current.clone());
                        if rest.is_empty() {
                            Step::Done(vec![
                                Outcome::new(
                                    ident,
                                    Status::Verified,
                                    "GET /api/v2/users/show_many → not active; GET /api/v2/deleted_users/{id} → 404",
                                )
                                .http(404)
                                .with_vendor_ids(done),
                            ])
                        } else {
                            Step::Continue {
                                done: vec![],
                                pending: vec![],
                                next: vec![self.deleted_user(ident, rest.to_vec(), done)],
                            }
                        }
                    }
                    _ => Step::Done(crate::services::verify_unanswered(work, resp)),
                }
            }
            _ => {
                let users = match users_in(resp) {
                    Ok((users, _)) => users,
                    Err(_) => return Step::Done(crate::services::verify_unanswered(work, resp)),
                };
                let mut done = vec![];
                let mut next = vec![];
                for (i, ident) in work.ids.iter().enumerate() {
                    let mine = users_of(&work.targets, i);
                    let active: Vec<&String> = mine
                        .iter()
                        .filter(|uid| {
                            users.iter().any(|u| {
                                id_of(u).as_deref() == Some(uid.as_str())
                                    && u["active"].as_bool() != Some(false)
                            })
                        })
                        .collect();
                    if !active.is_empty() {
                        done.push(
                            Outcome::new(
                                ident.clone(),
                                Status::Present,
                                format!(
                                    "GET /api/v2/users/show_many → 200: user {} is active",
                                    active
                                        .iter()
                                        .map(|s| s.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            )
                            .http(200)
                            .with_vendor_ids(mine.clone()),
                        );
                    } else if mine.is_empty() {
                        done.push(
                            Outcome::new(
                                ident.clone(),
                                Status::Unverifiable,
                                "the report holds no Zendesk user id for it",
                            )
                            .http(200),
                        );
                    } else {
                        next.push(self.deleted_user(ident.clone(), mine, vec![]));
                    }
                }
                Step::Continue {
                    done,
                    pending: vec![],
                    next,
                }
            }
        }
    }

    /// `GET /api/v2/users/me` (`ShowCurrentUser` in the OAS). It is "allowed
    /// for anonymous users", so a 200 alone proves nothing: the user must have
    /// an id and be an agent or admin (the run's reads and deletes need one).
    fn preflight(&self, _kind: Kind) -> Option<Request> {
        Some(Request::new(Method::Get, "/api/v2/users/me"))
    }

    fn preflight_ok(&self, resp: &Response) -> Result<(), String> {
        let v: Value = serde_json::from_str(&resp.body).unwrap_or_default();
        let user = &v["user"];
        match (user["id"].as_u64(), user["role"].as_str()) {
            (Some(_), Some("admin" | "agent")) => Ok(()),
            (None, _) => Err(
                "Zendesk answered GET /api/v2/users/me as an anonymous user: the credential was not accepted; check ZENDESK_EMAIL and the token".into(),
            ),
            (Some(id), role) => Err(format!(
                "the credential is user {id}'s, a {}: deleting users needs an admin (or an agent with permission)",
                role.unwrap_or("user of unknown role")
            )),
        }
    }

    fn erasure_note(&self) -> Option<String> {
        let staff = if self.include_staff {
            " --include-staff: agents and admins were deleted too (never the account owner)."
        } else {
            ""
        };
        let mode = if !self.wait {
            "--no-wait: jobs were submitted and not followed; `queued` means Zendesk accepted the job, and no permanent erasure was done"
        } else if !self.permanent {
            "soft delete (--soft): Zendesk keeps soft-deleted users up to 30 days and then erases them"
        } else {
            return (!staff.is_empty()).then(|| staff.trim().to_string());
        };
        Some(format!("{mode}.{staff}"))
    }
}

/// The `users` of a lookup answer and its sideloaded `identities`, or the step
/// for an answer that is not one.
fn users_in(resp: &Response) -> Result<(Vec<Value>, Vec<Value>), Option<u16>> {
    if resp.status != 200 {
        return Err(Some(resp.status));
    }
    let v = serde_json::from_str::<Value>(&resp.body).map_err(|_| None)?;
    let users = v["users"].as_array().cloned().ok_or(None)?;
    let identities = v["identities"].as_array().cloned().unwrap_or_default();
    Ok((users, identities))
}

impl Zendesk {
    /// A lookup Zendesk did not answer with users: a wrong endpoint stops the
    /// run; anything else fails the identifiers of the work.
    fn lookup_failed(&self, work: &Work, what: &str, resp: &Response, status: Option<u16>) -> Step {
        match status {
            Some(s @ (404 | 405)) => Step::Fatal(Fatal::new(
                s,
                format!(
                    "Zendesk answered {s} for {what}: {} (check --subdomain or --base-url)",
                    error_text(resp)
                ),
            )),
            Some(s) => Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!(
                    "looking the users up failed, so nothing was deleted: {what}: HTTP {s}: {}",
                    error_text(resp)
                ),
                Some(s),
            )),
            None => Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!(
                    "looking the users up failed, so nothing was deleted: {what} answered without a user list: {}",
                    resp.snippet()
                ),
                Some(resp.status),
            )),
        }
    }

    /// User records found for the identifiers (`found` pairs each identifier
    /// with a user id): keep the ones that really are the identifier, refuse
    /// the protected, and submit the rest by numeric id.
    fn decide(
        &self,
        kind: Kind,
        work: &Work,
        found: &[(usize, String)],
        users: &[Value],
        identities: &[Value],
    ) -> Step {
        let mut done = vec![];
        let mut targets = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let mut mine = vec![];
            let mut refused = vec![];
            for uid in users_of(found, i) {
                let record = users.iter().find(|u| id_of(u).as_deref() == Some(&uid));
                match record {
                    // A search hit is this person only on an exact address.
                    Some(u) if kind == Kind::Email && !has_address(u, identities, &ident.value) => {
                    }
                    Some(u) => match self.protected(u, &uid) {
                        Some(why) => refused.push(why),
                        None => mine.push(uid),
                    },
                    // A user id Zendesk does not list may be soft-deleted: the
                    // job says "not found", and the permanent erasure tells.
                    None if kind == Kind::Id => mine.push(uid),
                    None => {}
                }
            }
            let out =
                |status, detail: String| Outcome::new(ident.clone(), status, detail).http(200);
            if !refused.is_empty() {
                // Nothing of a person is deleted when one of its records is protected.
                done.push(out(Status::Refused, refused.join("; ")));
            } else if mine.is_empty() {
                let why = match kind {
                    Kind::Email => {
                        "no user with this e-mail as primary address or verified identity"
                            .to_string()
                    }
                    Kind::ExternalId => format!("no user with this external id ({})", self.scope()),
                    _ => "no such user".to_string(),
                };
                done.push(out(Status::NotFound, why));
            } else {
                targets.extend(mine.into_iter().map(|u| (i, u)));
            }
        }
        Step::Continue {
            done,
            pending: vec![],
            next: self.submissions(&work.ids, &targets),
        }
    }

    /// External ids in brand scope `at`: exact matches are this person's users.
    fn read_external(
        &self,
        kind: Kind,
        work: &Work,
        at: usize,
        found: &[(usize, String)],
        resp: &Response,
    ) -> Step {
        let (users, _) = match users_in(resp) {
            Ok(u) => u,
            Err(s) => {
                return self.lookup_failed(
                    work,
                    "GET /api/v2/users/show_many?external_ids=",
                    resp,
                    s,
                );
            }
        };
        let mut found = found.to_vec();
        for (i, ident) in work.ids.iter().enumerate() {
            for u in &users {
                if u["external_id"].as_str() == Some(ident.value.as_str())
                    && let Some(id) = id_of(u)
                    && !found.contains(&(i, id.clone()))
                {
                    found.push((i, id));
                }
            }
        }
        if self.brands.len() <= 1 {
            return self.decide(kind, work, &found, &users, &[]);
        }
        let next = if at + 1 < self.brands.len() {
            self.by_external(work.ids.clone(), at + 1, found)
        } else if found.is_empty() {
            return self.decide(kind, work, &[], &[], &[]);
        } else {
            // Every scope searched: the users' records (role) by numeric id.
            self.show_many(work.ids.clone(), found, false)
        };
        Step::Continue {
            done: vec![],
            pending: vec![],
            next: vec![next],
        }
    }

    /// One page of the search for e-mail `at`: every hit is a candidate, to be
    /// confirmed against the user's addresses once the batch is searched.
    fn read_search(
        &self,
        work: &Work,
        at: usize,
        found: &[(usize, String)],
        resp: &Response,
    ) -> Step {
        let (users, next_page) = match users_in(resp) {
            Ok((users, _)) => {
                let next = serde_json::from_str::<Value>(&resp.body)
                    .ok()
                    .and_then(|v| v["next_page"].as_str().map(str::to_string));
                (users, next)
            }
            Err(Some(s @ (404 | 405))) => {
                return self.lookup_failed(work, "GET /api/v2/users/search", resp, Some(s));
            }
            Err(status) => {
                // This e-mail fails; the batch goes on without it.
                let why = match status {
                    Some(s) => format!("user search failed: HTTP {s}: {}", error_text(resp)),
                    None => format!("user search answer is not a user list: {}", resp.snippet()),
                };
                let failed =
                    Outcome::new(work.ids[at].clone(), Status::Failed, why).http(resp.status);
                let mut ids = work.ids.clone();
                ids.remove(at);
                let found: Vec<(usize, String)> =
                    found.iter().filter(|(k, _)| *k != at).cloned().collect();
                return self.search_next(ids, at, found, vec![failed]);
            }
        };
        let mut found = found.to_vec();
        for u in &users {
            if let Some(id) = id_of(u)
                && !found.contains(&(at, id.clone()))
            {
                found.push((at, id));
            }
        }
        if let Some(next) = next_page {
            // Only the path is followed: the request stays on the account's host.
            return match reqwest::Url::parse(&next) {
                Ok(u) if u.path().trim_end_matches(".json") == SEARCH => Step::Continue {
                    done: vec![],
                    pending: vec![],
                    next: vec![self.search(
                        work.ids.clone(),
                        at,
                        Some(format!("{}?{}", u.path(), u.query().unwrap_or(""))),
                        found,
                    )],
                },
                _ => {
                    let failed = Outcome::new(
                        work.ids[at].clone(),
                        Status::Failed,
                        format!(
                            "user search named a next page purge does not follow: {}",
                            snippet(&next)
                        ),
                    )
                    .http(resp.status);
                    let mut ids = work.ids.clone();
                    ids.remove(at);
                    found.retain(|(k, _)| *k != at);
                    self.search_next(ids, at, found, vec![failed])
                }
            };
        }
        if found.len() > BATCH_LIMIT {
            // More candidates than one confirmation holds: this e-mail starts a
            // new batch (or, alone, fails).
            if at == 0 {
                let failed = Outcome::new(
                    work.ids[0].clone(),
                    Status::Failed,
                    format!(
                        "Zendesk's search returned {} users for this address, more than purge confirms at once ({BATCH_LIMIT}): look them up and erase them with -k id",
                        found.len()
                    ),
                )
                .http(200);
                let rest = work.ids[1..].to_vec();
                return self.search_next(rest, 0, vec![], vec![failed]);
            }
            found.retain(|(k, _)| *k < at);
            let (head, tail) = work.ids.split_at(at);
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![
                    self.show_many(head.to_vec(), found, true),
                    self.search(tail.to_vec(), 0, None, vec![]),
                ],
            };
        }
        self.search_next(work.ids.clone(), at + 1, found, vec![])
    }

    /// Go on with e-mail `at` of `ids`, or confirm the candidates once all are searched.
    fn search_next(
        &self,
        ids: Vec<Ident>,
        at: usize,
        found: Vec<(usize, String)>,
        done: Vec<Outcome>,
    ) -> Step {
        let next = if ids.is_empty() {
            vec![]
        } else if at < ids.len() {
            vec![self.search(ids, at, None, found)]
        } else if found.is_empty() {
            let none = Work::new(ids, Request::new(Method::Get, "/"), Stage::Delete);
            let Step::Continue { done: nf, .. } = self.decide(Kind::Email, &none, &[], &[], &[])
            else {
                unreachable!("decide continues")
            };
            return Step::Continue {
                done: done.into_iter().chain(nf).collect(),
                pending: vec![],
                next: vec![],
            };
        } else {
            vec![self.show_many(ids, found, true)]
        };
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    fn read_submit(&self, work: &Work, resp: &Response) -> Step {
        match resp.status {
            200..=299 => {}
            400 | 422 => {
                return Step::Done(all(
                    &work.ids,
                    Status::Failed,
                    &format!(
                        "rejected by Zendesk ({}): {}",
                        resp.status,
                        error_text(resp)
                    ),
                    Some(resp.status),
                ));
            }
            404 | 405 => {
                return Step::Fatal(Fatal::new(
                    resp.status,
                    format!(
                        "Zendesk answered {} for DELETE /api/v2/users/destroy_many: {} (check --subdomain or --base-url)",
                        resp.status,
                        error_text(resp)
                    ),
                ));
            }
            s => {
                return Step::Done(all(
                    &work.ids,
                    Status::Failed,
                    &format!("HTTP {s}: {}", error_text(resp)),
                    Some(s),
                ));
            }
        }
        let Ok(Envelope { job_status: job }) = serde_json::from_str::<Envelope>(&resp.body) else {
            return Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!(
                    "HTTP {}: the answer has no job_status, so the outcome is unknown: {}",
                    resp.status,
                    resp.snippet()
                ),
                Some(resp.status),
            ));
        };
        if !self.wait {
            let outs = work
                .ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    Outcome::new(
                        id.clone(),
                        Status::Queued,
                        format!(
                            "job {} accepted for user id {}",
                            job.id,
                            users_of(&work.targets, i).join(", ")
                        ),
                    )
                    .http(resp.status)
                    .job(&job.id)
                })
                .collect();
            return Step::Done(outs);
        }
        if is_terminal(&job.status) {
            return self.finish_job(work, &job);
        }
        let pending = work
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                Outcome::new(
                    id.clone(),
                    Status::Pending,
                    format!("waiting for job {}", job.id),
                )
                .http(resp.status)
                .job(&job.id)
                .with_vendor_ids(users_of(&work.targets, i))
            })
            .collect();
        Step::Continue {
            done: vec![],
            pending,
            next: vec![self.poll(work, &job.id, 0)],
        }
    }

    fn read_poll(&self, work: &Work, job: &str, attempt: u32, resp: &Response) -> Step {
        if resp.status == 404 {
            // The job is gone (Zendesk keeps jobs about an hour): look its users
            // up by numeric id; never submit anything but those ids again.
            let mut w = self.show_many(work.ids.clone(), work.targets.clone(), false);
            w.targets = work.targets.clone();
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![w],
            };
        }
        if !(200..300).contains(&resp.status) {
            return Step::Done(self.with_job(
                all(
                    &work.ids,
                    Status::Failed,
                    &format!(
                        "polling job {job} failed, so the outcome is unknown: HTTP {}: {}",
                        resp.status,
                        error_text(resp)
                    ),
                    Some(resp.status),
                ),
                job,
            ));
        }
        let Ok(Envelope { job_status: status }) = serde_json::from_str::<Envelope>(&resp.body)
        else {
            // A broken answer is asked again, like a busy server.
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![self.poll(work, job, attempt + 1)],
            };
        };
        if is_terminal(&status.status) {
            self.finish_job(work, &status)
        } else {
            Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![self.poll(work, job, attempt + 1)],
            }
        }
    }

    /// The users of a job Zendesk no longer knows, looked up again: the ones
    /// still active are submitted again; the rest were deleted by that job.
    fn read_recheck(&self, work: &Work, resp: &Response) -> Step {
        let users = match users_in(resp) {
            Ok((users, _)) => users,
            Err(s) => return self.lookup_failed(work, "GET /api/v2/users/show_many", resp, s),
        };
        let active = |uid: &str| {
            users
                .iter()
                .any(|u| id_of(u).as_deref() == Some(uid) && u["active"].as_bool() != Some(false))
        };
        let mut done = vec![];
        let mut next = vec![];
        let mut again = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let mine = users_of(&work.targets, i);
            if mine.iter().any(|u| active(u)) {
                again.extend(mine.into_iter().map(|u| (i, u)));
            } else if self.permanent {
                next.push(self.erase(ident.clone(), mine, vec![], false));
            } else {
                done.push(
                    Outcome::new(
                        ident.clone(),
                        Status::Deleted,
                        format!(
                            "soft; user id {} no longer active (its job had expired when purge asked)",
                            mine.join(", ")
                        ),
                    )
                    .http(resp.status)
                    .with_vendor_ids(mine),
                );
            }
        }
        next.extend(self.submissions(&work.ids, &again));
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    fn with_job(&self, mut outs: Vec<Outcome>, job: &str) -> Vec<Outcome> {
        for o in &mut outs {
            o.job_id = Some(job.to_string());
        }
        outs
    }

    /// A job that ended: outcomes per identifier, and permanent erasure of its users.
    fn finish_job(&self, work: &Work, job: &JobStatus) -> Step {
        if !job.status.eq_ignore_ascii_case("completed") {
            let why = format!(
                "Zendesk job {} ended {}: {}",
                job.id,
                job.status,
                job.message.as_deref().unwrap_or("no message")
            );
            return Step::Done(
                self.with_job(all(&work.ids, Status::Failed, &why, Some(200)), &job.id),
            );
        }
        // The user ids submitted, in order (`ids=` lists each once).
        let submitted = unique(&work.targets);
        let item_of = |uid: &str| -> Item {
            let pos = submitted.iter().position(|u| u == uid).unwrap_or(0);
            match &job.results {
                Some(Value::Array(results)) => {
                    find(results, pos, uid).map_or(Item::Missing, classify)
                }
                Some(obj @ Value::Object(_)) => classify(obj),
                _ => Item::Missing,
            }
        };
        let mut done = vec![];
        let mut next = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let mine: Vec<(String, Item)> = users_of(&work.targets, i)
                .into_iter()
                .map(|u| {
                    let it = item_of(&u);
                    (u, it)
                })
                .collect();
            let out = |status, detail: String| {
                Outcome::new(ident.clone(), status, detail)
                    .http(200)
                    .job(&job.id)
            };
            let several = mine.len() > 1;
            let each = |why: &str, u: &str| {
                if several {
                    format!("user {u}: {why}")
                } else {
                    why.to_string()
                }
            };
            let refused: Vec<String> = mine
                .iter()
                .filter_map(|(u, it)| match it {
                    Item::Refused(d) => Some(each(d, u)),
                    _ => None,
                })
                .collect();
            let failed: Vec<String> = mine
                .iter()
                .filter_map(|(u, it)| match it {
                    Item::Failed(d) => Some(each(d, u)),
                    Item::Missing => Some(each("not in job results", u)),
                    _ => None,
                })
                .collect();
            let deleted: Vec<String> = mine
                .iter()
                .filter(|(_, it)| *it == Item::Deleted)
                .map(|(u, _)| u.clone())
                .collect();
            // "Not found" may mean soft-deleted already (an earlier, interrupted
            // run): the permanent erasure tells (404 there: not found).
            let absent: Vec<String> = mine
                .iter()
                .filter(|(_, it)| matches!(it, Item::NotFound(_)))
                .map(|(u, _)| u.clone())
                .collect();
            if !failed.is_empty() {
                done.push(out(Status::Failed, failed.join("; ")));
            } else if !refused.is_empty() {
                done.push(out(Status::Refused, refused.join("; ")));
            } else if self.permanent {
                let probe = !absent.is_empty();
                let todo: Vec<String> = deleted.into_iter().chain(absent).collect();
                next.push(self.erase(ident.clone(), todo, vec![], probe));
            } else if deleted.is_empty() {
                let d = mine
                    .iter()
                    .find_map(|(_, it)| match it {
                        Item::NotFound(d) => Some(d.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "no such user".into());
                done.push(out(Status::NotFound, d));
            } else {
                let detail = if ident.value == deleted.join(",") {
                    "soft".to_string()
                } else {
                    format!("soft; user id {}", deleted.join(", "))
                };
                done.push(out(Status::Deleted, detail).with_vendor_ids(deleted));
            }
        }
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    /// One user erased for good; on to the next of the identifier's users.
    /// `probe`: some were not confirmed to exist, so a 404 is "not there", and
    /// none erased at all means `not_found`.
    fn read_erase(
        &self,
        work: &Work,
        todo: &[String],
        done: &[String],
        probe: bool,
        resp: &Response,
    ) -> Step {
        let Some((current, rest)) = todo.split_first() else {
            return Step::Done(vec![]);
        };
        let mut done = done.to_vec();
        match resp.status {
            200..=299 => done.push(current.clone()),
            // Not among the soft-deleted: never there (probe), or erased already.
            404 if probe => {}
            404 => done.push(current.clone()),
            s => {
                return Step::Done(all(
                    &work.ids,
                    Status::Failed,
                    &format!(
                        "soft-deleted (Zendesk keeps it up to 30 days, then erases it), but the permanent erasure of user {current} failed: HTTP {s}: {}",
                        error_text(resp)
                    ),
                    Some(s),
                ));
            }
        }
        if !rest.is_empty() {
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![self.erase(work.ids[0].clone(), rest.to_vec(), done, probe)],
            };
        }
        if done.is_empty() {
            return Step::Done(all(
                &work.ids,
                Status::NotFound,
                "no such user (neither active nor soft-deleted)",
                Some(resp.status),
            ));
        }
        let detail = if work.ids[0].value == done.join(",") {
            "permanent".to_string()
        } else {
            format!("permanent; user id {}", done.join(", "))
        };
        Step::Done(vec![
            Outcome::new(work.ids[0].clone(), Status::Deleted, detail)
                .http(resp.status)
                .with_vendor_ids(done),
        ])
    }
}

fn is_terminal(status: &str) -> bool {
    matches!(
        status.to_ascii_lowercase().as_str(),
        "completed" | "failed" | "killed"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::idents as ids;
    use serde_json::json;

    fn zendesk(brands: &[&str], include_staff: bool) -> Zendesk {
        Zendesk::new(Options {
            permanent: true,
            wait: true,
            brands: brands.iter().map(|b| b.to_string()).collect(),
            include_staff,
        })
    }

    #[test]
    fn every_kind_is_looked_up_first() {
        let z = zendesk(&["0"], false);
        let w = z.start(Kind::Id, ids(&["1", "2"]));
        assert_eq!(w.request.method, Method::Get);
        assert_eq!(w.request.path_and_query, "/api/v2/users/show_many?ids=1,2");
        let w = z.start(Kind::ExternalId, ids(&["a b", "c;d"]));
        assert_eq!(
            w.request.path_and_query,
            "/api/v2/users/show_many?external_ids=a%20b,c%3Bd&brand_id=0"
        );
        let w = z.start(Kind::Email, ids(&["a@x.io"]));
        assert_eq!(
            w.request.path_and_query,
            "/api/v2/users/search?query=email%3Aa%40x.io"
        );
        // Two brands: half as many external ids a batch (one user per brand each).
        assert_eq!(
            zendesk(&["0", "7"], false).batch_limit(Kind::ExternalId),
            50
        );
    }

    fn users(body: Value) -> Response {
        Response {
            status: 200,
            body: body.to_string(),
        }
    }

    #[test]
    fn staff_are_refused_and_end_users_submitted_by_numeric_id() {
        let z = zendesk(&[], false);
        let w = z.start(Kind::Id, ids(&["5", "5777", "5778", "9"]));
        let r = users(json!({"users": [
            {"id": 5, "role": "end-user"},
            {"id": 5777, "role": "agent"},
            {"id": 5778, "role": "admin"}]}));
        let Step::Continue { done, next, .. } = z.read(Kind::Id, &w, &r) else {
            panic!()
        };
        assert_eq!(done.len(), 2);
        assert!(done.iter().all(|o| o.status == Status::Refused));
        assert!(done[0].detail.contains("an agent") && done[0].detail.contains("--include-staff"));
        assert!(done[1].detail.contains("an admin"));
        // 9 is not listed: it may be soft-deleted, so it goes to the job too.
        assert_eq!(next.len(), 1);
        assert_eq!(
            next[0].request.path_and_query,
            "/api/v2/users/destroy_many?ids=5,9"
        );
        // With --include-staff all four go.
        let z = zendesk(&[], true);
        let Step::Continue { done, next, .. } = z.read(Kind::Id, &w, &r) else {
            panic!()
        };
        assert!(done.is_empty());
        assert_eq!(
            next[0].request.path_and_query,
            "/api/v2/users/destroy_many?ids=5,5777,5778,9"
        );
    }

    #[test]
    fn an_e_mail_is_a_user_only_on_its_primary_address_or_a_verified_identity() {
        let z = zendesk(&[], false);
        let w = z.show_many(
            ids(&["ann@x.io"]),
            vec![
                (0, "1".into()),
                (0, "2".into()),
                (0, "3".into()),
                (0, "4".into()),
            ],
            true,
        );
        assert_eq!(
            w.request.path_and_query,
            "/api/v2/users/show_many?ids=1,2,3,4&include=identities"
        );
        let r = users(json!({
            "users": [
                {"id": 1, "email": "ANN@x.io", "role": "end-user"},
                {"id": 2, "email": "other@x.io", "role": "end-user"},
                {"id": 3, "email": "third@x.io", "role": "end-user"},
                {"id": 4, "email": "annie@x.io", "role": "end-user"}],
            "identities": [
                {"user_id": 2, "type": "email", "value": "ann@x.io", "verified": true},
                {"user_id": 3, "type": "email", "value": "ann@x.io", "verified": false}]}));
        let Step::Continue { done, next, .. } = z.read(Kind::Email, &w, &r) else {
            panic!()
        };
        assert!(done.is_empty());
        assert_eq!(
            next[0].request.path_and_query,
            "/api/v2/users/destroy_many?ids=1,2"
        );
        assert_eq!(next[0].targets, vec![(0, "1".into()), (0, "2".into())]);
    }

    #[test]
    fn external_ids_are_looked_up_in_each_brand_then_by_numeric_id() {
        let z = zendesk(&["0", "7"], false);
        let w = z.start(Kind::ExternalId, ids(&["x1", "x2"]));
        let Step::Continue { next, .. } = z.read(
            Kind::ExternalId,
            &w,
            &users(json!({"users": [{"id": 11, "external_id": "x1", "role": "end-user"}]})),
        ) else {
            panic!()
        };
        assert_eq!(
            next[0].request.path_and_query,
            "/api/v2/users/show_many?external_ids=x1,x2&brand_id=7"
        );
        let Step::Continue { next, .. } = z.read(
            Kind::ExternalId,
            &next[0],
            // A near miss (`X1`) is not the identifier.
            &users(json!({"users": [{"id": 12, "external_id": "x1"}, {"id": 13, "external_id": "X1"}]})),
        ) else {
            panic!()
        };
        assert_eq!(
            next[0].request.path_and_query,
            "/api/v2/users/show_many?ids=11,12"
        );
        let Step::Continue { done, next, .. } = z.read(
            Kind::ExternalId,
            &next[0],
            &users(
                json!({"users": [{"id": 11, "role": "end-user"}, {"id": 12, "role": "end-user"}]}),
            ),
        ) else {
            panic!()
        };
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].status, Status::NotFound);
        assert_eq!(
            done[0].detail,
            "no user with this external id (searched brand_ids 0, 7)"
        );
        assert_eq!(
            next[0].request.path_and_query,
            "/api/v2/users/destroy_many?ids=11,12"
        );
    }

    #[test]
    fn a_gone_job_is_looked_up_by_numeric_id_and_only_active_users_submitted_again() {
        let z = zendesk(&[], false);
        let sub = z.submission(
            ids(&["a@x.io", "b@x.io"]),
            vec![(0, "1".into()), (1, "2".into())],
        );
        let poll = z.poll(&sub, "J1", 0);
        let gone = Response {
            status: 404,
            body: r#"{"error":"RecordNotFound"}"#.into(),
        };
        let Step::Continue { next, .. } = z.read(Kind::Email, &poll, &gone) else {
            panic!()
        };
        assert_eq!(
            next[0].request.path_and_query,
            "/api/v2/users/show_many?ids=1,2"
        );
        let Step::Continue { done, next, .. } = z.read(
            Kind::Email,
            &next[0],
            &users(json!({"users": [{"id": 1, "active": true, "role": "end-user"}]})),
        ) else {
            panic!()
        };
        assert!(done.is_empty());
        let paths: Vec<&str> = next
            .iter()
            .map(|w| w.request.path_and_query.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "/api/v2/deleted_users/2",
                "/api/v2/users/destroy_many?ids=1"
            ]
        );
    }

    #[test]
    fn the_load_names_searches_and_permanent_erasures() {
        let l = zendesk(&[], false).load(Kind::Email, 250);
        assert_eq!((l[0].lane, l[0].requests), (0, 250 + 3 * 4));
        assert_eq!((l[1].lane, l[1].requests), (ERASE_LANE, 250));
        assert_eq!(ERASE_QUOTA.to_string(), "700 per 10 min");
        let soft = Zendesk::new(Options {
            wait: true,
            ..Default::default()
        });
        assert_eq!(soft.load(Kind::Id, 250).len(), 1, "--soft erases nothing");
    }

    #[test]
    fn verify_reads_more_at_once_than_purging() {
        let z = zendesk(&[], false);
        assert_eq!(z.profile().lanes[0].concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(z.verify_concurrency(Kind::Id), Some(VERIFY_CONCURRENCY));
    }

    #[test]
    fn owner_and_open_tickets_in_job_results() {
        let owner = classify(
            &json!({"id": 1, "error": "PermissionDenied", "details": "Cannot delete the account owner"}),
        );
        assert!(matches!(owner, Item::Refused(d) if d.contains("account owner")));
        let tickets = classify(
            &json!({"id": 2, "error": "UserDeleteFailed", "details": "User is requester on open tickets"}),
        );
        assert!(
            matches!(tickets, Item::Failed(d) if d.contains("close") && d.contains("run purge again"))
        );
    }

    #[test]
    fn results_map_by_index_id_and_failures() {
        let results = vec![
            json!({"id": 11, "action": "delete", "status": "Deleted", "success": true}),
            json!({"index": 1, "error": "UserDeleteFailed", "id": 12, "details": "user is suspended"}),
            json!({"index": 2, "error": "RecordNotFound", "details": "Not found"}),
        ];
        assert_eq!(find(&results, 0, "11").map(classify), Some(Item::Deleted));
        assert_eq!(
            find(&results, 1, "12").map(classify),
            Some(Item::Failed("UserDeleteFailed: user is suspended".into()))
        );
        assert_eq!(
            find(&results, 2, "13").map(classify),
            Some(Item::NotFound("RecordNotFound: Not found".into()))
        );
        assert_eq!(find(&results, 3, "14"), None);
    }
}
