//! What an operator relies on: the example configuration in `deploy/`
//! (valid, complete, its commented values the real defaults, and a server
//! starts with it), the Prometheus metrics of caches, revocation lag,
//! anomalies, logins, refreshes and revocations, and a request id on every
//! response and every request's log line.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Output,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    devices::{CHROME, PHONE, app_login, get_as},
    fleet::{feed_connected, fleet_services, redis_url},
    support::*,
};

/// Tests that pick their own strategy run in the default run only.
fn once() -> bool {
    std::env::var_os("LATCHKEY_E2E_STRATEGY").is_none()
}

// --- deploy/latchkey.toml ----------------------------------------------------

fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/latchkey.toml")
}

/// The keys a config file may have: the fields of `FileConfig`, read from
/// the source, so a key added there and not to the example fails here.
fn file_config_keys() -> Vec<String> {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config.rs"))
            .expect("config.rs");
    let start = source
        .find("struct FileConfig {")
        .expect("struct FileConfig in config.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n}").expect("end of FileConfig")];
    let keys: Vec<String> = body
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().trim_start_matches("pub ").to_owned())
        .collect();
    assert!(keys.len() > 20, "FileConfig parsed to {keys:?}");
    keys
}

/// The key a line of the example sets or shows commented out, if any.
fn key_of(line: &str, keys: &[String]) -> Option<String> {
    let line = line.strip_prefix("# ").unwrap_or(line);
    let (key, _) = line.split_once(" = ")?;
    keys.iter().find(|k| *k == key).cloned()
}

fn config_check(dir: &Path, file: &Path) -> Output {
    latchkey()
        .current_dir(dir)
        .args(["config", "check", "--config"])
        .arg(file)
        .output()
        .expect("config check")
}

#[test]
fn the_example_config_is_valid_and_documents_every_key() {
    if !once() {
        return;
    }
    let keys = file_config_keys();
    let text = std::fs::read_to_string(example_config()).expect("deploy/latchkey.toml");
    let lines: Vec<&str> = text.lines().collect();
    let dir = tempfile::tempdir().unwrap();
    let out = config_check(dir.path(), &example_config());
    assert!(
        out.status.success(),
        "{}",
        crate::support::text(&out.stderr)
    );

    for key in &keys {
        let at: Vec<usize> = (0..lines.len())
            .filter(|&i| key_of(lines[i], &keys).as_deref() == Some(key))
            .collect();
        assert_eq!(
            at.len(),
            1,
            "{key} should appear once in deploy/latchkey.toml"
        );
        // With a one-line comment right above it.
        let above = lines[at[0] - 1];
        assert!(
            above.starts_with("# ") && key_of(above, &keys).is_none(),
            "{key} has no comment of its own above it: {above:?}"
        );
    }

    // The commented-out values are the defaults: setting them all changes
    // nothing. (Not the hashing limits, which depend on the cores, nor
    // `redis`, which has none.)
    let uncommented: String = lines
        .iter()
        .map(
            |line| match (line.strip_prefix("# "), key_of(line, &keys)) {
                (Some(set), Some(key))
                    if !["redis", "password_hash_concurrency", "password_hash_queue"]
                        .contains(&key.as_str()) =>
                {
                    format!("{set}\n")
                }
                _ => format!("{line}\n"),
            },
        )
        .collect();
    let all_set = dir.path().join("all-set.toml");
    std::fs::write(&all_set, &uncommented).unwrap();
    let with_defaults = config_check(dir.path(), &all_set);
    assert!(
        with_defaults.status.success(),
        "{}",
        crate::support::text(&with_defaults.stderr)
    );
    assert_eq!(
        crate::support::text(&with_defaults.stdout),
        crate::support::text(&out.stdout),
        "a commented-out value in deploy/latchkey.toml is not the default"
    );
}

#[tokio::test]
async fn a_server_starts_with_the_example_config() {
    if !once() {
        return;
    }
    // Its database and address are the test's; everything else the file's.
    let example = example_config();
    let server = Server::start(&["--config", example.to_str().unwrap()]);
    let r = Reply::from(http().get(server.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(register(&server, "alice").await.status, 201);
    let token = mobile_login(&server, "alice").await;
    assert_eq!(get_bearer(&server, "/auth/me", &token).await.status, 200);
}

// --- /metrics ----------------------------------------------------------------

/// `/metrics`, parsed: each series (`name{label="value",…}`, labels sorted)
/// and its value.
async fn metrics(server: &Server) -> BTreeMap<String, f64> {
    let r = http().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    let mut all = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = value.parse().unwrap_or(f64::NAN);
        let key = match series.split_once('{') {
            None => series.to_owned(),
            Some((name, rest)) => {
                let labels = rest.strip_suffix('}').expect("closing brace");
                let mut pairs = parse_labels(labels);
                pairs.sort();
                let pairs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                key(name, &pairs)
            }
        };
        all.insert(key, value);
    }
    all
}

fn parse_labels(mut rest: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut end = after.len();
        let mut chars = after.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '"' => {
                    end = i;
                    break;
                }
                c => value.push(c),
            }
        }
        pairs.push((name.trim_start_matches(',').to_owned(), value));
        rest = after.get(end + 1..).unwrap_or("");
    }
    pairs
}

/// The series key of `name` with `labels` (given sorted by name).
fn key(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// The value of a series, 0 when it is not exposed.
fn value(all: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    all.get(&key(name, labels)).copied().unwrap_or(0.0)
}

const LOOKUPS: &str = "latchkey_cache_lookups_total";
const LAG: &str = "latchkey_revocation_feed_lag_seconds";

/// The count and mean of the lag histogram (or summary) of `feed`.
fn lag(all: &BTreeMap<String, f64>, feed: &str) -> (f64, f64) {
    let count = value(all, &format!("{LAG}_count"), &[("feed", feed)]);
    let sum = value(all, &format!("{LAG}_sum"), &[("feed", feed)]);
    (count, if count > 0.0 { sum / count } else { 0.0 })
}

/// Waits until `token` is refused by `server` (a revocation made
/// elsewhere has arrived), for at most `limit`.
async fn until_refused(server: &Server, token: &str, limit: Duration) {
    let started = Instant::now();
    loop {
        let r = get_bearer(server, "/auth/me", token).await;
        if r.status == 401 {
            r.error(401, "session_revoked");
            return;
        }
        assert!(started.elapsed() < limit, "still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `stateful-jwt` reads both caches on every request: the verified-token
/// cache and the session-record cache. A revocation made by the CLI reaches
/// the server through its store poll, and the poll's lag is measured.
#[tokio::test]
async fn metrics_count_cache_lookups_logins_revocations_and_poll_lag() {
    if !once() {
        return;
    }
    let server = Server::start(&["--strategy", "stateful-jwt"]);
    let before = metrics(&server).await;
    // Registered at start, before any request.
    for cache in ["session", "token"] {
        for result in ["hit", "miss"] {
            let series = key(LOOKUPS, &[("cache", cache), ("result", result)]);
            assert_eq!(before.get(&series), Some(&0.0), "{series}");
        }
    }

    let token = user_with_token(&server, "alice").await;
    for _ in 0..5 {
        assert_eq!(get_bearer(&server, "/auth/me", &token).await.status, 200);
    }
    let after = metrics(&server).await;
    for cache in ["session", "token"] {
        let hits = value(&after, LOOKUPS, &[("cache", cache), ("result", "hit")]);
        let misses = value(&after, LOOKUPS, &[("cache", cache), ("result", "miss")]);
        // The first request fills the cache, the next four find it there.
        assert!(misses >= 1.0, "{cache}: {misses} misses");
        assert!(hits >= 4.0, "{cache}: {hits} hits");
        assert!(hits + misses <= 6.0, "{cache}: {hits} + {misses}");
    }
    assert_eq!(
        value(
            &after,
            "latchkey_logins_total",
            &[("client", "mobile"), ("result", "success")]
        ),
        1.0
    );

    // A revocation the server hears of from the store only.
    assert_eq!(register(&server, "bob").await.status, 201);
    let bob = mobile_login(&server, "bob").await;
    assert_eq!(get_bearer(&server, "/auth/me", &bob).await.status, 200);
    let out = server.cli(&["users", "revoke-all", "bob"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    until_refused(&server, &bob, Duration::from_secs(3)).await;
    let send = send_bearer(&server, Method::POST, "/auth/logout", &token).await;
    assert_eq!(send.status, 204, "{}", send.raw);

    let after = metrics(&server).await;
    let (count, mean) = lag(&after, "poll");
    // The CLI's revocation only: this node's own logout is no news to it.
    assert_eq!(count, 1.0, "poll lag: {after:?}");
    // At most one 250 ms poll interval, plus a slow machine's scheduling.
    assert!((0.0..2.0).contains(&mean), "poll lag {mean} s");
    assert_eq!(
        value(
            &after,
            "latchkey_revocations_total",
            &[("reason", "logout")]
        ),
        1.0
    );
    assert!(after.contains_key(&key("latchkey_cache_entries", &[("cache", "session")])));
    assert!(after.contains_key("latchkey_revocation_deny_list_entries"));
}

/// Anomalies have their own counter, by reason and what the policy did:
/// another user agent (revoked by default), and a spent refresh token
/// presented again.
#[tokio::test]
async fn metrics_count_anomalies_refreshes_and_theft() {
    if !once() {
        return;
    }
    let server = Server::start_with_env(
        &["--strategy", "access-refresh"],
        &[("LATCHKEY_REFRESH_GRACE", "1s")],
    );
    const ANOMALIES: &str = "latchkey_anomalies_total";

    // A token used from another browser than the phone it was issued to.
    assert_eq!(register(&server, "alice").await.status, 201);
    let token = app_login(&server, "alice", PHONE, None).await;
    assert_eq!(
        get_as(&server, "/auth/me", &token, PHONE, None)
            .await
            .status,
        200
    );
    get_as(&server, "/auth/me", &token, CHROME, None)
        .await
        .error(401, "session_revoked");

    // A refresh, then the spent refresh token again after the grace period.
    let login = post_json(
        &server,
        "/auth/login",
        json!({"username": "alice", "password": PASSWORD, "client": "mobile"}),
    )
    .await;
    let first = login.body["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let server = &server;
        async move { post_json(server, "/auth/refresh", json!({ "refresh_token": token })).await }
    };
    assert_eq!(refresh(first.clone()).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    refresh(first).await.error(401, "session_revoked");

    let all = metrics(&server).await;
    let anomalies = |reason: &str, action: &str| {
        value(&all, ANOMALIES, &[("action", action), ("reason", reason)])
    };
    assert_eq!(anomalies("user_agent_changed", "revoke"), 1.0, "{all:?}");
    assert_eq!(anomalies("refresh_reuse", "revoke"), 1.0, "{all:?}");
    assert_eq!(anomalies("ip_changed", "log"), 0.0);
    for (reason, n) in [("anomaly", 1.0), ("theft_detection", 1.0)] {
        assert_eq!(
            value(&all, "latchkey_revocations_total", &[("reason", reason)]),
            n,
            "{reason}"
        );
    }
    for (result, n) in [("success", 1.0), ("revoked", 1.0)] {
        assert_eq!(
            value(&all, "latchkey_refreshes_total", &[("result", result)]),
            n,
            "{result}"
        );
    }
}

// --- The revocation feeds' lag, between two nodes -----------------------------

/// Revocations made on one node reach the other through the feed, which
/// measures how late: every one is news to the other node exactly once
/// (nearly always through the feed, else its poll), never to the node that
/// made it.
#[tokio::test]
async fn the_feeds_measure_how_late_revocations_arrive() {
    if !fleet_services() {
        return;
    }
    const TRIALS: usize = 3;
    let redis = redis_url();
    for feed in ["postgres", "redis"] {
        let db = Database::postgres();
        let mut args = vec!["--strategy", "access-refresh"];
        if feed == "redis" {
            args.extend(["--redis", redis.as_str()]);
        }
        let env = [
            ("LATCHKEY_REDIS_NAMESPACE", db.name()),
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_IP", "off"),
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER_IP", "off"),
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER", "off"),
        ];
        let nodes: Vec<Server> = (0..2)
            .map(|_| Server::start_shared(&db.url, &args, &env))
            .collect();
        for node in &nodes {
            feed_connected(node).await;
        }
        let (a, b) = (&nodes[0], &nodes[1]);
        assert_eq!(register(a, "alice").await.status, 201);
        for _ in 0..TRIALS {
            let token = mobile_login(a, "alice").await;
            assert_eq!(get_bearer(b, "/auth/me", &token).await.status, 200);
            let r = send_bearer(a, Method::POST, "/auth/logout", &token).await;
            assert_eq!(r.status, 204, "{}", r.raw);
            until_refused(b, &token, Duration::from_secs(2)).await;
        }
        let on_a = metrics(a).await;
        let on_b = metrics(b).await;
        let (heard, mean) = lag(&on_b, feed);
        let (polled, _) = lag(&on_b, "poll");
        eprintln!("feed lag: {feed}: {heard} through the feed (mean {mean} s), {polled} polled");
        assert!(heard >= 1.0, "{feed}: {on_b:?}");
        assert!(
            heard + polled >= TRIALS as f64,
            "{feed}: {heard} + {polled}"
        );
        assert!(
            heard + polled <= TRIALS as f64 + 1.0,
            "{feed}: {heard} + {polled}"
        );
        assert!((0.0..1.0).contains(&mean), "{feed}: lag {mean} s");
        assert_eq!(
            lag(&on_a, feed).0,
            0.0,
            "{feed}: its own revocations are no news"
        );
        assert_eq!(
            lag(&on_a, "poll").0,
            0.0,
            "{feed}: its own revocations are no news"
        );
    }
}

// --- Request ids ---------------------------------------------------------------

/// A request of the request-id test: method, path, JSON body, one more
/// header, and the status expected.
type Case<'a> = (
    Method,
    &'a str,
    Option<&'a Value>,
    Option<(&'a str, &'a str)>,
    u16,
);

/// Every response carries an `X-Request-Id`, the client's own when it sent
/// one, whatever answered: a route, the fallback, a middleware, a limit.
/// With JSON logs, every line is JSON and every line about a request
/// carries its id.
#[tokio::test]
async fn every_response_and_request_log_line_carries_a_request_id() {
    let server = Server::start_with_env(
        &[],
        &[
            ("LATCHKEY_LOG_FORMAT", "json"),
            ("LATCHKEY_BODY_LIMIT", "1024"),
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_IP", "2/1m"),
        ],
    );
    assert_eq!(register(&server, "alice").await.status, 201);
    let wrong = json!({"username": "alice", "password": "not the password"});
    let big = json!({"username": "alice", "password": "x".repeat(4096)});
    let big_header = "h".repeat(40 * 1024);
    let cases: Vec<Case<'_>> = vec![
        (Method::GET, "/healthz", None, None, 200),
        (Method::GET, "/metrics", None, None, 200),
        (Method::GET, "/nowhere", None, None, 404),
        (Method::DELETE, "/healthz", None, None, 405),
        (Method::GET, "/auth/me", None, None, 401),
        (
            Method::GET,
            "/auth/me",
            None,
            Some(("authorization", "Bearer nonsense")),
            401,
        ),
        (
            Method::GET,
            "/auth/me",
            None,
            Some(("x-big", big_header.as_str())),
            431,
        ),
        (Method::POST, "/auth/login", Some(&big), None, 413),
        (Method::POST, "/auth/login", Some(&wrong), None, 401),
        (Method::POST, "/auth/login", Some(&wrong), None, 401),
        (Method::POST, "/auth/login", Some(&wrong), None, 429),
    ];
    let mut sent = Vec::new();
    for (n, (method, path, body, header, status)) in cases.into_iter().enumerate() {
        // Every other request brings its own id.
        let own = (n % 2 == 1).then(|| format!("e2e-request-{n}-{}", std::process::id()));
        let mut req = http().request(method.clone(), server.url(path));
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        if let Some(id) = &own {
            req = req.header("x-request-id", id);
        }
        let r = Reply::from(req.send().await.unwrap()).await;
        let what = format!("{method} {path}");
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.raw);
        let id = r
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{what}: no X-Request-Id"));
        match &own {
            Some(own) => assert_eq!(id, own, "{what}"),
            None => assert_eq!(id.len(), 36, "{what}: {id}"),
        }
        sent.push(id.to_owned());
    }

    let log = server.log();
    let mut with_id = std::collections::BTreeSet::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let spans = entry["spans"].as_array().cloned().unwrap_or_default();
        for span in spans.iter().filter(|s| s["name"] == "request") {
            let id = span["request_id"].as_str().unwrap_or("");
            assert!(!id.is_empty(), "a request's line without its id: {line}");
            with_id.insert(id.to_owned());
        }
    }
    for id in &sent {
        assert!(with_id.contains(id), "no log line carries request id {id}");
    }
}
