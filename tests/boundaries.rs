//! Trust boundaries, round 2 (#21): where a credential may go (no environment
//! variable redirects it, no password in a base URL), what a vendor echoes,
//! bounded input (token files, durations, report lines), the files purge writes,
//! and the list on stdin. All traffic stays on 127.0.0.1; RELIABILITY.md's
//! threat model names each test.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::AsyncReadExt;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A proxy that records the first line of each request (`CONNECT host:443 …`)
/// and hangs up: with `HTTPS_PROXY` pointing here, a request meant for a real
/// vendor host shows which host it was for and goes nowhere.
async fn dead_end_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(vec![]));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = vec![0u8; 2048];
            let n = conn.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            log.lock()
                .unwrap()
                .push(head.lines().next().unwrap_or_default().to_string());
        }
    });
    (url, seen)
}

/// A FIFO at `path` (which it returns).
fn mkfifo(path: &Path) -> std::path::PathBuf {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    path.to_path_buf()
}

/// Everything purge printed and wrote, for a search.
fn all_output(out: &std::process::Output, files: &[&Path]) -> String {
    let mut text = format!("{}\n{}", stdout(out), stderr(out));
    for f in files {
        text.push_str(&std::fs::read_to_string(f).unwrap_or_default());
    }
    text
}

const CREDENTIALS: &[(&str, &str)] = &[
    ("RALLY_API_TOKEN", "sec-rally"),
    ("BRAZE_API_KEY", "sec-braze"),
    ("GAINSIGHT_PX_API_KEY", "sec-gpx"),
    ("ZENDESK_EMAIL", "admin@example.com"),
    ("ZENDESK_API_TOKEN", "sec-zd"),
];

/// `PURGE_BASE_URL` (once read as `--base-url` for every vendor) pointing to a
/// sink, while `purge.toml` names each vendor's own place: the sink receives
/// nothing from `--check`, a run or `verify`; requests head for the documented
/// hosts (here into a dead-end proxy), and `--check` says where each host
/// comes from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_variable_never_redirects_a_credential() {
    let sink = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&sink)
        .await;
    let (proxy, connects) = dead_end_proxy().await;
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        "[rally]\nmax-retries = 0\n\n[braze]\ninstance = \"eu-01\"\nmax-retries = 0\n\n\
         [gainsight-px]\nregion = \"eu\"\nmax-retries = 0\n\n\
         [zendesk]\nsubdomain = \"acme\"\nmax-retries = 0\n",
    );
    write_file(
        dir.path(),
        "old.jsonl",
        &[
            json!({"vendor": "gainsight-px", "kind": "email", "id": "ann@example.com",
                   "outcome": "deleted", "host": "api-eu.aptrinsic.com", "at": "2026-12-01T00:00:00Z"}),
            json!({"vendor": "zendesk", "kind": "email", "id": "ann@example.com",
                   "outcome": "deleted", "vendor_ids": ["1001"], "host": "acme.zendesk.com",
                   "at": "2026-12-01T00:00:00Z"}),
        ]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>(),
    );
    let mut env = CREDENTIALS.to_vec();
    env.extend([
        ("PURGE_BASE_URL", sink.uri().leak() as &str),
        ("HTTPS_PROXY", proxy.clone().leak()),
        ("https_proxy", proxy.leak()),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ]);
    let check = run(dir.path(), &["everywhere", "--check"], &env).await;
    let table = stdout(&check);
    for host in [
        "rest.fra-01.braze.eu (Braze's documented host)",
        "api-eu.aptrinsic.com (Gainsight PX's documented host)",
        "acme.zendesk.com (Zendesk's documented host)",
        "api.rallyuxr.com (Rally UXR's documented host)",
    ] {
        assert!(table.contains(host), "{host}:\n{table}{}", stderr(&check));
    }
    let run_ = run(
        dir.path(),
        &["everywhere", "--yes", "ann@example.com"],
        &env,
    )
    .await;
    assert_ne!(run_.status.code(), Some(0), "{}", stderr(&run_));
    let verify = run(dir.path(), &["verify", "--report", "old.jsonl"], &env).await;
    assert_eq!(
        sink.received_requests().await.unwrap().len(),
        0,
        "the sink of PURGE_BASE_URL received a request"
    );
    let connects = connects.lock().unwrap().clone();
    for c in &connects {
        assert!(
            c.starts_with("CONNECT ")
                && [
                    "rest.fra-01.braze.eu:443",
                    "api-eu.aptrinsic.com:443",
                    "acme.zendesk.com:443"
                ]
                .iter()
                .any(|h| c.contains(h)),
            "{c}"
        );
    }
    assert!(!connects.is_empty(), "{}", stderr(&verify));
}

/// A password in a base URL is refused (exit 2) and never printed, on the
/// command line and in `purge.toml`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_a_base_url_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = "https://ops:hunter2-pw@api.example.com/v1";
    let out = run(
        dir.path(),
        &["rally", "--dry-run", "--base-url", url, "a@example.com"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("user name or password"),
        "{}",
        stderr(&out)
    );
    assert!(!all_output(&out, &[]).contains("hunter2"));
    write_file(
        dir.path(),
        "purge.toml",
        &format!("[rally]\nbase-url = \"{url}\"\n"),
    );
    let out = run(
        dir.path(),
        &["everywhere", "--dry-run", "a@example.com"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("purge.toml:2"), "{}", stderr(&out));
    assert!(
        !all_output(&out, &[]).contains("hunter2"),
        "{}",
        stderr(&out)
    );
}

/// A vendor that echoes the credential back (`Invalid API key: Bearer tok-…`,
/// the Basic base64, `email/token:…`): the token is in no output: stdout,
/// stderr at -vvv, the report, --json, the certificate (HTML and Markdown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_that_echoes_the_credential_never_gets_it_into_an_output() {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("admin@example.com/token:sec-zd");
    let cases: [(&[&str], &str, &str); 3] = [
        (&["rally"], "a@example.com", "sec-rally"),
        (&["gainsight-px"], "user-1", "sec-gpx"),
        (&["zendesk"], "1001", "sec-zd"),
    ];
    for (args, id, token) in cases {
        let server = MockServer::start().await;
        let body = json!({
            "error": format!("Invalid API key: Bearer {token}"),
            "got": format!("Basic {basic}"),
            "user": format!("admin@example.com/token:{token}"),
        });
        Mock::given(any())
            .respond_with(ResponseTemplate::new(401).set_body_json(body))
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let mut all = args.to_vec();
        all.extend(["--yes", "-vvv", "--json", "--report", "r.jsonl"]);
        let out = run_ids(dir.path(), &all, &[id], &server.uri(), CREDENTIALS).await;
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let report = dir.path().join("r.jsonl");
        assert!(
            std::fs::read_to_string(&report)
                .unwrap()
                .contains("[redacted]")
        );
        let mut files = vec![report.clone()];
        for cert in ["c.html", "c.md"] {
            let c = run(
                dir.path(),
                &[
                    "certificate",
                    "--report",
                    "r.jsonl",
                    "--show-ids",
                    "-o",
                    cert,
                ],
                &[],
            )
            .await;
            assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
            files.push(dir.path().join(cert));
        }
        let text = all_output(&out, &files.iter().map(|p| p.as_path()).collect::<Vec<_>>());
        assert!(
            !text.contains(token),
            "{args:?}: the token in an output:\n{text}"
        );
        // The Basic form is a credential only where it is sent: Zendesk's.
        if args == ["zendesk"] {
            assert!(
                !text.contains(&basic),
                "{args:?}: the Basic form in an output"
            );
        }
    }
}

/// A token file is a small regular file: a FIFO (which would block purge
/// forever), a device (read until memory runs out) or a huge file is refused at
/// once with exit 2, nothing sent. (The timeout only keeps a regression from
/// hanging the suite; nothing is measured.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_that_is_not_a_small_regular_file_is_refused() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = mkfifo(&dir.path().join("fifo"));
    let big = write_file(dir.path(), "big", &"k".repeat(1 << 20));
    for (file, says) in [
        (fifo.as_path(), "not a regular file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (big.as_path(), "is not a token"),
    ] {
        let args = [
            "gainsight-px",
            "--yes",
            "--token-file",
            file.to_str().unwrap(),
        ];
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            run_ids(dir.path(), &args, &["u1"], &server.uri(), &[]),
        )
        .await
        .unwrap_or_else(|_| panic!("{}: purge hung", file.display()));
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
}

/// `--timeout 1e300`, `--max-wait 1e20`, `verify --wait 1e300` and the same in
/// `purge.toml` are usage errors (exit 2), not a panic (101).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_durations_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "r.jsonl", "");
    for args in [
        &["rally", "--dry-run", "--timeout", "1e300", "a@example.com"][..],
        &["rally", "--dry-run", "--max-wait", "1e20", "a@example.com"],
        &[
            "rally",
            "--dry-run",
            "--max-wait",
            "1000000000years",
            "a@example.com",
        ],
        &["verify", "--report", "r.jsonl", "--wait", "1e300"],
    ] {
        let out = run(dir.path(), args, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("30 days"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    for table in [
        "timeout = \"1e300\"",
        "max-wait = 1e20",
        "max-wait = \"1e20\"",
    ] {
        write_file(dir.path(), "purge.toml", &format!("[rally]\n{table}\n"));
        let out = run(
            dir.path(),
            &["everywhere", "--dry-run", "a@example.com"],
            &[],
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{table}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("purge.toml:2"),
            "{table}: {}",
            stderr(&out)
        );
    }
}

/// A report line as a run writes it.
fn line(vendor: &str, id: &str, outcome: &str, detail: &str) -> String {
    format!(
        "{}\n",
        json!({"vendor": vendor, "kind": "email", "id": id, "outcome": outcome,
               "detail": detail, "host": "api.rallyuxr.com", "at": "2026-12-01T00:00:00Z"})
    )
}

/// Report and certificate input is read a bounded line at a time: a report of
/// `/dev/zero`-like bytes (here 3 MiB with no newline) is refused with its
/// `file:line`, by `--resume`, `verify` and `certificate`, not read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_report_line_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = line("rally", "ann@example.com", "deleted", "");
    text.push_str(&"\0".repeat(3 << 20));
    write_file(dir.path(), "r.jsonl", &text);
    write_file(dir.path(), "purge.toml", "[rally]\n");
    let env = [("RALLY_API_TOKEN", "sec-rally")];
    for args in [
        &[
            "rally",
            "--yes",
            "--resume",
            "--report",
            "r.jsonl",
            "--base-url",
            "http://127.0.0.1:9",
            "b@example.com",
        ][..],
        &["verify", "--report", "r.jsonl"],
        &["certificate", "--report", "r.jsonl", "-o", "c.html"],
    ] {
        let out = run(dir.path(), args, &env).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("r.jsonl:2") && err.contains("1 MiB"),
            "{args:?}: {err}"
        );
    }
}

/// `purge certificate -o FILE --force` replaces a regular file only: a FIFO
/// (and so a device node, as root) is refused and left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_replaces_only_a_regular_file() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "r.jsonl",
        &line("rally", "ann@example.com", "deleted", ""),
    );
    let fifo = mkfifo(&dir.path().join("out.html"));
    let out = run(
        dir.path(),
        &[
            "certificate",
            "--report",
            "r.jsonl",
            "-o",
            "out.html",
            "--force",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    // A regular file is replaced.
    write_file(dir.path(), "old.html", "old");
    let out = run(
        dir.path(),
        &[
            "certificate",
            "--report",
            "r.jsonl",
            "-o",
            "old.html",
            "--force",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(dir.path().join("old.html"))
            .unwrap()
            .len()
            > 100
    );
}

/// Vendor text in the Markdown certificate becomes no link, mention, emoji or
/// markup when GitHub renders it (comrak with GFM's autolink extension stands
/// in for GitHub), and U+2028 and zero-width characters are shown as escapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_text_in_the_markdown_certificate_is_inert() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = [
        "see https://evil.example/login now",
        "or www.evil.example",
        "ask @octocat about it",
        "mail root@evil.example",
        "party :tada: time",
        "a **bold** [link](https://evil.example) <b>x</b> | pipe `tick`",
        "line\u{2028}break and zero\u{200b}width",
    ];
    let text: String = hostile
        .iter()
        .enumerate()
        .map(|(i, d)| line("rally", &format!("p{i}@example.com"), "failed", d))
        .collect();
    write_file(dir.path(), "r.jsonl", &text);
    let out = run(
        dir.path(),
        &["certificate", "--report", "r.jsonl", "-o", "c.md"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = std::fs::read_to_string(dir.path().join("c.md")).unwrap();
    for c in ['\u{2028}', '\u{200b}'] {
        assert!(!md.contains(c), "{c:?} in the certificate");
    }
    assert!(md.contains("\\u{2028}") && md.contains("\\u{200b}"), "{md}");
    let mut options = comrak::Options::default();
    options.extension.autolink = true;
    options.extension.table = true;
    options.extension.strikethrough = true;
    let html = comrak::markdown_to_html(&md, &options);
    assert!(!html.contains("<a "), "a link was made:\n{html}");
    assert!(
        !html.contains("<strong>") && !html.contains("<b>"),
        "{html}"
    );
    // Mentions and emoji are GitHub's own filters, which skip code: each such
    // text stands in a code span.
    for live in [
        "@octocat",
        ":tada:",
        "www.evil.example",
        "https://evil.example/login",
    ] {
        let at = html
            .find(live)
            .unwrap_or_else(|| panic!("{live} missing:\n{html}"));
        let open = html[..at].rfind("<code>").expect("in a code span");
        assert!(
            !html[open..at].contains("</code>"),
            "{live} outside code:\n{html}"
        );
    }
}

/// The list on stdin, read once for every vendor of `purge everywhere`, is
/// never written to a file: `$TMPDIR` stays empty while requests are in
/// flight, after a SIGKILL, and after a double Ctrl-C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_on_stdin_never_reaches_a_file() {
    use std::io::Write as _;
    use std::process::Stdio;
    let server = MockServer::start().await;
    // Answers slower than the test: the run is always in flight when signalled.
    Mock::given(any())
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(60)))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        &format!(
            "[rally]\nbase-url = \"{0}\"\ntimeout = \"120s\"\n\n\
             [gainsight-px]\nbase-url = \"{0}\"\ntimeout = \"120s\"\n",
            server.uri()
        ),
    );
    let list = format!("email\n{}\n", emails(50).join("\n"));
    let tmp_files = || std::fs::read_dir(tmp.path()).unwrap().count();
    for signals in [&["-KILL"][..], &["-INT", "-INT"]] {
        let before = server.received_requests().await.unwrap().len();
        let mut cmd = command(
            dir.path(),
            &[
                "everywhere",
                "--yes",
                "-i",
                "-",
                "--report",
                &format!("r{}.jsonl", signals.len()),
            ],
            CREDENTIALS,
        );
        let mut child = cmd
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(list.as_bytes())
            .unwrap();
        // Readiness: requests in flight, so stdin has been read and kept.
        for _ in 0..3000 {
            if server.received_requests().await.unwrap().len() > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            server.received_requests().await.unwrap().len() > before,
            "never in flight"
        );
        assert_eq!(tmp_files(), 0, "stdin written to $TMPDIR");
        for s in signals {
            std::process::Command::new("kill")
                .args([*s, &child.id().to_string()])
                .status()
                .unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        assert!(!status.success(), "{signals:?}");
        assert_eq!(tmp_files(), 0, "{signals:?}: a file left in $TMPDIR");
    }
}
