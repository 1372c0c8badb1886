//! The engine in-process, under tokio's paused clock, with the real adapters and
//! a scripted transport: splitting a rejected batch, the job limit, parking a
//! throttled submission, draining on interrupt, Zendesk's job flow and its
//! resume from the structured checkpoint, Gainsight's lookup paging, Braze's
//! lookups on their own lane.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::*;
use crate::http::lane::{Clock, Lane, LaneConfig};
use crate::http::script::{Script, answer, ok};
use crate::plan;
use crate::report::{PriorState, Report};
use crate::services::braze::{Braze, LOOKUP_QUOTA};
use crate::services::gainsight_px::GainsightPx;
use crate::services::rally::Rally;
use crate::services::zendesk::{Options as ZendeskOptions, Zendesk};
use crate::services::{Ident, Method, Rate, Request, Service, idents};

struct Run {
    service: Arc<dyn Service>,
    kind: Kind,
    script: Script,
    max_retries: u32,
}

impl Run {
    fn new(service: impl Service + 'static, kind: Kind, script: &Script) -> Self {
        Run {
            service: Arc::new(service),
            kind,
            script: script.clone(),
            max_retries: 3,
        }
    }

    fn engine(&self, report: Report) -> Engine {
        let stats = Arc::new(Stats::default());
        let stop = Stop::default();
        let profile = self.service.profile();
        let lanes = profile
            .lanes
            .iter()
            .map(|spec| {
                let mut cfg = LaneConfig::new(spec, self.max_retries, None);
                cfg.seed = Some(3);
                Arc::new(Lane::with_clock(
                    cfg,
                    Arc::new(self.script.clone()),
                    Arc::clone(&stats),
                    stop.clone(),
                    Clock::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
                ))
            })
            .collect();
        let summary = Summary {
            vendor: profile.vendor.into(),
            ..Summary::default()
        };
        Engine::new(Parts {
            service: Arc::clone(&self.service),
            kind: self.kind,
            lanes,
            stats,
            stop,
            report,
            summary,
            concurrency: profile.lanes[0].concurrency,
            progress: Default::default(),
        })
    }

    /// Run `ids` to the end (or to `interrupt`), recording to `report`.
    async fn go(
        &self,
        ids: &[String],
        initial: Vec<Work>,
        report: Report,
        interrupt: impl Future<Output = Signal>,
    ) -> (Summary, Option<StopReason>) {
        let plan = plan::plan(Arc::clone(&self.service), self.kind, idents(ids));
        self.engine(report).run(initial, plan, interrupt).await
    }

    async fn all(&self, ids: &[String]) -> (Summary, Option<StopReason>) {
        let report = Report::none(self.service.profile().vendor, self.kind, false);
        self.go(ids, vec![], report, std::future::pending()).await
    }
}

fn emails(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i}@example.com")).collect()
}

fn body_list(r: &Request, field: &str) -> Vec<String> {
    r.body.as_ref().map_or(vec![], |b| {
        b[field]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn report_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_rejected_batch_is_split_in_halves_to_isolate_the_bad_identifier() {
    let mut ids = emails(8);
    ids[5] = "bad@example.com".into();
    let script = Script::new(|_, r| {
        let list = body_list(r, "emails");
        if list.iter().any(|e| e.starts_with("bad")) {
            ok(
                400,
                r#"{"errors":[{"message":"Invalid email","path":["emails"]}]}"#,
            )
        } else {
            ok(
                202,
                &json!({"message": "ok", "count": list.len()}).to_string(),
            )
        }
    });
    let (summary, reason) = Run::new(Rally::new(), Kind::Email, &script).all(&ids).await;
    assert_eq!(reason, None);
    assert_eq!((summary.queued, summary.failed), (7, 1));
    // 8 → 4 + 4 → 2 + 2 → 1 + 1: seven requests.
    let sizes: Vec<usize> = script
        .arrivals()
        .iter()
        .map(|a| body_list(&a.request, "emails").len())
        .collect();
    assert_eq!(sizes.len(), 7, "{sizes:?}");
    assert_eq!(sizes.iter().filter(|&&n| n == 1).count(), 2);
}

fn permanent() -> ZendeskOptions {
    ZendeskOptions {
        permanent: true,
        wait: true,
        ..Default::default()
    }
}

fn soft() -> ZendeskOptions {
    ZendeskOptions {
        wait: true,
        ..Default::default()
    }
}

/// Zendesk's `show_many?ids=` answer: every id listed is an active end-user,
/// except those in `absent`.
fn end_users(
    path: &str,
    absent: &[&str],
) -> Result<crate::http::RawResponse, crate::http::TransportError> {
    let list = path
        .split("ids=")
        .nth(1)
        .unwrap_or_default()
        .split('&')
        .next()
        .unwrap_or_default();
    let users: Vec<Value> = list
        .split(',')
        .filter(|v| !v.is_empty() && !absent.contains(v))
        .map(|v| json!({"id": v.parse::<u64>().unwrap(), "role": "end-user", "active": true}))
        .collect();
    ok(200, &json!({"users": users}).to_string())
}

/// Jobs by id: when each was submitted, and its user ids.
type Jobs = HashMap<String, (tokio::time::Instant, Vec<u64>)>;

/// A Zendesk whose jobs complete `job_time` after submission; counts open jobs.
#[derive(Clone, Default)]
struct SlowJobs {
    jobs: Arc<Mutex<Jobs>>,
    open: Arc<Mutex<(usize, usize)>>,
}

impl SlowJobs {
    fn answer(
        &self,
        r: &Request,
        job_time: Duration,
        refuse_over: Option<usize>,
    ) -> Result<crate::http::RawResponse, crate::http::TransportError> {
        let path = r.path_and_query.split('?').next().unwrap_or_default();
        if path == "/api/v2/users/show_many" {
            return end_users(&r.path_and_query, &[]);
        }
        if path == "/api/v2/users/destroy_many" {
            let mut open = self.open.lock().unwrap();
            if refuse_over.is_some_and(|m| open.0 >= m) {
                return Ok(answer(
                    429,
                    &[("retry-after", "1".into())],
                    r#"{"error":"TooManyJobs"}"#,
                ));
            }
            open.0 += 1;
            open.1 = open.1.max(open.0);
            let ids: Vec<u64> = r
                .path_and_query
                .split("ids=")
                .nth(1)
                .unwrap_or_default()
                .split(',')
                .filter_map(|v| v.parse().ok())
                .collect();
            let mut jobs = self.jobs.lock().unwrap();
            let id = format!("J{}", jobs.len());
            jobs.insert(id.clone(), (tokio::time::Instant::now(), ids));
            return ok(
                200,
                &json!({"job_status": {"id": id, "status": "queued"}}).to_string(),
            );
        }
        if let Some(job) = path.strip_prefix("/api/v2/job_statuses/") {
            let jobs = self.jobs.lock().unwrap();
            let Some((at, ids)) = jobs.get(job) else {
                return ok(404, r#"{"error":"RecordNotFound"}"#);
            };
            if at.elapsed() < job_time {
                return ok(
                    200,
                    &json!({"job_status": {"id": job, "status": "working"}}).to_string(),
                );
            }
            self.open.lock().unwrap().0 -= 1;
            let results: Vec<Value> = ids
                .iter()
                .map(|i| json!({"id": i, "action": "delete", "status": "Deleted", "success": true}))
                .collect();
            return ok(
                200,
                &json!({"job_status": {"id": job, "status": "completed", "results": results}})
                    .to_string(),
            );
        }
        ok(404, "{}")
    }
}

fn numeric(n: usize) -> Vec<String> {
    (0..n).map(|i| (1000 + i).to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn open_jobs_stay_under_the_vendor_limit() {
    let zd = SlowJobs::default();
    let z = zd.clone();
    // Jobs take a minute: 30 lookups and 30 submissions (200/min) fit before the first ends.
    let script = Script::new(move |_, r| z.answer(r, Duration::from_secs(60), None));
    let ids = numeric(3500);
    let (summary, reason) = Run::new(Zendesk::new(soft()), Kind::Id, &script)
        .all(&ids)
        .await;
    assert_eq!(reason, None);
    assert_eq!(summary.deleted, 3500, "{summary:?}");
    let (open, most) = *zd.open.lock().unwrap();
    assert_eq!(open, 0);
    assert_eq!(most, 30, "35 jobs, at most 30 open at once");
}

#[tokio::test(start_paused = true)]
async fn a_submission_throttled_while_our_jobs_are_open_is_parked_until_one_ends() {
    let zd = SlowJobs::default();
    let z = zd.clone();
    // The account allows only 2 jobs at once: more submissions get 429.
    let script = Script::new(move |_, r| z.answer(r, Duration::from_secs(30), Some(2)));
    let mut run = Run::new(Zendesk::new(soft()), Kind::Id, &script);
    run.max_retries = 1;
    let (summary, reason) = run.all(&numeric(500)).await;
    assert_eq!(reason, None);
    assert_eq!((summary.deleted, summary.failed), (500, 0), "{summary:?}");
    assert!(script.arrivals().iter().any(|a| a.status == Some(429)));
    assert_eq!(zd.open.lock().unwrap().1, 2);
}

#[tokio::test(start_paused = true)]
async fn the_first_interrupt_drains_what_is_in_flight_and_records_the_rest() {
    let script = Script::new(|_, r| {
        let n = body_list(r, "emails").len();
        ok(202, &json!({"message": "ok", "count": n}).to_string())
    })
    .latency(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let (report, _) = Report::open(&path, false, "rally", Kind::Email, false).unwrap();
    let run = Run::new(Rally::new(), Kind::Email, &script);
    // The first request goes alone (Rally's window is unknown until an answer,
    // which here carries no numbers); then 4 at once, answered at 2 s.
    let interrupt = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Signal::Interrupt
    };
    let (summary, reason) = run.go(&emails(1000), vec![], report, interrupt).await;
    assert_eq!(reason, Some(StopReason::Interrupted(Signal::Interrupt)));
    // Those 5 batches finish; the other 5 are not attempted.
    assert_eq!(script.count(), 5);
    assert_eq!((summary.queued, summary.failed), (500, 500));
    let lines = report_lines(&path);
    assert_eq!(lines.len(), 1000);
    let not_attempted = lines
        .iter()
        .filter(|l| {
            l["detail"]
                .as_str()
                .unwrap()
                .starts_with("not attempted: interrupted")
        })
        .count();
    assert_eq!(not_attempted, 500);
}

/// A Zendesk with three users: 1 and 2 exist (job deletes them), 3 does not;
/// user 2's permanent erasure fails once with 500 and then succeeds.
fn three_user_zendesk(
    n: usize,
    r: &Request,
) -> Result<crate::http::RawResponse, crate::http::TransportError> {
    let _ = n;
    let path = r.path_and_query.as_str();
    match path {
        "/api/v2/users/show_many?ids=1,2,3" => end_users(path, &["3"]),
        "/api/v2/users/destroy_many?ids=1,2,3" => {
            ok(200, r#"{"job_status":{"id":"JOB1","status":"queued"}}"#)
        }
        "/api/v2/job_statuses/JOB1" => ok(
            200,
            &json!({"job_status": {"id": "JOB1", "status": "completed", "results": [
                {"id": 1, "action": "delete", "status": "Deleted", "success": true},
                {"id": 2, "action": "delete", "status": "Deleted", "success": true},
                {"index": 2, "error": "RecordNotFound", "details": "Not found"}
            ]}})
            .to_string(),
        ),
        "/api/v2/deleted_users/1" | "/api/v2/deleted_users/2" => {
            ok(200, r#"{"deleted_user":{"active":false}}"#)
        }
        "/api/v2/deleted_users/3" => ok(404, r#"{"error":"RecordNotFound"}"#),
        other => panic!("unexpected request {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn zendesk_submits_polls_reads_results_and_erases_permanently() {
    let script = Script::new(three_user_zendesk);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let (report, _) = Report::open(&path, false, "zendesk", Kind::Id, false).unwrap();
    let run = Run::new(Zendesk::new(permanent()), Kind::Id, &script);
    let ids: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
    let (summary, reason) = run.go(&ids, vec![], report, std::future::pending()).await;
    assert_eq!(reason, None);
    assert_eq!((summary.deleted, summary.not_found), (2, 1), "{summary:?}");
    let paths: Vec<String> = script
        .arrivals()
        .iter()
        .map(|a| a.request.path_and_query.clone())
        .collect();
    assert_eq!(paths[0], "/api/v2/users/show_many?ids=1,2,3");
    assert_eq!(paths[1], "/api/v2/users/destroy_many?ids=1,2,3");
    assert_eq!(paths[2], "/api/v2/job_statuses/JOB1");
    let mut erasures: Vec<&String> = paths[3..].iter().collect();
    erasures.sort();
    assert_eq!(
        erasures,
        [
            "/api/v2/deleted_users/1",
            "/api/v2/deleted_users/2",
            "/api/v2/deleted_users/3"
        ]
    );
    let lines = report_lines(&path);
    // Pending lines carry the job; final lines follow.
    assert!(
        lines[..3]
            .iter()
            .all(|l| l["outcome"] == "pending" && l["job_id"] == "JOB1")
    );
    let last: HashMap<&str, &str> = lines
        .iter()
        .map(|l| (l["id"].as_str().unwrap(), l["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(last["1"], "deleted");
    assert_eq!(last["2"], "deleted");
    assert_eq!(last["3"], "not_found");
}

#[tokio::test(start_paused = true)]
async fn zendesk_e_mails_resume_from_the_user_ids_in_the_checkpoint() {
    // Search finds user 77 for ann@ and 78 + 79 for bob@; the job takes long.
    let polls = Arc::new(Mutex::new(0usize));
    let p = Arc::clone(&polls);
    let script = Script::new(move |_, r| {
        let path = r.path_and_query.as_str();
        if path.starts_with("/api/v2/users/search") {
            let users = if path.contains("ann") {
                json!([{"id": 77, "email": "ann@example.com"}])
            } else {
                json!([{"id": 78, "email": "bob@example.com"}, {"id": 79, "email": "BOB@example.com"}, {"id": 80, "email": "bobby@example.com"}])
            };
            return ok(200, &json!({"users": users, "next_page": null}).to_string());
        }
        if path == "/api/v2/users/show_many?ids=77,78,79,80&include=identities" {
            return ok(
                200,
                &json!({"users": [
                {"id": 77, "email": "ann@example.com", "role": "end-user"},
                {"id": 78, "email": "bob@example.com", "role": "end-user"},
                {"id": 79, "email": "BOB@example.com", "role": "end-user"},
                {"id": 80, "email": "bobby@example.com", "role": "end-user"}]})
                .to_string(),
            );
        }
        if path == "/api/v2/users/show_many?ids=77,78,79&include=identities" {
            // The resume confirms the recorded users are still these people's.
            return ok(
                200,
                &json!({"users": [
                {"id": 77, "email": "ann@example.com", "role": "end-user"},
                {"id": 78, "email": "bob@example.com", "role": "end-user"},
                {"id": 79, "email": "BOB@example.com", "role": "end-user"}]})
                .to_string(),
            );
        }
        if path == "/api/v2/users/destroy_many?ids=77,78,79" {
            return ok(200, r#"{"job_status":{"id":"JE","status":"queued"}}"#);
        }
        if path == "/api/v2/job_statuses/JE" {
            *p.lock().unwrap() += 1;
            return ok(
                200,
                &json!({"job_status": {"id": "JE", "status": "completed", "results": [
                    {"id": 77, "success": true, "status": "Deleted"},
                    {"id": 78, "success": true, "status": "Deleted"},
                    {"id": 79, "success": true, "status": "Deleted"}]}})
                .to_string(),
            );
        }
        if path.starts_with("/api/v2/deleted_users/") {
            return ok(200, "{}");
        }
        panic!("unexpected {path}")
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let ids: Vec<String> = ["ann@example.com", "bob@example.com"]
        .map(String::from)
        .to_vec();
    let run = Run::new(Zendesk::new(permanent()), Kind::Email, &script);
    // Searches, the confirmation and the submission go 300 ms apart (200/min);
    // interrupted after the job was accepted (at 0.9 s) and before its first
    // poll (1 s later).
    let (report, _) = Report::open(&path, false, "zendesk", Kind::Email, false).unwrap();
    let (_, reason) = run
        .go(&ids, vec![], report, async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Signal::Terminate
        })
        .await;
    assert_eq!(reason, Some(StopReason::Interrupted(Signal::Terminate)));
    assert_eq!(reason.clone().unwrap().exit_code(), ExitCode::Terminated);
    assert_eq!(*polls.lock().unwrap(), 0);
    let lines = report_lines(&path);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["outcome"], "pending");
    assert_eq!(lines[0]["vendor_ids"], json!(["77"]));
    assert_eq!(lines[1]["vendor_ids"], json!(["78", "79"]));
    assert_eq!(lines[1]["detail"], "waiting for job JE");

    // Resume: the users confirmed, the job polled, not searched again, every user erased.
    let (report, prior) = Report::open(&path, true, "zendesk", Kind::Email, false).unwrap();
    let mut pairs = vec![];
    for id in idents(&ids) {
        match prior.status_of(&id) {
            PriorState::Pending { job, vendor_ids } => {
                assert_eq!(job, "JE");
                pairs.push((id, vendor_ids));
            }
            other => panic!("{other:?}"),
        }
    }
    let (pending_ids, vendor_ids): (Vec<Ident>, Vec<Vec<String>>) = pairs.into_iter().unzip();
    let before = script.count();
    let initial = run
        .service
        .resume_job(Kind::Email, "JE", pending_ids, vendor_ids)
        .unwrap();
    let (summary, reason) = run
        .go(&[], vec![initial], report, std::future::pending())
        .await;
    assert_eq!(reason, None);
    assert_eq!(summary.deleted, 2, "{summary:?}");
    let resumed: Vec<String> = script.arrivals()[before..]
        .iter()
        .map(|a| a.request.path_and_query.clone())
        .collect();
    assert_eq!(
        resumed[0],
        "/api/v2/users/show_many?ids=77,78,79&include=identities"
    );
    assert_eq!(resumed[1], "/api/v2/job_statuses/JE");
    assert!(!resumed.iter().any(|p| p.contains("search")), "{resumed:?}");
    let mut erased: Vec<&str> = resumed[2..].iter().map(String::as_str).collect();
    erased.sort();
    assert_eq!(
        erased,
        [
            "/api/v2/deleted_users/77",
            "/api/v2/deleted_users/78",
            "/api/v2/deleted_users/79"
        ]
    );
}

#[test]
fn a_pending_e_mail_without_user_ids_is_refused_on_resume() {
    let z = Zendesk::new(permanent());
    let ids = idents(&["ann@example.com".to_string()]);
    let err = z
        .resume_job(Kind::Email, "J9", ids.clone(), vec![vec![]])
        .unwrap_err()
        .to_string();
    assert!(err.contains("J9") && err.contains("-k id"), "{err}");
    assert!(z.resume_job(Kind::Id, "J9", ids, vec![vec![]]).is_ok());
}

#[tokio::test(start_paused = true)]
async fn gainsight_looks_e_mails_up_across_pages_then_deletes_each_user() {
    let script = Script::new(|_, r| {
        let q = r.path_and_query.as_str();
        if q.starts_with("/v1/users?") {
            let body = if q.contains("scrollId=") {
                json!({"users": [{"identifyId": "c-2", "email": "C@example.com"}], "scrollId": "s2"})
            } else {
                json!({"users": [
                    {"identifyId": "a-1", "email": "a@example.com"},
                    {"identifyId": "c-1", "email": "c@example.com"},
                    {"identifyId": "x-1", "email": "stranger@example.com"}],
                    "scrollId": "s1"})
            };
            return ok(200, &body.to_string());
        }
        if q.starts_with("/v1/users/b%40example.com") {
            // Not an identifyId either.
            return ok(404, r#"{"externalapierror":{"status":"NOT_FOUND"}}"#);
        }
        if q.starts_with("/v1/users/") {
            return ok(204, "");
        }
        panic!("unexpected {q}")
    });
    let ids: Vec<String> = ["a@example.com", "b@example.com", "c@example.com"]
        .map(String::from)
        .to_vec();
    let (summary, reason) = Run::new(GainsightPx::new(true), Kind::Email, &script)
        .all(&ids)
        .await;
    assert_eq!(reason, None);
    assert_eq!((summary.deleted, summary.not_found), (2, 1), "{summary:?}");
    let paths: Vec<String> = script
        .arrivals()
        .iter()
        .map(|a| a.request.path_and_query.clone())
        .collect();
    assert!(paths[0].contains("pageSize=3") && !paths[0].contains("scrollId"));
    assert!(
        paths[1].contains("scrollId=s1"),
        "a full page asks for the next"
    );
    let mut deletes: Vec<&str> = paths[2..].iter().map(String::as_str).collect();
    deletes.sort();
    assert_eq!(
        deletes,
        [
            "/v1/users/a-1?hardDelete=true",
            // No user has b@'s e-mail: it is tried as an identifyId.
            "/v1/users/b%40example.com?hardDelete=true",
            "/v1/users/c-1?hardDelete=true",
            "/v1/users/c-2?hardDelete=true"
        ],
        "the stranger on the page is not deleted"
    );
}

#[tokio::test(start_paused = true)]
async fn gainsight_keeps_its_32_requests_in_flight_against_a_slow_server() {
    let script = Script::new(|_, _| ok(204, "")).latency(Duration::from_millis(500));
    let ids: Vec<String> = (0..200).map(|i| format!("u{i}")).collect();
    let (summary, reason) = Run::new(GainsightPx::new(true), Kind::Id, &script)
        .all(&ids)
        .await;
    assert_eq!(reason, None);
    assert_eq!(summary.deleted, 200);
    // Each request is in flight for 500 ms from its arrival.
    let at: Vec<tokio::time::Instant> = script.arrivals().iter().map(|a| a.at).collect();
    let most = at
        .iter()
        .map(|a| {
            at.iter()
                .filter(|b| **b <= *a && *a - **b < Duration::from_millis(500))
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(most, crate::services::gainsight_px::DEFAULT_CONCURRENCY);
}

#[tokio::test(start_paused = true)]
async fn gainsight_tries_an_unmatched_e_mail_as_an_identify_id() {
    let script = Script::new(|_, r| {
        let q = r.path_and_query.as_str();
        if q.starts_with("/v1/users?") {
            return ok(200, r#"{"users": [], "scrollId": null}"#);
        }
        if q == "/v1/users/dan%40example.com?hardDelete=true" {
            return ok(204, "");
        }
        panic!("unexpected {q}")
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let (report, _) = Report::open(&path, false, "gainsight-px", Kind::Email, false).unwrap();
    let run = Run::new(GainsightPx::new(true), Kind::Email, &script);
    let (summary, _) = run
        .go(
            &["dan@example.com".to_string()],
            vec![],
            report,
            std::future::pending(),
        )
        .await;
    assert_eq!(summary.deleted, 1, "{summary:?}");
    let lines = report_lines(&path);
    assert_eq!(lines[0]["detail"], "permanent; identifyId dan@example.com");
}

#[test]
fn log_labels_carry_no_identifiers() {
    let w = Work::new(
        idents(&["ann smith"]),
        Request::new(Method::Delete, "/v1/users/ann%20smith?hardDelete=true"),
        Stage::Delete,
    );
    assert_eq!(Engine::label(3, &w), "#3 DELETE /v1/users/{id} (1 id)");
    let w = Work::new(
        idents(&["ann@example.com"]),
        Request::at(Method::Delete, "/api/v2/deleted_users/{id}", &["90210"]),
        Stage::Follow {
            todo: vec!["90210".into()],
            done: vec![],
            probe: false,
        },
    );
    assert_eq!(
        Engine::label(4, &w),
        "#4 DELETE /api/v2/deleted_users/{id} (1 id)"
    );
    let w = Work::new(
        idents(&["1", "2"]),
        Request::new(Method::Delete, "/api/v2/users/destroy_many?ids=1,2"),
        Stage::Delete,
    );
    assert_eq!(
        Engine::label(5, &w),
        "#5 DELETE /api/v2/users/destroy_many (2 ids)"
    );
}

/// Trap 7: one masking rule for the log label and the report's evidence:
/// the segments the adapter marked are `{id}`, fixed words of the API stay
/// whatever their characters (`data-deletions`, `v3.0`).
#[test]
fn the_label_and_the_evidence_mask_the_segments_the_adapter_marked() {
    let w = Work::new(
        idents(&["ann@example.com"]),
        Request::at(
            Method::Get,
            "/api/app/data-deletions/v3.0/{id}",
            &["5f0c-77/a"],
        )
        .query("token=PUBLIC"),
        Stage::Check,
    );
    assert_eq!(
        w.request.path_and_query,
        "/api/app/data-deletions/v3.0/5f0c-77%2Fa?token=PUBLIC"
    );
    assert_eq!(
        Engine::label(6, &w),
        "#6 GET /api/app/data-deletions/v3.0/{id} (1 id)"
    );
    let resp = Response {
        status: 503,
        body: "busy".into(),
    };
    let detail = &crate::services::verify_unanswered(&w, &resp)[0].detail;
    assert!(
        detail.contains("GET /api/app/data-deletions/v3.0/{id} answered 503"),
        "{detail}"
    );
    // A path of fixed words only is shown as it is.
    let w = Work::new(
        idents(&["ann@example.com"]),
        Request::new(Method::Post, "/api/app/data-deletions/v3.0/?token=PUBLIC"),
        Stage::Delete,
    );
    assert_eq!(
        Engine::label(7, &w),
        "#7 POST /api/app/data-deletions/v3.0/ (1 id)"
    );
}

/// A Braze workspace for the lookups: `ann@` has two profiles (one spelled in
/// capitals) and a near namesake, `bob@` none, `cy@` one; deletions by
/// `braze_ids` answer 201 with their count.
fn braze_profiles(r: &Request) -> Result<crate::http::RawResponse, crate::http::TransportError> {
    let body = r.body.clone().unwrap_or_default();
    match r.path_and_query.as_str() {
        "/users/export/ids" => {
            assert_eq!(body["fields_to_export"], json!(["braze_id", "email"]));
            let users = match body["email_address"].as_str().unwrap_or_default() {
                "ann@example.com" => json!([
                    {"braze_id": "b-ann-1", "email": "ann@example.com"},
                    {"braze_id": "b-ann-2", "email": "ANN@Example.com"},
                    {"braze_id": "b-anna", "email": "anna@example.com"}
                ]),
                "cy@example.com" => json!([{"braze_id": "b-cy", "email": "cy@example.com"}]),
                _ => json!([]),
            };
            ok(
                200,
                &json!({"users": users, "message": "success"}).to_string(),
            )
        }
        "/users/delete" => {
            let n = body["braze_ids"].as_array().map_or(0, Vec::len);
            ok(
                201,
                &json!({"deleted": n, "message": "success"}).to_string(),
            )
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn braze_looks_every_profile_of_an_address_up_and_deletes_each() {
    let script = Script::new(|_, r| braze_profiles(r));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let (report, _) = Report::open(&path, false, "braze", Kind::Email, false).unwrap();
    let run = Run::new(Braze::new(None, LOOKUP_QUOTA), Kind::Email, &script);
    let ids: Vec<String> = ["ann@example.com", "bob@example.com", "cy@example.com"]
        .map(String::from)
        .to_vec();
    let (summary, reason) = run.go(&ids, vec![], report, std::future::pending()).await;
    assert_eq!(reason, None);
    assert_eq!((summary.queued, summary.not_found), (2, 1), "{summary:?}");
    let arrivals = script.arrivals();
    let lookups: Vec<&Request> = arrivals
        .iter()
        .map(|a| &a.request)
        .filter(|r| r.path_and_query == "/users/export/ids")
        .collect();
    assert_eq!(lookups.len(), 3, "one address a lookup");
    assert!(lookups.iter().all(|r| r.lane == 1), "on the lookup lane");
    let deletes: Vec<&Request> = arrivals
        .iter()
        .map(|a| &a.request)
        .filter(|r| r.path_and_query == "/users/delete")
        .collect();
    // One deletion for the batch, by braze id: bob@ has nothing to delete, and
    // the near namesake is not touched.
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].lane, 0);
    assert_eq!(
        deletes[0].body,
        Some(json!({"braze_ids": ["b-ann-1", "b-ann-2", "b-cy"]}))
    );
    let lines = report_lines(&path);
    assert_eq!(lines.len(), 3, "one line each: {lines:?}");
    let by_id: HashMap<&str, &Value> = lines
        .iter()
        .map(|l| (l["id"].as_str().unwrap(), l))
        .collect();
    let ann = by_id["ann@example.com"];
    assert_eq!(ann["outcome"], "queued");
    assert_eq!(
        ann["detail"],
        "queued for deletion: braze_ids b-ann-1, b-ann-2"
    );
    assert_eq!(ann["vendor_ids"], json!(["b-ann-1", "b-ann-2"]));
    assert_eq!(
        by_id["cy@example.com"]["detail"],
        "queued for deletion: braze_id b-cy"
    );
    let bob = by_id["bob@example.com"];
    assert_eq!(bob["outcome"], "not_found");
    assert_eq!(bob["detail"], "no Braze profile with this e-mail address");
}

#[tokio::test(start_paused = true)]
async fn braze_lookups_keep_to_their_own_quota_and_deletions_do_not_wait_for_it() {
    let script = Script::new(|_, r| {
        let body = r.body.clone().unwrap_or_default();
        if r.path_and_query == "/users/export/ids" {
            let e = body["email_address"].as_str().unwrap_or_default();
            return ok(
                200,
                &json!({"users": [{"braze_id": format!("b-{e}"), "email": e}], "message": "success"})
                    .to_string(),
            );
        }
        let n = body["braze_ids"].as_array().map_or(0, Vec::len);
        ok(201, &json!({"deleted": n}).to_string())
    });
    // 60 a minute: one lookup a second.
    let run = Run::new(Braze::new(None, Rate::per_minute(60)), Kind::Email, &script);
    let (summary, reason) = run.all(&emails(30)).await;
    assert_eq!(reason, None);
    assert_eq!(summary.queued, 30, "{summary:?}");
    let arrivals = script.arrivals();
    let at = |path: &str| -> Vec<tokio::time::Instant> {
        arrivals
            .iter()
            .filter(|a| a.request.path_and_query == path)
            .map(|a| a.at)
            .collect()
    };
    let lookups = at("/users/export/ids");
    assert_eq!(lookups.len(), 30);
    let start = lookups[0];
    for pair in lookups.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(999),
            "lookups a second apart: {:?}",
            pair[1] - pair[0]
        );
    }
    let span = *lookups.last().unwrap() - start;
    assert!(
        span >= Duration::from_secs(29) && span < Duration::from_secs(31),
        "29 s for 30 lookups at 60/min: {span:?}"
    );
    // Three batches of 10, side by side: their deletions are gathered into
    // one request, sent as soon as the last lookup ends (nothing else is in
    // flight), not held for the gathering interval.
    let deletes = at("/users/delete");
    assert_eq!(deletes.len(), 1);
    assert!(deletes[0] - *lookups.last().unwrap() < Duration::from_millis(100));
    let delete = arrivals
        .iter()
        .find(|a| a.request.path_and_query == "/users/delete")
        .unwrap();
    assert_eq!(body_list(&delete.request, "braze_ids").len(), 30);
}

/// Braze lookups that find one profile (`b-` and the address) for every
/// address, answered at once, except `slow`, answered after `delay`.
fn braze_one_profile_each(slow: &'static str, delay: Duration) -> Script {
    let slow_seq: Arc<Mutex<Option<usize>>> = Arc::default();
    let seen = Arc::clone(&slow_seq);
    Script::new(move |n, r| {
        let body = r.body.clone().unwrap_or_default();
        if r.path_and_query == "/users/export/ids" {
            let e = body["email_address"].as_str().unwrap_or_default();
            if e == slow {
                *seen.lock().unwrap() = Some(n);
            }
            let users = json!([{"braze_id": format!("b-{e}"), "email": e}]);
            return ok(200, &json!({ "users": users }).to_string());
        }
        let n = body["braze_ids"].as_array().map_or(0, Vec::len);
        ok(201, &json!({ "deleted": n }).to_string())
    })
    .latency_of(move |n| {
        if *slow_seq.lock().unwrap() == Some(n) {
            delay
        } else {
            Duration::ZERO
        }
    })
}

#[tokio::test(start_paused = true)]
async fn braze_gathers_deletions_across_lookups_50_braze_ids_a_request() {
    let script = braze_one_profile_each("", Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let (report, _) = Report::open(&path, false, "braze", Kind::Email, false).unwrap();
    let run = Run::new(
        Braze::new(None, Rate::per_minute(100_000)),
        Kind::Email,
        &script,
    );
    let ids = emails(120);
    let (summary, reason) = run.go(&ids, vec![], report, std::future::pending()).await;
    assert_eq!(reason, None);
    assert_eq!(summary.queued, 120, "{summary:?}");
    let deletes: Vec<Vec<String>> = script
        .arrivals()
        .iter()
        .filter(|a| a.request.path_and_query == "/users/delete")
        .map(|a| body_list(&a.request, "braze_ids"))
        .collect();
    // 12 lookup batches of 10, 120 braze ids: ceil(120 / 50) = 3 requests
    // (one a batch before: 12).
    let sizes: Vec<usize> = deletes.iter().map(Vec::len).collect();
    assert_eq!(sizes, [50, 50, 20]);
    let mut all: Vec<String> = deletes.concat();
    all.sort();
    let mut want: Vec<String> = ids.iter().map(|e| format!("b-{e}")).collect();
    want.sort();
    assert_eq!(all, want, "every profile found deleted once");
    // Each person's line names their own profile and the request that erased
    // it: the lines of one request number are exactly one delete's profiles.
    let lines = report_lines(&path);
    assert_eq!(lines.len(), 120);
    let mut by_request: HashMap<u64, Vec<String>> = HashMap::new();
    for l in &lines {
        let e = l["id"].as_str().unwrap();
        assert_eq!(l["detail"], format!("queued for deletion: braze_id b-{e}"));
        assert_eq!(l["vendor_ids"], json!([format!("b-{e}")]));
        let seq = l["request"].as_u64().unwrap();
        by_request.entry(seq).or_default().push(format!("b-{e}"));
    }
    let mut groups: Vec<Vec<String>> = by_request.into_values().collect();
    let mut sent = deletes.clone();
    for g in groups.iter_mut().chain(sent.iter_mut()) {
        g.sort();
    }
    groups.sort();
    sent.sort();
    assert_eq!(groups, sent);
}

#[tokio::test(start_paused = true)]
async fn braze_gathered_deletions_go_after_the_interval_short_of_50() {
    // Batch 2 (user10) is looked up at once; batch 1 waits a minute on user4.
    let script = braze_one_profile_each("user4@example.com", Duration::from_secs(60));
    let run = Run::new(Braze::new(None, LOOKUP_QUOTA), Kind::Email, &script);
    let within = run.service.gathering(Kind::Email).unwrap().within;
    assert_eq!(within, Duration::from_secs(12), "50 lookups at 250/min");
    let (summary, reason) = run.all(&emails(11)).await;
    assert_eq!(reason, None);
    assert_eq!(summary.queued, 11, "{summary:?}");
    let arrivals = script.arrivals();
    let deletes: Vec<&crate::http::script::Arrival> = arrivals
        .iter()
        .filter(|a| a.request.path_and_query == "/users/delete")
        .collect();
    assert_eq!(deletes.len(), 2);
    // user10's profile goes alone, the interval after its lookup, while
    // batch 1 is still waiting: fewer than 50 are not held back longer.
    let found = arrivals
        .iter()
        .find(|a| a.request.body.as_ref().unwrap()["email_address"] == "user10@example.com")
        .unwrap();
    assert_eq!(
        body_list(&deletes[0].request, "braze_ids"),
        ["b-user10@example.com"]
    );
    let held = deletes[0].at - found.at;
    assert!(
        held >= within && held < within + Duration::from_millis(50),
        "{held:?}"
    );
    assert!(deletes[0].at - arrivals[0].at < Duration::from_secs(60));
    // Batch 1's ten go together once its lookups end.
    assert_eq!(body_list(&deletes[1].request, "braze_ids").len(), 10);
}

#[tokio::test(start_paused = true)]
async fn braze_a_429_on_the_lookup_lane_is_waited_out_to_its_reset() {
    let start = tokio::time::Instant::now();
    let wall = move || 1_700_000_000 + start.elapsed().as_secs();
    let script = Script::new(move |n, r| {
        let body = r.body.clone().unwrap_or_default();
        if r.path_and_query == "/users/export/ids" {
            if n == 2 {
                // The workspace's window is spent: Braze says so in its headers
                // only (no Retry-After), until a reset 30 s on.
                return Ok(answer(
                    429,
                    &[
                        ("x-ratelimit-limit", "250".into()),
                        ("x-ratelimit-remaining", "0".into()),
                        ("x-ratelimit-reset", (wall() + 30).to_string()),
                    ],
                    r#"{"message":"Too many requests"}"#,
                ));
            }
            let e = body["email_address"].as_str().unwrap_or_default();
            return ok(
                200,
                &json!({"users": [{"braze_id": format!("b-{e}"), "email": e}]}).to_string(),
            );
        }
        let n = body["braze_ids"].as_array().map_or(0, Vec::len);
        ok(201, &json!({"deleted": n}).to_string())
    });
    let run = Run::new(Braze::new(None, LOOKUP_QUOTA), Kind::Email, &script);
    let (summary, reason) = run.all(&emails(5)).await;
    assert_eq!(reason, None);
    assert_eq!((summary.queued, summary.failed), (5, 0), "{summary:?}");
    assert_eq!(summary.throttled, 1);
    let arrivals = script.arrivals();
    assert_eq!(arrivals[2].status, Some(429));
    // Nothing goes to the lookup lane before the reset; then the rest follow.
    let after: Vec<&crate::http::script::Arrival> = arrivals[3..]
        .iter()
        .filter(|a| a.request.path_and_query == "/users/export/ids")
        .collect();
    assert_eq!(after.len(), 3, "the throttled lookup again, and two more");
    assert!(
        after
            .iter()
            .all(|a| a.at - arrivals[2].at >= Duration::from_secs(29)),
        "{:?}",
        after
            .iter()
            .map(|a| a.at - arrivals[2].at)
            .collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn braze_an_interrupted_lookup_run_resumes_without_losing_or_doubling_anyone() {
    let deleted: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let d = Arc::clone(&deleted);
    let script = Script::new(move |_, r| {
        let body = r.body.clone().unwrap_or_default();
        if r.path_and_query == "/users/export/ids" {
            let e = body["email_address"].as_str().unwrap_or_default();
            // Every third address has no profile, the others two each.
            let n: usize = e
                .trim_start_matches("user")
                .split('@')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let gone = |b: &String| d.lock().unwrap().contains_key(b);
            let users: Vec<Value> = if n % 3 == 2 {
                vec![]
            } else {
                [format!("b{n}-1"), format!("b{n}-2")]
                    .into_iter()
                    .filter(|b| !gone(b))
                    .map(|b| json!({"braze_id": b, "email": e}))
                    .collect()
            };
            return ok(200, &json!({"users": users}).to_string());
        }
        let list: Vec<String> = body_list(r, "braze_ids");
        for b in &list {
            *d.lock().unwrap().entry(b.clone()).or_default() += 1;
        }
        ok(201, &json!({"deleted": list.len()}).to_string())
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let ids = emails(60);
    let run = Run::new(Braze::new(None, LOOKUP_QUOTA), Kind::Email, &script);
    let (report, _) = Report::open(&path, false, "braze", Kind::Email, false).unwrap();
    // 250/min: about 37 lookups in 9 s, in the middle of the batches.
    let (_, reason) = run
        .go(&ids, vec![], report, async {
            tokio::time::sleep(Duration::from_secs(9)).await;
            Signal::Interrupt
        })
        .await;
    assert_eq!(reason, Some(StopReason::Interrupted(Signal::Interrupt)));
    let first = report_lines(&path);
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for l in &first {
        *per_id
            .entry(l["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), 60, "every address has a line");
    assert!(
        per_id.values().all(|n| *n == 1),
        "one line each: {per_id:?}"
    );
    let settled = first.iter().filter(|l| l["outcome"] != "failed").count();
    assert!(
        settled > 0 && settled < 60,
        "{settled} settled before the interrupt"
    );

    // Resume: the settled are skipped, the rest looked up (again) and deleted.
    let (report, prior) = Report::open(&path, true, "braze", Kind::Email, false).unwrap();
    let open: Vec<String> = idents(&ids)
        .into_iter()
        .filter(|i| prior.status_of(i) == PriorState::Open)
        .map(|i| i.value)
        .collect();
    assert_eq!(open.len(), 60 - settled);
    let (summary, reason) = run.go(&open, vec![], report, std::future::pending()).await;
    assert_eq!(reason, None);
    assert_eq!(summary.failed, 0, "{summary:?}");
    let last: HashMap<String, String> = report_lines(&path)
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_string(),
                l["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(last.len(), 60);
    assert_eq!(last.values().filter(|o| *o == "queued").count(), 40);
    assert_eq!(last.values().filter(|o| *o == "not_found").count(), 20);
    let deleted = deleted.lock().unwrap();
    assert_eq!(deleted.len(), 80, "both profiles of each of the 40");
    assert!(deleted.values().all(|n| *n == 1), "none deleted twice");
}
