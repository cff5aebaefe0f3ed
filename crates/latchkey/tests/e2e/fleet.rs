//! Several nodes on one PostgreSQL behave like one: a token revoked through
//! any node is refused by every other, in every strategy, with the
//! PostgreSQL `LISTEN/NOTIFY` feed and with the Redis feed. The tests
//! report the propagation latency they measure (`--nocapture` shows it).

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::support::*;

const STRATEGIES: [&str; 4] = ["session", "stateful-jwt", "access-refresh", "auto-refresh"];
/// Trials per feed and strategy; `LATCHKEY_FLEET_TRIALS` raises it for a
/// measurement run (see the README).
fn trials() -> usize {
    std::env::var("LATCHKEY_FLEET_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
}

pub fn redis_url() -> String {
    std::env::var("LATCHKEY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned())
}

/// PostgreSQL and Redis are both needed: skipped outside CI without them,
/// a failure with `CI` set.
pub fn fleet_services() -> bool {
    if std::env::var_os("LATCHKEY_E2E_STRATEGY").is_some() {
        return false; // The fleet picks its own strategies: run once.
    }
    let redis = std::process::Command::new("redis-cli")
        .args(["-u", &redis_url(), "ping"])
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "PONG");
    let postgres = postgres_admin("SELECT 1".to_owned());
    match (postgres, redis) {
        (Ok(()), true) => true,
        (pg, redis) if std::env::var_os("CI").is_some() => {
            panic!(
                "the fleet and feed tests need PostgreSQL ({pg:?}) and Redis (up: {redis}) in CI"
            )
        }
        (pg, redis) => {
            eprintln!(
                "skipped: the fleet and feed tests need PostgreSQL ({pg:?}) and Redis (up: {redis})"
            );
            false
        }
    }
}

/// The environment of a fleet node: its own Redis namespace (tests share
/// one Redis), and with `limits` off no login limits, for tests that log in
/// many times.
fn fleet_env(db: &Database, limits: bool) -> Vec<(&'static str, String)> {
    let mut env = vec![("LATCHKEY_REDIS_NAMESPACE", db.name().to_owned())];
    if !limits {
        for key in [
            "LATCHKEY_RATE_LIMIT_LOGIN_PER_IP",
            "LATCHKEY_RATE_LIMIT_LOGIN_PER_USER_IP",
            "LATCHKEY_RATE_LIMIT_LOGIN_PER_USER",
            "LATCHKEY_RATE_LIMIT_REGISTER_PER_IP",
        ] {
            env.push((key, "off".to_owned()));
        }
    }
    env
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Waits until `node` reports its feed connected.
pub async fn feed_connected(node: &Server) {
    let started = Instant::now();
    loop {
        let r = Reply::from(http().get(node.url("/readyz")).send().await.unwrap()).await;
        if r.body["feed_connected"] == true {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "feed never connected: {}",
            r.raw
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long after a revocation through one node another refuses the token.
async fn propagation(login: &Server, revoke: &Server, check: &Server, user: &str) -> Duration {
    let token = mobile_login(login, user).await;
    assert_eq!(get_bearer(check, "/auth/me", &token).await.status, 200);
    let r = send_bearer(revoke, Method::POST, "/auth/logout", &token).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let revoked = Instant::now();
    loop {
        let r = get_bearer(check, "/auth/me", &token).await;
        if r.status == 401 {
            r.error(401, "session_revoked");
            return revoked.elapsed();
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(2),
            "still accepted after 2 s"
        );
    }
}

#[tokio::test]
async fn a_revocation_through_one_node_reaches_every_other() {
    if !fleet_services() {
        return;
    }
    let redis = redis_url();
    for feed in ["postgres", "redis"] {
        for strategy in STRATEGIES {
            let db = Database::postgres();
            let mut args = vec!["--strategy", strategy];
            if feed == "redis" {
                args.extend(["--redis", redis.as_str()]);
            }
            let env = fleet_env(&db, false);
            let nodes: Vec<Server> = (0..3)
                .map(|_| Server::start_shared(&db.url, &args, &env_refs(&env)))
                .collect();
            for node in &nodes {
                feed_connected(node).await;
            }
            register(&nodes[0], "alice").await;
            let mut seen = Vec::new();
            for _ in 0..trials() {
                seen.push(propagation(&nodes[0], &nodes[1], &nodes[2], "alice").await);
            }
            seen.sort();
            let at = |q: f64| seen[((seen.len() - 1) as f64 * q).round() as usize];
            let (p50, p99, max) = (at(0.5), at(0.99), seen[seen.len() - 1]);
            eprintln!(
                "fleet: feed={feed} strategy={strategy} p50={p50:?} p99={p99:?} max={max:?} over {}",
                seen.len()
            );
            assert!(max < Duration::from_secs(1), "{feed}/{strategy}: {seen:?}");
        }
    }
}

#[tokio::test]
async fn a_replay_stopped_on_one_node_is_refused_by_every_other() {
    use crate::devices::{CHROME, PHONE, get_as};
    if !fleet_services() {
        return;
    }
    for strategy in STRATEGIES {
        let db = Database::postgres();
        let env = fleet_env(&db, false);
        let args = ["--strategy", strategy];
        let nodes: Vec<Server> = (0..2)
            .map(|_| Server::start_shared(&db.url, &args, &env_refs(&env)))
            .collect();
        for node in &nodes {
            feed_connected(node).await;
        }
        register(&nodes[0], "alice").await;
        let token = crate::devices::app_login(&nodes[0], "alice", PHONE, None).await;
        assert_eq!(
            get_as(&nodes[1], "/auth/me", &token, PHONE, None)
                .await
                .status,
            200
        );
        // The thief's request reaches node 0; the owner's next one node 1.
        get_as(&nodes[0], "/auth/me", &token, CHROME, None)
            .await
            .error(401, "session_revoked");
        let revoked = Instant::now();
        loop {
            let r = get_as(&nodes[1], "/auth/me", &token, PHONE, None).await;
            if r.status == 401 {
                r.error(401, "session_revoked");
                break;
            }
            assert!(
                revoked.elapsed() < Duration::from_secs(1),
                "{strategy}: still accepted after 1 s"
            );
        }
    }
}

#[test]
fn nodes_starting_together_migrate_one_at_a_time() {
    if !fleet_services() {
        return;
    }
    let db = Database::postgres();
    std::thread::scope(|s| {
        let starts: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| Server::start_shared(&db.url, &["--strategy", "access-refresh"], &[]))
            })
            .collect();
        for start in starts {
            let node = start.join().expect("node started");
            drop(node);
        }
    });
}

/// A `redis-server` of the test's own, on a free loopback port.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn readiness(node: &Server) -> serde_json::Value {
    Reply::from(http().get(node.url("/readyz")).send().await.unwrap())
        .await
        .body
}

#[tokio::test]
async fn losing_redis_degrades_to_store_checks_and_recovers() {
    if !fleet_services() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redis = OwnRedis::start(port);
    let db = Database::postgres();
    let url = redis.url();
    let args = ["--strategy", "access-refresh", "--redis", url.as_str()];
    let env = fleet_env(&db, false);
    let (a, b) = (
        Server::start_shared(&db.url, &args, &env_refs(&env)),
        Server::start_shared(&db.url, &args, &env_refs(&env)),
    );
    feed_connected(&a).await;
    feed_connected(&b).await;
    register(&a, "alice").await;

    drop(redis);
    // Both nodes notice, say so, and keep enforcing revocations by reading
    // the store on every request.
    for node in [&a, &b] {
        let started = Instant::now();
        while readiness(node).await["status"] != "degraded" {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "feed loss not noticed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let lag = propagation(&a, &a, &b, "alice").await;
    assert!(
        lag < Duration::from_millis(200),
        "revocation without the feed took {lag:?}"
    );
    assert!(b.log().contains("revocation feed lost"), "{}", b.log());
    let metrics = http()
        .get(b.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"latchkey_revocation_feed_up{feed="redis"} 0"#),
        "{metrics}"
    );

    // Redis comes back: the nodes return to the feed by themselves.
    let _redis = OwnRedis::start(port);
    feed_connected(&a).await;
    feed_connected(&b).await;
    let lag = propagation(&a, &b, &a, "alice").await;
    assert!(lag < Duration::from_secs(1), "{lag:?}");
}

/// A TCP forwarder to the test PostgreSQL that the test can cut and
/// restore: "PostgreSQL is unreachable" without touching the real server.
struct Cuttable {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Cuttable {
    async fn start(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, mut watch) = tokio::sync::watch::channel(0u64);
        let is_open = open.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    continue; // Dropped at once: as good as refused.
                }
                // Only cuts from now on end this connection.
                watch.borrow_and_update();
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watch.changed() => {}
                    }
                });
            }
        });
        Self { port, open, cut }
    }

    fn set_open(&self, open: bool) {
        self.open.store(open, std::sync::atomic::Ordering::SeqCst);
        if !open {
            self.cut.send_modify(|n| *n += 1);
        }
    }
}

// Several threads: the forwarder must run while the test blocks starting a
// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_postgres_answers_503_fast_and_recovers_without_losing_sessions() {
    if !fleet_services() {
        return;
    }
    let db = Database::postgres();
    let server = postgres_server();
    let (user, host) = server
        .trim_start_matches("postgres://")
        .split_once('@')
        .expect("user@host in LATCHKEY_TEST_POSTGRES");
    let target = tokio::net::lookup_host(host).await.unwrap().next().unwrap();
    let proxy = Cuttable::start(target).await;
    let name = db.url.rsplit('/').next().unwrap();
    let url = format!("postgres://{user}@127.0.0.1:{}/{name}", proxy.port);
    // Redis carries revocations, so a live token needs no PostgreSQL.
    let redis = redis_url();
    let env = fleet_env(&db, false);
    let node = Server::start_shared(
        &url,
        &["--strategy", "access-refresh", "--redis", &redis],
        &env_refs(&env),
    );
    feed_connected(&node).await;
    register(&node, "alice").await;
    let token = mobile_login(&node, "alice").await;

    proxy.set_open(false);
    // Verification that needs no store keeps working.
    assert_eq!(get_bearer(&node, "/auth/me", &token).await.status, 200);
    // What needs the store answers 503, quickly.
    let started = Instant::now();
    let login = serde_json::json!({"username": "alice", "password": PASSWORD});
    let r = post_json(&node, "/auth/login", login).await;
    r.error(503, "unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let ready = Reply::from(http().get(node.url("/readyz")).send().await.unwrap()).await;
    ready.error(503, "unavailable");

    proxy.set_open(true);
    // Recovers by itself, with every session it had.
    let started = Instant::now();
    loop {
        let r = Reply::from(http().get(node.url("/readyz")).send().await.unwrap()).await;
        if r.status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no recovery: {}",
            r.raw
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get_bearer(&node, "/auth/me", &token).await.status, 200);
    let sessions = get_bearer(&node, "/auth/sessions", &token).await;
    assert_eq!(sessions.status, 200, "{}", sessions.raw);
    assert_eq!(sessions.body.as_array().unwrap().len(), 1);
    mobile_login(&node, "alice").await;
}

#[tokio::test]
async fn with_redis_every_node_counts_the_same_login_attempts() {
    if !fleet_services() {
        return;
    }
    let db = Database::postgres();
    let redis = redis_url();
    let mut env = fleet_env(&db, true);
    env.push(("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER_IP", "4/1m".to_owned()));
    let args = ["--redis", redis.as_str()];
    let nodes = [
        Server::start_shared(&db.url, &args, &env_refs(&env)),
        Server::start_shared(&db.url, &args, &env_refs(&env)),
    ];
    register(&nodes[0], "alice").await;
    let attempt = |node: &Server| {
        let url = node.url("/auth/login");
        async move {
            Reply::from(
                http()
                    .post(url)
                    .json(&serde_json::json!({"username": "alice", "password": "guess guess"}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    // Four attempts, spread over both nodes, use up the shared allowance.
    for i in 0..4 {
        attempt(&nodes[i % 2]).await.error(401, "unauthenticated");
    }
    for node in &nodes {
        attempt(node).await.error(429, "rate_limited");
    }
}
