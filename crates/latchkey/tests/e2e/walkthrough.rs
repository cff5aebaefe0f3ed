//! The README's curl walkthroughs, run as written against a real server
//! (only the address is changed), so the README stays copy-paste correct.

use std::process::Command;

use crate::support::*;

fn block(readme: &str, marker: &str) -> String {
    let after = readme
        .split_once(&format!("<!-- walkthrough:{marker} -->"))
        .unwrap_or_else(|| panic!("README lacks the {marker} walkthrough"))
        .1;
    let body = after.split_once("```sh\n").expect("a sh block").1;
    body.split_once("```").expect("end of block").0.to_owned()
}

fn run(server: &Server, script: &str) -> String {
    let script = script.replace("http://127.0.0.1:8080", &server.base);
    let out = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", &script])
        .current_dir(server.dir())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "walkthrough failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn readme_walkthroughs_work_verbatim() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let server = Server::start(&[]);

    let web = run(&server, &block(&readme, "web"));
    let lines: Vec<&str> = web.lines().collect();
    assert_eq!(lines.len(), 5, "{web}");
    assert!(
        lines[0].contains(r#""username":"alice""#) && lines[0].contains(r#""id":"#),
        "{web}"
    );
    assert!(
        lines[1].starts_with(r#"{"user_id":"#) && lines[1].contains(r#""username":"alice""#),
        "{web}"
    );
    assert!(
        lines[2].starts_with(r#"[{"id":"#) && lines[2].contains(r#""current":true"#),
        "{web}"
    );
    assert_eq!(&lines[3..], ["403", "204"], "{web}");

    let mobile = run(&server, &block(&readme, "mobile"));
    let lines: Vec<&str> = mobile.lines().collect();
    assert!(lines[0].contains(r#""username":"alice""#), "{mobile}");
    let lower = mobile.to_lowercase();
    for header in [
        "x-auth-user-id:",
        "x-auth-username: alice",
        "x-auth-session-id:",
    ] {
        assert!(lower.contains(header), "{mobile}");
    }
    assert!(
        mobile.contains(r#"{"events":[{"id":"#) && mobile.contains(r#""type":"login_succeeded""#),
        "{mobile}"
    );
    assert!(lines.contains(&"204"), "{mobile}");
    assert!(
        lines
            .last()
            .unwrap()
            .contains(r#""error":"session_revoked""#),
        "{mobile}"
    );
}

/// `.ci/run` must run exactly the test command the README gives.
#[test]
fn ci_runs_the_readme_test_command() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let section = readme
        .split_once("## The two commands")
        .expect("the two commands")
        .1;
    let blocks: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split_once("```").expect("end of block").0.trim())
        .take(2)
        .collect();
    let ci = std::fs::read_to_string(format!("{root}/.ci/run")).unwrap();
    let last = ci
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("a command");
    assert_eq!(last.trim(), blocks[1]);
    assert!(blocks[0].contains("serve"), "{}", blocks[0]);
}
