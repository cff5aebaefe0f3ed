//! Starting servers and talking to them.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Output, Stdio},
    sync::{Mutex, PoisonError, mpsc},
    time::Duration,
};

use reqwest::{Client, Response, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";

/// The strategy this run of the suite exercises: `session` unless
/// `LATCHKEY_E2E_STRATEGY` says otherwise (see `strategies.rs`).
pub fn strategy() -> String {
    std::env::var("LATCHKEY_E2E_STRATEGY").unwrap_or_else(|_| "session".to_owned())
}

/// The binary under test, with no `LATCHKEY_*` variable of the caller's
/// environment leaking into it.
pub fn latchkey() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LATCHKEY_") {
            cmd.env_remove(key);
        }
    }
    // Debug for latchkey's own crates and the request traces: the logs
    // every test's servers write are searched for the run's secrets.
    cmd.env("LATCHKEY_LOG", LOG_FILTER);
    cmd
}

const LOG_FILTER: &str = "info,sqlx=warn,latchkey=debug,latchkey_core=debug,\
    latchkey_http=debug,latchkey_store_sql=debug,latchkey_redis=debug,tower_http=debug";

/// Every secret the run has handled so far: passwords it sent, tokens,
/// refresh tokens, CSRF tokens and session cookies it was given. No server
/// log may contain any of them ([`assert_no_secret_logged`]).
static SECRETS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The JSON fields that carry secrets, in requests and responses.
const SECRET_FIELDS: [&str; 6] = [
    "password",
    "current_password",
    "new_password",
    "access_token",
    "refresh_token",
    "csrf_token",
];

/// Adds `secret` to the run's secrets. Shorter strings than any secret
/// latchkey accepts (passwords are 8+ characters) would only find noise.
pub fn remember_secret(secret: &str) {
    if secret.len() >= 8 {
        SECRETS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(secret.to_owned());
    }
}

/// Remembers the secret fields of a JSON body, at any depth.
pub fn remember_secrets_in(body: &Value) {
    match body {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(s) if SECRET_FIELDS.contains(&key.as_str()) => {
                        remember_secret(s);
                    }
                    other => remember_secrets_in(other),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(remember_secrets_in),
        _ => {}
    }
}

/// Fails the test if `log` contains any secret the run has handled.
#[track_caller]
pub fn assert_no_secret_logged(log: &str, whose: &str) {
    let mut secrets: Vec<String> = SECRETS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .cloned()
        .collect();
    secrets.push(PASSWORD.to_owned());
    let matcher = aho_corasick::AhoCorasick::new(&secrets).expect("secret matcher");
    if let Some(found) = matcher.find(log) {
        let line_start = log[..found.start()].rfind('\n').map_or(0, |i| i + 1);
        let line_end = log[found.end()..]
            .find('\n')
            .map_or(log.len(), |i| found.end() + i);
        panic!(
            "{whose} logged a secret ({:?}) in:\n{}",
            &secrets[found.pattern().as_usize()],
            &log[line_start..line_end]
        );
    }
}

/// The store backend this run of the suite uses: `sqlite` unless
/// `LATCHKEY_E2E_BACKEND=postgres` (see `strategies.rs`).
pub fn backend() -> String {
    std::env::var("LATCHKEY_E2E_BACKEND").unwrap_or_else(|_| "sqlite".to_owned())
}

/// The PostgreSQL server for the `postgres` runs, without a database name.
pub fn postgres_server() -> String {
    std::env::var("LATCHKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// One server's database: a SQLite file in its directory, or a PostgreSQL
/// database of its own, dropped with it.
pub struct Database {
    pub url: String,
    postgres: Option<String>,
}

/// Runs `sql` on the PostgreSQL server's admin database, from a thread of
/// its own (callers may be inside a test's runtime).
pub fn postgres_admin(sql: String) -> Result<(), String> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            use sqlx::{Connection, Executor};
            let url = format!("{}/postgres", postgres_server());
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            conn.execute(sqlx::AssertSqlSafe(sql))
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    })
    .join()
    .map_err(|_| "admin thread panicked".to_owned())?
}

impl Database {
    /// The database's name (distinct per test: also a Redis namespace).
    pub fn name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or("latchkey")
    }

    /// A fresh PostgreSQL database, for tests that share one between nodes.
    pub fn postgres() -> Self {
        let suffix: String = tempfile::Builder::new()
            .tempdir()
            .expect("temp dir")
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let name = format!("latchkey_fleet_{suffix}");
        postgres_admin(format!("CREATE DATABASE {name}")).expect("create test database");
        Self {
            url: format!("{}/{name}", postgres_server()),
            postgres: Some(name),
        }
    }

    fn new(dir: &Path) -> Self {
        if backend() != "postgres" {
            return Self {
                url: database_url(dir),
                postgres: None,
            };
        }
        let name = format!(
            "latchkey_e2e_{}",
            dir.file_name()
                .unwrap()
                .to_string_lossy()
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "")
        );
        postgres_admin(format!("CREATE DATABASE {name}")).expect("create test database");
        Self {
            url: format!("{}/{name}", postgres_server()),
            postgres: Some(name),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres {
            let _ = postgres_admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A running `latchkey serve` on its own temporary database.
pub struct Server {
    pub base: String,
    child: Child,
    args: Vec<String>,
    env: Vec<(String, String)>,
    database: Database,
    dir: TempDir,
}

impl Server {
    /// A server with the default configuration plus `args`.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// A server with `args` and extra environment variables (for settings
    /// that have no flag).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = Database::new(dir.path());
        let mut all = vec!["--database".to_owned(), database.url.clone()];
        if !args.contains(&"--strategy") {
            all.extend(["--strategy".to_owned(), strategy()]);
        }
        all.extend(args.iter().map(ToString::to_string));
        Self::launch(dir, database, all, env)
    }

    /// A server on a database that others share (a fleet node).
    pub fn start_shared(database: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut all = vec!["--database".to_owned(), database.to_owned()];
        all.extend(args.iter().map(ToString::to_string));
        let shared = Database {
            url: database.to_owned(),
            postgres: None,
        };
        Self::launch(dir, shared, all, env)
    }

    /// A server with nothing but `--bind 127.0.0.1:0`, in a fresh working
    /// directory: the embedded default database.
    pub fn start_bare() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = Database {
            url: database_url(dir.path()),
            postgres: None,
        };
        let strategy = strategy();
        Self::launch(
            dir,
            database,
            Vec::new(),
            &[("LATCHKEY_STRATEGY", &strategy)],
        )
    }

    fn launch(dir: TempDir, database: Database, args: Vec<String>, env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (child, base) = spawn(dir.path(), &args, &env);
        Self {
            base,
            child,
            dir,
            args,
            env,
            database,
        }
    }

    /// The server's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Restarts with `args` (flag, value pairs) replacing the same flags.
    pub fn restart_with_args(&mut self, args: &[&str]) {
        for pair in args.chunks(2) {
            if let Some(at) = self.args.iter().position(|a| a == pair[0]) {
                self.args.drain(at..(at + 2).min(self.args.len()));
            }
            self.args.extend(pair.iter().map(ToString::to_string));
        }
        self.restart();
    }

    /// Restarts with extra environment variables.
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.restart();
    }

    /// Stops the process and starts another on the same database.
    pub fn restart(&mut self) {
        self.stop();
        let (child, base) = spawn(self.dir.path(), &self.args, &self.env);
        self.child = child;
        self.base = base;
    }

    /// Sends SIGTERM and waits (up to ten seconds) for the process to end.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server did not stop on SIGTERM");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            assert_no_secret_logged(&self.log(), "the server");
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Runs a CLI command against this server's database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_cli_on(self.dir.path(), &self.database.url, args, stdin)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn database_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("latchkey.db").display())
}

fn spawn(dir: &Path, args: &[String], env: &[(String, String)]) -> (Child, String) {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stderr.log"))
        .expect("log file");
    let mut child = latchkey()
        .current_dir(dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start latchkey");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            panic!("server did not print its address; stderr:\n{log}")
        });
    let base = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    (child, base)
}

pub fn run_cli(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    run_cli_on(dir, &database_url(dir), args, stdin)
}

/// Runs a CLI command with `LATCHKEY_DATABASE` set to `database`.
pub fn run_cli_on(dir: &Path, database: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = latchkey();
    cmd.current_dir(dir)
        .env("LATCHKEY_DATABASE", database)
        .args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run latchkey");
    if let Some(text) = stdin {
        use std::io::Write;
        // What tests pipe in is a password (or two, for confirmation).
        text.lines().for_each(remember_secret);
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("latchkey output");
    if !std::thread::panicking() {
        assert_no_secret_logged(&text(&out.stderr), "the CLI");
    }
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A plain client that keeps no cookies (so tests control every header).
pub fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A browser-like client with a cookie jar.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A status, headers and JSON body, read in one go.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Reply {
    pub async fn from(r: Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let raw = r.text().await.expect("body");
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        // A 500 is a bug, whatever the test expected.
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{raw}");
        remember_secrets_in(&body);
        for cookie in headers.get_all("set-cookie") {
            let cookie = cookie.to_str().unwrap_or("");
            let value = cookie.split(';').next().unwrap_or("");
            if let Some((_, value)) = value.split_once('=') {
                remember_secret(value);
            }
        }
        Self {
            status,
            headers,
            body,
            raw,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Set-Cookie` header of the session cookie (either name).
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookies().into_iter().find(|c| {
            c.starts_with("latchkey_session=") || c.starts_with("__Host-latchkey_session=")
        })
    }

    /// The `Set-Cookie` header of the refresh cookie (either name).
    pub fn refresh_cookie(&self) -> Option<String> {
        self.set_cookies().into_iter().find(|c| {
            c.starts_with("latchkey_refresh=") || c.starts_with("__Secure-latchkey_refresh=")
        })
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// Asserts the contract's error shape and returns the code.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.raw);
        assert_eq!(self.body["error"], code, "body: {}", self.raw);
        assert!(self.body["message"].is_string(), "body: {}", self.raw);
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "content-type of {}",
            self.raw
        );
    }
}

/// Whether this run's strategy issues short access tokens.
pub fn short_tokens() -> bool {
    matches!(strategy().as_str(), "access-refresh" | "auto-refresh")
}

pub async fn register(server: &Server, username: &str) -> Reply {
    let r = http()
        .post(server.url("/auth/register"))
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .expect("register");
    Reply::from(r).await
}

/// A logged-in browser: its cookie jar holds the session; `csrf` is the
/// token from the login response.
pub struct WebUser {
    pub client: Client,
    pub csrf: String,
    pub session_id: String,
    pub user_id: String,
}

impl WebUser {
    /// `GET path` with this browser's cookies.
    pub async fn get(&self, server: &Server, path: &str) -> Reply {
        Reply::from(
            self.client
                .get(server.url(path))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// `method path` with this browser's cookies and its CSRF token.
    pub async fn send(&self, server: &Server, method: reqwest::Method, path: &str) -> Reply {
        let req = self.client.request(method, server.url(path));
        Reply::from(
            req.header("x-csrf-token", &self.csrf)
                .send()
                .await
                .expect("request"),
        )
        .await
    }
}

pub async fn web_login(server: &Server, username: &str) -> WebUser {
    let client = browser();
    let r = client
        .post(server.url("/auth/login"))
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    let reply = Reply::from(r).await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    WebUser {
        client,
        csrf: reply.body["csrf_token"]
            .as_str()
            .expect("csrf_token")
            .to_owned(),
        session_id: reply.body["session_id"]
            .as_str()
            .expect("session_id")
            .to_owned(),
        user_id: reply.body["user_id"].as_str().expect("user_id").to_owned(),
    }
}

/// Logs an app in and returns its bearer token.
pub async fn mobile_login(server: &Server, username: &str) -> String {
    let r = http()
        .post(server.url("/auth/login"))
        .json(&json!({ "username": username, "password": PASSWORD, "client": "mobile" }))
        .send()
        .await
        .expect("login");
    let reply = Reply::from(r).await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    reply.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// `GET path` with a bearer token.
pub async fn get_bearer(server: &Server, path: &str, token: &str) -> Reply {
    Reply::from(
        http()
            .get(server.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// `METHOD path` with a bearer token.
pub async fn send_bearer(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> Reply {
    Reply::from(
        http()
            .request(method, server.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// A user registered on `server` and logged in from an app.
pub async fn user_with_token(server: &Server, username: &str) -> String {
    assert_eq!(register(server, username).await.status, 201);
    mobile_login(server, username).await
}

/// A login as if from `ip` (the server must trust loopback as a proxy).
pub async fn login_from(server: &Server, ip: &str, username: &str, password: &str) -> Reply {
    remember_secret(password);
    Reply::from(
        http()
            .post(server.url("/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// `POST path` with a JSON body and no credentials.
pub async fn post_json(server: &Server, path: &str, body: serde_json::Value) -> Reply {
    remember_secrets_in(&body);
    Reply::from(
        http()
            .post(server.url(path))
            .json(&body)
            .send()
            .await
            .expect("request"),
    )
    .await
}
