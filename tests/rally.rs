//! `purge rally` end to end against a wiremock Rally on 127.0.0.1 (the shared
//! behaviours — 429, rate headers, 5xx, 401, dry-run — are in `conformance.rs`).

mod common;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use common::*;
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "rally-SECRET-token-7f3a9c";

fn accepted(req: &wiremock::Request) -> ResponseTemplate {
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let n = body["emails"]
        .as_array()
        .or(body["personIds"].as_array())
        .map_or(0, Vec::len);
    ResponseTemplate::new(202)
        .set_body_json(json!({"message": "People marked for deletion", "count": n}))
}

async fn rally_mock<F>(recorder: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    json_post_endpoint("/people/delete", TOKEN, recorder).await
}

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("RALLY_API_TOKEN", TOKEN)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_with_duplicates_and_invalid_rows_is_chunked_100_100_50() {
    let dir = tempfile::tempdir().unwrap();
    let all = emails(250);
    let mut csv = String::from("name,Email\n");
    for (i, e) in all.iter().enumerate() {
        csv.push_str(&format!("\"Person, {i}\",{e}\n"));
    }
    csv.push_str("dup,user1@example.com\n");
    csv.push_str("dup,USER2@Example.com\n");
    csv.push_str("dup,user3@example.com\n");
    csv.push_str("bad,not-an-email\n");
    csv.push_str("bad,two@@example.com\n");
    let input = write_file(dir.path(), "people.csv", &csv);

    let rec = Recorder::new(|_, r| accepted(r));
    let server = rally_mock(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "rally",
            "--yes",
            "-i",
            input.to_str().unwrap(),
            "--report",
            "report.jsonl",
            "--base-url",
            &server.uri(),
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let mut seen = rec.seen();
    assert_eq!(seen.len(), 3, "exactly three requests");
    seen.sort_by_key(|s| body_list(&s.body, "emails").first().cloned());
    let mut sent: Vec<Vec<String>> = seen.iter().map(|s| body_list(&s.body, "emails")).collect();
    sent.sort_by_key(|b| std::cmp::Reverse(b.len()));
    let sizes: Vec<usize> = sent.iter().map(Vec::len).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let mut flat: Vec<String> = sent.concat();
    flat.sort();
    let mut want = all.clone();
    want.sort();
    assert_eq!(
        flat, want,
        "every distinct e-mail sent once, first spelling"
    );
    // Batches keep input order.
    let ordered: Vec<Vec<String>> = all.chunks(100).map(<[String]>::to_vec).collect();
    for b in &sent {
        assert!(
            ordered.contains(b),
            "a batch is a contiguous slice of the input"
        );
    }

    let lines = report_lines(&dir.path().join("report.jsonl"));
    assert_eq!(lines.len(), 252);
    let queued = lines.iter().filter(|l| l["outcome"] == "queued").count();
    let invalid: Vec<_> = lines.iter().filter(|l| l["outcome"] == "invalid").collect();
    assert_eq!(queued, 250);
    assert_eq!(invalid.len(), 2);
    assert!(
        invalid[0]["detail"]
            .as_str()
            .unwrap()
            .contains("people.csv:255"),
        "{}",
        invalid[0]
    );
    for l in &lines {
        assert_eq!(l["vendor"], "rally");
        assert_eq!(l["kind"], "email");
        assert!(l["at"].as_str().unwrap().ends_with('Z'));
    }
    assert!(
        lines
            .iter()
            .filter(|l| l["outcome"] == "queued")
            .all(|l| l["http_status"] == 202)
    );
    let err = stderr(&out);
    assert!(err.contains("3 duplicates dropped"), "{err}");
    // People, not vendor records: 252 people at Rally (250 + 2 invalid rows).
    assert!(
        err.contains("purge rally: 252 people (email): 250 queued, 2 invalid"),
        "{err}"
    );
    assert!(
        err.contains("250 queued") && err.contains("2 invalid"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_as_http_date_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|n, r| {
        if n == 0 {
            let at = SystemTime::now() + Duration::from_secs(2);
            ResponseTemplate::new(429)
                .insert_header("Retry-After", httpdate::fmt_http_date(at).as_str())
        } else {
            accepted(r)
        }
    });
    let server = rally_mock(rec.clone()).await;
    let out = run(
        dir.path(),
        &["rally", "-y", "a@example.com", "--base-url", &server.uri()],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    // Retried once; the wait itself is proved under virtual time
    // (`http::lane::tests::retry_after_as_an_http_date_pauses_every_worker`).
    assert_eq!(seen.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_exhausted_end_failed_with_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let rec =
        Recorder::new(|_, _| ResponseTemplate::new(503).set_body_string("Service Unavailable"));
    let server = rally_mock(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "rally",
            "-y",
            "a@example.com",
            "--max-retries",
            "2",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(rec.seen().len(), 3, "first attempt plus two retries");
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines[0]["outcome"], "failed");
    assert_eq!(lines[0]["http_status"], 503);
    assert!(
        lines[0]["detail"].as_str().unwrap().contains("3 attempts"),
        "{}",
        lines[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_is_split_until_the_bad_identifier_is_alone() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "blocked@example.org";
    let rec = Recorder::new(move |_, r| {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let list = body_list(&body, "emails");
        match list.iter().position(|e| e == bad) {
            Some(i) => ResponseTemplate::new(400).set_body_json(
                json!({"errors": [{"message": "Invalid email", "path": ["emails", i]}]}),
            ),
            None => accepted(r),
        }
    });
    let server = rally_mock(rec.clone()).await;
    let mut ids = emails(7);
    ids.insert(5, bad.to_string());
    let uri = server.uri();
    let mut args = vec!["rally", "-y", "--base-url", &uri, "--report", "r.jsonl"];
    args.extend(ids.iter().map(String::as_str));
    let out = run(dir.path(), &args, &env()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // 8 → 4+4 → 2+2 (the bad half) → 1+1.
    assert_eq!(rec.seen().len(), 7);
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 8);
    for l in &lines {
        if l["id"] == bad {
            assert_eq!(l["outcome"], "failed");
            assert_eq!(l["http_status"], 400);
            assert!(
                l["detail"].as_str().unwrap().contains("Invalid email"),
                "{l}"
            );
        } else {
            assert_eq!(l["outcome"], "queued", "{l}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_sends_nothing_and_prints_the_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&server)
        .await;
    let input = write_file(dir.path(), "list.txt", &emails(150).join("\n"));
    // No credential in the environment: a dry run needs none.
    let out = run(
        dir.path(),
        &[
            "rally",
            "--dry-run",
            "-i",
            input.to_str().unwrap(),
            "--base-url",
            &server.uri(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let url = format!("POST {}/people/delete ", server.uri());
    assert!(lines[0].starts_with(&url), "{}", lines[0]);
    let body: serde_json::Value = serde_json::from_str(&lines[1][url.len()..]).unwrap();
    assert_eq!(body_list(&body, "emails"), emails(150)[100..].to_vec());
    assert!(stderr(&out).contains("nothing was sent"));
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_ids_use_the_person_ids_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/people/delete"))
        .and(body_json(
            json!({"personIds": ["cm0b4eokq000vbbsimwelll3u", "p-2"]}),
        ))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(json!({"message": "ok", "count": 2})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let out = run(
        dir.path(),
        &[
            "rally",
            "-y",
            "-k",
            "id",
            "cm0b4eokq000vbbsimwelll3u",
            "p-2",
            "--base-url",
            &server.uri(),
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_run_resumes_without_resending_finished_batches() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| accepted(r).set_delay(Duration::from_millis(250)));
    let server = rally_mock(rec.clone()).await;
    let all = emails(1000);
    let input = write_file(dir.path(), "list.txt", &all.join("\n"));
    let report = dir.path().join("r.jsonl");
    let uri = server.uri();
    let args = [
        "rally",
        "-y",
        "--concurrency",
        "1",
        "-i",
        input.to_str().unwrap(),
        "--base-url",
        &uri,
        "--report",
        report.to_str().unwrap(),
    ];
    let mut child = command(dir.path(), &args, &env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once three batches are recorded.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while whole_lines(&report) < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first: Vec<String> = rec
        .seen()
        .iter()
        .flat_map(|s| body_list(&s.body, "emails"))
        .collect();
    let done_before = last_outcomes(&report).len();
    assert!(done_before < 1000, "killed before the end");
    let before = rec.seen().len();

    let mut resume_args = args.to_vec();
    resume_args.push("--resume");
    let out = run(dir.path(), &resume_args, &env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let second: Vec<String> = rec.seen()[before..]
        .iter()
        .flat_map(|s| body_list(&s.body, "emails"))
        .collect();
    let first: HashSet<String> = first.into_iter().collect();
    let again: Vec<&String> = second.iter().filter(|e| first.contains(*e)).collect();
    assert!(
        again.len() <= 100,
        "only the batch in flight at the kill is sent again ({})",
        again.len()
    );
    let outcomes = last_outcomes(&report);
    assert_eq!(outcomes.len(), 1000);
    assert!(outcomes.values().all(|o| o == "queued"));
    assert!(stderr(&out).contains("skipped"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_never_appears_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|n, r| {
        if n == 0 {
            ResponseTemplate::new(500).set_body_string("oops")
        } else {
            accepted(r)
        }
    });
    let server = rally_mock(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "rally",
            "-y",
            "-vvv",
            "a@example.com",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
            "--json",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        rec.seen()[0].headers["authorization"],
        format!("Bearer {TOKEN}")
    );
    let report = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
    for (name, text) in [
        ("stdout", stdout(&out)),
        ("stderr", stderr(&out)),
        ("report", report),
    ] {
        assert!(
            !text.contains(TOKEN),
            "the token leaked into {name}: {text}"
        );
        assert!(
            !text.contains("7f3a9c"),
            "part of the token leaked into {name}"
        );
    }
    assert!(
        stderr(&out).contains("POST /people/delete"),
        "-vv logs requests: {}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_is_read_and_sent_as_the_bearer_token() {
    // The mock answers only `Authorization: Bearer TOKEN`; anything else is a 404 (exit 3).
    let dir = tempfile::tempdir().unwrap();
    let server = rally_mock(Recorder::new(|_, r| accepted(r))).await;
    let tf = write_file(dir.path(), "token", &format!("{TOKEN}\n"));
    let out = run(
        dir.path(),
        &[
            "rally",
            "-y",
            "a@example.com",
            "--token-file",
            tf.to_str().unwrap(),
            "--base-url",
            &server.uri(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_yes_and_without_a_terminal_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&server)
        .await;
    let out = run(
        dir.path(),
        &["rally", "a@example.com", "--base-url", &server.uri()],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_wait_stops_with_75_and_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|n, r| {
        if n == 0 {
            ResponseTemplate::new(429).insert_header("Retry-After", "3600")
        } else {
            accepted(r)
        }
    });
    let server = rally_mock(rec.clone()).await;
    let uri = server.uri();
    let args = [
        "rally",
        "-y",
        "a@example.com",
        "b@example.com",
        "--max-wait",
        "5s",
        "--base-url",
        &uri,
        "--report",
        "r.jsonl",
    ];
    let mut json = args.to_vec();
    json.push("--json");
    let out = run(dir.path(), &json, &env()).await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-wait"), "{}", stderr(&out));
    // A wait refused is not time spent waiting: never more than the run took.
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(
        summary["wait_seconds"].as_f64() <= summary["elapsed_seconds"].as_f64(),
        "{summary}"
    );
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 2, "both identifiers recorded");
    let mut again = args.to_vec();
    again.push("--resume");
    let out = run(dir.path(), &again, &env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert!(outcomes.values().all(|o| o == "queued"), "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_input_and_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| accepted(r));
    let server = rally_mock(rec.clone()).await;
    let out = run_with_stdin(
        dir.path(),
        &[
            "rally",
            "-y",
            "-i",
            "-",
            "--json",
            "--base-url",
            &server.uri(),
        ],
        &env(),
        "a@example.com\nb@example.com\n".into(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(summary["queued"], 2);
    assert_eq!(summary["requests"], 1);
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(
        body_list(&rec.seen()[0].body, "emails"),
        ["a@example.com", "b@example.com"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_not_found_isolates_the_unknown_and_other_404s_stop() {
    let dir = tempfile::tempdir().unwrap();
    // Rally refuses a whole batch naming someone it does not know: 404 text/plain.
    let rec = Recorder::new(|_, r| {
        let emails = body_list(&serde_json::from_slice(&r.body).unwrap(), "emails");
        if emails.iter().any(|e| e.starts_with("ghost")) {
            ResponseTemplate::new(404).set_body_raw("Person not found", "text/plain")
        } else {
            accepted(r)
        }
    });
    let server = rally_mock(rec.clone()).await;
    let mut ids = emails(8);
    ids[3] = "ghost@example.com".into();
    let out = run_ids(
        dir.path(),
        &["rally", "-y", "--report", "r.jsonl"],
        &ids,
        &server.uri(),
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert_eq!(outcomes["ghost@example.com"], "not_found");
    assert_eq!(outcomes.values().filter(|o| *o == "queued").count(), 7);
    // 8 → 4 + 4 → 2 + 2 → 1 + 1.
    assert_eq!(rec.seen().len(), 7);

    // A 404 that is not about people (a wrong base URL): the run stops.
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(404).set_body_raw("<html>Not Found</html>", "text/html")
    });
    let server = rally_mock(rec.clone()).await;
    let out = run_ids(
        dir.path(),
        &["rally", "-y"],
        &emails(3),
        &server.uri(),
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(rec.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_count_is_noted_on_the_lines_and_totalled_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    // Rally counts 1 of each request's people.
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(202).set_body_json(json!({"message": "ok", "count": 1}))
    });
    let server = rally_mock(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "rally",
            "-y",
            "--json",
            "a@x.io",
            "b@x.io",
            "c@x.io",
            "--base-url",
            &server.uri(),
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(summary["queued"], 3);
    let notes = summary["notes"].to_string();
    assert!(
        notes.contains("Rally did not count 2 of the people"),
        "{notes}"
    );
}

/// A line of a report being resumed, as purge writes them (no host: decided
/// before the run's host is known, so any host may resume it).
fn report_line(id: &str, outcome: &str) -> String {
    format!(
        r#"{{"vendor":"rally","kind":"email","id":"{id}","outcome":"{outcome}","detail":"","at":"2026-12-01T00:00:00Z"}}"#
    )
}

/// `--resume` reads the report first and streams the input past it (#24):
/// each identifier is sorted by the last line the report has of it. Done
/// (`queued`, `deleted`, `not_found`, even as a hash) is skipped, `failed` is
/// sent again, one the report lacks is sent, one the report has but the input
/// does not is left alone; a later line overrides an earlier one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_streams_the_input_past_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| accepted(r));
    let server = rally_mock(rec.clone()).await;
    let hashed_done = format!(
        r#"{{"vendor":"rally","kind":"email","id_sha256":"{}","outcome":"deleted","at":""}}"#,
        sha256_hex("hashed@x.io")
    );
    let lines = [
        report_line("done@x.io", "queued"),
        report_line("gone@x.io", "not_found"),
        report_line("failed@x.io", "failed"),
        report_line("notasked@x.io", "failed"),
        report_line("then-failed@x.io", "queued"),
        report_line("then-failed@x.io", "failed"),
        report_line("then-done@x.io", "failed"),
        report_line("then-done@x.io", "queued"),
        hashed_done,
    ];
    let report = write_file(dir.path(), "r.jsonl", &(lines.join("\n") + "\n"));
    let input = write_file(
        dir.path(),
        "list.txt",
        "done@x.io\nfailed@x.io\nnew@x.io\ngone@x.io\nthen-failed@x.io\nthen-done@x.io\nhashed@x.io\n",
    );
    let uri = server.uri();
    let out = run(
        dir.path(),
        &[
            "rally",
            "-y",
            "--resume",
            "--report",
            report.to_str().unwrap(),
            "-i",
            input.to_str().unwrap(),
            "--base-url",
            &uri,
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sent: HashSet<String> = rec
        .seen()
        .iter()
        .flat_map(|s| body_list(&s.body, "emails"))
        .collect();
    let want: HashSet<String> = ["failed@x.io", "new@x.io", "then-failed@x.io"]
        .map(String::from)
        .into();
    assert_eq!(sent, want);
    assert!(
        stderr(&out).contains("4 already done, 0 in open jobs, 3 to send"),
        "{}",
        stderr(&out)
    );
}

/// An input that cannot be used ends a resumed run with exit 2 before
/// anything is sent, and leaves the report as it was (#24: the report is now
/// read before the input); a report this run would have created is not left
/// behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_a_bad_input_sends_nothing_and_leaves_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| accepted(r));
    let server = rally_mock(rec.clone()).await;
    let text = report_line("done@x.io", "queued") + "\n";
    let report = write_file(dir.path(), "r.jsonl", &text);
    let input = dir.path().join("list.txt");
    std::fs::write(&input, b"new@x.io\nbad\xff@x.io\n").unwrap();
    let missing = dir.path().join("new.jsonl");
    let uri = server.uri();
    for path in [&report, &missing] {
        let out = run(
            dir.path(),
            &[
                "rally",
                "-y",
                "--resume",
                "--report",
                path.to_str().unwrap(),
                "-i",
                input.to_str().unwrap(),
                "--base-url",
                &uri,
            ],
            &env(),
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("list.txt:2"), "{}", stderr(&out));
    }
    assert!(rec.seen().is_empty(), "nothing sent");
    assert_eq!(std::fs::read_to_string(&report).unwrap(), text);
    assert!(!missing.exists(), "the report this run created is removed");
}
