//! The conformance suite: one generic set of behaviours every vendor adapter
//! must show on the wire — chunking at its batch limit, 429 + `Retry-After`
//! retried, 5xx retries, 401 → exit 3, dry-run sends nothing, and a complete
//! report. Waits and windows are proved under virtual time in the library's
//! tests (`http::lane::tests`, `services::tests` for each vendor's headers).
//! Every vendor of `purge::services::REGISTRY` is run: each brings its case
//! ([`Case`]) with its simulated API (`examples/sim/<vendor>.rs`), so no list
//! is kept here.

mod common;
mod simulated;

use std::collections::HashSet;
use std::future::Future;

use common::*;
use serde_json::json;
use simulated::Vendor;
use simulated::sim::{Asked, Conformance as Case};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A recorded request as the vendor's simulated API reads it.
fn carried(case: &Case, s: &Seen) -> Vec<String> {
    let headers = hyper::HeaderMap::new();
    (case.carried)(&Asked {
        method: &s.method,
        path: &s.path,
        query: &s.query,
        headers: &headers,
        body: &s.body,
    })
}

/// The vendor's success answer to a request, as wiremock sends it.
fn ok(case: &Case, r: &wiremock::Request) -> ResponseTemplate {
    let headers = hyper::HeaderMap::new();
    let body = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    let (status, answer) = (case.ok)(&Asked {
        method: r.method.as_str(),
        path: r.url.path(),
        query: r.url.query().unwrap_or_default(),
        headers: &headers,
        body: &body,
    });
    let t = ResponseTemplate::new(status);
    match answer {
        Some(v) => t.set_body_json(v),
        None => t,
    }
}

/// Runs `check` for every vendor of the registry (each brings its case with its
/// simulated API), all at once; a failure names the vendor.
async fn every_vendor<F, Fut>(check: F)
where
    F: Fn(Case) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runs: Vec<_> = Vendor::all()
        .into_iter()
        .map(|v| (v, tokio::spawn(check(v.api().conformance()))))
        .collect();
    let mut failed = vec![];
    for (v, run) in runs {
        if run.await.is_err() {
            failed.push(v.command());
        }
    }
    assert!(
        failed.is_empty(),
        "failed for: {failed:?} (their panics are above)"
    );
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
        .filter(|s| !carried(case, s).is_empty())
        .cloned()
        .collect()
}

async fn chunks_at_the_batch_limit_and_reports_every_id(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(move |_, r| ok(&case, r));
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
    let mut sizes: Vec<usize> = dels.iter().map(|s| carried(&case, s).len()).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut want = vec![case.limit; 2];
    want.push(1);
    if case.limit == 1 {
        want = vec![1; 3];
    }
    assert_eq!(sizes, want, "requests carry at most the batch limit");
    let sent: Vec<String> = dels.iter().flat_map(|s| carried(&case, s)).collect();
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

async fn honours_retry_after_on_429(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(move |n, r| {
        if n == 0 {
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_string("Too Many Requests")
        } else {
            ok(&case, r)
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
        seen.iter().any(|s| !carried(&case, s).is_empty()),
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

async fn retries_server_errors(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(move |n, r| match n {
        0 => ResponseTemplate::new(503)
            .set_body_string("<html><body>Service Unavailable</body></html>"),
        // A 502 may have been processed: a vendor task's create is not sent again after it.
        1 if case.once => ResponseTemplate::new(503),
        1 => ResponseTemplate::new(502),
        _ => ok(&case, r),
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

async fn unauthorized_stops_with_exit_3(case: Case) {
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

async fn dry_run_sends_nothing(case: Case) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_chunks_at_its_batch_limit_and_reports_every_id() {
    every_vendor(chunks_at_the_batch_limit_and_reports_every_id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_honours_retry_after_on_429() {
    every_vendor(honours_retry_after_on_429).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_retries_server_errors() {
    every_vendor(retries_server_errors).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_stops_on_a_refused_credential_with_exit_3() {
    every_vendor(unauthorized_stops_with_exit_3).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_dry_run_sends_nothing() {
    every_vendor(dry_run_sends_nothing).await
}
