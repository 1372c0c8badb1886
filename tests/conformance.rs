//! The conformance suite: one generic set of behaviours every vendor adapter
//! must show on the wire — chunking at its batch limit, 429 + `Retry-After`
//! retried, 5xx retries, 401 → exit 3, dry-run sends nothing, and a complete
//! report. Waits and windows are proved under virtual time in the library's
//! tests (`http::lane::tests`, `services::tests` for each vendor's headers). Each vendor is a [`Case`]; `conformance!`
//! instantiates the suite for it.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What the suite needs to know about a vendor.
pub struct Case {
    /// Subcommand and vendor options (the harness adds `--base-url`).
    pub args: &'static [&'static str],
    /// Credential environment.
    pub env: &'static [(&'static str, &'static str)],
    /// The auth header every request must carry.
    pub auth: (&'static str, &'static str),
    pub limit: usize,
    pub ids: fn(usize) -> Vec<String>,
    /// The identifiers a delete request carried (empty: not a delete).
    pub carried: fn(&Seen) -> Vec<String>,
    /// The vendor's success answer to any of its requests.
    pub ok: fn(&wiremock::Request) -> ResponseTemplate,
    /// The final outcome of a success.
    pub done: &'static str,
}

async fn server_with<F>(rec: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(rec).mount(&server).await;
    server
}

async fn purge(
    case: &Case,
    dir: &std::path::Path,
    server: &MockServer,
    ids: &[String],
    extra: &[&str],
) -> std::process::Output {
    let input = write_file(dir, "ids.txt", &ids.join("\n"));
    let uri = server.uri();
    let mut args: Vec<&str> = case.args.to_vec();
    args.extend([
        "--yes",
        "--format",
        "lines",
        "-i",
        input.to_str().unwrap(),
        "--base-url",
        &uri,
        "--report",
        "r.jsonl",
    ]);
    args.extend(extra);
    run(dir, &args, case.env).await
}

fn deletes(case: &Case, seen: &[Seen]) -> Vec<Seen> {
    seen.iter()
        .filter(|s| !(case.carried)(s).is_empty())
        .cloned()
        .collect()
}

pub async fn chunks_at_the_batch_limit_and_reports_every_id(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let ok = case.ok;
    let rec = Recorder::new(move |_, r| ok(r));
    let server = server_with(rec.clone()).await;
    let ids = (case.ids)(2 * case.limit + 1);
    let out = purge(&case, dir.path(), &server, &ids, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    for s in &seen {
        assert_eq!(
            s.headers.get(case.auth.0).map(String::as_str),
            Some(case.auth.1),
            "auth on {} {}",
            s.method,
            s.path
        );
    }
    let dels = deletes(&case, &seen);
    let mut sizes: Vec<usize> = dels.iter().map(|s| (case.carried)(s).len()).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut want = vec![case.limit; 2];
    want.push(1);
    if case.limit == 1 {
        want = vec![1; 3];
    }
    assert_eq!(sizes, want, "requests carry at most the batch limit");
    let sent: Vec<String> = dels.iter().flat_map(|s| (case.carried)(s)).collect();
    assert_eq!(sent.len(), ids.len(), "each identifier sent once");
    assert_eq!(
        sent.iter().collect::<HashSet<_>>(),
        ids.iter().collect::<HashSet<_>>()
    );
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let finals: Vec<_> = lines.iter().filter(|l| l["outcome"] != "pending").collect();
    assert_eq!(finals.len(), ids.len(), "one final line per identifier");
    assert!(
        finals.iter().all(|l| l["outcome"] == case.done),
        "{finals:?}"
    );
}

pub async fn honours_retry_after_on_429(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let ok = case.ok;
    let carried = case.carried;
    let rec = Recorder::new(move |n, r| {
        if n == 0 {
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_string("Too Many Requests")
        } else {
            ok(r)
        }
    });
    let server = server_with(rec.clone()).await;
    let ids = (case.ids)(1);
    let out = purge(&case, dir.path(), &server, &ids, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    // The first request (the delete, or the lookup before it) is sent again.
    let again = seen
        .iter()
        .skip(1)
        .find(|s| {
            s.method == seen[0].method
                && s.path == seen[0].path
                && s.query == seen[0].query
                && s.body == seen[0].body
        })
        .expect("the throttled request is sent again");
    assert!(
        seen.iter().any(|s| !carried(s).is_empty()),
        "the delete went after the wait"
    );
    // How long it waited is proved under virtual time (`http::lane::tests`).
    let same = seen
        .iter()
        .filter(|s| {
            s.method == again.method
                && s.path == again.path
                && s.query == again.query
                && s.body == again.body
        })
        .count();
    assert_eq!(same, 2, "exactly one retry");
}

pub async fn retries_server_errors(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let ok = case.ok;
    let rec = Recorder::new(move |n, r| match n {
        0 => ResponseTemplate::new(503)
            .set_body_string("<html><body>Service Unavailable</body></html>"),
        1 => ResponseTemplate::new(502),
        _ => ok(r),
    });
    let server = server_with(rec.clone()).await;
    let ids = (case.ids)(2);
    let out = purge(&case, dir.path(), &server, &ids, &["--concurrency", "1"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let finals: Vec<_> = lines.iter().filter(|l| l["outcome"] != "pending").collect();
    assert_eq!(finals.len(), 2);
    assert!(
        finals.iter().all(|l| l["outcome"] == case.done),
        "{finals:?}"
    );
    assert!(stderr(&out).contains("2 retries"), "{}", stderr(&out));
}

pub async fn unauthorized_stops_with_exit_3(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(401).set_body_json(json!({"message": "Invalid API key"}))
    });
    let server = server_with(rec.clone()).await;
    let ids = (case.ids)(3 * case.limit);
    let out = purge(&case, dir.path(), &server, &ids, &["--concurrency", "1"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(rec.seen().len(), 1, "nothing is sent after a 401");
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), ids.len(), "every identifier recorded");
    assert!(lines.iter().all(|l| l["outcome"] == "failed"));
    let not_attempted = lines
        .iter()
        .filter(|l| {
            l["detail"]
                .as_str()
                .unwrap_or_default()
                .starts_with("not attempted")
        })
        .count();
    assert_eq!(
        not_attempted,
        ids.len() - case.limit,
        "the rest are reported not attempted"
    );
    assert!(
        stderr(&out).contains("credential was refused"),
        "{}",
        stderr(&out)
    );
}

pub async fn dry_run_sends_nothing(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let ids = (case.ids)(case.limit + 1);
    let input = write_file(dir.path(), "ids.txt", &ids.join("\n"));
    let uri = server.uri();
    let mut args: Vec<&str> = case.args.to_vec();
    args.extend([
        "--dry-run",
        "--format",
        "lines",
        "-i",
        input.to_str().unwrap(),
        "--base-url",
        &uri,
    ]);
    // No credential: a dry run needs none.
    let out = run(dir.path(), &args, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let want = if case.limit == 1 { ids.len() } else { 2 };
    assert!(text.lines().count() >= want, "{text}");
    assert!(text.lines().all(|l| l.contains(&uri)), "{text}");
    for id in &ids {
        let shown = text.contains(id.as_str()) || text.contains(&id.replace('@', "%40"));
        assert!(shown, "{id} is in the plan");
    }
    server.verify().await;
}

/// The tests every vendor runs, as items of the vendor's module.
macro_rules! shared_tests {
    ($case:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn chunks_at_the_batch_limit_and_reports_every_id() {
            super::chunks_at_the_batch_limit_and_reports_every_id($case).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn honours_retry_after_on_429() {
            super::honours_retry_after_on_429($case).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn retries_server_errors() {
            super::retries_server_errors($case).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn unauthorized_stops_with_exit_3() {
            super::unauthorized_stops_with_exit_3($case).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn dry_run_sends_nothing() {
            super::dry_run_sends_nothing($case).await
        }
    };
}

macro_rules! conformance {
    ($vendor:ident, $case:expr) => {
        mod $vendor {
            #[allow(unused_imports)]
            use super::*;
            shared_tests!($case);
        }
    };
}

fn list_in_body(s: &Seen, field: &str) -> Vec<String> {
    if s.method != "POST" {
        return vec![];
    }
    body_list(&s.body, field)
}

fn list_len(r: &wiremock::Request, field: &str) -> usize {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|b| b[field].as_array().map(Vec::len))
        .unwrap_or(0)
}

fn rally() -> Case {
    Case {
        args: &["rally"],
        env: &[("RALLY_API_TOKEN", "conf-rally-token")],
        auth: ("authorization", "Bearer conf-rally-token"),
        limit: 100,
        ids: emails,
        carried: |s| {
            if s.path == "/people/delete" {
                list_in_body(s, "emails")
            } else {
                vec![]
            }
        },
        ok: |r| {
            ResponseTemplate::new(202).set_body_json(
                json!({"message": "People marked for deletion", "count": list_len(r, "emails")}),
            )
        },
        done: "queued",
    }
}

fn braze() -> Case {
    Case {
        args: &["braze"],
        env: &[("BRAZE_API_KEY", "conf-braze-key")],
        auth: ("authorization", "Bearer conf-braze-key"),
        limit: 50,
        ids: |n| (0..n).map(|i| format!("ext-{i}")).collect(),
        carried: |s| {
            if s.path == "/users/delete" {
                list_in_body(s, "external_ids")
            } else {
                vec![]
            }
        },
        ok: |r| {
            ResponseTemplate::new(201).set_body_json(
                json!({"deleted": list_len(r, "external_ids"), "message": "success"}),
            )
        },
        done: "queued",
    }
}

/// The identifyId a Gainsight PX delete carried, from its path or its body.
fn gainsight_deleted(s: &Seen) -> Vec<String> {
    if s.method != "DELETE" {
        return vec![];
    }
    if s.path == "/v1/users/delete" {
        return s.body["identifyId"]
            .as_str()
            .map(|v| vec![v.to_string()])
            .unwrap_or_default();
    }
    s.path
        .strip_prefix("/v1/users/")
        .map(|seg| {
            vec![
                percent_encoding::percent_decode_str(seg)
                    .decode_utf8_lossy()
                    .into_owned(),
            ]
        })
        .unwrap_or_default()
}

fn gainsight_px() -> Case {
    Case {
        args: &["gainsight-px"],
        env: &[("GAINSIGHT_PX_API_KEY", "conf-gpx-key")],
        auth: ("x-aptrinsic-api-key", "conf-gpx-key"),
        limit: 1,
        ids: |n| (0..n).map(|i| format!("user-{i}")).collect(),
        carried: gainsight_deleted,
        ok: |_| ResponseTemplate::new(204),
        done: "deleted",
    }
}

/// The user ids a Zendesk `destroy_many` carried.
fn zendesk_submitted(s: &Seen) -> Vec<String> {
    if s.method != "DELETE" || s.path != "/api/v2/users/destroy_many" {
        return vec![];
    }
    query_list(s, "ids")
}

fn zendesk() -> Case {
    Case {
        // Soft: 1,200 permanent erasures would take 7 minutes at Zendesk's
        // 700 per 10 minutes; that lane is tested in zendesk.rs.
        args: &["zendesk", "--soft"],
        env: &[
            ("ZENDESK_EMAIL", "agent@example.com"),
            ("ZENDESK_API_TOKEN", "conf-zd-token"),
        ],
        // base64("agent@example.com/token:conf-zd-token")
        auth: (
            "authorization",
            "Basic YWdlbnRAZXhhbXBsZS5jb20vdG9rZW46Y29uZi16ZC10b2tlbg==",
        ),
        limit: 100,
        ids: |n| (0..n).map(|i| (1_000_000 + i).to_string()).collect(),
        carried: zendesk_submitted,
        ok: stateless_zendesk,
        done: "deleted",
    }
}

conformance!(rally_uxr, rally());
conformance!(zendesk_jobs, zendesk());
conformance!(gainsight, gainsight_px());
conformance!(braze_users, braze());
