//! Mixpanel, GDPR API v3: `POST /data-deletions/v3.0?token=PROJECT_TOKEN`
//! creates a deletion task for up to 1,999 distinct ids; `GET
//! /data-deletions/v3.0/{tracking_id}?token=PROJECT_TOKEN` reads its status.
//!
//! Follows Mixpanel's official OpenAPI, `openapi/gdpr.openapi.yaml` in the
//! public repository mixpanel/docs (the "GDPR API" 3.0.0: servers, paths,
//! `JobCreated`, `CheckDeletionResponse`), and its API reference
//! <https://developer.mixpanel.com/reference/gdpr-api> (`reference/gdpr-api.mdx`
//! there: rate limit, batch size, the statuses' meaning) and
//! <https://docs.mixpanel.com/docs/privacy/end-user-data-management> (the GDPR
//! OAuth token, who may submit, timing).
//!
//! - Hosts: `https://{mixpanel|eu.mixpanel|in.mixpanel}.com/api/app` (US, EU
//!   and India data residency; the OAS's `servers`).
//! - Auth: `Authorization: Bearer` a GDPR OAuth token (Profile & Preferences →
//!   Data & Privacy; "The OAuth token has a one year expiry"); only project
//!   owners and admins may generate one. The project token in the query names
//!   the project; it is public (every tracking SDK ships it), so it is a flag
//!   and a `purge.toml` key, never a secret.
//! - Batch: "You can add up to 1999 distinct IDs" (Create a Deletion Task,
//!   reference); 2,000 elsewhere ("There is a limit of 2000 users per request,
//!   which may be lower if your project uses Group Analytics", end-user data
//!   management). purge sends 1,999, which both allow.
//! - Rate: "We currently have a rate limit of 1 request per second for GDPR
//!   APIs"; a 429 means it was reached. No rate header is documented (silent):
//!   the lane paces at 1/s and follows 429s and any `Retry-After`.
//! - Answers: the OAS documents `201` (`JobCreated`: `{"status": "ok",
//!   "results": {"task_id": …}}`), `401` and `403` (`{"error", "status":
//!   "error"}`) for the create; `200` (`CheckDeletionResponse`), `401`, `403`
//!   for the status. The reference's create example answers another shape
//!   (`"results": [{"tracking_id": …, "status": "PENDING", …}]`): both are read.
//!   Any other status (400, 404, 5xx) is silent in both.
//! - Timing: "It may take up to 30 days to complete a deletion task"; a task
//!   "may be canceled until it reaches the STARTED stage". So `queued` (a task
//!   created) and `verified` (its status `SUCCESS`) are far apart.
//! - Identifiers: deletion is by `distinct_id` only. Finding an e-mail's
//!   distinct ids needs the Query API and other credentials, so purge takes
//!   distinct ids, and no `email` kind: an address that is not a distinct id
//!   would make a task that may well end `SUCCESS` having deleted nobody (the
//!   docs are silent on unknown ids, saying only that "incorrect identifiers
//!   … will result in inability to process the request"). A project whose
//!   distinct ids are e-mail addresses passes them as distinct ids (the
//!   default kind; `kind = "distinct-id"` in `purge everywhere`'s table).
//! - Idempotency: the create is NOT idempotent (each POST makes a task): it
//!   is declared [`Request::once`], so the lane never sends it again once it
//!   may have reached Mixpanel (the status read is idempotent).

use crate::services::spec::Proof;
use crate::services::{NoCheck, SetupError};
use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    Auth, Check, CredentialSpec, Endpoint, Entry, EnvVar, Ident, Kind, KindSpec, LaneSpec, Load,
    Method, Outcome, Profile, Rate, Request, Response, Service, Setup, Stage, Status, Step,
    ToVerify, Verify, Work, all, encode_query, endpoint_named, flags_from, secret_from, snippet,
};

/// Distinct ids a deletion task takes (see the module's notes: 1,999 and 2,000 are both documented).
pub const BATCH_LIMIT: usize = 1_999;
/// "a rate limit of 1 request per second for GDPR APIs".
pub const QUOTA: Rate = Rate::per_second(1);

/// The OAS's servers: `https://{regionAndDomain}.com/api/app`.
pub const REGIONS: &[(&str, &str)] = &[
    ("us", "https://mixpanel.com/api/app"),
    ("eu", "https://eu.mixpanel.com/api/app"),
    ("in", "https://in.mixpanel.com/api/app"),
];

/// A Mixpanel `distinct_id`, a kind only Mixpanel has.
pub const DISTINCT_ID: Kind = Kind::new("distinct-id");

/// The query's placeholder when no project token is given (a dry run).
pub const TOKEN_PLACEHOLDER: &str = "PROJECT_TOKEN";

const KINDS: &[KindSpec] = &[KindSpec {
    kind: DISTINCT_ID,
    check: Check::Text,
    headers: &[
        "distinct_id",
        "distinct id",
        "distinctid",
        "$distinct_id",
        "id",
    ],
    pair: None,
}];

/// The variable of the GDPR OAuth token.
const TOKEN_VAR: &str = "MIXPANEL_GDPR_TOKEN";

/// `purge mixpanel`'s own flags.
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// Data residency: us (mixpanel.com), eu (eu.mixpanel.com), in (in.mixpanel.com)
    #[arg(
        long,
        value_name = "REGION",
        env = "MIXPANEL_REGION",
        default_value = "us",
        value_parser = super::closed_set(REGIONS),
        ignore_case = true,
        hide_possible_values = true
    )]
    pub region: String,
    /// The project's token (public: Project Settings; every tracking SDK holds it)
    #[arg(long, value_name = "TOKEN")]
    pub project_token: Option<String>,
}

pub const ENTRY: Entry = Entry {
    name: "mixpanel",
    about: "Mixpanel: GDPR API v3 deletion tasks (POST /data-deletions/v3.0), 1,999 distinct ids a task",
    credential: CredentialSpec {
        forms: &[&[EnvVar {
            name: TOKEN_VAR,
            note: "a GDPR OAuth token: Profile & Preferences > Data & Privacy; valid one year",
        }]],
        token_file: TOKEN_VAR,
    },
    after_help: "Defaults: --kind distinct-id; --region us; --rate 1/s (Mixpanel's documented GDPR API limit); \
--concurrency 1. --project-token names the project (public, not a secret: put it in purge.toml). \
A deletion task runs within 30 days: the run records each person `queued` with the task id, and \
purge verify reads the task's status (SUCCESS is verified).",
    kinds: KINDS,
    default_kind: DISTINCT_ID,
    kind_help: "What the identifiers are: Mixpanel distinct ids (e-mail addresses only where they are the distinct ids)",
    hosts: &["mixpanel.com", "eu.mixpanel.com", "in.mixpanel.com"],
    init: r#"# project-token = "0123abcd..."  # the project's token (public: Project Settings); needed by a real run
# region = "eu"                   # us (the default), eu or in: the project's data residency
# kind = "distinct-id"            # purge everywhere leaves Mixpanel out unless its table sets this: the list's values are then sent as distinct ids
"#,
    public_flags: &["project-token"],
    legend: &[
        "Mixpanel: queued means a GDPR deletion task was created (its id is the line's job); Mixpanel runs it within 30 days, and verified means the task's status read SUCCESS.",
    ],
    proof: Proof::Job,
    flags: <Flags as clap::Args>::augment_args,
    setup: |m, kind| setup(&flags_from(m)?, kind),
};

/// `purge mixpanel` flags → the adapter, its endpoint and credential. Without
/// `--project-token` a dry run shows [`TOKEN_PLACEHOLDER`] in its requests
/// and says so; a real run stops before sending anything ([`Setup::missing`]).
pub fn setup(a: &Flags, kind: Kind) -> Result<Setup, SetupError> {
    let base = endpoint_named(REGIONS, "region", &a.region, "Mixpanel region")?;
    let token = a.project_token.as_deref().map(str::trim);
    if token.is_some_and(str::is_empty) {
        return Err(SetupError::Empty {
            flag: "project-token",
            what: "give the project's token (Project Settings)",
        });
    }
    Ok(Setup {
        service: Arc::new(Mixpanel::new(token.unwrap_or(TOKEN_PLACEHOLDER))),
        kind,
        endpoint: Endpoint::Url(base),
        credential: Box::new(|token_file| {
            secret_from(TOKEN_VAR, token_file).map(|s| Auth::Bearer(s).into())
        }),
        missing: token.is_none().then(|| {
            "no project: pass --project-token TOKEN, or set project-token in [mixpanel] of purge.toml \
             (the project's token is public: Project Settings)"
                .to_string()
        }),
    })
}

pub struct Mixpanel {
    profile: Profile,
    /// The project token, as it goes in the query.
    token: String,
}

impl Mixpanel {
    pub fn new(project_token: &str) -> Self {
        Mixpanel {
            profile: Profile {
                vendor: "mixpanel",
                display: "Mixpanel",
                kinds: KINDS,
                lanes: vec![LaneSpec::new("gdpr", Some(QUOTA), 1, None)],
                max_open_jobs: None,
            },
            token: encode_query(project_token),
        }
    }

    /// `GET /data-deletions/v3.0/{tracking_id}?token=…` (Check Status of Deletion).
    fn status_request(&self, task: &str) -> Request {
        Request::at(Method::Get, "/data-deletions/v3.0/{id}", &[task])
            .query(&format!("token={}", self.token))
    }
}

/// The task id of a create's answer: the OAS's `results.task_id`, or the
/// reference example's `results[0].tracking_id`.
fn task_id(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let results = &v["results"];
    results["task_id"]
        .as_str()
        .or_else(|| results[0]["tracking_id"].as_str())
        .or_else(|| results[0]["task_id"].as_str())
        .filter(|t| !t.trim().is_empty())
        .map(str::to_string)
}

/// The vendor's words from an error body (`{"error": …, "status": "error"}`) or text.
fn error_text(resp: &Response) -> String {
    serde_json::from_str::<Value>(&resp.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(snippet))
        .unwrap_or_else(|| resp.snippet())
}

impl Service for Mixpanel {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn batch_limit(&self, _kind: Kind) -> usize {
        BATCH_LIMIT
    }

    /// Create a Deletion Task. Not idempotent: each POST makes a task ([`Request::once`]).
    fn start(&self, _kind: Kind, batch: Vec<Ident>) -> Work {
        let ids: Vec<&str> = batch.iter().map(|i| i.value.as_str()).collect();
        let request = Request::new(
            Method::Post,
            format!("/data-deletions/v3.0?token={}", self.token),
        )
        .json(json!({ "distinct_ids": ids, "compliance_type": "GDPR" }))
        .once();
        Work::new(batch, request, Stage::Delete)
    }

    fn read(&self, _kind: Kind, work: &Work, resp: &Response) -> Step {
        match resp.status {
            200..=299 => Step::Done(created(work, resp)),
            s => Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!(
                    "Mixpanel answered {s} to POST /data-deletions/v3.0 (no task created): {}",
                    error_text(resp)
                ),
                Some(s),
            )),
        }
    }

    fn erasure_note(&self) -> Option<String> {
        Some("Mixpanel deletes through GDPR deletion tasks: a task runs within 30 days (it can be cancelled until it STARTS), so `queued` is not yet erased; purge verify reads each task's status. A deleted distinct id that sends events again is tracked again: opt people out of tracking too.".into())
    }

    fn load(&self, _kind: Kind, count: usize) -> Vec<Load> {
        vec![Load {
            lane: 0,
            requests: count.div_ceil(BATCH_LIMIT) as u64,
            what: "deletion tasks (1 request/s)",
        }]
    }

    fn verifier(&self) -> Option<&dyn Verify> {
        Some(self)
    }
}

impl Verify for Mixpanel {
    fn verify_batch_limit(&self, _kind: Kind) -> usize {
        BATCH_LIMIT
    }

    /// One status read per task the batch's people were recorded in (the
    /// first now, the others as [`Step::Continue`]).
    fn verify_start(&self, _kind: Kind, check: ToVerify) -> Result<Work, NoCheck> {
        // The recorded tasks ride in the work's targets: (person, task).
        let tasks = check.jobs();
        // `purge verify` gives a vendor whose proof is the job only people
        // with one recorded (`Proof::Job`).
        let Some((_, task)) = tasks.first() else {
            return Err(NoCheck::NoJob {
                job: "deletion task",
                why: "purge them again",
            });
        };
        let request = self.status_request(task);
        Ok(Work::new(check.ids, request, Stage::Check).with_targets(tasks))
    }

    fn verify_read(&self, _kind: Kind, work: &Work, resp: &Response) -> Step {
        let task = work
            .targets
            .first()
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        let tasks_of = |i: usize| {
            work.targets
                .iter()
                .filter(move |(j, _)| *j == i)
                .map(|(_, t)| t)
        };
        let mine: Vec<usize> = (0..work.ids.len())
            .filter(|i| tasks_of(*i).any(|t| *t == task))
            .collect();
        let rest: Vec<usize> = (0..work.ids.len())
            .filter(|i| !mine.contains(i) && tasks_of(*i).next().is_some())
            .collect();
        // Everyone here has a recorded task: `purge verify` asks about no one
        // without one (the entry's proof is `Proof::Job`).
        let decided = match resp.status {
            200 => task_outcomes(&task, work, &mine, resp),
            _ => unanswered(work, &mine, resp),
        };
        if rest.is_empty() {
            return Step::Done(decided);
        }
        // The batch's people recorded in other tasks: the next task's read.
        let ids: Vec<Ident> = rest.iter().map(|i| work.ids[*i].clone()).collect();
        let targets: Vec<(usize, String)> = rest
            .iter()
            .enumerate()
            .flat_map(|(n, i)| tasks_of(*i).map(move |t| (n, t.clone())))
            .collect();
        let next =
            Work::new(ids, self.status_request(&targets[0].1), Stage::Check).with_targets(targets);
        Step::Continue {
            done: decided,
            pending: vec![],
            next: vec![next],
        }
    }
}

/// People `mine` of `work` when their task's status read was not answered as documented.
fn unanswered(work: &Work, mine: &[usize], resp: &Response) -> Vec<Outcome> {
    let detail = format!(
        "could not ask: GET /data-deletions/v3.0/{{id}} answered {}: {}; run purge verify again",
        resp.status,
        error_text(resp)
    );
    mine.iter()
        .map(|i| {
            Outcome::new(work.ids[*i].clone(), Status::Unverifiable, detail.clone())
                .http(resp.status)
        })
        .collect()
}

/// A created task: each person `queued` with the task as job.
fn created(work: &Work, resp: &Response) -> Vec<Outcome> {
    match task_id(&resp.body) {
        Some(task) => work
            .ids
            .iter()
            .map(|i| {
                Outcome::new(
                    i.clone(),
                    Status::Queued,
                    format!("deletion task {task} created (GDPR); Mixpanel runs it within 30 days; purge verify reads its status"),
                )
                .http(resp.status)
                .job(task.clone())
            })
            .collect(),
        None => all(
            &work.ids,
            Status::Queued,
            &format!(
                "Mixpanel answered {} without a task id ({}): a task may exist, but purge cannot follow it; see Data & Privacy in Mixpanel's settings",
                resp.status,
                resp.snippet()
            ),
            Some(resp.status),
        ),
    }
}

/// The outcome of people `mine` of `work` from their task's status answer.
/// The task id came from the report (input, not authority): it proves
/// nothing for a person its `distinct_ids` do not name.
fn task_outcomes(task: &str, work: &Work, mine: &[usize], resp: &Response) -> Vec<Outcome> {
    let v: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
    let results = &v["results"];
    let status = results["status"].as_str().unwrap_or_default();
    let named: Option<Vec<&str>> = results["distinct_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    mine.iter()
        .map(|i| {
            let id = &work.ids[*i];
            let (s, detail) = match &named {
                // A task Mixpanel cannot find or locate lists no one.
                _ if matches!(status, "NOT_FOUND" | "UNKNOWN") => read_status(task, status),
                None => (
                    Status::Unverifiable,
                    format!("task {task}: Mixpanel's answer did not list its distinct ids ({}); run purge verify again", snippet(&resp.body)),
                ),
                Some(n) if !n.contains(&id.value.as_str()) => (
                    Status::Unverifiable,
                    format!("task {task} does not name this distinct id: the report's task is not this person's; purge them again"),
                ),
                Some(_) => read_status(task, status),
            };
            Outcome::new(id.clone(), s, detail).http(resp.status).job(task)
        })
        .collect()
}

/// A task status (the reference's Return Key) as a verify outcome.
fn read_status(task: &str, status: &str) -> (Status, String) {
    match status {
        "SUCCESS" => (
            Status::Verified,
            format!("deletion task {task}: SUCCESS (the deletion task is complete)"),
        ),
        "PENDING" | "STAGING" | "STARTED" => (
            Status::Unverifiable,
            format!(
                "deletion task {task}: {status}, not finished (Mixpanel takes up to 30 days): not proven yet; run purge verify again later"
            ),
        ),
        "FAILURE" => (
            Status::Failed,
            format!(
                "deletion task {task}: FAILURE (\"The deletion task has failed. Check the original task input parameters and create a new task\"): purge them again"
            ),
        ),
        "REVOKED" => (
            Status::Failed,
            format!(
                "deletion task {task}: REVOKED (cancelled through a DELETE): nothing was deleted; purge them again"
            ),
        ),
        "NOT_FOUND" => (
            Status::Unverifiable,
            format!(
                "deletion task {task}: NOT_FOUND (Mixpanel cannot find the task): check the report's project and region"
            ),
        ),
        "UNKNOWN" => (
            Status::Unverifiable,
            format!(
                "deletion task {task}: UNKNOWN (an error occurred while locating the task); run purge verify again"
            ),
        ),
        other => (
            Status::Unverifiable,
            format!(
                "deletion task {task}: status {:?} is not one Mixpanel documents; run purge verify again",
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
    fn the_create_is_the_documented_post_with_the_project_token() {
        let m = Mixpanel::new("abc 123");
        let w = m.start(DISTINCT_ID, ids(&["u1", "ann@x.io"]));
        assert!(!w.request.idempotent, "each POST creates a task");
        assert_eq!(w.request.method, Method::Post);
        assert_eq!(
            w.request.path_and_query,
            "/data-deletions/v3.0?token=abc%20123"
        );
        assert_eq!(
            w.request.body,
            Some(json!({"distinct_ids": ["u1", "ann@x.io"], "compliance_type": "GDPR"}))
        );
    }

    #[test]
    fn a_created_task_queues_everyone_with_its_id_in_either_documented_shape() {
        let m = Mixpanel::new("t");
        let w = m.start(DISTINCT_ID, ids(&["u1", "u2"]));
        for body in [
            r#"{"status":"ok","results":{"task_id":"35bd8477"}}"#,
            r#"{"status":"ok","results":[{"status":"PENDING","tracking_id":"35bd8477"}]}"#,
        ] {
            let Step::Done(out) = m.read(DISTINCT_ID, &w, &resp(201, body)) else {
                panic!()
            };
            assert!(out.iter().all(|o| o.status == Status::Queued
                && o.job_id.as_deref() == Some("35bd8477")
                && o.vendor_ids.is_empty()));
        }
        let Step::Done(out) = m.read(
            DISTINCT_ID,
            &w,
            &resp(403, r#"{"error":"not an admin","status":"error"}"#),
        ) else {
            panic!()
        };
        assert!(
            out.iter()
                .all(|o| o.status == Status::Failed && o.detail.contains("not an admin"))
        );
    }

    #[test]
    fn verify_reads_each_task_once_and_believes_it_only_for_the_ids_it_names() {
        let m = Mixpanel::new("t");
        let batch = ids(&["u1", "u2", "u3"]);
        let recorded = ["A", "B", "A"]
            .map(|t| Recorded {
                vendor_ids: vec![],
                job: Some(t.to_string()),
            })
            .to_vec();
        let check = ToVerify {
            ids: batch,
            recorded,
        };
        let w = m.verify_start(DISTINCT_ID, check).unwrap();
        assert_eq!(w.request.path_and_query, "/data-deletions/v3.0/A?token=t");
        let body = r#"{"status":"ok","results":{"tracking_id":"A","status":"SUCCESS","distinct_ids":["u1"]}}"#;
        let Step::Continue { done, next, .. } = m.verify_read(DISTINCT_ID, &w, &resp(200, body))
        else {
            panic!()
        };
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].status, Status::Verified);
        // u3's recorded task A does not name it: the report proves nothing.
        assert_eq!(done[1].status, Status::Unverifiable);
        assert!(
            done[1].detail.contains("does not name"),
            "{}",
            done[1].detail
        );
        assert_eq!(
            next[0].request.path_and_query,
            "/data-deletions/v3.0/B?token=t"
        );
        assert_eq!(next[0].ids[0].value, "u2");
        for (status, want) in [
            ("STARTED", Status::Unverifiable),
            ("REVOKED", Status::Failed),
            ("FAILURE", Status::Failed),
            ("NOT_FOUND", Status::Unverifiable),
            ("UNKNOWN", Status::Unverifiable),
        ] {
            let body = format!(
                r#"{{"status":"ok","results":{{"status":"{status}","distinct_ids":["u2"]}}}}"#
            );
            let Step::Done(out) = m.verify_read(DISTINCT_ID, &next[0], &resp(200, &body)) else {
                panic!()
            };
            assert_eq!(out[0].status, want, "{status}");
            assert!(out[0].detail.contains(status), "{}", out[0].detail);
        }
    }
}
