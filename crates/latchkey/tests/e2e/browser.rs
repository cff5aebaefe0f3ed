//! The built-in pages and `/latchkey.js` in a real browser: headless
//! Chromium driven over WebDriver (chromedriver + fantoccini). These are
//! the checks HTTP alone cannot make: what page scripts can see of the
//! cookies, what a browser sends cross-site, and what the page does when
//! its session ends or its access token expires.
//!
//! Each test starts its own server, chromedriver and browser profile(s).
//! Without Chromium the tests print "skipped: chromium not installed" and
//! pass, except under `CI`, where they fail.
//!
//! With `LATCHKEY_SCREENSHOTS=DIR`, the tests also save `signin.png` and
//! `account.png` (two devices) into DIR, at a fixed window size.

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, wd::Capabilities};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::*;

/// The window every browser gets (and every screenshot has).
const WINDOW: (u32, u32) = (1100, 1300);
/// How long a page may take to get where a test expects it.
const PATIENCE: Duration = Duration::from_secs(15);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

const CHROME_ARGS: [&str; 8] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
];

/// The first of `names` found on `PATH`.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// chromedriver and the Chromium it drives, or `None` (after saying so)
/// when they are not installed. Under `CI` a missing browser is a failure.
fn chromium() -> Option<(PathBuf, PathBuf)> {
    let driver = on_path(&["chromedriver"]);
    let browser = on_path(&["chromium", "chromium-browser", "google-chrome"]);
    match (driver, browser) {
        (Some(driver), Some(browser)) => Some((driver, browser)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromium and chromedriver must be installed in CI \
                 (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: chromium not installed");
            None
        }
    }
}

/// A free loopback port (free when this returns; chromedriver takes it
/// right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local address")
        .port()
}

/// A minimal blocking HTTP/1.1 exchange with chromedriver (the reply's
/// body), for what fantoccini has no call for (the browser log) and for
/// `Drop`, which cannot await.
fn driver_request(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    // chromedriver keeps the connection open: read by Content-Length.
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&reply);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return Some(body.to_owned());
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
}

/// One browser profile: a chromedriver on its own port, a headless
/// Chromium with a fresh user-data directory, and the WebDriver client.
/// Dropping it ends the WebDriver session (which quits Chromium) and
/// kills chromedriver.
struct Browser {
    client: Client,
    port: u16,
    session: Option<String>,
    // Dropped after `Browser::drop` has ended the session.
    _driver: Driver,
    _profile: TempDir,
}

/// The chromedriver process, killed when dropped (also when a browser
/// fails to start).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Browser {
    /// A new browser, or `None` when Chromium is not installed.
    async fn start() -> Option<Self> {
        let (driver_bin, chromium_bin) = chromium()?;
        let profile = tempfile::tempdir().expect("profile dir");
        let port = free_port();
        let driver = Driver(
            Command::new(driver_bin)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
        );
        let mut browser = Self {
            client: Self::connect(port, &chromium_bin, profile.path()).await,
            _driver: driver,
            port,
            session: None,
            _profile: profile,
        };
        browser.session = browser.client.session_id().await.expect("session id");
        browser.size_viewport().await;
        Some(browser)
    }

    async fn connect(port: u16, chromium: &Path, profile: &Path) -> Client {
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(POLL).await;
        }
        let mut args: Vec<String> = CHROME_ARGS.iter().map(ToString::to_string).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "args": args, "binary": chromium }),
        );
        caps.insert("goog:loggingPrefs".to_owned(), json!({ "browser": "ALL" }));
        ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session")
    }

    /// Sizes the window so that the page's viewport (and so every
    /// screenshot) is [`WINDOW`], whatever the browser's frame takes.
    async fn size_viewport(&self) {
        let (width, height) = WINDOW;
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
        let inner = self
            .client
            .execute(
                "return [window.innerWidth, window.innerHeight];",
                Vec::new(),
            )
            .await
            .expect("viewport");
        let frame = |i: usize, outer: u32| {
            let seen = inner[i].as_u64().and_then(|v| u32::try_from(v).ok());
            outer + outer.saturating_sub(seen.unwrap_or(outer))
        };
        self.client
            .set_window_size(frame(0, width), frame(1, height))
            .await
            .expect("window size");
    }

    /// Opens `url` and waits for its document to have loaded.
    async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("goto");
    }

    /// The path of the page the browser is on.
    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current url")
            .path()
            .to_owned()
    }

    /// Waits until the browser is on `path` (any query).
    async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let now = self.path().await;
            if now == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the browser stayed on {now}, not {path}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for an element and returns its text.
    async fn text_of(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    /// Waits until the first element `css` matches has the text `want`.
    async fn wait_for_text(&self, css: &str, want: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let seen = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if seen == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} says {seen:?}, not {want:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `css` matches exactly `n` elements.
    async fn wait_for_count(&self, css: &str, n: usize) {
        self.wait_for_elements(css, |seen| seen == n, &format!("{n}"))
            .await;
    }

    /// Waits until `css` matches `ok` elements (`what` says how many).
    async fn wait_for_elements(&self, css: &str, ok: impl Fn(usize) -> bool, what: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let seen = self
                .client
                .find_all(Locator::Css(css))
                .await
                .map_or(0, |all| all.len());
            if ok(seen) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css}: {seen} elements, not {what}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Registers `username` through the form on "/" and waits for the
    /// account page to greet them.
    async fn register(&self, server: &Server, username: &str) {
        self.open(&server.url("/")).await;
        self.fill("#register-username", username).await;
        self.fill("#register-password", PASSWORD).await;
        self.fill("#register-confirm", PASSWORD).await;
        self.click("#register button[type=submit]").await;
        self.wait_for_path("/account").await;
        assert_eq!(self.text_of("#whoami strong").await, username);
    }

    /// Signs `username` in through the form on "/" and waits for the
    /// account page to greet them.
    async fn sign_in(&self, server: &Server, username: &str) {
        self.open(&server.url("/")).await;
        self.fill("#signin-username", username).await;
        self.fill("#signin-password", PASSWORD).await;
        self.click("#signin button[type=submit]").await;
        self.wait_for_path("/account").await;
        assert_eq!(self.text_of("#whoami strong").await, username);
    }

    /// Runs `body` (an async function body that may `await` and whose
    /// value is returned) in the page, with the page's own instance of
    /// `/latchkey.js` in scope as `lk`.
    async fn with_latchkey(&self, body: &str) -> Value {
        let script = format!(
            "const done = arguments[arguments.length - 1];\n\
             import('/latchkey.js')\n\
               .then(async (lk) => {{ {body} }})\n\
               .then(done, (e) => done({{ thrown: String(e), status: e && e.status, code: e && e.code }}));"
        );
        self.client
            .execute_async(&script, Vec::new())
            .await
            .expect("script")
    }

    /// `lk.fetch` with `method` on `path`: `{status, body}` (the body as
    /// text).
    async fn lk_fetch(&self, method: &str, path: &str) -> Value {
        self.with_latchkey(&format!(
            "const r = await lk.fetch({path:?}, {{ method: {method:?} }});\n\
             return {{ status: r.status, body: await r.text() }};"
        ))
        .await
    }

    /// Saves a screenshot as `name` in `LATCHKEY_SCREENSHOTS`, if set.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("LATCHKEY_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(Path::new(&dir).join(name), png).expect("write screenshot");
    }

    /// The browser's console since the last call (chromedriver's log API).
    fn console(&self) -> String {
        let Some(session) = &self.session else {
            return String::new();
        };
        let reply = driver_request(
            self.port,
            "POST",
            &format!("/session/{session}/se/log"),
            r#"{"type":"browser"}"#,
        )
        .unwrap_or_default();
        let entries: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
        entries["value"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|e| format!("{} {}", e["level"], e["message"]))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("browser console:\n{}", self.console());
        }
        if let Some(session) = &self.session {
            let _ = driver_request(self.port, "DELETE", &format!("/session/{session}"), "");
        }
    }
}

/// The latchkey cookies the browser holds for the page it is on.
async fn latchkey_cookies(browser: &Browser) -> Vec<fantoccini::cookies::Cookie<'static>> {
    browser
        .client
        .get_all_cookies()
        .await
        .expect("cookies")
        .into_iter()
        .filter(|c| c.name().contains("latchkey"))
        .collect()
}

/// The session cookie's value (whichever name it has).
async fn session_cookie_value(browser: &Browser) -> String {
    latchkey_cookies(browser)
        .await
        .iter()
        .find(|c| c.name().ends_with("latchkey_session"))
        .map(|c| c.value().to_owned())
        .expect("a session cookie")
}

#[tokio::test]
async fn sign_up_through_the_page_and_the_session_stays_out_of_reach_of_scripts() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Server::start(&[]);

    browser.open(&server.url("/")).await;
    browser.text_of("#signin-title").await;
    browser.screenshot("signin.png").await;

    browser.register(&server, "alice").await;

    let cookies = latchkey_cookies(&browser).await;
    let session = cookies
        .iter()
        .find(|c| c.name().ends_with("latchkey_session"))
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    for cookie in &cookies {
        remember_secret(cookie.value());
        assert_eq!(cookie.http_only(), Some(true), "{cookie:?}");
        assert!(
            cookie
                .same_site()
                .is_some_and(|s| s.is_lax() || s.is_strict()),
            "{cookie:?}"
        );
        assert_eq!(cookie.path(), Some("/"), "{cookie:?}");
    }

    // The page's scripts see no credential at all.
    let visible = browser
        .client
        .execute("return document.cookie;", Vec::new())
        .await
        .expect("document.cookie");
    let visible = visible.as_str().expect("a string");
    assert!(!visible.contains(session.value()), "{visible}");
    assert!(!visible.contains("latchkey"), "{visible}");
    let stored = browser
        .client
        .execute(
            "return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)]);",
            Vec::new(),
        )
        .await
        .expect("storage");
    assert_eq!(stored, json!("[[],[]]"));

    // And yet the session is there for latchkey.js to use.
    let me = browser.with_latchkey("return await lk.me();").await;
    assert_eq!(me["username"], "alice", "{me}");
}

#[tokio::test]
async fn signing_out_another_device_ends_its_session_in_that_browser() {
    let Some(laptop) = Browser::start().await else {
        return;
    };
    let Some(phone) = Browser::start().await else {
        return;
    };
    let server = Server::start(&[]);

    laptop.register(&server, "alice").await;
    phone.sign_in(&server, "alice").await;

    laptop.open(&server.url("/account")).await;
    laptop.wait_for_count("#devices li", 2).await;
    laptop.wait_for_count("#devices li.current", 1).await;
    assert_eq!(
        laptop.text_of("#devices li.current .badge").await,
        "This device"
    );
    // Both sign-ins are in the security log.
    laptop
        .wait_for_elements("#events li", |n| n >= 2, "two or more")
        .await;
    laptop.screenshot("account.png").await;

    laptop
        .click("#devices li:not(.current) button[aria-label^='Sign out']")
        .await;
    laptop.wait_for_count("#devices li", 1).await;
    assert!(
        laptop.text_of("#status").await.starts_with("Signed out "),
        "no announcement"
    );

    // The phone's next request finds its session gone.
    phone.client.refresh().await.expect("reload");
    phone.wait_for_path("/").await;
    phone
        .wait_for_text("#notice", "Your session was ended. Please sign in again.")
        .await;
    // The laptop is still signed in.
    laptop.client.refresh().await.expect("reload");
    assert_eq!(laptop.text_of("#whoami strong").await, "alice");
}

/// Serves `page` as `text/html` at every path of a loopback port, from a
/// thread of its own. Returns the port.
fn serve_page(page: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind attacker");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Cache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(response.as_bytes());
            let _ = stream.shutdown(Shutdown::Both);
        }
    });
    port
}

/// A page of another site that tries every kind of cross-site write a
/// browser allows without CORS: `no-cors` fetches with credentials,
/// form posts into frames, then a top-level form post to logout-all.
fn attacker_page(target: &str, new_password: &str) -> String {
    let password_body =
        json!({ "current_password": PASSWORD, "new_password": new_password }).to_string();
    // A text/plain form posts `name=value`: the name opens the JSON, the
    // value closes it (`{…,"x":"="}`).
    let form_name =
        format!("{},\"x\":\"", password_body.trim_end_matches('}')).replace('"', "&quot;");
    let fetch_body = serde_json::to_string(&password_body).expect("JSON string");
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>win a prize</title></head><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe><iframe name="f3"></iframe>
<form id="logout" target="f1" method="post" action="{target}/auth/logout"><input name="x" value="1"></form>
<form id="password" target="f2" method="post" enctype="text/plain" action="{target}/auth/password"><input name="{form_name}" value="&quot;}}"></form>
<form id="sessions" target="f3" method="post" action="{target}/auth/logout-all"><input name="x" value="1"></form>
<form id="top" method="post" action="{target}/auth/logout-all"><input name="x" value="1"></form>
<script>
const body = {fetch_body};
const shots = [
  ["/auth/logout", "x=1"],
  ["/auth/logout-all", "x=1"],
  ["/auth/password", body],
].map(([path, b]) => fetch("{target}" + path, {{
  method: "POST", credentials: "include", mode: "no-cors",
  headers: {{ "Content-Type": "text/plain" }}, body: b,
}}).catch(() => null));
const framed = ["f1", "f2", "f3"].map((name) => new Promise((done) => {{
  document.getElementsByName(name)[0].addEventListener("load", done, {{ once: true }});
  setTimeout(done, 5000);
}}));
Promise.all(shots).then(() => {{
  for (const id of ["logout", "password", "sessions"]) document.getElementById(id).submit();
  return Promise.all(framed);
}}).then(() => document.getElementById("top").submit());
</script>
</body></html>"#
    )
}

#[tokio::test]
async fn another_site_cannot_sign_the_user_out_or_change_the_password() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Server::start(&[]);
    browser.register(&server, "alice").await;
    let before = browser.with_latchkey("return await lk.sessions();").await;
    assert_eq!(before.as_array().map(Vec::len), Some(1), "{before}");

    // 127.0.0.1 and localhost are different sites to a browser.
    let new_password = "attacker chosen password";
    remember_secret(new_password);
    let target = server.base.clone();
    let port = serve_page(attacker_page(&target, new_password));
    browser.open(&format!("http://localhost:{port}/")).await;
    // The page ends with a top-level form post to latchkey: by then every
    // other attempt has been answered.
    browser.wait_for_path("/auth/logout-all").await;
    let landed = browser.client.current_url().await.expect("url");
    assert_eq!(landed.as_str(), server.url("/auth/logout-all"));
    let answer = browser
        .client
        .execute("return document.body.innerText;", Vec::new())
        .await
        .expect("answer");
    let answer: Value = serde_json::from_str(answer.as_str().unwrap_or("")).unwrap_or_default();
    // The SameSite cookie stayed home: latchkey saw no credential at all.
    assert_eq!(answer["error"], "unauthenticated", "{answer}");

    // Still signed in, on the same single session, with nothing revoked.
    browser.open(&server.url("/account")).await;
    assert_eq!(browser.text_of("#whoami strong").await, "alice");
    browser.wait_for_count("#devices li", 1).await;
    let me = browser
        .with_latchkey("const r = await lk.fetch('/auth/me'); return { status: r.status };")
        .await;
    assert_eq!(me["status"], 200, "{me}");
    let after = browser.with_latchkey("return await lk.sessions();").await;
    assert_eq!(after.as_array().map(Vec::len), Some(1), "{after}");
    assert_eq!(after[0]["id"], before[0]["id"], "{after}");
    let events = browser
        .with_latchkey("return await lk.events({ limit: 50 });")
        .await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for kind in ["logout", "session_revoked", "password_changed"] {
        assert!(!kinds.contains(&kind), "{kind} in {events}");
    }
    // Every attempt reached latchkey (by fetch and by form) and was
    // refused as unauthenticated: the browser sent no cookie cross-site.
    let log = server.log();
    for path in ["/auth/logout", "/auth/logout-all", "/auth/password"] {
        let needle = format!("method=POST path={path} ");
        let answers: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&needle) && l.contains("finished processing"))
            .collect();
        assert!(answers.len() >= 2, "{path} tried {} times", answers.len());
        assert!(
            answers.iter().all(|l| l.contains("status=401")),
            "{answers:#?}"
        );
    }
    // The password is unchanged.
    let r = post_json(
        &server,
        "/auth/login",
        json!({ "username": "alice", "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

#[tokio::test]
async fn latchkey_js_keeps_working_across_a_reload_and_an_expired_access_token() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let short = short_tokens();
    let server = if short {
        Server::start_with_env(&["--access-ttl", "1s"], &[("LATCHKEY_CLOCK_LEEWAY", "1ms")])
    } else {
        Server::start(&[])
    };
    browser.register(&server, "alice").await;
    let nobody = "/auth/sessions/00000000-0000-7000-8000-000000000000";

    // An unsafe request: CSRF passes and the caller is known, so 404.
    let r = browser.lk_fetch("DELETE", nobody).await;
    assert_eq!(r["status"], 404, "{r}");
    assert!(
        r["body"].as_str().is_some_and(|b| b.contains("not_found")),
        "{r}"
    );

    // A reload forgets the in-memory CSRF token; the account page (and
    // latchkey.js with it) loads it again from /auth/session.
    browser.client.refresh().await.expect("reload");
    assert_eq!(browser.text_of("#whoami strong").await, "alice");
    let r = browser.lk_fetch("DELETE", nobody).await;
    assert_eq!(r["status"], 404, "{r}");
    assert!(
        r["body"].as_str().is_some_and(|b| b.contains("not_found")),
        "{r}"
    );

    if short {
        // Past the access token's expiry (whole seconds: up to 2 s).
        let cookie = session_cookie_value(&browser).await;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let r = browser.lk_fetch("DELETE", nobody).await;
        assert_eq!(r["status"], 404, "{r}");
        assert!(
            r["body"].as_str().is_some_and(|b| b.contains("not_found")),
            "{r}"
        );
        // The access token was renewed on the way.
        let renewed = session_cookie_value(&browser).await;
        remember_secret(&renewed);
        assert_ne!(renewed, cookie, "the access cookie was not renewed");
    }
    // And the page itself still works.
    browser.client.refresh().await.expect("reload");
    assert_eq!(browser.text_of("#whoami strong").await, "alice");
    assert_eq!(browser.path().await, "/account");
}
