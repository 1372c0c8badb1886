//! The README's first commands, run as written: what a newcomer types on a fresh
//! machine must do what the README says it does.

mod common;
mod simulated;

use std::path::Path;

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
    // The places the README gives, as the run prints them.
    let said = readme[readme.find("## Try it").unwrap()..]
        .split("says where they are:")
        .nth(1)
        .expect("the places");
    for place in said.split('`').skip(1).step_by(2).take(2) {
        assert!(stderr.contains(place), "{place:?} not in: {stderr}");
    }
    assert!(stderr.contains("invalid"), "{stderr}");
    assert!(stderr.contains("1 duplicate dropped"), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
}

/// The install line builds what CI tests: the locked versions.
#[test]
fn the_install_line_uses_the_lock_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let lines = first_block_after(&readme, "Install the `purge` command");
    assert_eq!(lines, ["cargo install --locked --path ."]);
    let ci = std::fs::read_to_string(format!("{root}/.ci/run")).unwrap();
    assert!(ci.contains("cargo test --locked"), "{ci}");
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

/// The text of a `<<'EOF'` heredoc whose first line was read: up to its `EOF`.
fn heredoc<'a>(lines: &mut impl Iterator<Item = &'a str>) -> String {
    let mut text = String::new();
    for l in lines.by_ref() {
        if l == "EOF" {
            break;
        }
        text.push_str(l);
        text.push('\n');
    }
    text
}

/// Run one `purge` command as written in `dir`, with `--dry-run` added (nothing
/// sent, no credential), and check it is accepted. A `certificate` is made for
/// real from a sample report; `everywhere --check` (which takes no
/// `--dry-run`) runs without credentials, so it sends nothing and must name
/// every vendor's missing credential.
fn accepted_as_written(root: &str, dir: &Path, line: &str, words: &[String]) {
    // Vendor hosts are never contacted: a dry run, and loopback for --base-url.
    let mut args: Vec<String> = words.iter().map(|w| w.replace("PORT", "9")).collect();
    let check = args[0] == "everywhere" && args.iter().any(|a| a == "--check");
    if args[0] == "certificate" {
        // Sends nothing: made for real, from a sample report.
        let at = args.iter().position(|a| a == "--report").expect("--report");
        let fixture = format!("{root}/tests/fixtures/certificate/report.jsonl");
        std::fs::copy(fixture, dir.join(&args[at + 1])).unwrap();
    } else if !check && !args.iter().any(|a| a == "--dry-run") {
        args.push("--dry-run".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // A command reading stdin gets the kind of list it expects there.
    let mut child = command(dir, &args, &[])
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
    assert!(!err.contains("error:"), "README line {line:?}: {err}");
    if check {
        let table = stdout(&out);
        assert_eq!(out.status.code(), Some(2), "{line:?}: {table}{err}");
        let toml = std::fs::read_to_string(dir.join("purge.toml")).unwrap();
        let vendors = toml.lines().filter(|l| l.starts_with('[')).count();
        let missing = table
            .lines()
            .filter(|l| l.contains("is not set") || l.contains("no Zendesk credential"));
        assert_eq!(
            missing.count(),
            vendors,
            "{line:?}: a row per vendor: {table}"
        );
        return;
    }
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "README line {line:?} is not accepted: {err}"
    );
    if let Some(at) = args.iter().position(|a| *a == "-o") {
        assert!(dir.join(args[at + 1]).exists(), "{line:?} wrote nothing");
    }
}

/// Every `purge` command in the README's shell blocks, in order, is one purge
/// accepts as written: run with `--dry-run` added (nothing sent, no credential).
/// A `purge everywhere` runs with the `purge.toml` the README showed last (a
/// `toml` block, or a `cat > purge.toml` heredoc).
#[test]
fn every_purge_command_in_the_readme_is_accepted_as_written() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let mut in_block = None;
    let mut checked = 0;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "to-delete.csv", "email\nann@example.com\n");
    write_file(dir.path(), "people.csv", "email\nann@example.com\n");
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            in_block = in_block.is_none().then(|| lang.to_string());
            if lang == "toml" {
                let toml = lines.by_ref().take_while(|l| *l != "```");
                let toml: Vec<&str> = toml.collect();
                write_file(dir.path(), "purge.toml", &toml.join("\n"));
                in_block = None;
            }
            continue;
        }
        if in_block.as_deref() != Some("sh") {
            continue;
        }
        if line.starts_with("cat > purge.toml <<") {
            let toml = heredoc(&mut lines).replace("PORT", "9");
            write_file(dir.path(), "purge.toml", &toml);
            continue;
        }
        let Some(words) = purge_words(line) else {
            continue;
        };
        accepted_as_written(root, dir.path(), line, &words);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} purge commands found");
}

/// The README's `purge everywhere` against the simulator: the purge.toml it
/// shows is the one the simulator prints (ports aside), and the command after
/// it, run as written, erases the two people at all four vendors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_everywhere_lines_work_as_written() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let from = readme
        .find("also\nprints a ready `purge.toml`")
        .expect("the section");
    let mut lines = readme[from..]
        .lines()
        .skip_while(|l| !l.starts_with("cat > purge.toml <<'EOF'"));
    lines.next();
    let shown = heredoc(&mut lines);
    let line = lines
        .next()
        .expect("the command after the heredoc")
        .to_string();
    let sim = Sim::start(fast(), 10).await.unwrap();
    // The simulator's defaults: --braze-lookups-per-min 250, --quota 20.
    let printed = sim.purge_toml(250, 20);
    let mut ported = printed.clone();
    for v in Vendor::all() {
        let url = sim.url(v);
        let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
        ported = ported.replace(&format!(":{port}"), ":PORT");
    }
    assert_eq!(shown, ported, "the README shows what the simulator prints");
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &printed);
    let words = purge_words(&line).expect("a purge command");
    let env: Vec<(&str, &str)> = line[..line.find(" purge ").unwrap()]
        .split_whitespace()
        .map(|w| w.split_once('=').expect("VAR=value"))
        .collect();
    let args: Vec<&str> = words.iter().map(String::as_str).collect();
    let out = run(dir.path(), &args, &env).await;
    assert_eq!(out.status.code(), Some(0), "{line}: {}", stderr(&out));
    for v in Vendor::all() {
        let life = sim.life(v);
        assert_eq!(&life[1..3], [Life::Gone, Life::Gone], "{v:?}");
        assert!(life[3..].iter().all(|l| *l == Life::Alive), "{v:?}");
    }
    assert_eq!(
        last_outcomes(&dir.path().join("everywhere.jsonl")).len(),
        2,
        "the report it names (the last line per id)"
    );
}

/// The nightly CI example: YAML of a plain shape (a light structural check; no
/// YAML crate), scheduled, credentials only in a step's `env` from secrets of
/// the same name that purge reads, `--resume` when a report exists, exit 75
/// kept apart from the failures, the report uploaded whatever the outcome, and
/// its purge commands accepted as written. The README shows its purge step.
#[test]
fn the_nightly_workflow_example_is_sound() {
    let root = env!("CARGO_MANIFEST_DIR");
    let path = "examples/github-actions/purge-nightly.yml";
    let yaml = std::fs::read_to_string(format!("{root}/{path}")).unwrap();
    // Shape: spaces only, even indentation, `key: value`, `key:`, `- item`, and
    // block scalars (`key: |`) whose lines are indented deeper than their key.
    let mut scalar: Option<usize> = None;
    let mut top = vec![];
    for (n, l) in yaml.lines().enumerate() {
        let at = format!("{path}:{}: {l:?}", n + 1);
        assert!(!l.contains('\t'), "{at}: a tab");
        let indent = l.len() - l.trim_start().len();
        let t = l.trim();
        if let Some(k) = scalar {
            if t.is_empty() || indent > k {
                continue;
            }
            scalar = None;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        assert_eq!(indent % 2, 0, "{at}: odd indentation");
        let item = t.strip_prefix("- ").unwrap_or(t);
        if let Some((key, value)) = item.split_once(':').filter(|(k, _)| {
            k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }) {
            let value = value.trim();
            assert!(value.is_empty() || l.contains(": "), "{at}: `key: value`");
            if indent == 0 {
                top.push(key.to_string());
            }
            if value == "|" || value == ">" {
                scalar = Some(indent + (t.len() - item.len()));
            }
            let unquoted = value.split(" #").next().unwrap_or_default();
            for q in ['"', '\''] {
                if unquoted.starts_with(q) {
                    assert!(
                        unquoted.len() > 1 && unquoted.ends_with(q),
                        "{at}: open quote"
                    );
                }
            }
        } else {
            assert!(t.starts_with("- "), "{at}: neither `key:` nor `- item`");
        }
    }
    assert_eq!(
        top,
        ["name", "on", "concurrency", "permissions", "env", "jobs"]
    );
    assert!(yaml.contains("schedule:\n    - cron: \""), "scheduled");
    // Credentials: `NAME: ${{ secrets.NAME }}` in an env, for a variable purge reads.
    let code: Vec<&str> = yaml
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let mut secrets = 0;
    for l in code.iter().filter(|l| l.contains("secrets.")) {
        let (name, value) = l.trim().split_once(": ").expect("an env entry");
        assert_eq!(value, format!("${{{{ secrets.{name} }}}}"), "{l}");
        if name == "PURGE_LIST_PASSPHRASE" {
            continue; // the list's, read by gpg only
        }
        assert!(
            credential_vars().iter().any(|v| v == name),
            "{name} is not read by purge"
        );
        secrets += 1;
    }
    // Hardened for copying (#21): every action pinned by a full commit SHA, no
    // token left in .git, purge built from a commit, the list never in clear in
    // the repository, no identifier in the job log.
    let sha = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    for l in code.iter().filter(|l| l.contains("uses: ")) {
        let at = l.split("uses: ").nth(1).unwrap().split(' ').next().unwrap();
        let (_, rev) = at.split_once('@').expect("a pinned action");
        assert!(sha(rev), "{l}: not pinned by commit SHA");
    }
    assert!(yaml.contains("persist-credentials: false"));
    let rev = yaml
        .split("PURGE_REV: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    assert!(sha(rev), "PURGE_REV {rev} is not a commit");
    assert!(!yaml.contains("erasure/people.csv "), "a clear list in git");
    assert!(yaml.contains("rm -f \"$RUNNER_TEMP/people.csv\""));
    assert!(secrets >= 4, "every vendor's credential");
    assert!(
        !code.iter().any(|l| l.contains("set -x")),
        "a trace would print the credentials"
    );
    // Resume when a report exists; 75 is not a failure; 1/2/3 fail the job; the
    // report is kept whatever happened.
    assert!(yaml.contains("if [ -s \"$REPORT\" ]; then resume=(--resume); fi"));
    assert!(
        yaml.contains("|| code=$?"),
        "the exit code is read, not fatal at once"
    );
    let case = &yaml[yaml
        .find("case \"$code\" in")
        .expect("a case on the exit code")..];
    assert!(case.contains("\n            0) ;;"), "{case}");
    assert!(
        case.contains("\n            75) echo \"::warning::"),
        "{case}"
    );
    assert!(
        case.contains("*) echo \"::error::") && case.contains("exit \"$code\""),
        "{case}"
    );
    let upload = &yaml[yaml
        .find("name: Keep the report")
        .expect("the report upload")..];
    assert!(upload.contains("if: always()") && upload.contains("actions/upload-artifact@"));
    assert!(upload.contains("name: purge-report"));
    // The report holds identifiers: only its encrypted copy leaves the runner.
    assert!(
        upload.contains("path: state/purge-report.jsonl.gpg"),
        "{upload}"
    );
    let (encrypt, certificate) = (
        yaml.find("name: Encrypt the report").expect("encrypted"),
        yaml.find("name: Erasure certificate").expect("certified"),
    );
    assert!(
        yaml.find("name: purge everywhere").unwrap() < certificate && certificate < encrypt,
        "purge and verify, then the certificate, then the report encrypted"
    );
    assert!(yaml.contains("--output \"$REPORT\" --decrypt state/purge-report.jsonl.gpg"));
    assert!(
        yaml.contains("gh run download \"$id\" --name purge-report"),
        "restored"
    );
    // Its purge commands are accepted as written.
    // With the README's purge.toml of the section.
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let section = &readme[readme.find("## `purge everywhere`").expect("the section")..];
    let from = section.find("```toml\n").expect("its purge.toml") + "```toml\n".len();
    let toml = &section[from..from + section[from..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", toml);
    std::fs::create_dir_all(dir.path().join("erasure")).unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    write_file(dir.path(), "erasure/people.csv", "email\nann@example.com\n");
    let mut commands = 0;
    for l in yaml.lines() {
        let l = l.trim().trim_start_matches("run: ");
        if !l.starts_with("purge ") {
            continue;
        }
        let l = l
            .split(" || ")
            .next()
            .unwrap()
            .replace("\"$REPORT\"", "state/purge-report.jsonl")
            .replace("\"$RUNNER_TEMP/people.csv\"", "erasure/people.csv");
        // Verified after purging, so not hashed (a vendor cannot be asked
        // about a hash); quiet, so the log holds counts.
        if l.starts_with("purge everywhere ") {
            assert!(
                l.contains(" --verify --wait ") && l.contains(" -q ") && !l.contains("--hash-ids"),
                "{l}: verified, quiet, and verifiable"
            );
        }
        // The first night, and a resumed one.
        let resumes: &[&str] = if l.contains("\"${resume[@]}\"") {
            &["", "--resume"]
        } else {
            &[""]
        };
        for resume in resumes {
            let l = l.replace("\"${resume[@]}\"", resume);
            let words = purge_words(&l).expect("a purge command");
            accepted_as_written(root, dir.path(), &l, &words);
        }
        commands += 1;
    }
    assert_eq!(commands, 2, "purge everywhere and purge certificate");
    // The README shows the step that runs purge, as it is in the file.
    let from = readme.find("```yaml\n").expect("the README's yaml block") + "```yaml\n".len();
    let shown = &readme[from..from + readme[from..].find("```").unwrap()];
    assert!(
        yaml.contains(shown),
        "README's step differs from {path}:\n{shown}"
    );
}
