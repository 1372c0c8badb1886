//! Security: the credential never leaves the vendor's host (no redirect is
//! followed, for any vendor or auth style), no answer can make purge hold
//! unbounded memory, token files and resumed reports are checked, and nothing
//! an identifier or a vendor says can drive the terminal. All on 127.0.0.x.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One vendor and auth style: subcommand args, credential env, the secret that
/// must never reach the second host, and the identifiers to send.
struct Style {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    secret: &'static str,
    ids: &'static [&'static str],
    status: u16,
}

const STYLES: &[Style] = &[
    // Bearer.
    Style {
        args: &["rally"],
        env: &[("RALLY_API_TOKEN", "sec-rally-token")],
        secret: "sec-rally-token",
        ids: &["a@example.com", "b@example.com"],
        status: 307,
    },
    Style {
        args: &["braze"],
        env: &[("BRAZE_API_KEY", "sec-braze-key")],
        secret: "sec-braze-key",
        ids: &["ext-1", "ext-2"],
        status: 308,
    },
    // The vendor's own header (not stripped by HTTP clients across hosts).
    Style {
        args: &["gainsight-px"],
        env: &[("GAINSIGHT_PX_API_KEY", "sec-gpx-key")],
        secret: "sec-gpx-key",
        ids: &["user-1", "user-2"],
        status: 302,
    },
    // Basic (e-mail/token) and OAuth bearer.
    Style {
        args: &["zendesk"],
        env: &[
            ("ZENDESK_EMAIL", "agent@example.com"),
            ("ZENDESK_API_TOKEN", "sec-zd-token"),
        ],
        secret: "sec-zd-token",
        ids: &["1001", "1002"],
        status: 301,
    },
    Style {
        args: &["zendesk"],
        env: &[("ZENDESK_OAUTH_TOKEN", "sec-zd-oauth")],
        secret: "sec-zd-oauth",
        ids: &["1001", "1002"],
        status: 303,
    },
];

/// A wiremock server on another loopback address (127.0.0.2).
async fn second_host() -> MockServer {
    let listener = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_never_followed_for_any_vendor_or_auth_style() {
    for style in STYLES {
        let elsewhere = second_host().await;
        let target = elsewhere.uri();
        assert!(target.contains("127.0.0.2"), "{target}");
        let status = style.status;
        let rec = Recorder::new(move |_, r: &wiremock::Request| {
            let location = format!(
                "{target}{}{}",
                r.url.path(),
                r.url.query().map(|q| format!("?{q}")).unwrap_or_default()
            );
            ResponseTemplate::new(status).insert_header("location", location.as_str())
        });
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(rec.clone())
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let mut args = style.args.to_vec();
        args.extend(["--yes", "--report", "r.jsonl", "-vvv"]);
        let out = run_ids(dir.path(), &args, style.ids, &server.uri(), style.env).await;
        let err = stderr(&out);
        let what = format!("{:?} ({:?})", style.args, style.env[0].0);
        assert_eq!(out.status.code(), Some(3), "{what}: {err}");
        assert!(
            elsewhere.received_requests().await.unwrap().is_empty(),
            "{what}: the second host was contacted"
        );
        assert!(!rec.seen().is_empty(), "{what}: nothing was sent at all");
        assert!(
            err.contains(&format!("HTTP {status}")) && err.contains("127.0.0.2"),
            "{what}: the message names the status and the Location host: {err}"
        );
        assert!(
            err.contains("never follows redirects") && err.contains("base URL"),
            "{what}: {err}"
        );
        assert!(!err.contains(style.secret), "{what}: secret on stderr");
        let lines = report_lines(&dir.path().join("r.jsonl"));
        assert_eq!(lines.len(), style.ids.len(), "{what}: {lines:?}");
        for l in &lines {
            assert_eq!(l["outcome"], "failed", "{what}: {l}");
        }
        let text = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
        assert!(!text.contains(style.secret), "{what}: secret in the report");
    }
}

/// A server that answers `200` with a body that never ends (no length), and
/// counts the bytes it got to write on each connection.
fn endless_body_server() -> (String, Arc<AtomicU64>, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let most = Arc::new(AtomicU64::new(0));
    let conns = Arc::new(AtomicU64::new(0));
    let (m, c) = (Arc::clone(&most), Arc::clone(&conns));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            c.fetch_add(1, Ordering::Relaxed);
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n",
                );
                let chunk = vec![b'a'; 64 * 1024];
                let mut sent = 0u64;
                while stream.write_all(&chunk).is_ok() {
                    sent += chunk.len() as u64;
                    if sent > 1 << 30 {
                        break;
                    }
                }
                m.fetch_max(sent, Ordering::Relaxed);
            });
        }
    });
    (url, most, conns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_cut_at_the_cap_retried_then_failed() {
    let (url, most, conns) = endless_body_server();
    let dir = tempfile::tempdir().unwrap();
    let out = run_ids(
        dir.path(),
        &[
            "gainsight-px",
            "--yes",
            "--report",
            "r.jsonl",
            "--max-retries",
            "1",
        ],
        &["user-1"],
        &url,
        &[("GAINSIGHT_PX_API_KEY", "k")],
    )
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["outcome"], "failed", "{}", lines[0]);
    let detail = lines[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("larger than 4 MiB") && detail.contains("2 attempts"),
        "{detail}"
    );
    assert_eq!(conns.load(Ordering::Relaxed), 2, "one retry");
    // purge stopped reading at the cap: the server could write little more than
    // that plus the kernel's socket buffers, not the gigabyte it offered.
    let wrote = most.load(Ordering::Relaxed);
    assert!(
        wrote < 32 << 20,
        "server wrote {wrote} bytes on one connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let token = write_file(dir.path(), "token", "file-key\n");
    let args = [
        "gainsight-px",
        "--yes",
        "--token-file",
        token.to_str().unwrap(),
    ];
    for (mode, warned) in [(0o644, true), (0o600, false), (0o640, true)] {
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = run_ids(dir.path(), &args, &["u1"], &server.uri(), &[]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert_eq!(
            err.contains(&format!("chmod 600 {}", token.display())),
            warned,
            "mode {mode:o}: {err}"
        );
        if warned {
            assert!(err.contains(&format!("mode {mode:03o}")), "{err}");
        }
        assert!(!err.contains("file-key"), "{err}");
    }
    // A directory or an empty file is a usage error, nothing sent.
    let before = server.received_requests().await.unwrap().len();
    for bad in [
        dir.path().to_path_buf(),
        write_file(dir.path(), "empty", ""),
    ] {
        let args = [
            "gainsight-px",
            "--yes",
            "--token-file",
            bad.to_str().unwrap(),
        ];
        let out = run_ids(dir.path(), &args, &["u1"], &server.uri(), &[]).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }
    assert_eq!(server.received_requests().await.unwrap().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_refuses_a_symlinked_or_foreign_report() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("GAINSIGHT_PX_API_KEY", "k")];
    let first = run_ids(
        dir.path(),
        &["gainsight-px", "--yes", "--report", "real.jsonl"],
        &["u1"],
        &server.uri(),
        &env,
    )
    .await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    std::os::unix::fs::symlink(dir.path().join("real.jsonl"), dir.path().join("link.jsonl"))
        .unwrap();
    let sent = server.received_requests().await.unwrap().len();
    let out = run_ids(
        dir.path(),
        &[
            "gainsight-px",
            "--yes",
            "--report",
            "link.jsonl",
            "--resume",
        ],
        &["u1", "u2"],
        &server.uri(),
        &env,
    )
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("link.jsonl") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), sent);

    // Owned by another user: only root can hand a file to someone else.
    let real = dir.path().join("real.jsonl");
    if std::os::unix::fs::chown(&real, Some(65534), None).is_err() {
        eprintln!("skipping the foreign-owner case: not running as root");
        return;
    }
    let out = run_ids(
        dir.path(),
        &[
            "gainsight-px",
            "--yes",
            "--report",
            "real.jsonl",
            "--resume",
        ],
        &["u1", "u2"],
        &server.uri(),
        &env,
    )
    .await;
    let err = stderr(&out);
    if unsafe_euid_is(65534) {
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("real.jsonl") && err.contains("belongs to another user (uid 65534"),
        "{err}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), sent);
}

fn unsafe_euid_is(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == uid }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_and_vendor_text_cannot_drive_the_terminal() {
    const ESC: &str = "\x1b[2J";
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(401).set_body_string(format!("{ESC}token revoked{ESC}\r")),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    // An identifier with an escape sequence, in a file whose name has one too.
    let name = format!("list{ESC}.txt");
    write_file(
        dir.path(),
        &name,
        &format!("bad{ESC}id\nuser{ESC}x\ngood-1\n"),
    );
    let out = run(
        dir.path(),
        &[
            "braze",
            "--yes",
            "-vvv",
            "-i",
            &name,
            "--base-url",
            &server.uri(),
        ],
        &[("BRAZE_API_KEY", "k")],
    )
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(!err.contains('\x1b'), "a raw ESC reached stderr: {err:?}");
    assert!(!err.contains('\r'), "a raw CR reached stderr: {err:?}");
    assert!(err.contains("\\u{1b}[2J"), "escaped, still readable: {err}");
    assert!(err.contains("token revoked"), "{err}");
}
