//! `purge braze` specifics against a wiremock Braze on 127.0.0.1 (the shared
//! behaviours are in `conformance.rs`).

mod common;

use common::*;
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

const KEY: &str = "braze-rest-key-5150";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("BRAZE_API_KEY", KEY)]
}

/// Braze answers 201 with the number of identifiers it queued.
fn deleted_count(r: &wiremock::Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
    let n = body
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    ResponseTemplate::new(201).set_body_json(json!({"deleted": n, "message": "success"}))
}

async fn braze<F>(rec: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    json_post_endpoint("/users/delete", KEY, rec).await
}

fn bodies(
    rec: &Recorder<impl Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static>,
) -> Vec<Value> {
    let mut b: Vec<Value> = rec.seen().into_iter().map(|s| s.body).collect();
    b.sort_by_key(|v| {
        std::cmp::Reverse(
            v.as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
        )
    });
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_go_50_50_20_with_the_chosen_prioritization() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| deleted_count(r));
    let server = braze(rec.clone()).await;
    let all = emails(120);
    let input = write_file(dir.path(), "list.txt", &all.join("\n"));
    let uri = server.uri();
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "email",
            "--prioritization",
            "unidentified,most_recently_updated",
            "-i",
            input.to_str().unwrap(),
            "--base-url",
            &uri,
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = bodies(&rec);
    let expect = |chunk: &[String]| {
        json!({"email_addresses": chunk.iter().map(|e| json!({
            "email": e, "prioritization": ["unidentified", "most_recently_updated"]
        })).collect::<Vec<_>>()})
    };
    let mut want: Vec<Value> = all.chunks(50).map(expect).collect();
    want.sort_by_key(|v| std::cmp::Reverse(v["email_addresses"].as_array().unwrap().len()));
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[2], want[2],
        "the last request has the 20 remaining, exactly"
    );
    let mut got_full: Vec<String> = got[..2].iter().map(Value::to_string).collect();
    let mut want_full: Vec<String> = want[..2].iter().map(Value::to_string).collect();
    got_full.sort();
    want_full.sort();
    assert_eq!(got_full, want_full);
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 120);
    assert!(
        lines
            .iter()
            .all(|l| l["outcome"] == "queued" && l["http_status"] == 201)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_prioritization_and_phone_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| deleted_count(r));
    let server = braze(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "phone",
            "+1 (555) 010-0199",
            "+44.20.7946.0958",
            "--base-url",
            &server.uri(),
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        rec.seen()[0].body,
        json!({"phone_numbers": [
            {"phone": "+15550100199", "prioritization": ["identified", "most_recently_updated"]},
            {"phone": "+442079460958", "prioritization": ["identified", "most_recently_updated"]}
        ]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_from_label_name_values_and_from_csv_columns() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| deleted_count(r));
    let server = braze(rec.clone()).await;
    let uri = server.uri();
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "alias",
            "crm:4711",
            "legacy:a:b",
            "--base-url",
            &uri,
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        rec.seen()[0].body,
        json!({"user_aliases": [
            {"alias_name": "4711", "alias_label": "crm"},
            {"alias_name": "a:b", "alias_label": "legacy"}
        ]})
    );
    let csv = write_file(
        dir.path(),
        "aliases.csv",
        "alias_name,alias_label,note\n9001,crm,x\n\"n, 2\",shop,y\n",
    );
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "alias",
            "-i",
            csv.to_str().unwrap(),
            "--base-url",
            &uri,
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        rec.seen()[1].body,
        json!({"user_aliases": [
            {"alias_name": "9001", "alias_label": "crm"},
            {"alias_name": "n, 2", "alias_label": "shop"}
        ]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_one_external_ids_are_fifty_plus_one() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| deleted_count(r));
    let server = braze(rec.clone()).await;
    let ids: Vec<String> = (0..51).map(|i| format!("user-{i}")).collect();
    let out = run_ids(dir.path(), &["braze", "-y"], &ids, &server.uri(), &env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = bodies(&rec);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], json!({"external_ids": ids[..50]}));
    assert_eq!(got[1], json!({"external_ids": ["user-50"]}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_deleted_count_is_noted_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(200).set_body_json(json!({"deleted": 1, "message": "success"}))
    });
    let server = braze(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "a",
            "b",
            "c",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 3);
    for l in lines {
        assert_eq!(l["outcome"], "queued");
        assert!(
            l["detail"]
                .as_str()
                .unwrap()
                .contains("Braze counted 1 of 3"),
            "{l}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_are_surfaced() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(400).set_body_json(
            json!({"message": "Invalid request", "errors": ["braze_ids must be strings"]}),
        )
    });
    let server = braze(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "braze-id",
            "b1",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let l = &report_lines(&dir.path().join("r.jsonl"))[0];
    assert_eq!(l["outcome"], "failed");
    assert!(
        l["detail"]
            .as_str()
            .unwrap()
            .contains("Invalid request; braze_ids must be strings"),
        "{l}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_picks_the_host_and_bad_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["braze", "--dry-run", "--instance", "eu-02", "u1"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        r#"POST https://rest.fra-02.braze.eu/users/delete {"external_ids":["u1"]}"#
    );
    let out = run(
        dir.path(),
        &["braze", "--dry-run", "u1"],
        &[("BRAZE_INSTANCE", "us-10")],
    )
    .await;
    assert!(
        stdout(&out).starts_with("POST https://rest.us-10.braze.com/users/delete"),
        "{}",
        stdout(&out)
    );

    // Without an instance a dry run shows a placeholder host and says why; a
    // real run stops before sending.
    let out = run(dir.path(), &["braze", "--dry-run", "u1"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("POST https://rest.instance.braze.com/users/delete"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("placeholder") && stderr(&out).contains("--instance"));
    let out = run(
        dir.path(),
        &["braze", "-y", "u1"],
        &[("BRAZE_API_KEY", "k")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--instance"), "{}", stderr(&out));

    for (args, needle) in [
        (
            vec!["braze", "--dry-run", "--instance", "us-09", "u1"],
            "us-10",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "-k",
                "email",
                "--prioritization",
                "identified,unidentified",
                "a@example.com",
            ],
            "identified and unidentified",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "--prioritization",
                "identified",
                "u1",
            ],
            "--prioritization applies",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "-k",
                "email",
                "-k",
                "phone",
                "a@example.com",
            ],
            "cannot be used multiple times",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "-k",
                "id",
                "u1",
            ],
            "invalid value 'id'",
        ),
    ] {
        let out = run(dir.path(), &args, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
}
