//! Zendesk: `DELETE /api/v2/users/destroy_many` (100 a job), job polling, then
//! permanent erasure with `DELETE /api/v2/deleted_users/{id}` in its own lane.
//!
//! Follows the Zendesk Support API reference
//! (<https://developer.zendesk.com/api-reference/ticketing/users/users/#bulk-delete-users>,
//! `../shared/vendor-docs/003_f86746ab5eeb1ad9.txt`, and `DestroyManyUsers`,
//! `ShowJobStatus`, `PermanentlyDeleteUser`, `SearchUsers`, `ShowManyUsers` in
//! `../shared/vendor-specs/zendesk-support-oas.yaml`).

use crate::services::spec::Proof;
use crate::services::{CannotFollow, NoCheck, Refused, SetupError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    Auth, Check, Credential, CredentialError, CredentialSpec, Endpoint, Entry, EnvVar, Ident, Kind,
    KindSpec, LaneSpec, Load, Method, Profile, Rate, RateHeaders, Request, ResetIs, Response,
    Service, Setup, Stage, Step, TOKEN_FILE, ToVerify, Verify, Work, encode_query, flags_from,
    secret_from, snippet,
};
use crate::secret::Secret;

mod erase;
mod jobs;
mod resolve;
mod resume;
mod verify;

#[cfg(test)]
use jobs::{Item, classify, find};
use resolve::users_in;

/// "Accepts a comma-separated list of up to 100 user ids."
pub const BATCH_LIMIT: usize = 100;
/// Requests per minute until Zendesk says its own: 200, the Team plans'
/// (Support Team and Suite Team). The plans page lists 10 for the legacy
/// Support Essential plan, 400 for Growth and Professional, 700 for
/// Enterprise and 2,500 with the High Volume add-on
/// (<https://developer.zendesk.com/api-reference/introduction/rate-limits/>);
/// the first answer's `x-rate-limit` (or `ratelimit-limit`) replaces it,
/// lower or higher, and the first request goes alone until then.
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
/// The most pages of one user search purge follows: `SearchUsers` "returns up
/// to 100 records per page to a maximum of 10,000 records per query" (the OAS;
/// "the tickets and users endpoints return 100 items per page",
/// <https://developer.zendesk.com/documentation/api-basics/pagination/paginating-through-lists-using-offset-pagination>),
/// and offset pagination past the first 10,000 records (100 pages) is refused
/// with a 400 (<https://support.zendesk.com/hc/en-us/articles/5591904358938>).
/// A `next_page` past it is an endless search.
pub const MAX_SEARCH_PAGES: usize = 100;
/// E-mails looked up one after another, then submitted together as one job.
pub const EMAIL_BATCH: usize = 100;

/// Zendesk's rate headers: `x-rate-limit` / `x-rate-limit-remaining` on every
/// answer, and on the Ticketing APIs (Users among them) also `ratelimit-limit`,
/// `ratelimit-remaining` and `ratelimit-reset` (seconds to wait, not a time):
/// "Monitoring the request activity of Ticketing APIs",
/// <https://developer.zendesk.com/api-reference/introduction/rate-limits/>.
/// `rate-limit*` are the older spellings some answers still carry.
pub const ZENDESK_HEADERS: RateHeaders = RateHeaders {
    limit: &["x-rate-limit", "ratelimit-limit", "rate-limit"],
    remaining: &[
        "x-rate-limit-remaining",
        "ratelimit-remaining",
        "rate-limit-remaining",
    ],
    reset: &["ratelimit-reset", "rate-limit-reset"],
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
    /// Users found soft-deleted already (`active: false`) beside active users
    /// of the same person: left out of `destroy_many` (what it does with them
    /// is not documented) and erased with the others once the job ends.
    soft_known: Mutex<HashSet<String>>,
    /// `purge verify`: why a person's recorded user ids were dropped, until
    /// its verification is written (identifier → note).
    verify_notes: Mutex<std::collections::HashMap<String, String>>,
}

/// Why a soft-deleted Zendesk user is not proven erased: "To comply with GDPR,
/// a further step is needed. See Permanently Delete User" (`DeleteUser` in the
/// OAS); Zendesk erases soft-deleted users itself within 30 days.
pub const SOFT_UNPROVEN: &str = "soft-deleted only: Zendesk erases soft-deleted users within 30 days, and until then the data is kept";

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
            soft_known: Mutex::new(HashSet::new()),
            verify_notes: Mutex::default(),
        }
    }

    /// Remember users found soft-deleted (see [`Zendesk::soft_known`]).
    fn note_soft(&self, users: &[String]) {
        let mut known = self.soft_known.lock().unwrap_or_else(|e| e.into_inner());
        known.extend(users.iter().cloned());
    }

    /// Whether `user` was found soft-deleted before its job was submitted.
    fn is_soft_known(&self, user: &str) -> bool {
        self.soft_known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(user)
    }

    /// `destroy_many` for the numeric user ids the identifiers resolved to.
    ///
    /// Declared idempotent (re-sent after a timeout or a 5xx): it is a
    /// `DELETE`, whose effect on the users is the same however often it is
    /// sent (RFC 9110 §9.2.2), and Zendesk's page says nothing to the
    /// contrary (<https://developer.zendesk.com/api-reference/ticketing/users/users/#bulk-delete-users>,
    /// vendor-docs). A repeat makes a second job, whose results call the
    /// users the first deleted "not found": with `--permanent` (the default)
    /// that is probed by the erasure (`Stage::Follow`, a 404 there is "not
    /// found"); with `--soft` such a user would end `not_found` (known limit,
    /// RELIABILITY.md).
    fn submission(&self, ids: Vec<Ident>, targets: Vec<(usize, String)>) -> Work {
        Work::new(
            ids,
            Request::new(
                Method::Delete,
                format!(
                    "/api/v2/users/destroy_many?ids={}",
                    unique(&targets)
                        .into_iter()
                        .filter(|u| !self.is_soft_known(u))
                        .collect::<Vec<_>>()
                        .join(",")
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
            Request::at(Method::Get, "/api/v2/job_statuses/{id}", &[job]),
            Stage::Poll {
                job: job.to_string(),
                attempt,
            },
        )
        .with_targets(work.targets.clone())
        .after(delay)
    }

    /// `GET /api/v2/users/search?query=email:…` for e-mail `at`, or the last
    /// of the next pages Zendesk named (offset pagination, `next_page`).
    fn search(
        &self,
        ids: Vec<Ident>,
        at: usize,
        pages: Vec<String>,
        found: Vec<(usize, String)>,
    ) -> Work {
        let path = pages.last().cloned().unwrap_or_else(|| {
            let query = encode_query(&format!("email:{}", ids[at].value));
            format!("{SEARCH}?query={query}")
        });
        Work::new(
            ids,
            Request::new(Method::Get, path),
            Stage::Lookup { at, pages, found },
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
                pages: vec![],
                found,
            },
        )
    }

    /// `show_many?external_ids=`. Never with `brand_id`: `ShowManyUsers`
    /// documents only `ids` and `external_ids` (the OAS), and Zendesk may
    /// ignore a parameter it does not document, so a brand scope sent there
    /// would be claimed, not applied (`brand_id` is documented on
    /// `destroy_many` only, which purge does not call with external ids: every
    /// user is resolved first for its role).
    fn by_external(&self, ids: Vec<Ident>) -> Work {
        let list: Vec<String> = ids.iter().map(|i| encode_query(&i.value)).collect();
        Work::new(
            ids,
            Request::new(
                Method::Get,
                format!("{SHOW_MANY}?external_ids={}", list.join(",")),
            ),
            Stage::Lookup {
                at: 0,
                pages: vec![],
                found: vec![],
            },
        )
    }

    fn erase(&self, ident: Ident, todo: Vec<String>, done: Vec<String>, probe: bool) -> Work {
        Work::new(
            vec![ident],
            Request::at(Method::Delete, "/api/v2/deleted_users/{id}", &[&todo[0]])
                .on_lane(ERASE_LANE),
            Stage::Follow { todo, done, probe },
        )
    }

    /// `GET /api/v2/deleted_users/{id}` for the first of `todo` (verify).
    fn deleted_user(&self, ident: Ident, todo: Vec<String>, done: Vec<String>) -> Work {
        Work::new(
            vec![ident],
            Request::at(Method::Get, "/api/v2/deleted_users/{id}", &[&todo[0]]),
            Stage::Follow {
                todo,
                done,
                probe: false,
            },
        )
    }

    /// Which scope external ids were looked up in, for a detail.
    fn scope(&self) -> String {
        if self.brands.is_empty() {
            return "looked up with show_many?external_ids=".to_string();
        }
        format!(
            "looked up with show_many?external_ids=, without a brand: --brand-id {} could not be applied, as Zendesk documents no brand scope for looking users up",
            self.brands.join(",")
        )
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
    /// The account's subdomain (acme for acme.zendesk.com)
    #[arg(long, value_name = "NAME", env = "ZENDESK_SUBDOMAIN")]
    pub subdomain: Option<String>,
    /// With --kind external-id: brand scopes (0 or numeric brand ids). Zendesk documents no brand scope for looking users up by external id, so purge looks them up without one and the summary and each not_found detail say the scope could not be applied
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
    credential: CredentialSpec {
        forms: &[
            &[
                EnvVar {
                    name: EMAIL_VAR,
                    note: "",
                },
                EnvVar {
                    name: TOKEN_VAR,
                    note: "",
                },
            ],
            &[EnvVar {
                name: OAUTH_VAR,
                note: "",
            }],
        ],
        token_file: TOKEN_VAR,
    },
    after_help: "Defaults: --kind id; --rate 200/min, raised to what x-rate-limit reports; --concurrency 4, at most \
30 jobs open; permanent erasure 700 per 10 minutes; --max-wait none.",
    kinds: KINDS,
    default_kind: Kind::Id,
    kind_help: "What the identifiers are: numeric user ids, external ids, or e-mails to look up first",
    // `https://{subdomain}.zendesk.com` (the OAS's servers).
    hosts: &["*.zendesk.com"],
    init: r#"# subdomain = "acme"             # acme for acme.zendesk.com
# kind = "email"                 # purge everywhere's default; purge zendesk's is id; or external-id (then brand-id = "0" for account-scoped users, or "0,360001" for several brands)
# include-staff = false          # true: delete agents and admins too (never the account owner)
# soft = false                   # true: skip the permanent erasure (Zendesk erases soft-deleted users after 30 days)
# no-wait = false                # true: report the jobs queued without polling them
"#,
    public_flags: &[],
    legend: &[
        "refused: the protected records are agents and admins (erased only with include-staff) and the account owner (never).",
    ],
    proof: Proof::VendorIds,
    flags: <Flags as clap::Args>::augment_args,
    setup: |m, kind| setup(&flags_from(m)?, kind),
};

/// The variables of Zendesk's credential: an agent's e-mail and API token, or an OAuth token.
const EMAIL_VAR: &str = "ZENDESK_EMAIL";
const TOKEN_VAR: &str = "ZENDESK_API_TOKEN";
const OAUTH_VAR: &str = "ZENDESK_OAUTH_TOKEN";

/// `purge zendesk` flags → the adapter, its endpoint and credential.
pub fn setup(a: &Flags, kind: Kind) -> Result<Setup, SetupError> {
    let mut brands = vec![];
    if let Some(list) = &a.brand_id {
        if kind != Kind::ExternalId {
            return Err(SetupError::NotForKind {
                flag: "brand-id",
                kind,
                applies: "external-id only (user ids are global, and e-mails are searched across the account)",
                then: "",
            });
        }
        for b in list.split(',').map(str::trim) {
            if b.is_empty() || !b.bytes().all(|c| c.is_ascii_digit()) || b.len() > 20 {
                return Err(SetupError::Value {
                    flag: "brand-id",
                    value: list.clone(),
                    why: "each must be 0 (account-scoped users) or a numeric brand id, comma-separated; `all` is not a scope Zendesk looks external ids up in".into(),
                });
            }
            if !brands.iter().any(|x| x == b) {
                brands.push(b.to_string());
            }
        }
        if brands.len() > 10 {
            return Err(SetupError::Value {
                flag: "brand-id",
                value: list.clone(),
                why: "at most 10 brands".into(),
            });
        }
    }
    let endpoint = match a.subdomain.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') => {
            Endpoint::Url(format!("https://{}.zendesk.com", s.to_ascii_lowercase()))
        }
        Some(s) => {
            return Err(SetupError::Value {
                flag: "subdomain",
                value: s.to_string(),
                why: "give the account's subdomain only (letters, digits, dashes), e.g. acme for acme.zendesk.com".into(),
            });
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
        missing: None,
    })
}

/// OAuth token, or e-mail + API token (`{email}/token:{token}` in Basic auth).
fn zendesk_auth(token_file: Option<&std::path::Path>) -> Result<Auth, CredentialError> {
    let env = |v: &str| std::env::var(v).ok().filter(|s| !s.trim().is_empty());
    if token_file.is_none()
        && let Some(oauth) = env(OAUTH_VAR)
    {
        return Ok(Auth::Bearer(Secret::new(oauth.trim())));
    }
    let both = format!(
        "set ZENDESK_EMAIL and ZENDESK_API_TOKEN (or {TOKEN_FILE}), or ZENDESK_OAUTH_TOKEN (or try --dry-run, which needs no credential)"
    );
    let Some(email) = env(EMAIL_VAR) else {
        if let Some(f) = token_file {
            return Err(CredentialError::Incomplete(format!(
                "the token file {} holds the API token, but Zendesk also needs the e-mail of the agent it belongs to: set ZENDESK_EMAIL",
                f.display()
            )));
        }
        return Err(CredentialError::Incomplete(format!(
            "no Zendesk credential: {both}"
        )));
    };
    let token = secret_from(TOKEN_VAR, token_file).map_err(|e| match e {
        CredentialError::NotSet { .. } => {
            CredentialError::Incomplete(format!("ZENDESK_EMAIL is set but no API token: {both}"))
        }
        other => other,
    })?;
    Ok(Auth::Basic {
        user: format!("{}/token", email.trim()),
        secret: token,
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
            _ => BATCH_LIMIT,
        }
    }

    /// Every kind is resolved to user records first (role, e-mail identities),
    /// and only numeric user ids are ever submitted for deletion.
    fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work {
        match kind {
            Kind::Email => self.search(batch, 0, vec![], vec![]),
            Kind::ExternalId => self.by_external(batch),
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
            // A resumed job's recorded users, confirmed before it is followed.
            Stage::Lookup { pages, .. } if !work.targets.is_empty() && pages.len() == 1 => {
                self.read_confirm(kind, work, &pages[0], resp)
            }
            // A job Zendesk no longer knows: its users looked up again.
            Stage::Lookup { .. } if !work.targets.is_empty() => self.read_recheck(work, resp),
            Stage::Lookup { at, pages, found }
                if work.request.path_and_query.starts_with(SEARCH) =>
            {
                self.read_search(work, *at, pages, found, resp)
            }
            Stage::Lookup { .. } if work.request.path_and_query.contains("external_ids=") => {
                self.read_external(kind, work, resp)
            }
            Stage::Lookup { found, .. } => match users_in(resp) {
                Ok((users, identities)) => self.decide(kind, work, found, &users, &identities),
                Err(step) => self.lookup_failed(work, "GET /api/v2/users/show_many", resp, step),
            },
            Stage::Follow { todo, done, probe } => self.read_erase(work, todo, done, *probe, resp),
            Stage::Check => self.read_verify(kind, work, resp),
        }
    }

    fn resume_job(
        &self,
        kind: Kind,
        job: &str,
        ids: Vec<Ident>,
        vendor_ids: Vec<Vec<String>>,
    ) -> Result<Work, CannotFollow> {
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
            return Err(CannotFollow {
                kind,
                job: job.to_string(),
                missing: "the user ids the job covers (written by an earlier purge version)",
                then: "its users may already be soft-deleted, where a new lookup would not find them. Once the job has ended \
                       (Zendesk keeps jobs about an hour), erase those users with `purge zendesk -k id`, and start \
                       a new --report for the rest",
            });
        }
        let targets: Vec<(usize, String)> = vendor_ids
            .into_iter()
            .enumerate()
            .flat_map(|(i, users)| users.into_iter().map(move |u| (i, u)))
            .collect();
        // The report is input, not authority: the recorded users are looked up
        // first and only those Zendesk confirms are this person's (and may be
        // deleted) are followed (`resume::read_confirm`); then the job is polled.
        Ok(self.confirm(ids, targets, job))
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

    fn dry_run_follows(&self, kind: Kind, count: usize) -> Option<String> {
        let batches = count.div_ceil(BATCH_LIMIT);
        let lookups = match kind {
            Kind::Email => format!(
                "{count} user search{} (one an address, every page of each), then a show_many of the users found, \
                 100 at a time, for their roles and e-mail identities",
                if count == 1 { "" } else { "es" }
            ),
            Kind::ExternalId => format!(
                "{} show_many lookup{} by external id (one per batch and brand scope), then a show_many of the users found for their roles",
                count.div_ceil(self.batch_limit(kind).max(1)) * self.brands.len().max(1),
                if count == 1 { "" } else { "s" }
            ),
            _ => format!(
                "{batches} show_many lookup{} of the users' roles (100 ids each)",
                if batches == 1 { "" } else { "s" }
            ),
        };
        let after = match (self.wait, self.permanent) {
            (false, _) => ", not polled (--no-wait)",
            (true, false) => {
                ", polled until done (soft delete: Zendesk erases them within 30 days)"
            }
            (true, true) => {
                ", polled until done, then one permanent erasure (DELETE /api/v2/deleted_users/{id}) per user deleted"
            }
        };
        Some(format!(
            "{lookups}; then deletion jobs (destroy_many, up to 100 end-users each: {batches} for these {count} if each is one user){after}. \
             Which users are deleted, and so the deletion requests, are known only after the lookups"
        ))
    }

    /// `GET /api/v2/users/me` (`ShowCurrentUser` in the OAS). It is "allowed
    /// for anonymous users", so a 200 alone proves nothing: the user must have
    /// an id and be an admin, as `DestroyManyUsers` is "Allowed for: Admins"
    /// (an agent's credential could search, then every job would fail).
    fn preflight(&self, _kind: Kind) -> Option<Request> {
        Some(Request::new(Method::Get, "/api/v2/users/me"))
    }

    fn preflight_ok(&self, resp: &Response) -> Result<(), Refused> {
        let v: Value = serde_json::from_str(&resp.body).unwrap_or_default();
        let user = &v["user"];
        match (user["id"].as_u64(), user["role"].as_str()) {
            (Some(_), Some("admin")) => Ok(()),
            (None, _) => Err(Refused::NotAccepted {
                said: "Zendesk answered GET /api/v2/users/me as an anonymous user",
                check: "check ZENDESK_EMAIL and the token",
            }),
            (Some(id), role) => Err(Refused::NotAllowed {
                who: format!(
                    "user {id}'s, {}",
                    match role {
                        Some(r) => format!(
                            "a{} {r}",
                            if r.starts_with(['a', 'e', 'i', 'o', 'u']) {
                                "n"
                            } else {
                                ""
                            }
                        ),
                        None => "a user of unknown role".to_string(),
                    }
                ),
                needs: "deleting users needs an admin (Zendesk allows DELETE /api/v2/users/destroy_many for admins only); use an admin's API token",
            }),
        }
    }

    fn erasure_note(&self) -> Option<String> {
        let mut parts = vec![];
        if !self.wait {
            parts.push("--no-wait: jobs were submitted and not followed; `queued` means Zendesk accepted the job, and no permanent erasure was done".to_string());
        } else if !self.permanent {
            parts.push("soft delete (--soft): Zendesk keeps soft-deleted users up to 30 days and then erases them; the report marks them not proven erased".to_string());
        }
        if self.include_staff {
            parts.push(
                "--include-staff: agents and admins were deleted too (never the account owner)"
                    .to_string(),
            );
        }
        if !self.brands.is_empty() {
            parts.push(format!(
                "--brand-id {}: not applied; Zendesk documents no brand scope for looking users up (show_many takes ids and external_ids only), so external ids were looked up without one",
                self.brands.join(",")
            ));
        }
        (!parts.is_empty()).then(|| format!("{}.", parts.join(". ")))
    }

    fn verifier(&self) -> Option<&dyn Verify> {
        Some(self)
    }
}

impl Verify for Zendesk {
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
    /// See `verify.rs`: the recorded user ids confirmed with Zendesk first,
    /// a person without any looked up again by its identifier.
    fn verify_start(&self, kind: Kind, check: ToVerify) -> Result<Work, NoCheck> {
        let targets = check.targets();
        let batch = check.ids;
        Ok(self.verify_first(kind, batch, targets))
    }
    fn verify_read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        self.read_verify(kind, work, resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Status;
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
            "/api/v2/users/show_many?external_ids=a%20b,c%3Bd"
        );
        let w = z.start(Kind::Email, ids(&["a@x.io"]));
        assert_eq!(
            w.request.path_and_query,
            "/api/v2/users/search?query=email%3Aa%40x.io"
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
    fn external_ids_match_in_any_case_and_no_brand_scope_is_claimed() {
        let z = zendesk(&["0", "7"], false);
        let w = z.start(Kind::ExternalId, ids(&["X1", "x2"]));
        assert!(!w.request.path_and_query.contains("brand_id"));
        let Step::Continue { done, next, .. } = z.read(
            Kind::ExternalId,
            &w,
            // Zendesk treats external ids case-insensitively: `x1` is `X1`.
            &users(json!({"users": [{"id": 11, "external_id": "x1", "role": "end-user"}]})),
        ) else {
            panic!()
        };
        assert_eq!(
            next[0].request.path_and_query,
            "/api/v2/users/destroy_many?ids=11"
        );
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].status, Status::NotFound);
        assert!(
            done[0]
                .detail
                .contains("--brand-id 0,7 could not be applied"),
            "{}",
            done[0].detail
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
