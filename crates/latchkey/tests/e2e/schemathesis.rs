//! The OpenAPI document, checked by a tool that shares no code with it:
//! schemathesis (Python, version [`VERSION`]) reads `/openapi.json` from
//! the running server, generates requests from it — valid ones, invalid
//! ones, boundary values — and checks every answer: no 5xx, a status,
//! content type, headers and body the document allows, invalid input
//! refused, authentication enforced.
//!
//! Requests carry a bearer token of a registered user (sent with the user
//! agent it logged in with, so the session's binding holds), so the
//! authenticated operations are exercised, not just refused; the server's
//! own request counters prove it afterwards. Operations that end the
//! token's session (`logout`, `logout-all`, `DELETE /auth/sessions/{id}`)
//! each get a run and a token of their own, after the main run. Rate
//! limits are off for these servers.
//!
//! Once per suite (these tests pick their strategies): `session`,
//! `stateful-jwt`, `auto-refresh`, and `access-refresh` mounted under
//! `/id`. Without schemathesis the tests print "skipped" and pass, unless
//! `CI` is set: then they fail. `.ci/run` installs it. Deeper runs:
//! `LATCHKEY_SCHEMATHESIS_EXAMPLES=200 LATCHKEY_SCHEMATHESIS_SEED=…`.

use std::{path::PathBuf, process::Stdio};

use reqwest::header::USER_AGENT;
use serde_json::json;
use tokio::process::Command;

use crate::support::*;

/// The pinned version (`.ci/run` installs this one).
const VERSION: &str = "4.32.5";

/// What schemathesis checks on every answer: all its checks but
/// `positive_data_acceptance`, which would have the server accept anything
/// the schema allows (a taken username, a wrong password, an unknown
/// cursor are all schema-valid and rightly refused).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_headers_conformance,response_schema_conformance,negative_data_rejection,\
    missing_required_header,unsupported_method,allow_header_conformance,ignored_auth,\
    use_after_free,ensure_resource_availability";

/// The configuration file: a body over `body_limit` refused with `413`
/// is a refusal too (schemathesis' default list of refusals lacks it).
const CONFIG: &str = r#"
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5XX"]
"#;

/// The user agent of every request, the login's included.
const AGENT: &str = "latchkey-schemathesis/1";

/// Operations that end the session of the token they are sent with.
const ENDING: [&str; 3] = ["/auth/logout", "/auth/logout-all", "/auth/sessions/{id}"];

/// Runs once, in the default run of the suite.
fn once() -> bool {
    std::env::var_os("LATCHKEY_E2E_STRATEGY").is_none()
}

/// The schemathesis executable: `LATCHKEY_SCHEMATHESIS`, or `schemathesis`
/// on the `PATH`, if it is version [`VERSION`]. `None` (skip) outside CI.
async fn schemathesis() -> Option<PathBuf> {
    let program = std::env::var_os("LATCHKEY_SCHEMATHESIS")
        .map_or_else(|| PathBuf::from("schemathesis"), PathBuf::from);
    let version = Command::new(&program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map(|out| text(&out.stdout))
        .unwrap_or_default();
    if version.contains(VERSION) {
        return Some(program);
    }
    let why = if version.is_empty() {
        format!("{} is not installed", program.display())
    } else {
        format!("{} is {}", program.display(), version.trim())
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs schemathesis {VERSION} ({why}): pip install schemathesis=={VERSION}"
    );
    println!("skipped: {why}, the OpenAPI check needs schemathesis {VERSION}");
    None
}

fn examples() -> String {
    std::env::var("LATCHKEY_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "10".to_owned())
}

fn seed() -> String {
    std::env::var("LATCHKEY_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261129".to_owned())
}

/// A server of `strategy` under `base`, without rate limits.
fn server(strategy: &str, base: &str) -> Server {
    let mut env = vec![
        ("LATCHKEY_RATE_LIMIT_LOGIN_PER_IP", "off"),
        ("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER_IP", "off"),
        ("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER", "off"),
        ("LATCHKEY_RATE_LIMIT_REGISTER_PER_IP", "off"),
        ("LATCHKEY_RATE_LIMIT_REFRESH_PER_IP", "off"),
    ];
    if !base.is_empty() {
        env.push(("LATCHKEY_BASE_PATH", base));
    }
    Server::start_with_env(&["--strategy", strategy], &env)
}

/// A new session of `username` at `api`, from [`AGENT`]: its bearer token.
async fn token(api: &str, username: &str) -> String {
    let reply = Reply::from(
        http()
            .post(format!("{api}/auth/login"))
            .header(USER_AGENT, AGENT)
            .json(&json!({ "username": username, "password": PASSWORD, "client": "mobile" }))
            .send()
            .await
            .expect("login"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    reply.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Which operations a run tests.
enum Operations<'a> {
    AllBut(&'a [&'a str]),
    Only(&'a [&'a str]),
}

/// One schemathesis run against `api` (the server's URL with its
/// prefix), every request with `token` and `headers`.
struct Run<'a> {
    st: &'a PathBuf,
    server: &'a Server,
    api: &'a str,
    token: String,
    headers: Vec<String>,
    operations: Operations<'a>,
}

impl Run<'_> {
    /// Runs it, and fails the test if schemathesis found anything.
    async fn go(self) {
        let config = self.server.dir().join("schemathesis.toml");
        std::fs::write(&config, CONFIG).expect("schemathesis.toml");
        let mut cmd = Command::new(self.st);
        cmd.current_dir(self.server.dir())
            .arg("--config-file")
            .arg(&config)
            .args(["run", &format!("{}/openapi.json", self.api)])
            .args(["--checks", CHECKS])
            .args(["--max-examples", &examples()])
            .args(["--seed", &seed()])
            .args(["--generation-database", "none"])
            .args(["--request-timeout", "10"])
            .arg("--no-color")
            .args(["-H", &format!("Authorization: Bearer {}", self.token)])
            .args(["-H", &format!("User-Agent: {AGENT}")]);
        for header in &self.headers {
            cmd.args(["-H", header]);
        }
        if !self.headers.is_empty() {
            // Credentials sent with every request cannot be left out by
            // the checks that leave one out to see it refused.
            cmd.args([
                "--exclude-checks",
                "negative_data_rejection,missing_required_header,ignored_auth",
            ]);
        }
        let (flag, paths) = match self.operations {
            Operations::AllBut(paths) => ("--exclude-path", paths),
            Operations::Only(paths) => ("--include-path", paths),
        };
        for path in paths {
            cmd.args([flag, path]);
        }
        let out = cmd
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .expect("run schemathesis");
        assert!(
            out.status.success(),
            "schemathesis found problems with {}/openapi.json:\n{}{}",
            self.api,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// How many requests the server answered `method route` with one of
/// `statuses`, from its own counters.
async fn answered(api: &str, method: &str, route: &str, statuses: &[&str]) -> u64 {
    let metrics = http()
        .get(format!("{api}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let series =
        format!("latchkey_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"");
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix(&series))
        .filter_map(|rest| rest.split_once("\"} "))
        .filter(|(status, _)| statuses.contains(status))
        .map(|(_, n)| n.trim().parse::<u64>().expect("count"))
        .sum()
}

/// The whole check of one deployment.
async fn check(strategy: &str, base: &str) {
    if !once() {
        return;
    }
    let Some(st) = schemathesis().await else {
        return;
    };
    let server = server(strategy, base);
    let api = server.url(base);
    let user = "schemathesis";
    let reply = post_json(
        &server,
        &format!("{base}/auth/register"),
        json!({ "username": user, "password": PASSWORD }),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.raw);
    let run = |token: String, operations| Run {
        st: &st,
        server: &server,
        api: &api,
        token,
        headers: Vec::new(),
        operations,
    };

    run(token(&api, user).await, Operations::AllBut(&ENDING))
        .go()
        .await;
    // The authenticated operations were exercised, not just refused.
    for route in [
        "/auth/me",
        "/auth/session",
        "/auth/sessions",
        "/auth/events",
        "/auth/verify",
    ] {
        let served = answered(&api, "GET", &format!("{base}{route}"), &["200"]).await;
        assert!(served > 0, "no GET {route} succeeded");
    }
    let password = format!("{base}/auth/password");
    let refused = answered(&api, "POST", &password, &["400", "403"]).await;
    assert!(refused > 0, "no password change got past authentication");

    // Each operation that ends a session, with a session of its own
    // (`DELETE` with the list, where its ids come from).
    for (operations, method, route, statuses) in [
        (
            &[ENDING[2], "/auth/sessions"][..],
            "DELETE",
            ENDING[2],
            &["204", "404"][..],
        ),
        (&ENDING[..1], "POST", ENDING[0], &["204"]),
        (&ENDING[1..2], "POST", ENDING[1], &["204"]),
    ] {
        run(token(&api, user).await, Operations::Only(operations))
            .go()
            .await;
        let served = answered(&api, method, &format!("{base}{route}"), statuses).await;
        assert!(served > 0, "no {method} {route} got past authentication");
    }

    if strategy == "access-refresh" {
        // `/auth/refresh` with a browser's refresh cookie and CSRF token,
        // so that its successes are checked too: the first refresh spends
        // the cookie's token; later ones are replays (the same successor
        // within the grace period, then `401 session_revoked`).
        let login = Reply::from(
            http()
                .post(format!("{api}/auth/login"))
                .header(USER_AGENT, AGENT)
                .json(&json!({ "username": user, "password": PASSWORD }))
                .send()
                .await
                .expect("login"),
        )
        .await;
        assert_eq!(login.status, 200, "{}", login.raw);
        let cookie = login.refresh_cookie().expect("refresh cookie");
        let cookie = cookie.split(';').next().expect("name=value");
        let csrf = login.body["csrf_token"].as_str().expect("csrf_token");
        let mut refresh = run(
            token(&api, user).await,
            Operations::Only(&["/auth/refresh"]),
        );
        refresh.headers = vec![format!("Cookie: {cookie}"), format!("X-CSRF-Token: {csrf}")];
        refresh.go().await;
        for method in ["GET", "POST"] {
            let served = answered(&api, method, &format!("{base}/auth/refresh"), &["200"]).await;
            assert!(served > 0, "no {method} /auth/refresh succeeded");
        }
    }
}

#[tokio::test]
async fn schemathesis_finds_nothing_in_session() {
    check("session", "").await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_in_stateful_jwt() {
    check("stateful-jwt", "").await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_in_access_refresh_under_a_prefix() {
    check("access-refresh", "/id").await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_in_auto_refresh() {
    check("auto-refresh", "").await;
}
