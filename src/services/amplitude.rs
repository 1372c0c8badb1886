//! Amplitude, User Privacy API (v1): `POST /api/2/deletions/users` adds up to
//! 100 people to the project's deletion job; `GET
//! /api/2/deletions/users?start_day=&end_day=` lists the project's jobs by the
//! day each is scheduled for.
//!
//! Follows Amplitude's page
//! <https://amplitude.com/docs/apis/analytics/user-privacy> (its source is
//! `content/collections/api/en/user-privacy.md` in the public repository
//! amplitude/amplitude-docs):
//!
//! - Hosts: `https://amplitude.com` (default) and
//!   `https://analytics.eu.amplitude.com` (EU residency); `analytics.amplitude.com`
//!   "is the Analytics web app", not the API.
//! - Auth: Basic, "the API key and secret key for your project"
//!   (`{api-key}:{secret-key}`). The API key names the project whose job a
//!   request joins.
//! - Batch: "Each HTTP request can contain up to 100 `amplitude_ids` or
//!   `user_ids`".
//! - Rate: "a rate limit of 1 HTTP request per second" on the endpoint, and "a
//!   limit of 8 requests running in parallel for a given project". No rate
//!   header and no 429 answer are documented (its status codes are 200, 400,
//!   401): the lane paces at 1/s with 4 in flight, and follows 429s and any
//!   `Retry-After`.
//! - Body: `amplitude_ids` (integers in the examples) or `user_ids`;
//!   `requester`, "The internal user who requested the deletion. This is useful
//!   for auditing" (the page does not say it is required; purge requires it,
//!   since it is who asked, and Amplitude's e-mail to the admins carries it);
//!   `ignore_invalid_id`: "With `false`, if any users in the request aren't
//!   found in the project, the API returns a 400 error, and it doesn't mark any
//!   users in the request for deletion. With `true`, the response is a 200
//!   success that includes a list of `invalid_ids`" — purge sends it, so one
//!   unknown person does not fail the 99 others, and ends those `not_found`
//!   (the page spells it `ignore_invalid_ids` in places: purge sends the
//!   parameter table's name); `include_mapped_user_ids`: the answer's
//!   `amplitude_ids` entries carry the `user_id` each belongs to. The booleans
//!   go as the string `"True"`: the page's examples send strings, and a report
//!   on Amplitude's docs quotes the API refusing a JSON `true` with
//!   "ignore_invalid_id can only be 'True' or 'False'"
//!   (<https://github.com/Amplitude-Developer-Docs/amplitude-dev-center/issues/696>).
//!   `delete_from_org` is not sent: a run deletes from the project its key
//!   names, as asked.
//! - Answer: `day` ("The day the deletion job is scheduled to begin"),
//!   `status`, `amplitude_ids` (entries `amplitude_id`, `requester`,
//!   `requested_on_day`, and `user_id` with `include_mapped_user_ids`),
//!   `invalid_ids`. The day is the job: each person is recorded `queued` with
//!   it as the line's job, and the amplitude ids Amplitude named for them as
//!   vendor ids. The page does not show the shape of `invalid_ids`' items:
//!   strings and numbers are both read.
//! - Jobs: `staging` (it "can be modified", and requests can be revoked until
//!   three days before its day), then `submitted` ("You can't stop the job at
//!   this point"), then `done` ("The job has finished running"); "Amplitude
//!   processes deletion requests ... within 30 days". The listing takes
//!   `start_day` and `end_day` ("The largest permitted time range is six
//!   months") and answers an array of jobs: `day`, `status`, `amplitude_ids`
//!   (entries `amplitude_id`, `requester`, `requested_on_day`: the page lists
//!   no `user_id` there), `app`, `active_scrub_done_date` ("the data is no
//!   longer accessible. After this point, the system waits 5 days for any
//!   backups to be automatically cleared").
//! - Verify: a job of the recorded day must name the person. For a user id
//!   the listing names amplitude ids only, so purge matches the amplitude ids
//!   Amplitude's answer gave for that user id when it was purged, as the
//!   report recorded them, and the detail says so: the day and the job's ids
//!   are Amplitude's, but that mapping is the report's (Amplitude documents no
//!   way to read a deleted user's ids back).
//! - E-mails: "When you make a deletion request, Amplitude emails all account
//!   admins with the deletion details": every request of a run (one per 100
//!   people) mails every admin, and the confirmation says so.
//! - Idempotency: the page is silent. Each POST is a deletion request (an
//!   e-mail to every admin; a person asked twice is requested twice), so it is
//!   declared [`Request::once`]; the listing is a read.
//! - Identifiers: by user id (the default kind) or amplitude id. The API takes
//!   no e-mail addresses, so there is no `email` kind (`purge everywhere`
//!   leaves Amplitude out unless its table sets `kind`).
//!
//! Not v2 (<https://amplitude.com/docs/apis/analytics/user-privacy-v2>, at
//! `privacy.amplitude.com`), though Amplitude recommends it for new
//! integrations: its page says "The v2 User Privacy API is in active
//! development" (its endpoints differ between versions of the page); it
//! "always deletes across your entire organization", so a run could not be
//! kept to the project asked for; and it drops `requester`, the record of who
//! asked. v1 is generally available (`api_status: ga`) and documents the job
//! listing that `purge verify` reads.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    Auth, Check, Credential, CredentialError, CredentialSpec, Endpoint, Entry, EnvVar, Ident, Kind,
    KindSpec, LaneSpec, Load, Method, NoCheck, Outcome, Profile, Proof, Rate, Request, Response,
    Service, Setup, SetupError, Stage, Status, Step, TOKEN_FILE, ToVerify, Verify, Work, all,
    encode_query, endpoint_named, flags_from, secret_from, snippet,
};

/// "Each HTTP request can contain up to 100 `amplitude_ids` or `user_ids`".
pub const BATCH_LIMIT: usize = 100;
/// "a rate limit of 1 HTTP request per second".
pub const QUOTA: Rate = Rate::per_second(1);
/// Requests in flight: half the documented 8 a project, leaving room for its other users.
const IN_FLIGHT: usize = 4;
/// People one verify read asks about: one listing answers everyone whose job
/// day is in its range, whatever their number.
const VERIFY_BATCH: usize = 1_000;

/// Data residency: the page's base URLs.
pub const REGIONS: &[(&str, &str)] = &[
    ("us", "https://amplitude.com"),
    ("eu", "https://analytics.eu.amplitude.com"),
];

/// A user id as the product sends it to Amplitude (`user_id`).
pub const USER_ID: Kind = Kind::new("user-id");
/// Amplitude's own number for a user (`amplitude_id`).
pub const AMPLITUDE_ID: Kind = Kind::new("amplitude-id");

/// The body's `requester` when none is given (a dry run).
pub const REQUESTER_PLACEHOLDER: &str = "REQUESTER";

const KINDS: &[KindSpec] = &[
    KindSpec {
        kind: USER_ID,
        check: Check::Text,
        headers: &["user_id", "user id", "userid"],
        pair: None,
    },
    KindSpec {
        kind: AMPLITUDE_ID,
        check: Check::Numeric,
        headers: &["amplitude_id", "amplitude id", "amplitudeid"],
        pair: None,
    },
];

const KEY_VAR: &str = "AMPLITUDE_API_KEY";
const SECRET_VAR: &str = "AMPLITUDE_SECRET_KEY";
const PATH: &str = "/api/2/deletions/users";

/// `purge amplitude`'s own flags.
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// Data residency: us (amplitude.com), eu (analytics.eu.amplitude.com)
    #[arg(
        long,
        value_name = "REGION",
        env = "AMPLITUDE_REGION",
        default_value = "us",
        value_parser = super::closed_set(REGIONS),
        ignore_case = true,
        hide_possible_values = true
    )]
    pub region: String,
    /// Who asked for the deletions (an e-mail, say): Amplitude records it with each person, and its e-mail to every admin names it
    #[arg(long, value_name = "WHO")]
    pub requester: Option<String>,
}

pub const ENTRY: Entry = Entry {
    name: "amplitude",
    about: "Amplitude: User Privacy API deletion jobs (POST /api/2/deletions/users), 100 people a request",
    credential: CredentialSpec {
        forms: &[&[
            EnvVar {
                name: KEY_VAR,
                note: "the project's API key: Settings > Projects",
            },
            EnvVar {
                name: SECRET_VAR,
                note: "its secret key",
            },
        ]],
        token_file: SECRET_VAR,
    },
    after_help: "Defaults: --kind user-id; --region us; --rate 1/s (Amplitude's documented limit); \
--concurrency 4 (it allows 8 a project). --requester (who asked for the deletions) is needed by a \
real run: put it in purge.toml. Amplitude e-mails every account admin about each request (one per \
100 people). Each request joins the project's deletion job for a day Amplitude schedules (within \
30 days): the run records each person `queued` with that day as its job, and purge verify reads \
the jobs of the day (done is verified).",
    kinds: KINDS,
    default_kind: USER_ID,
    kind_help: "What the identifiers are: user ids (the user_id your product sends Amplitude), or amplitude ids (Amplitude's numbers)",
    hosts: &["amplitude.com", "analytics.eu.amplitude.com"],
    init: r#"# requester = "privacy@example.com"  # who asked for the deletions (Amplitude records it; its e-mail to every admin names it); needed by a real run
# region = "eu"                       # us (the default) or eu: the project's data residency
# kind = "user-id"                    # purge everywhere leaves Amplitude out unless its table sets this: user-id or amplitude-id
"#,
    public_flags: &[],
    legend: &[
        "Amplitude: queued means the person was added to the project's deletion job for the day recorded as the line's job (Amplitude e-mails every account admin about each request); Amplitude runs the job within 30 days, and verified means the job of that day read done and names the person.",
    ],
    proof: Proof::Job,
    flags: <Flags as clap::Args>::augment_args,
    setup: |m, kind| setup(&flags_from(m)?, kind),
};

/// `purge amplitude` flags → the adapter, its endpoint and credential.
/// Without `--requester` a dry run shows [`REQUESTER_PLACEHOLDER`] in its
/// bodies and says so; a real run stops before sending anything
/// ([`Setup::missing`]).
pub fn setup(a: &Flags, kind: Kind) -> Result<Setup, SetupError> {
    let base = endpoint_named(REGIONS, "region", &a.region, "Amplitude region")?;
    let requester = a.requester.as_deref().map(str::trim);
    if requester.is_some_and(str::is_empty) {
        return Err(SetupError::Empty {
            flag: "requester",
            what: "name who asked for the deletions (an e-mail, say)",
        });
    }
    Ok(Setup {
        service: Arc::new(Amplitude::new(requester.unwrap_or(REQUESTER_PLACEHOLDER))),
        kind,
        endpoint: Endpoint::Url(base),
        credential: Box::new(credential),
        missing: requester.is_none().then(|| {
            "no requester: pass --requester WHO, or set requester in [amplitude] of purge.toml \
             (who asked for the deletions: Amplitude records it, and its e-mail to every admin names it)"
                .to_string()
        }),
    })
}

/// Basic `AMPLITUDE_API_KEY:AMPLITUDE_SECRET_KEY` (the secret key from the token file when given).
fn credential(token_file: Option<&Path>) -> Result<Credential, CredentialError> {
    let both = format!(
        "set {KEY_VAR} and {SECRET_VAR} (or {TOKEN_FILE} holding the secret key), or try --dry-run, which needs no credential"
    );
    let key = std::env::var(KEY_VAR).ok();
    let Some(key) = key.as_deref().map(str::trim).filter(|k| !k.is_empty()) else {
        return Err(CredentialError::Incomplete(format!(
            "no Amplitude API key: {both}"
        )));
    };
    let secret = secret_from(SECRET_VAR, token_file).map_err(|e| match e {
        CredentialError::NotSet { .. } => {
            CredentialError::Incomplete(format!("{KEY_VAR} is set but no secret key: {both}"))
        }
        other => other,
    })?;
    Ok(Auth::Basic {
        user: key.to_string(),
        secret,
    }
    .into())
}

pub struct Amplitude {
    profile: Profile,
    requester: String,
}

impl Amplitude {
    pub fn new(requester: &str) -> Self {
        Amplitude {
            profile: Profile {
                vendor: "amplitude",
                display: "Amplitude",
                kinds: KINDS,
                lanes: vec![LaneSpec::new("privacy", Some(QUOTA), IN_FLIGHT, None)],
                max_open_jobs: None,
            },
            requester: requester.to_string(),
        }
    }

    /// The deletion request's body for a batch of `kind`.
    fn body(&self, kind: Kind, batch: &[Ident]) -> Value {
        if kind == AMPLITUDE_ID {
            // Numbers, as the page's examples send them (a number too long for one goes as text).
            let ids: Vec<Value> = batch
                .iter()
                .map(|i| {
                    i.value
                        .parse::<u64>()
                        .map_or_else(|_| json!(i.value), |n| json!(n))
                })
                .collect();
            return json!({
                "amplitude_ids": ids,
                "ignore_invalid_id": "True",
                "requester": self.requester,
            });
        }
        let ids: Vec<&str> = batch.iter().map(|i| i.value.as_str()).collect();
        json!({
            "user_ids": ids,
            "ignore_invalid_id": "True",
            "include_mapped_user_ids": "True",
            "requester": self.requester,
        })
    }
}

/// Whether `text` is a day as Amplitude writes one (`YYYY-MM-DD`).
fn is_day(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// A JSON id as text (`invalid_ids` and `amplitude_id` may be numbers or strings).
fn text_of(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The `amplitude_ids` entries of a job or an answer: (amplitude id, mapped user id).
fn entries(job: &Value) -> Vec<(String, Option<String>)> {
    job["amplitude_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| match e.get("amplitude_id") {
                    Some(id) => (text_of(id), e["user_id"].as_str().map(str::to_string)),
                    None => (text_of(e), None),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The amplitude ids an answer's entries give for identifier `value` of `kind`.
fn amplitude_ids_of(kind: Kind, entries: &[(String, Option<String>)], value: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|(a, u)| {
            if kind == AMPLITUDE_ID {
                a == value
            } else {
                u.as_deref() == Some(value)
            }
        })
        .map(|(a, _)| a.clone())
        .collect()
}

impl Service for Amplitude {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn batch_limit(&self, _kind: Kind) -> usize {
        BATCH_LIMIT
    }

    /// A deletion request. Not idempotent ([`Request::once`]): each POST is a
    /// request of its own, mailed to every admin.
    fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work {
        let request = Request::new(Method::Post, PATH)
            .json(self.body(kind, &batch))
            .once();
        Work::new(batch, request, Stage::Delete)
    }

    fn read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        match resp.status {
            200..=299 => Step::Done(added(kind, work, resp)),
            s => Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!(
                    "Amplitude answered {s} to POST {PATH} (no one of the request was added to a deletion job): {}",
                    resp.snippet()
                ),
                Some(s),
            )),
        }
    }

    fn erasure_note(&self) -> Option<String> {
        Some("Amplitude adds people to its deletion jobs: a job runs on the day Amplitude scheduled (within 30 days; a request can be revoked in Amplitude until 3 days before), so `queued` is not yet erased; purge verify reads the job. Amplitude e-mails every account admin about each deletion request (one per 100 people). A deleted user who sends events again is tracked again, as a new user: opt people out of tracking too.".into())
    }

    fn scale_note(&self, _kind: Kind, count: usize) -> Option<String> {
        let requests = count.div_ceil(BATCH_LIMIT);
        Some(format!(
            "Amplitude e-mails every account admin about each deletion request: this run makes {requests}, so each admin gets {requests} e-mail{}",
            if requests == 1 { "" } else { "s" }
        ))
    }

    fn load(&self, _kind: Kind, count: usize) -> Vec<Load> {
        vec![Load {
            lane: 0,
            requests: count.div_ceil(BATCH_LIMIT) as u64,
            what: "deletion requests (1 request/s)",
        }]
    }

    fn verifier(&self) -> Option<&dyn Verify> {
        Some(self)
    }
}

/// The people of a 2xx answer: each `queued` with the job's day as job (and
/// the amplitude ids Amplitude named for them), or `not_found` when Amplitude
/// listed them among `invalid_ids` (no data in the project).
fn added(kind: Kind, work: &Work, resp: &Response) -> Vec<Outcome> {
    let v: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
    let Some(day) = v["day"].as_str().filter(|d| is_day(d)) else {
        return all(
            &work.ids,
            Status::Queued,
            &format!(
                "Amplitude answered {} without the day of a deletion job ({}): the people may be in a job, but purge cannot follow it; see the project's deletion jobs in Amplitude",
                resp.status,
                resp.snippet()
            ),
            Some(resp.status),
        );
    };
    let status = v["status"].as_str().unwrap_or("not given");
    let entries = entries(&v);
    let invalid: Vec<String> = v["invalid_ids"]
        .as_array()
        .map(|a| a.iter().map(text_of).collect())
        .unwrap_or_default();
    work.ids
        .iter()
        .map(|id| {
            if invalid.contains(&id.value) {
                return Outcome::new(
                    id.clone(),
                    Status::NotFound,
                    "Amplitude has no data for this id in the project (invalid_ids): nothing to delete",
                )
                .http(resp.status);
            }
            let ids = amplitude_ids_of(kind, &entries, &id.value);
            let detail = if ids.is_empty() {
                format!("added to the deletion job of {day} ({status}), but Amplitude's answer did not name this {kind}: purge verify cannot match it in the job")
            } else {
                format!("added to the deletion job of {day} ({status}); Amplitude runs it by then (within 30 days); purge verify reads it")
            };
            Outcome::new(id.clone(), Status::Queued, detail)
                .http(resp.status)
                .job(day)
                .with_vendor_ids(ids)
        })
        .collect()
}

/// The month of a day, counted from year 0 (for the listing's six-month range).
fn month_of(day: &str) -> u32 {
    let year: u32 = day[..4].parse().unwrap_or(0);
    let month: u32 = day[5..7].parse().unwrap_or(0);
    year * 12 + month
}

/// The range one listing reads for `targets`' days: from the earliest to the
/// latest within five months of it (the listing's "largest permitted time
/// range is six months"); later days are read next.
fn window(targets: &[(usize, String)]) -> Option<(String, String)> {
    let days = targets.iter().map(|(_, t)| t).filter(|t| is_day(t));
    let first = days.clone().min()?;
    let last = days
        .filter(|d| month_of(d) <= month_of(first) + 5)
        .max()
        .unwrap_or(first);
    Some((first.clone(), last.clone()))
}

/// `GET /api/2/deletions/users?start_day=&end_day=` (Get deletion jobs).
fn list_request(start: &str, end: &str) -> Request {
    Request::new(Method::Get, PATH).query(&format!(
        "start_day={}&end_day={}",
        encode_query(start),
        encode_query(end)
    ))
}

/// A job of the listing: its day, status, entries and scrub date.
struct Job {
    day: String,
    status: String,
    entries: Vec<(String, Option<String>)>,
    scrubbed: Option<String>,
}

/// The listing's jobs (an array, as documented), if the answer is one.
fn listed(body: &str) -> Option<Vec<Job>> {
    let v: Value = serde_json::from_str(body).ok()?;
    let jobs = v.as_array()?;
    Some(
        jobs.iter()
            .map(|j| Job {
                day: j["day"].as_str().unwrap_or_default().to_string(),
                status: j["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                entries: entries(j),
                scrubbed: j["active_scrub_done_date"].as_str().map(str::to_string),
            })
            .collect(),
    )
}

impl Verify for Amplitude {
    fn verify_batch_limit(&self, _kind: Kind) -> usize {
        VERIFY_BATCH
    }

    /// One listing for the days the batch's people were recorded with (more
    /// as [`Step::Continue`] when they span over six months). Each person's
    /// targets are their job's day and the amplitude ids recorded for them.
    fn verify_start(&self, _kind: Kind, check: ToVerify) -> Result<Work, NoCheck> {
        let mut targets = check.jobs();
        targets.retain(|(_, day)| is_day(day));
        targets.extend(check.targets());
        let Some((start, end)) = window(&targets) else {
            return Err(NoCheck::NoJob {
                job: "deletion job day (YYYY-MM-DD)",
                why: "Amplitude's proof is the status of the job their request joined; purge them again",
            });
        };
        Ok(Work::new(check.ids, list_request(&start, &end), Stage::Check).with_targets(targets))
    }

    fn verify_read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        let (_, end) = window(&work.targets).unwrap_or_default();
        let day_of = |i: usize| {
            work.targets
                .iter()
                .find(|(j, t)| *j == i && is_day(t))
                .map(|(_, t)| t.as_str())
        };
        let jobs = if resp.status == 200 {
            listed(&resp.body)
        } else {
            None
        };
        let mut done = vec![];
        let mut rest = vec![];
        for (i, id) in work.ids.iter().enumerate() {
            match day_of(i) {
                None => done.push(Outcome::new(
                    id.clone(),
                    Status::Unverifiable,
                    "no deletion job day (YYYY-MM-DD) is recorded for this person: Amplitude's proof is the status of the job their request joined; purge them again",
                )),
                Some(day) if day > end.as_str() => rest.push(i),
                Some(day) => {
                    let recorded = recorded_ids(work, i);
                    done.push(match &jobs {
                        Some(jobs) => job_outcome(kind, id, day, &recorded, jobs),
                        None => unanswered(id, resp),
                    })
                }
            }
        }
        if rest.is_empty() {
            return Step::Done(done);
        }
        Step::Continue {
            done,
            pending: vec![],
            next: vec![later(work, &rest)],
        }
    }
}

/// The amplitude ids the report recorded for person `i` of `work`.
fn recorded_ids(work: &Work, i: usize) -> Vec<&str> {
    work.targets
        .iter()
        .filter(|(j, t)| *j == i && !is_day(t))
        .map(|(_, t)| t.as_str())
        .collect()
}

/// The listing for people `rest` of `work`, whose days were past its range.
fn later(work: &Work, rest: &[usize]) -> Work {
    let ids: Vec<Ident> = rest.iter().map(|i| work.ids[*i].clone()).collect();
    let targets: Vec<(usize, String)> = rest
        .iter()
        .enumerate()
        .flat_map(|(n, i)| {
            work.targets
                .iter()
                .filter(move |(j, _)| j == i)
                .map(move |(_, t)| (n, t.clone()))
        })
        .collect();
    let (start, end) = window(&targets).unwrap_or_default();
    Work::new(ids, list_request(&start, &end), Stage::Check).with_targets(targets)
}

/// A person whose listing was not answered as documented.
fn unanswered(id: &Ident, resp: &Response) -> Outcome {
    Outcome::new(
        id.clone(),
        Status::Unverifiable,
        format!(
            "could not ask: GET {PATH} answered {}: {}; run purge verify again",
            resp.status,
            resp.snippet()
        ),
    )
    .http(resp.status)
}

/// Person `id`'s outcome from the listing. The day came from the report
/// (input, not authority): it proves something only through a job of that
/// day that names the person — by its mapped `user_id`, or else by an
/// amplitude id Amplitude gave for them when they were purged (the listing's
/// entries carry no `user_id` on Amplitude's page), or, for an amplitude id,
/// by the id itself.
fn job_outcome(kind: Kind, id: &Ident, day: &str, recorded: &[&str], jobs: &[Job]) -> Outcome {
    // The entry of a job that names the person, and whether only through a recorded amplitude id.
    let naming = |job: &Job| {
        job.entries.iter().find_map(|(a, user)| match user {
            _ if kind == AMPLITUDE_ID => (*a == id.value).then_some(false),
            Some(u) => (*u == id.value).then_some(false),
            None => recorded.contains(&a.as_str()).then_some(true),
        })
    };
    let of_day: Vec<&Job> = jobs.iter().filter(|j| j.day == day).collect();
    let found = of_day
        .iter()
        .find_map(|j| naming(j).map(|by_record| (*j, by_record)));
    let (status, mut detail) = match found {
        _ if of_day.is_empty() => (
            Status::Unverifiable,
            format!(
                "Amplitude lists no deletion job for {day}: the report's day is not a job of this project (check the region and the key's project); purge them again"
            ),
        ),
        None => (
            Status::Unverifiable,
            format!(
                "the deletion job of {day} does not name this {kind}: the report's job is not this person's; purge them again"
            ),
        ),
        Some((job, _)) => read_status(job),
    };
    if let Some((_, true)) = found {
        detail.push_str(" (the job names the amplitude id Amplitude gave for this user id when it was purged, as the report recorded it: Amplitude's job list names amplitude ids only)");
    }
    Outcome::new(id.clone(), status, detail).http(200).job(day)
}

/// A job's documented status as a verify outcome.
fn read_status(job: &Job) -> (Status, String) {
    let day = &job.day;
    match job.status.as_str() {
        "done" => (
            Status::Verified,
            format!("deletion job of {day}: done (the job has finished running)"),
        ),
        "submitted" => (
            Status::Unverifiable,
            format!(
                "deletion job of {day}: submitted (running; it can no longer be stopped){}: not proven yet; run purge verify again later",
                job.scrubbed.as_deref().map_or(String::new(), |d| format!(
                    ", data no longer accessible since {d} (done once backups clear, 5 days later)"
                ))
            ),
        ),
        "staging" => (
            Status::Unverifiable,
            format!(
                "deletion job of {day}: staging (not started; it can be revoked in Amplitude until 3 days before): not proven yet; run purge verify again after {day}"
            ),
        ),
        other => (
            Status::Unverifiable,
            format!(
                "deletion job of {day}: status {:?} is not one Amplitude documents; run purge verify again",
                snippet(other)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Recorded;
    use crate::services::idents as ids;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            body: body.into(),
        }
    }

    #[test]
    fn the_request_is_the_documented_post_with_the_requester() {
        let a = Amplitude::new("dpo@acme.example");
        let w = a.start(USER_ID, ids(&["u1", "ann@x.io"]));
        assert!(!w.request.idempotent, "each POST is a deletion request");
        assert_eq!(w.request.method, Method::Post);
        assert_eq!(w.request.path_and_query, "/api/2/deletions/users");
        assert_eq!(
            w.request.body,
            Some(
                json!({"user_ids": ["u1", "ann@x.io"], "ignore_invalid_id": "True",
                "include_mapped_user_ids": "True", "requester": "dpo@acme.example"})
            )
        );
        let w = a.start(AMPLITUDE_ID, ids(&["356896327775"]));
        assert_eq!(
            w.request.body,
            Some(
                json!({"amplitude_ids": [356896327775u64], "ignore_invalid_id": "True",
                "requester": "dpo@acme.example"})
            )
        );
    }

    #[test]
    fn an_answer_queues_people_with_the_day_and_their_amplitude_ids() {
        let a = Amplitude::new("r");
        let w = a.start(USER_ID, ids(&["u1", "u2", "u3"]));
        let body = r#"{"day":"2026-12-14","status":"staging","invalid_ids":["u3"],
            "amplitude_ids":[{"amplitude_id":11,"user_id":"u1","requester":"r","requested_on_day":"2026-12-02"}]}"#;
        let Step::Done(out) = a.read(USER_ID, &w, &resp(200, body)) else {
            panic!()
        };
        assert_eq!(out[0].status, Status::Queued);
        assert_eq!(out[0].job_id.as_deref(), Some("2026-12-14"));
        assert_eq!(out[0].vendor_ids, ["11"]);
        // Not named: queued with the day, and the detail says verify cannot match it.
        assert_eq!(out[1].status, Status::Queued);
        assert!(out[1].detail.contains("did not name"), "{}", out[1].detail);
        assert_eq!(out[2].status, Status::NotFound);
        let Step::Done(out) = a.read(USER_ID, &w, &resp(400, "Bad Request")) else {
            panic!()
        };
        assert!(out.iter().all(|o| o.status == Status::Failed));
    }

    fn check(days: &[&str]) -> ToVerify {
        ToVerify {
            ids: ids(&(0..days.len()).map(|i| format!("u{i}")).collect::<Vec<_>>()),
            recorded: days
                .iter()
                .enumerate()
                .map(|(i, d)| Recorded {
                    vendor_ids: vec![format!("{}", 10 + i)],
                    job: Some(d.to_string()),
                })
                .collect(),
        }
    }

    #[test]
    fn verify_lists_the_recorded_days_and_believes_a_job_only_for_whom_it_names() {
        let a = Amplitude::new("r");
        let w = a
            .verify_start(USER_ID, check(&["2026-12-14", "2026-12-20", "2027-08-01"]))
            .unwrap();
        // Six months at most a listing: August is read next.
        assert_eq!(
            w.request.path_and_query,
            "/api/2/deletions/users?start_day=2026-12-14&end_day=2026-12-20"
        );
        let body = r#"[{"day":"2026-12-14","status":"done","amplitude_ids":[{"amplitude_id":10}]},
            {"day":"2026-12-20","status":"done","amplitude_ids":[{"amplitude_id":99}]}]"#;
        let Step::Continue { done, next, .. } = a.verify_read(USER_ID, &w, &resp(200, body)) else {
            panic!()
        };
        assert_eq!(done[0].status, Status::Verified);
        assert_eq!(done[1].status, Status::Unverifiable);
        assert!(
            done[1].detail.contains("does not name"),
            "{}",
            done[1].detail
        );
        assert_eq!(
            next[0].request.path_and_query,
            "/api/2/deletions/users?start_day=2027-08-01&end_day=2027-08-01"
        );
        for (status, want) in [
            ("staging", Status::Unverifiable),
            ("submitted", Status::Unverifiable),
            ("done", Status::Verified),
            ("exploded", Status::Unverifiable),
        ] {
            let body = format!(
                r#"[{{"day":"2027-08-01","status":"{status}","amplitude_ids":[{{"amplitude_id":12}}]}}]"#
            );
            let Step::Done(out) = a.verify_read(USER_ID, &next[0], &resp(200, &body)) else {
                panic!()
            };
            assert_eq!(out[0].status, want, "{status}");
            assert!(out[0].detail.contains(status), "{}", out[0].detail);
        }
        // A day that is not a day is never sent.
        assert!(a.verify_start(USER_ID, check(&["x&end_day=1"])).is_err());
    }
}
