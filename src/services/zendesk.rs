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
use serde_json::Value;

use super::{
    Auth, Check, Credential, Endpoint, Entry, Fatal, Ident, Kind, KindSpec, LaneSpec, Method,
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
    brand_id: Option<String>,
}

impl Zendesk {
    pub fn new(permanent: bool, wait: bool, brand_id: Option<String>) -> Self {
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
                max_open_jobs: wait.then_some(MAX_OPEN_JOBS),
            },
            permanent,
            wait,
            brand_id,
        }
    }

    /// `destroy_many` for identifiers, or for the user ids they resolved to.
    fn submission(&self, kind: Kind, ids: Vec<Ident>, targets: Vec<(usize, String)>) -> Work {
        let query = if !targets.is_empty() {
            let list: Vec<&str> = targets.iter().map(|(_, t)| t.as_str()).collect();
            format!("ids={}", list.join(","))
        } else if kind == Kind::ExternalId {
            let list: Vec<String> = ids.iter().map(|i| encode_query(&i.value)).collect();
            let brand = self
                .brand_id
                .as_ref()
                .map(|b| format!("&brand_id={b}"))
                .unwrap_or_default();
            format!("external_ids={}{brand}", list.join(","))
        } else {
            let list: Vec<&str> = ids.iter().map(|i| i.value.as_str()).collect();
            format!("ids={}", list.join(","))
        };
        Work::new(
            ids,
            Request::new(
                Method::Delete,
                format!("/api/v2/users/destroy_many?{query}"),
            ),
            Stage::Delete,
        )
        .with_targets(targets)
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

    fn search(&self, ids: Vec<Ident>, at: usize, found: Vec<(usize, String)>) -> Work {
        let query = encode_query(&format!("email:{}", ids[at].value));
        Work::new(
            ids,
            Request::new(Method::Get, format!("/api/v2/users/search?query={query}")),
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

    /// The user ids identifier `i` resolved to (none when it is the user id itself).
    fn users_of(targets: &[(usize, String)], i: usize) -> Vec<String> {
        targets
            .iter()
            .filter(|(k, _)| *k == i)
            .map(|(_, u)| u.clone())
            .collect()
    }
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
    /// With --kind external-id: 0 for account-scoped users, or a numeric brand id
    #[arg(long, value_name = "N")]
    pub brand_id: Option<String>,
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
    if let Some(b) = &a.brand_id {
        if kind != Kind::ExternalId {
            return Err(format!(
                "--brand-id goes with --kind external-id only (user ids are global; Zendesk rejects brand_id with ids), not --kind {kind}"
            ));
        }
        if b.is_empty() || !b.bytes().all(|c| c.is_ascii_digit()) || b.len() > 20 {
            return Err(format!(
                "--brand-id {b:?}: must be 0 (account-scoped users) or a numeric brand id; cross-brand deletion (`all`) is not supported by Zendesk"
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
        service: Arc::new(Zendesk::new(!a.soft, !a.no_wait, a.brand_id.clone())),
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

/// What a job said about one submitted value.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// Soft-deleted; the numeric user id if the result gave one.
    Deleted(Option<String>),
    NotFound(String),
    Failed(String),
    Missing,
}

fn classify(r: &Value) -> Item {
    let numeric_id = r["id"].as_u64().map(|n| n.to_string());
    let ok = r["success"].as_bool() == Some(true)
        || r["status"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("deleted"));
    if ok && r.get("error").is_none() {
        return Item::Deleted(numeric_id);
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
    } else if words.is_empty() {
        Item::Failed(format!(
            "job result without success: {}",
            snippet(&r.to_string())
        ))
    } else {
        Item::Failed(snippet(&words))
    }
}

/// Find the result for the value submitted at `pos`: by `id` (numeric, or the
/// external id as a string) or `external_id`; else by `index`, unless that result
/// names another user.
fn find<'a>(results: &'a [Value], pos: usize, key: &str, kind: Kind) -> Option<&'a Value> {
    // For external ids a numeric `id` is the user's, not the key: not comparable.
    let names = |r: &Value| match &r["id"] {
        Value::Number(n) if kind != Kind::ExternalId => Some(n.to_string() == key),
        Value::String(s) => Some(s == key),
        _ => None,
    };
    results
        .iter()
        .find(|r| names(r) == Some(true) || r["external_id"].as_str() == Some(key))
        .or_else(|| {
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
            _ => BATCH_LIMIT,
        }
    }

    fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work {
        match kind {
            Kind::Email => self.search(batch, 0, vec![]),
            _ => self.submission(kind, batch, vec![]),
        }
    }

    fn read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        match &work.stage {
            Stage::Delete => self.read_submit(kind, work, resp),
            Stage::Poll { job, attempt } => self.read_poll(kind, work, job, *attempt, resp),
            Stage::Lookup { at, found, .. } if kind == Kind::Email => {
                self.read_search(kind, work, *at, found, resp)
            }
            Stage::Lookup { .. } => self.read_show_many(work, resp),
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
        // E-mails carry the user ids they resolved to in the pending lines.
        if kind == Kind::Email && vendor_ids.iter().any(Vec::is_empty) {
            return Err(format!(
                "the report has e-mails pending in Zendesk job {job} without the user ids the job covers \
                 (written by an earlier purge version), so the job cannot be followed safely: its users may \
                 already be soft-deleted, where a new search would not find them. Once the job has ended \
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

    fn erasure_note(&self) -> Option<String> {
        if !self.wait {
            Some("--no-wait: jobs were submitted and not followed; `queued` means Zendesk accepted the job, and no permanent erasure was done".into())
        } else if !self.permanent {
            Some(
                "soft delete (--soft): Zendesk keeps soft-deleted users up to 30 days and then erases them"
                    .into(),
            )
        } else {
            None
        }
    }
}

impl Zendesk {
    fn read_submit(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
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
                .map(|i| {
                    Outcome::new(
                        i.clone(),
                        Status::Queued,
                        format!("job {} accepted", job.id),
                    )
                    .http(resp.status)
                    .job(&job.id)
                })
                .collect();
            return Step::Done(outs);
        }
        if is_terminal(&job.status) {
            return self.finish_job(kind, work, &job);
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
                .with_vendor_ids(Self::users_of(&work.targets, i))
            })
            .collect();
        Step::Continue {
            done: vec![],
            pending,
            next: vec![self.poll(work, &job.id, 0)],
        }
    }

    fn read_poll(&self, kind: Kind, work: &Work, job: &str, attempt: u32, resp: &Response) -> Step {
        if resp.status == 404 {
            // The job is gone (expired or never recorded): submit again.
            let again = self.submission(kind, work.ids.clone(), work.targets.clone());
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![again],
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
            self.finish_job(kind, work, &status)
        } else {
            Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![self.poll(work, job, attempt + 1)],
            }
        }
    }

    fn with_job(&self, mut outs: Vec<Outcome>, job: &str) -> Vec<Outcome> {
        for o in &mut outs {
            o.job_id = Some(job.to_string());
        }
        outs
    }

    /// A job that ended: outcomes per identifier, and permanent erasure of the deleted.
    fn finish_job(&self, kind: Kind, work: &Work, job: &JobStatus) -> Step {
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
        // The values submitted, in order, with the identifier each belongs to.
        let entries: Vec<(usize, String)> = if work.targets.is_empty() {
            work.ids
                .iter()
                .enumerate()
                .map(|(i, id)| (i, id.value.clone()))
                .collect()
        } else {
            work.targets.clone()
        };
        let items: Vec<Item> = match &job.results {
            Some(Value::Array(results)) => entries
                .iter()
                .enumerate()
                .map(|(pos, (_, key))| {
                    find(results, pos, key, kind).map_or(Item::Missing, classify)
                })
                .collect(),
            Some(obj @ Value::Object(_)) => {
                let one = classify(obj);
                entries.iter().map(|_| one.clone()).collect()
            }
            _ => entries.iter().map(|_| Item::Missing).collect(),
        };
        let mut done = vec![];
        let mut next = vec![];
        let mut need_ids = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let mine: Vec<(&String, &Item)> = entries
                .iter()
                .zip(&items)
                .filter(|((k, _), _)| *k == i)
                .map(|((_, v), it)| (v, it))
                .collect();
            // (user, why) for each of this identifier's users the job failed.
            let failed: Vec<(&String, String)> = mine
                .iter()
                .filter_map(|(v, it)| match it {
                    Item::Failed(d) => Some((*v, d.clone())),
                    Item::Missing => Some((*v, "not in job results".to_string())),
                    _ => None,
                })
                .collect();
            let deleted: Vec<(&String, &Option<String>)> = mine
                .iter()
                .filter_map(|(v, it)| match it {
                    Item::Deleted(n) => Some((*v, n)),
                    _ => None,
                })
                .collect();
            let out = |status, detail: String| {
                Outcome::new(ident.clone(), status, detail)
                    .http(200)
                    .job(&job.id)
            };
            if !failed.is_empty() {
                let d = if mine.len() == 1 {
                    failed[0].1.clone()
                } else {
                    failed
                        .iter()
                        .map(|(v, why)| format!("{v}: {why}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                done.push(out(Status::Failed, d));
            } else if deleted.is_empty() {
                let d = mine
                    .iter()
                    .find_map(|(_, it)| match it {
                        Item::NotFound(d) => Some(d.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "no such user".into());
                let numeric: Vec<String> = mine.iter().map(|(v, _)| (*v).clone()).collect();
                if self.permanent && kind != Kind::ExternalId {
                    // "Not found" may mean soft-deleted already (by an earlier,
                    // interrupted run): erase it if so; 404 there means not found.
                    next.push(self.erase(ident.clone(), numeric, vec![], true));
                } else {
                    done.push(out(Status::NotFound, d));
                }
            } else if !self.permanent {
                done.push(out(Status::Deleted, "soft".into()));
            } else {
                // The numeric user ids to erase for good.
                let numeric: Vec<String> = deleted
                    .iter()
                    .filter_map(|(v, n)| match kind {
                        Kind::ExternalId => (*n).clone(),
                        _ => Some((*v).clone()),
                    })
                    .collect();
                if numeric.len() == deleted.len() {
                    next.push(self.erase(ident.clone(), numeric, vec![], false));
                } else {
                    need_ids.push(ident.clone());
                }
            }
        }
        if !need_ids.is_empty() {
            let list: Vec<String> = need_ids.iter().map(|i| encode_query(&i.value)).collect();
            next.push(Work::new(
                need_ids,
                Request::new(
                    Method::Get,
                    format!("/api/v2/users/show_many?external_ids={}", list.join(",")),
                ),
                Stage::Lookup {
                    at: 0,
                    page: None,
                    found: vec![],
                },
            ));
        }
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    /// Numeric ids of soft-deleted external ids, for the permanent step.
    fn read_show_many(&self, work: &Work, resp: &Response) -> Step {
        let users = serde_json::from_str::<Value>(&resp.body)
            .ok()
            .and_then(|v| v["users"].as_array().cloned())
            .unwrap_or_default();
        let mut done = vec![];
        let mut next = vec![];
        for ident in &work.ids {
            let id = users
                .iter()
                .find(|u| u["external_id"].as_str() == Some(ident.value.as_str()))
                .and_then(|u| u["id"].as_u64());
            match id {
                Some(n) => next.push(self.erase(ident.clone(), vec![n.to_string()], vec![], false)),
                None => done.push(
                    Outcome::new(
                        ident.clone(),
                        Status::Failed,
                        format!(
                            "soft-deleted (Zendesk keeps it up to 30 days, then erases it), but its numeric user id could not be found for the permanent erasure (HTTP {})",
                            resp.status
                        ),
                    )
                    .http(resp.status),
                ),
            }
        }
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    /// One e-mail searched: keep exact matches, go on with the next, and submit
    /// the users found once every e-mail of the batch is looked up.
    fn read_search(
        &self,
        kind: Kind,
        work: &Work,
        at: usize,
        found: &[(usize, String)],
        resp: &Response,
    ) -> Step {
        let mut found = found.to_vec();
        let mut done = vec![];
        let want = work.ids[at].value.to_lowercase();
        if resp.status == 200 {
            let users = serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| v["users"].as_array().cloned());
            match users {
                Some(users) => {
                    for u in users {
                        let exact = u["email"]
                            .as_str()
                            .is_some_and(|e| e.to_lowercase() == want);
                        if let (true, Some(id)) = (exact, u["id"].as_u64()) {
                            found.push((at, id.to_string()));
                        }
                    }
                }
                None => done.push(
                    Outcome::new(
                        work.ids[at].clone(),
                        Status::Failed,
                        format!("user search answer is not a user list: {}", resp.snippet()),
                    )
                    .http(200),
                ),
            }
        } else {
            done.push(
                Outcome::new(
                    work.ids[at].clone(),
                    Status::Failed,
                    format!(
                        "user search failed: HTTP {}: {}",
                        resp.status,
                        error_text(resp)
                    ),
                )
                .http(resp.status),
            );
        }
        if at + 1 < work.ids.len() {
            return Step::Continue {
                done,
                pending: vec![],
                next: vec![self.search(work.ids.clone(), at + 1, found)],
            };
        }
        // Every e-mail looked up: not found, or submitted with its user ids.
        let decided: Vec<Ident> = done.iter().map(|o: &Outcome| o.ident.clone()).collect();
        let mut ids = vec![];
        let mut targets = vec![];
        let mut submissions = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            if decided.contains(ident) {
                continue;
            }
            let users: Vec<String> = found
                .iter()
                .filter(|(k, _)| *k == i)
                .map(|(_, u)| u.clone())
                .collect();
            if users.is_empty() {
                done.push(
                    Outcome::new(ident.clone(), Status::NotFound, "no user with this e-mail")
                        .http(200),
                );
                continue;
            }
            if targets.len() + users.len() > BATCH_LIMIT && !ids.is_empty() {
                submissions.push(self.submission(
                    kind,
                    std::mem::take(&mut ids),
                    std::mem::take(&mut targets),
                ));
            }
            let idx = ids.len();
            ids.push(ident.clone());
            targets.extend(users.into_iter().map(|u| (idx, u)));
        }
        if !ids.is_empty() {
            submissions.push(self.submission(kind, ids, targets));
        }
        Step::Continue {
            done,
            pending: vec![],
            next: submissions,
        }
    }

    /// One soft-deleted user erased for good; on to the next of the identifier's users.
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
            404 if probe && done.is_empty() && rest.is_empty() => {
                return Step::Done(all(
                    &work.ids,
                    Status::NotFound,
                    "no such user (neither active nor soft-deleted)",
                    Some(404),
                ));
            }
            // A user the job did not find was soft-deleted before: erased now.
            200..=299 if probe => done.push(current.clone()),
            // 404 after our own soft delete: not among the soft-deleted (already erased).
            200..=299 | 404 => done.push(current.clone()),
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
        let detail = if work.ids[0].value == done.join(",") {
            "permanent".to_string()
        } else {
            format!("permanent; user id {}", done.join(", "))
        };
        Step::Done(all(&work.ids, Status::Deleted, &detail, Some(resp.status)))
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

    #[test]
    fn submissions_per_kind() {
        let z = Zendesk::new(true, true, Some("0".into()));
        let w = z.start(Kind::Id, ids(&["1", "2"]));
        assert_eq!(w.request.method, Method::Delete);
        assert_eq!(
            w.request.path_and_query,
            "/api/v2/users/destroy_many?ids=1,2"
        );
        let w = z.start(Kind::ExternalId, ids(&["a b", "c;d"]));
        assert_eq!(
            w.request.path_and_query,
            "/api/v2/users/destroy_many?external_ids=a%20b,c%3Bd&brand_id=0"
        );
        let w = z.start(Kind::Email, ids(&["a@x.io"]));
        assert_eq!(
            w.request.path_and_query,
            "/api/v2/users/search?query=email%3Aa%40x.io"
        );
    }

    #[test]
    fn results_map_by_index_id_and_failures() {
        let results = vec![
            json!({"id": 11, "action": "delete", "status": "Deleted", "success": true}),
            json!({"index": 1, "error": "UserDeleteFailed", "id": 12, "details": "cannot delete the account owner"}),
            json!({"index": 2, "error": "RecordNotFound", "details": "Not found"}),
        ];
        assert_eq!(
            find(&results, 0, "11", Kind::Id).map(classify),
            Some(Item::Deleted(Some("11".into())))
        );
        assert_eq!(
            find(&results, 1, "12", Kind::Id).map(classify),
            Some(Item::Failed(
                "UserDeleteFailed: cannot delete the account owner".into()
            ))
        );
        assert_eq!(
            find(&results, 2, "13", Kind::Id).map(classify),
            Some(Item::NotFound("RecordNotFound: Not found".into()))
        );
        assert_eq!(find(&results, 3, "14", Kind::Id), None);
    }
}
