//! The command line's refusals and edges: bad input, bad configuration, report
//! rules, completions, Ctrl-C. Every refusal sends nothing (the mock expects 0).

mod common;

use std::time::Duration;

use common::*;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "cli-test-token-0001";

/// A server that fails the test if anything reaches it.
async fn silent() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&server)
        .await;
    server
}

async fn refused(args: &[&str], files: &[(&str, &[u8])], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let server = silent().await;
    let uri = server.uri();
    let mut all = args.to_vec();
    if !args.contains(&"--base-url") {
        all.extend(["--base-url", &uri]);
    }
    let out = run(dir.path(), &all, env).await;
    server.verify().await;
    (out.status.code().unwrap_or(-1), stderr(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_input_names_file_and_line() {
    let (code, err) = refused(
        &["rally", "-y", "-i", "list.txt"],
        &[("list.txt", b"a@example.com\nb\xff\xfe@example.com\n")],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("list.txt:2") && err.contains("UTF-8"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_empty_inputs_are_errors() {
    let (code, err) = refused(
        &["rally", "-y", "-i", "nope.txt"],
        &[],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("nope.txt") && err.contains("cannot open"),
        "{err}"
    );
    let (code, err) = refused(
        &["rally", "-y", "-i", "empty.txt"],
        &[("empty.txt", b"# only a comment\n\n")],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("no identifiers found in empty.txt"), "{err}");
    let (code, err) = refused(&["rally", "-y"], &[], &[("RALLY_API_TOKEN", TOKEN)]).await;
    assert_eq!(code, 2);
    assert!(err.contains("no identifiers given"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_refuses_any_invalid_identifier() {
    let (code, err) = refused(
        &["rally", "-y", "--strict", "a@example.com", "nope"],
        &[],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("argument:2") && err.contains("--strict"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_csv_lists_its_headers() {
    let (code, err) = refused(
        &["rally", "-y", "-i", "x.csv"],
        &[("x.csv", b"name,contact\nA,a@example.com\n")],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("x.csv:1")
            && err.contains("\"name\", \"contact\"")
            && err.contains("--column"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credential_names_the_variable() {
    let (code, err) = refused(&["rally", "-y", "a@example.com"], &[], &[]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("RALLY_API_TOKEN") && err.contains("--token-file"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_only_for_loopback() {
    let (code, err) = refused(
        &[
            "rally",
            "-y",
            "a@example.com",
            "--base-url",
            "http://example.com/api",
        ],
        &[],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("loopback"), "{err}");
    // No environment variable moves a vendor's endpoint (#21): the dry run
    // plans against Rally's own host with PURGE_BASE_URL set.
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["rally", "--dry-run", "a@example.com"],
        &[("PURGE_BASE_URL", "http://10.1.2.3")],
    )
    .await;
    assert!(
        stdout(&out).contains("https://api.rallyuxr.com/"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("10.1.2.3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_report_needs_resume() {
    let (code, err) = refused(
        &["rally", "-y", "a@example.com", "--report", "old.jsonl"],
        &[("old.jsonl", b"")],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("old.jsonl") && err.contains("--resume"),
        "{err}"
    );
    let (code, err) = refused(
        &["rally", "-y", "a@example.com", "--report", "r.jsonl", "--resume"],
        &[("r.jsonl", b"{\"vendor\":\"braze\",\"kind\":\"email\",\"id\":\"a@example.com\",\"outcome\":\"queued\"}\n")],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("purge braze"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kind_is_a_usage_error() {
    let (code, err) = refused(
        &["rally", "-y", "-k", "phone", "+15550100"],
        &[],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("phone"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_ids_keeps_identifiers_out_of_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_string(r#"{"message":"ok","count":1}"#))
        .expect(1)
        .mount(&server)
        .await;
    let out = run(
        dir.path(),
        &[
            "rally",
            "-y",
            "--hash-ids",
            "secret.person@example.com",
            "--report",
            "r.jsonl",
            "--base-url",
            &server.uri(),
        ],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
    assert!(!text.contains("secret.person"), "{text}");
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["id_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(line["outcome"], "queued");
}

#[test]
fn completions_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &["completions", "bash"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("_purge") && text.contains("rally"), "{text}");
}

#[test]
fn init_writes_the_template_once_and_force_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("purge.toml");
    let out = command(dir.path(), &["init"], &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("wrote purge.toml") && err.contains("next:"),
        "{err}"
    );
    let written = std::fs::read_to_string(&path).unwrap();
    for table in ["# [rally]", "# [braze]", "# [gainsight-px]", "# [zendesk]"] {
        assert!(written.contains(table), "{written}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second run keeps the file the user may have edited.
    std::fs::write(&path, "[rally]\n").unwrap();
    let out = command(dir.path(), &["init"], &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("purge.toml exists already") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[rally]\n");
    let out = command(dir.path(), &["init", "--force"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    // Elsewhere, and the next step names it.
    let out = command(dir.path(), &["init", "--config", "etc.toml"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("--config etc.toml"),
        "{}",
        stderr(&out)
    );
    assert!(dir.path().join("etc.toml").exists());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_drains_in_flight_writes_the_report_and_exits_130() {
    signal_drains("-INT", 130, "interrupted").await;
}

/// SIGTERM (what `timeout` and CI runners send) drains like the first Ctrl-C.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_writes_the_report_and_exits_143() {
    signal_drains("-TERM", 143, "terminated (SIGTERM)").await;
}

#[cfg(unix)]
async fn signal_drains(signal: &str, code: i32, said: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(202)
            .set_body_string(r#"{"message":"ok","count":100}"#)
            .set_delay(Duration::from_millis(400))
    });
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(rec.clone())
        .mount(&server)
        .await;
    let input = write_file(dir.path(), "list.txt", &emails(1000).join("\n"));
    let report = dir.path().join("r.jsonl");
    let uri = server.uri();
    let child = command(
        dir.path(),
        &[
            "rally",
            "-y",
            "--concurrency",
            "2",
            "-i",
            input.to_str().unwrap(),
            "--base-url",
            &uri,
            "--report",
            "r.jsonl",
        ],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rec.seen().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "no requests arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    let sent = rec.seen().len();
    let lines = report_lines(&report);
    assert_eq!(lines.len(), 1000, "every identifier recorded");
    let queued = lines.iter().filter(|l| l["outcome"] == "queued").count();
    assert_eq!(
        queued,
        sent * 100,
        "every request that went out was drained and recorded"
    );
    assert!(sent < 10, "the run stopped early ({sent} requests)");
    let err = stderr(&out);
    assert!(err.contains(&format!("{said}: finishing")), "{err}");
    // The count in flight is the requests sent and not answered (2 at a time).
    assert!(err.contains("finishing 2 request(s) in flight"), "{err}");
}

/// Run purge on a pseudo-terminal (util-linux `script`), typing `answer`.
#[cfg(unix)]
fn on_a_terminal(dir: &std::path::Path, uri: &str, answer: &str) -> Option<String> {
    use std::io::Write;
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` to give purge a terminal");
        return None;
    }
    let cmd = format!(
        "RALLY_API_TOKEN={TOKEN} {} rally a@example.com b@example.com --base-url {uri}; echo exit=$?",
        bin()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{answer}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_run_asks_on_the_terminal_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_string(r#"{"message":"ok","count":2}"#))
        .expect(1)
        .mount(&server)
        .await;
    let (d, uri) = (dir.path().to_path_buf(), server.uri());
    let Some(no) = tokio::task::spawn_blocking(move || on_a_terminal(&d, &uri, "no"))
        .await
        .unwrap()
    else {
        return;
    };
    assert!(
        no.contains(
            "About to delete 2 people from Rally UXR (127.0.0.1, set by --base-url; \
             credential from env RALLY_API_TOKEN), identified by email"
        ),
        "{no}"
    );
    assert!(
        no.contains("not confirmed (type the word yes to go on): nothing sent")
            && no.contains("exit=2"),
        "{no}"
    );
    // The prompt says "Type 'yes'": `y` is not that.
    let (d, uri) = (dir.path().to_path_buf(), server.uri());
    let y = tokio::task::spawn_blocking(move || on_a_terminal(&d, &uri, "y"))
        .await
        .unwrap()
        .unwrap();
    assert!(y.contains("not confirmed") && y.contains("exit=2"), "{y}");
    let (d, uri) = (dir.path().to_path_buf(), server.uri());
    let yes = tokio::task::spawn_blocking(move || on_a_terminal(&d, &uri, "yes"))
        .await
        .unwrap()
        .unwrap();
    assert!(yes.contains("exit=0"), "{yes}");
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_column_csv_from_a_pipe_has_its_header_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_with_stdin(
        dir.path(),
        &["rally", "--dry-run", "-i", "-"],
        &[],
        "email\nperson1@example.com\n".into(),
    )
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("invalid"), "{err}");
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(
        err.contains("would be sent"),
        "a dry run says it sent nothing: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_errors_are_one_object_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    // A usage error after parsing (no credential) and a parse error.
    for args in [
        &["rally", "--yes", "--json", "a@example.com"][..],
        &["rally", "--json", "--no-such-flag"][..],
    ] {
        let out = run(dir.path(), args, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(stdout(&out).trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {:?}", stdout(&out)));
        assert_eq!(v["exit_code"], 2);
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_says_why_as_it_goes_and_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: every attempt is refused.
    let args = [
        "rally",
        "--yes",
        "--max-retries",
        "2",
        "--base-url",
        "http://127.0.0.1:1",
        "a@example.com",
    ];
    let out = run(dir.path(), &args, &[("RALLY_API_TOKEN", "t")]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("retrying: could not connect").count(),
        1,
        "the first retry of its kind is shown, once: {err}"
    );
    assert!(err.contains("(attempt 2 of 3)"), "{err}");
    assert!(err.contains("failed: could not connect"), "{err}");
    assert!(err.contains("×1"), "{err}");
    // -v adds a line per request that decided identifiers.
    let mut verbose = args.to_vec();
    verbose.push("-v");
    let out = run(dir.path(), &verbose, &[("RALLY_API_TOKEN", "t")]).await;
    assert!(
        stderr(&out).contains("request #1: 1 failed"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_of_the_wrong_kind_are_caught_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    // A Rally person id (or a Braze id) is never an e-mail address: invalid.
    for args in [
        &["rally", "--dry-run", "-k", "id", "alice@example.com"][..],
        &[
            "braze",
            "--dry-run",
            "--instance",
            "us-01",
            "-k",
            "braze-id",
            "alice@example.com",
        ][..],
    ] {
        let out = run(dir.path(), args, &[]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("invalid") && err.contains("use -k email"),
            "{args:?}: {err}"
        );
        assert!(stdout(&out).is_empty(), "nothing planned: {}", stdout(&out));
    }
    // Gainsight identifyIds and Braze external ids may be e-mails: a warning.
    for args in [
        &[
            "gainsight-px",
            "--dry-run",
            "person50@example.com",
            "person51@example.com",
        ][..],
        &[
            "braze",
            "--dry-run",
            "--instance",
            "us-01",
            "person52@example.com",
        ][..],
    ] {
        let out = run(dir.path(), args, &[]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            err.contains("look like e-mail addresses") && err.contains("use -k email"),
            "{args:?}: {err}"
        );
    }
    // Not when the kind is e-mail, or when some are not e-mails.
    let out = run(
        dir.path(),
        &["gainsight-px", "--dry-run", "gp-1", "a@example.com"],
        &[],
    )
    .await;
    assert!(
        !stderr(&out).contains("look like e-mail"),
        "{}",
        stderr(&out)
    );
}
