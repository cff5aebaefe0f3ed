//! The admin command line, against the same database as a running server.

use crate::support::*;

#[tokio::test]
async fn users_add_then_login_over_http() {
    let server = Server::start(&[]);
    let out = server.cli(
        &["users", "add", "erin", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created user erin"));
    mobile_login(&server, "erin").await;

    let dup = server.cli(
        &["users", "add", "ERIN", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(!dup.status.success());
    let err = text(&dup.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("already taken"), "{err}");

    let short = server.cli(
        &["users", "add", "frank", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!short.status.success());
    assert!(
        text(&short.stderr).contains("at least 8"),
        "{}",
        text(&short.stderr)
    );
}

#[tokio::test]
async fn users_add_without_a_terminal_asks_for_password_stdin() {
    let server = Server::start(&[]);
    let out = server.cli(&["users", "add", "erin"], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--password-stdin"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn revoke_all_takes_effect_on_the_running_server_at_once() {
    let server = Server::start(&[]);
    let phone = user_with_token(&server, "erin").await;
    let web = web_login(&server, "erin").await;
    let bob = user_with_token(&server, "bob").await;

    let listed = server.cli(&["users", "sessions", "erin"], None);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listing = text(&listed.stdout);
    assert!(listing.starts_with("2 session(s) of erin"), "{listing}");
    assert!(listing.contains(&web.session_id), "{listing}");
    // Each line names the device (these test clients send no user agent).
    assert_eq!(listing.matches("Unknown device").count(), 2, "{listing}");
    assert!(listing.contains("from 127.0.0.1"), "{listing}");

    let out = server.cli(&["users", "revoke-all", "Erin"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("revoked 2 session(s)"),
        "{}",
        text(&out.stdout)
    );
    // The server caches session records and JWT checks; it learns of
    // revocations made by another process from the store poll, every
    // 250 ms.
    let started = std::time::Instant::now();
    let me = loop {
        let r = get_bearer(&server, "/auth/me", &phone).await;
        if r.status != 200 || started.elapsed() > std::time::Duration::from_secs(2) {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "refused only after {:?}",
        started.elapsed()
    );
    me.error(401, "session_revoked");
    let me = web.get(&server, "/auth/me").await;
    me.error(401, "session_revoked");
    assert_eq!(get_bearer(&server, "/auth/me", &bob).await.status, 200);

    let unknown = server.cli(&["users", "revoke-all", "nobody"], None);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("no user named"),
        "{}",
        text(&unknown.stderr)
    );
}

#[test]
fn migrate_creates_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path());
    for _ in 0..2 {
        let out = run_cli(dir.path(), &["migrate", "--database", &url], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("up to date"));
    }
    assert!(dir.path().join("latchkey.db").exists());
}

#[test]
fn first_start_creates_the_database_and_a_signing_key() {
    let server = Server::start_bare();
    assert!(server.dir().join("latchkey.db").exists());
    let keys = server.cli(&["keys", "list"], None);
    assert!(keys.status.success(), "{}", text(&keys.stderr));
    let listing = text(&keys.stdout);
    assert_eq!(listing.lines().count(), 1, "{listing}");
    assert!(
        listing.contains("EdDSA") && listing.contains("signing"),
        "{listing}"
    );
    drop(server);
}
