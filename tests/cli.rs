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

/// Each vendor's one-line description, as `purge --help`, `purge VENDOR --help`
/// and the shells' completions show it.
const ABOUT: &[(&str, &str)] = &[
    ("rally", "POST /people/delete (by e-mail or person id)"),
    ("braze", "POST /users/delete (external id, braze id"),
    (
        "gainsight-px",
        "one person a request (e-mails looked up first)",
    ),
    ("zendesk", "destroy_many jobs (100 users each)"),
];

#[test]
fn each_vendor_is_described_as_itself_in_help_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let text = |args: &[&str]| {
        let out = command(dir.path(), args, &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let top = text(&["--help"]);
    for (name, about) in ABOUT {
        assert!(
            top.lines()
                .any(|l| l.trim_start().starts_with(name) && l.contains(about)),
            "purge --help: {name}: {top}"
        );
        let own = text(&[name, "--help"]);
        let first = own.lines().next().unwrap_or_default();
        assert!(first.contains(about), "purge {name} --help: {own}");
    }
    for shell in ["zsh", "fish"] {
        let script = text(&["completions", shell]);
        for (_, about) in ABOUT {
            assert!(script.contains(about), "{shell}: {about}");
        }
        assert!(!script.contains("Options every vendor has"), "{shell}");
    }
    assert!(!top.contains("Options every vendor has"), "{top}");
}

/// Closed sets of values complete in the shells: kinds, Braze instances,
/// Gainsight PX regions, formats.
#[test]
fn closed_value_sets_complete_in_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = command(dir.path(), &["completions", shell], &[])
            .output()
            .unwrap();
        let script = stdout(&out);
        for value in ["eu-01", "kr-01", "us2", "external-id", "csv"] {
            assert!(script.contains(value), "{shell} lacks {value}");
        }
    }
    // And any other value is refused, as before, naming the valid ones.
    let out = command(
        dir.path(),
        &["gainsight-px", "--region", "mars", "--dry-run", "gp-1"],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("us, eu, us2"), "{}", stderr(&out));
    // Case does not matter, as before.
    let out = command(
        dir.path(),
        &["braze", "--instance", "EU-01", "--dry-run", "ext-1"],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("https://rest.fra-01.braze.eu/users/delete"));
}

/// A credential that cannot be read is said where its token file is named:
/// `--token-file FILE` on a vendor's command line, `token-file` in the
/// vendor's table for `purge everywhere` (a typed error rendered for its place,
/// not a message re-worded). Nothing is sent.
#[test]
fn a_credential_error_names_the_token_file_where_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", "[rally]\n");
    let out = command(dir.path(), &["rally", "--yes", "a@x.io"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("RALLY_API_TOKEN is not set: export it, or pass --token-file FILE"),
        "{}",
        stderr(&out)
    );
    let out = command(dir.path(), &["everywhere", "--yes", "a@x.io"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            "RALLY_API_TOKEN is not set: export it, or set token-file = \"FILE\" in [rally]"
        ),
        "{err}"
    );
    assert!(!err.contains("--token-file"), "{err}");
    // The token file named in the table is a directory.
    std::fs::create_dir(dir.path().join("tokdir")).unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        "[rally]\ntoken-file = \"tokdir\"\n",
    );
    let out = command(dir.path(), &["everywhere", "--yes", "a@x.io"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("tokdir in [rally]: is a directory"), "{err}");
    assert!(!err.contains("--token-file"), "{err}");
}

/// A misspelt vendor table is named with the vendor it is closest to.
#[test]
fn a_misspelt_table_gets_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        "[rally]\n\n[zendsek]\nsubdomain = \"acme\"\n",
    );
    let out = command(dir.path(), &["everywhere", "--check"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "purge.toml:3: [zendsek] is not a vendor (did you mean [zendesk]?); valid: [rally], [braze], [gainsight-px], [zendesk]"
        ),
        "{}",
        stderr(&out)
    );
}

/// With --json, stdout holds JSON only: the dry run's requests as JSON Lines,
/// then the summary; `everywhere --check --json` one object.
#[test]
fn json_output_is_json_only_in_dry_runs_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let lines = |args: &[&str]| -> (Option<i32>, Vec<serde_json::Value>) {
        let out = command(dir.path(), args, &[]).output().unwrap();
        let values = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {l:?}: {e}")))
            .collect();
        (out.status.code(), values)
    };
    let ids: Vec<String> = emails(150);
    let mut args = vec!["rally", "--dry-run", "--json"];
    args.extend(ids.iter().map(String::as_str));
    let (code, values) = lines(&args);
    assert_eq!(code, Some(0));
    assert_eq!(
        values.len(),
        3,
        "two requests, then the summary: {values:?}"
    );
    for v in &values[..2] {
        assert_eq!(v["vendor"], "rally");
        assert_eq!(v["method"], "POST");
        assert_eq!(
            v["url"],
            "https://api.rallyuxr.com/api/public/v1/people/delete"
        );
    }
    assert_eq!(values[0]["body"]["emails"].as_array().unwrap().len(), 100);
    assert_eq!(values[1]["body"]["emails"].as_array().unwrap().len(), 50);
    assert_eq!(values[2]["dry_run"], true);
    assert_eq!(values[2]["requests"], 2);
    // purge everywhere: every vendor's requests, each naming its vendor.
    write_file(
        dir.path(),
        "purge.toml",
        "[rally]\n\n[gainsight-px]\nkind = \"id\"\n",
    );
    let (code, values) = lines(&["everywhere", "--dry-run", "--json", "ann@example.com"]);
    assert_eq!(code, Some(0));
    let vendors: Vec<&str> = values
        .iter()
        .filter(|v| v["method"].is_string())
        .map(|v| v["vendor"].as_str().unwrap())
        .collect();
    assert_eq!(vendors, ["rally", "gainsight-px"], "{values:?}");
    // --check: one object, a part per vendor (no credentials here: exit 2).
    let (code, values) = lines(&["everywhere", "--check", "--json"]);
    assert_eq!(code, Some(2));
    assert_eq!(values.len(), 1, "{values:?}");
    let parts = values[0]["vendors"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["vendor"], "rally");
    assert_eq!(parts[0]["state"], "missing");
    assert!(
        parts[0]["status"]
            .as_str()
            .unwrap()
            .contains("RALLY_API_TOKEN"),
        "{parts:?}"
    );
    assert_eq!(values[0]["exit_code"], 2);
}

/// A dry run of a vendor that looks people up first lists each batch's first
/// lookup and says plainly what follows.
#[test]
fn a_dry_run_that_looks_up_first_says_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let ids = emails(40);
    let mut args = vec!["zendesk", "--subdomain", "acme", "-k", "email", "--dry-run"];
    args.extend(ids.iter().map(String::as_str));
    let out = command(dir.path(), &args, &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "one batch, its first search"
    );
    assert!(
        err.contains("the first request of each batch listed on stdout (1) for 40 identifier(s)"),
        "{err}"
    );
    assert!(
        err.contains("dry run: the run would send 40 user searches")
            && err
                .contains("deletion jobs (destroy_many, up to 100 end-users each: 1 for these 40")
            && err.contains("known only after the lookups"),
        "{err}"
    );
    assert!(!err.contains("would be sent first"), "{err}");
}

/// The template says which default kind applies where.
#[test]
fn the_template_says_which_kind_is_the_default_where() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &["init"], &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let t = std::fs::read_to_string(dir.path().join("purge.toml")).unwrap();
    assert!(
        t.lines()
            .filter(|l| l.starts_with("# kind ="))
            .all(|l| !l.contains("(the default)")),
        "{t}"
    );
    for (vendor, own) in [
        ("braze", "external-id"),
        ("gainsight-px", "id"),
        ("zendesk", "id"),
    ] {
        assert!(
            t.contains(&format!(
                "purge everywhere's default; purge {vendor}'s is {own}"
            )),
            "{vendor}: {t}"
        );
    }
    assert!(
        t.contains("`purge everywhere` takes e-mail addresses at every vendor"),
        "{t}"
    );
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
    signal_drains(
        "-INT",
        130,
        "interrupted",
        "press Ctrl-C again to quit at once",
    )
    .await;
}

/// SIGTERM (what `timeout` and CI runners send) drains like the first Ctrl-C.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_writes_the_report_and_exits_143() {
    signal_drains(
        "-TERM",
        143,
        "terminated (SIGTERM)",
        "a second SIGTERM (or Ctrl-C) quits at once",
    )
    .await;
}

#[cfg(unix)]
async fn signal_drains(signal: &str, code: i32, said: &str, again: &str) {
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
    assert!(
        err.contains(&format!(
            "{said}: finishing the requests in flight and writing the report; {again}"
        )),
        "{err}"
    );
    // Said once; a SIGTERM was sent by a program: it is not told to press Ctrl-C again.
    assert_eq!(
        err.matches("quits at once").count() + err.matches("quit at once").count(),
        1,
        "{err}"
    );
    if signal == "-TERM" {
        assert!(!err.contains("Ctrl-C again"), "{err}");
    }
    // The count in flight is the requests sent and not answered (2 at a time).
    assert!(
        err.contains("rally: finishing 2 request(s) in flight"),
        "{err}"
    );
}

/// Run purge on a pseudo-terminal (util-linux `script`), typing `answer`.
#[cfg(unix)]
fn on_a_terminal(dir: &std::path::Path, uri: &str, answer: &str) -> Option<String> {
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
    Some(on_a_terminal_run(dir, &cmd, answer))
}

/// Run a shell command line on a pseudo-terminal, typing `answer`.
#[cfg(unix)]
fn on_a_terminal_run(dir: &std::path::Path, cmd: &str, answer: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
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
    String::from_utf8_lossy(&out.stdout).into_owned()
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
        err.contains("nothing was sent"),
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
    // Gainsight identifyIds and Braze external ids may be e-mails: under the
    // default kind, the run stops (exit 2) naming -k email; chosen on purpose,
    // a warning.
    for (args, code, says) in [
        (
            &[
                "gainsight-px",
                "--dry-run",
                "person50@example.com",
                "person51@example.com",
            ][..],
            2,
            "pass -k email",
        ),
        (
            &[
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "person52@example.com",
            ][..],
            2,
            "pass -k email",
        ),
        (
            &[
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "-k",
                "external-id",
                "person52@example.com",
            ][..],
            0,
            "use -k email",
        ),
    ] {
        let out = run(dir.path(), args, &[]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains("look like e-mail addresses") && err.contains(says),
            "{args:?}: {err}"
        );
        assert_eq!(stdout(&out).is_empty(), code == 2, "{}", stdout(&out));
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

/// The one confirmation of `purge everywhere` says, per vendor, how long a
/// long run will take, as the one-vendor prompt does.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_everywhere_confirmation_shows_each_vendors_expected_duration() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    // Braze's preflight lookup of an address nobody has; nothing else is sent.
    Mock::given(method("POST"))
        .and(wiremock::matchers::path("/users/export/ids"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"users": [], "message": "success"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    write_file(
        dir.path(),
        "purge.toml",
        &format!(
            "[rally]\nbase-url = \"{0}\"\n\n[braze]\nbase-url = \"{0}\"\n",
            server.uri()
        ),
    );
    write_file(dir.path(), "people.txt", &emails(2000).join("\n"));
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` to give purge a terminal");
        return;
    }
    let cmd = format!(
        "RALLY_API_TOKEN={TOKEN} BRAZE_API_KEY={TOKEN} {} everywhere -i people.txt; echo exit=$?",
        bin()
    );
    let d = dir.path().to_path_buf();
    let said = tokio::task::spawn_blocking(move || on_a_terminal_run(&d, &cmd, "no"))
        .await
        .unwrap();
    let braze = said.find("Braze").expect("Braze's line");
    assert!(
        said[braze..].contains("expected duration: 2,000 lookups at 250/min: about 8 min"),
        "{said}"
    );
    // Rally's 20 requests take no time worth saying.
    assert_eq!(said.matches("expected duration").count(), 1, "{said}");
    assert!(said.contains("exit=2"), "{said}");
}

/// `purge VENDOR` reads its table of purge.toml (the working directory's, or
/// `--config FILE`); the command line overrides the file, key by key.
#[test]
fn a_vendor_command_reads_its_table_and_the_command_line_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        "[rally]\nkind = \"id\"\n\n[zendesk]\nsubdomain = \"acme\"\nkind = \"email\"\nrate = \"100/min\"\n\n[gainsight-px]\nregion = \"eu\"\n",
    );
    let run = |args: &[&str]| {
        let out = command(dir.path(), args, &[]).output().unwrap();
        (out.status.code(), stdout(&out), stderr(&out))
    };
    // No --subdomain needed: the table has it.
    let (code, out, err) = run(&["zendesk", "--dry-run", "ann@example.com"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("GET https://acme.zendesk.com/api/v2/users/search?query="),
        "{out}"
    );
    assert!(
        err.contains(
            "zendesk: settings from purge.toml:4 [zendesk] (the command line overrides them)"
        ),
        "{err}"
    );
    // The command line wins, flag by flag, and a flag the table also sets is no conflict.
    let (code, out, err) = run(&[
        "zendesk",
        "--dry-run",
        "--subdomain",
        "other",
        "--rate",
        "10/s",
        "-k",
        "id",
        "123",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("GET https://other.zendesk.com/api/v2/users/show_many?ids=123"),
        "{out}"
    );
    // A table without kind: the vendor's own default (Gainsight PX: id), not
    // purge everywhere's e-mail.
    let (code, out, err) = run(&["gainsight-px", "--dry-run", "gp-1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("DELETE https://api-eu.aptrinsic.com/v1/users/gp-1"),
        "{out}"
    );
    // No table for the vendor in the working directory's file: its own defaults.
    let (code, out, err) = run(&["braze", "--dry-run", "--instance", "us-01", "ext-1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("settings from"), "{err}");
    assert!(
        out.starts_with("POST https://rest.iad-01.braze.com/users/delete"),
        "{out}"
    );
    // --config FILE from elsewhere; a file without the vendor's table is an error.
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    write_file(
        &dir.path().join("etc"),
        "other.toml",
        "[zendesk]\nsubdomain = \"elsewhere\"\n",
    );
    let (code, out, err) = run(&["zendesk", "--config", "etc/other.toml", "--dry-run", "7"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("https://elsewhere.zendesk.com/"), "{out}");
    let (code, _, err) = run(&["rally", "--config", "etc/other.toml", "--dry-run", "a@b.io"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("etc/other.toml: no [rally] table (it has [zendesk])"),
        "{err}"
    );
    // A table key that does not apply to what the command line chose is left
    // out, and said so.
    write_file(
        dir.path(),
        "purge.toml",
        "[braze]\ninstance = \"eu-01\"\nkind = \"email\"\nprioritization = \"identified\"\nlookup-rate = \"2500/min\"\n",
    );
    let (code, out, err) = run(&["braze", "--dry-run", "-k", "external-id", "ext-1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("POST https://rest.fra-01.braze.eu/users/delete"),
        "{out}"
    );
    for key in ["prioritization", "lookup-rate"] {
        assert!(
            err.contains(&format!("purge.toml:1 [braze] {key}: left out: --{key}")),
            "{err}"
        );
    }
    // A command line that contradicts itself is still refused, as without a file.
    let (code, _, err) = run(&[
        "braze",
        "--dry-run",
        "-k",
        "email",
        "-k",
        "phone",
        "+15550100",
    ]);
    assert_eq!(code, Some(2), "{err}");
    // A broken file stops the command, naming its line.
    write_file(dir.path(), "purge.toml", "[zendsek]\n");
    let (code, _, err) = run(&["zendesk", "--dry-run", "--subdomain", "a", "7"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("purge.toml:1: [zendsek] is not a vendor"),
        "{err}"
    );
}

/// A real run reads the vendor's base-url and quota from the table and sends there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_command_sends_where_its_table_says() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path("/people/delete"))
        .respond_with(ResponseTemplate::new(202).set_body_string(r#"{"message":"ok","count":1}"#))
        .expect(1)
        .mount(&server)
        .await;
    write_file(
        dir.path(),
        "purge.toml",
        &format!(
            "[rally]\nbase-url = \"{}\"\nmax-retries = 2\n",
            server.uri()
        ),
    );
    let out = run(
        dir.path(),
        &["rally", "--yes", "--json", "ann@example.com"],
        &[("RALLY_API_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(summary["queued"], 1);
    server.verify().await;
}
