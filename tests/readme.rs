//! The README's first commands, run as written: what a newcomer types on a fresh
//! machine must do what the README says it does.

mod common;
mod simulated;

use common::*;
use simulated::*;

/// The shell lines of the first code block after `heading`.
fn first_block_after(readme: &str, heading: &str) -> Vec<String> {
    let from = readme.find(heading).expect("heading in README");
    let rest = &readme[from..];
    let start = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = start + rest[start..].find("```").expect("closed block");
    rest[start..end]
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_try_it_commands_do_what_the_readme_says() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let lines = first_block_after(&readme, "## Try it");
    // The two set-up commands, in this order: the main job planned, then the tests.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1], "cargo test", "CI runs the same test command");
    let args = lines[0]
        .strip_prefix("cargo run -- ")
        .expect("the first runs purge through cargo");
    let args: Vec<&str> = args.split_whitespace().collect();
    let out = command(std::path::Path::new(root), &args, &[])
        .output()
        .unwrap();
    let (stdout, stderr) = (stdout(&out), stderr(&out));
    // "prints one line per request (POST https://…/people/delete {"emails":[…]})
    // on stdout and a summary on stderr; … a duplicate and an invalid row on
    // purpose, so it exits 1 and says where they are."
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stdout.is_empty());
    for line in stdout.lines() {
        assert!(
            line.starts_with(
                "POST https://api.rallyuxr.com/api/public/v1/people/delete {\"emails\":["
            ),
            "{line}"
        );
    }
    assert!(
        stderr.contains("examples/emails.csv:"),
        "names where: {stderr}"
    );
    assert!(stderr.contains("invalid"), "{stderr}");
    assert!(stderr.contains("1 duplicate dropped"), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_command_works_as_written() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let line = first_block_after(&readme, "It prints one ready-to-paste command per vendor")
        .into_iter()
        .next()
        .expect("the example command");
    let sim = Sim::start(fast(), 10).await.unwrap();
    let line = line.replace(
        "http://127.0.0.1:PORT/api/public/v1",
        &sim.url(Vendor::Rally),
    );
    // `VAR=value … purge ARGS`: the environment, then purge's arguments.
    let mut env = vec![];
    let mut words = line.split_whitespace();
    let mut args = vec![];
    for w in words.by_ref() {
        match w.split_once('=') {
            Some((k, v)) if args.is_empty() && w != "purge" => env.push((k, v)),
            _ if w == "purge" => break,
            _ => panic!("unexpected {w:?} in {line:?}"),
        }
    }
    args.extend(words);
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &args, &env).await;
    assert_eq!(out.status.code(), Some(0), "{line}: {}", stderr(&out));
    assert_eq!(sim.life(Vendor::Rally)[1], Life::Gone, "person 1 erased");
    assert!(
        dir.path().join("rally.jsonl").exists(),
        "the report it names"
    );
}

/// The `purge …` words of a shell line (after `VAR=value`s or a pipe; up to a
/// redirection), with simple double quotes joined.
fn purge_words(line: &str) -> Option<Vec<String>> {
    let at = line.find("purge ")?;
    let before = &line[..at];
    if !(before.is_empty()
        || before.ends_with("| ")
        || before.split_whitespace().all(|w| w.contains('=')))
    {
        return None;
    }
    let rest = line[at + "purge ".len()..]
        .split(" > ")
        .next()
        .unwrap_or_default();
    let mut words = vec![];
    let mut quoted: Option<String> = None;
    for w in rest.split_whitespace() {
        match quoted.as_mut() {
            Some(q) => {
                q.push(' ');
                q.push_str(w.trim_end_matches('"'));
                if w.ends_with('"') {
                    words.push(quoted.take().unwrap_or_default());
                }
            }
            None if w.starts_with('"') && !w[1..].ends_with('"') => {
                quoted = Some(w.trim_start_matches('"').to_string());
            }
            None => words.push(w.trim_matches('"').to_string()),
        }
    }
    Some(words)
}

/// Every `purge` command in the README's shell blocks, in order, is one purge
/// accepts as written: run with `--dry-run` added (nothing sent, no credential).
#[test]
fn every_purge_command_in_the_readme_is_accepted_as_written() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let mut in_block = false;
    let mut checked = 0;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "to-delete.csv", "email\nann@example.com\n");
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        let Some(words) = in_block.then(|| purge_words(line)).flatten() else {
            continue;
        };
        // Vendor hosts are never contacted: a dry run, and loopback for --base-url.
        let mut args: Vec<String> = words.iter().map(|w| w.replace("PORT", "9")).collect();
        if args[0] == "certificate" {
            // Sends nothing: made for real, from a sample report.
            let at = args.iter().position(|a| a == "--report").expect("--report");
            let fixture = format!("{root}/tests/fixtures/certificate/report.jsonl");
            std::fs::copy(fixture, dir.path().join(&args[at + 1])).unwrap();
        } else {
            args.push("--dry-run".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // A command reading stdin gets the kind of list it expects there.
        let mut child = command(dir.path(), &args, &[])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(b"Name,Work Email\nAnn,ann@example.com\n");
        }
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "README line {line:?} is not accepted: {err}"
        );
        assert!(!err.contains("error:"), "README line {line:?}: {err}");
        if let Some(at) = args.iter().position(|a| *a == "-o") {
            assert!(
                dir.path().join(args[at + 1]).exists(),
                "{line:?} wrote nothing"
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} purge commands found");
}
