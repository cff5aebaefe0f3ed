//! Configuration: flag > env > file > default, and one clear line on any
//! error.

use std::process::Output;

use crate::support::*;

fn check(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = latchkey();
    cmd.current_dir(dir).arg("config").arg("check").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[track_caller]
fn assert_one_line_error(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "expected failure, got {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
}

#[test]
fn precedence_is_flag_then_env_then_file_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(
        &file,
        "session_ttl = \"1h\"\nbind = \"127.0.0.1:9001\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let ttl = |out: Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .find(|l| l.starts_with("session_ttl"))
            .unwrap()
            .to_owned()
    };
    let env = [("LATCHKEY_SESSION_TTL", "2h")];
    assert_eq!(
        ttl(check(
            dir.path(),
            &["--config", f, "--session-ttl", "3h"],
            &env
        )),
        "session_ttl = \"3h\""
    );
    assert_eq!(
        ttl(check(dir.path(), &["--config", f], &env)),
        "session_ttl = \"2h\""
    );
    assert_eq!(
        ttl(check(dir.path(), &["--config", f], &[])),
        "session_ttl = \"1h\""
    );
    assert_eq!(ttl(check(dir.path(), &[], &[])), "session_ttl = \"30d\"");
    let out = text(
        &check(
            dir.path(),
            &["--config", f],
            &[("LATCHKEY_CONFIG", "/nonexistent")],
        )
        .stdout,
    );
    assert!(out.contains("bind = \"127.0.0.1:9001\""), "{out}");
    assert!(out.contains("trusted_proxies = [\"10.0.0.0/8\"]"), "{out}");
    let defaults = text(&check(dir.path(), &[], &[]).stdout);
    for line in [
        "bind = \"127.0.0.1:8080\"",
        "database = \"sqlite://latchkey.db?mode=rwc\"",
        "strategy = \"session\"",
        "access_ttl = \"5m\"",
        "cookie_secure = \"auto\"",
    ] {
        assert!(defaults.contains(line), "{defaults} lacks {line}");
    }
    // A setting without a flag reads LATCHKEY_<KEY> over the file.
    std::fs::write(&file, "request_timeout = \"10s\"\n").unwrap();
    let out = text(
        &check(
            dir.path(),
            &["--config", f],
            &[("LATCHKEY_REQUEST_TIMEOUT", "7s")],
        )
        .stdout,
    );
    assert!(out.contains("request_timeout = \"7s\""), "{out}");
}

#[test]
fn bad_configuration_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad_file = dir.path().join("bad.toml");
    std::fs::write(&bad_file, "sesion_ttl = \"1h\"\n").unwrap();
    let not_toml = dir.path().join("not.toml");
    std::fs::write(&not_toml, "this is = = not toml").unwrap();
    let p = |f: &std::path::Path| f.to_str().unwrap().to_owned();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--strategy".into(), "magic".into()],
            "unknown strategy",
        ),
        (
            vec!["--session-ttl".into(), "forever".into()],
            "invalid session_ttl",
        ),
        (
            vec!["--session-ttl".into(), "0s".into()],
            "greater than zero",
        ),
        (
            vec!["--access-ttl".into(), "5".into()],
            "invalid access_ttl",
        ),
        (vec!["--bind".into(), "localhost".into()], "invalid bind"),
        (
            vec!["--cookie-secure".into(), "sometimes".into()],
            "invalid cookie_secure",
        ),
        (
            vec!["--trusted-proxies".into(), "10.0.0.0/33".into()],
            "trusted_proxies",
        ),
        (
            vec!["--config".into(), p(&bad_file)],
            "unknown field `sesion_ttl`",
        ),
        (vec!["--config".into(), p(&not_toml)], "invalid config file"),
        (
            vec!["--config".into(), "/nonexistent/latchkey.toml".into()],
            "cannot read config file",
        ),
        (
            vec!["--redis".into(), "localhost:6379".into()],
            "invalid redis",
        ),
        (vec!["--no-such-flag".into()], "--no-such-flag"),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_one_line_error(&check(dir.path(), &args, &[]), needle);
    }
    assert_one_line_error(
        &check(dir.path(), &[], &[("LATCHKEY_STRATEGY", "nope")]),
        "unknown strategy",
    );
    assert_one_line_error(
        &check(dir.path(), &[], &[("LATCHKEY_JWT_ALGORITHM", "none")]),
        "unknown signing algorithm",
    );
    assert_one_line_error(
        &check(dir.path(), &[], &[("LATCHKEY_REFRESH_GRACE", "soon")]),
        "invalid refresh_grace",
    );
    for (key, value, needle) in [
        ("LATCHKEY_ON_IP_CHANGE", "block", "unknown anomaly action"),
        (
            "LATCHKEY_ON_USER_AGENT_CHANGE",
            "",
            "unknown anomaly action",
        ),
        ("LATCHKEY_EVENT_RETENTION", "0s", "invalid event_retention"),
        (
            "LATCHKEY_HEADER_READ_TIMEOUT",
            "0s",
            "invalid header_read_timeout",
        ),
        (
            "LATCHKEY_FORWARDED_HEADER",
            "x-real-ip",
            "invalid forwarded_header",
        ),
    ] {
        assert_one_line_error(&check(dir.path(), &[], &[(key, value)]), needle);
    }
}

#[test]
fn anomaly_policies_and_retention_are_settings_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = text(&check(dir.path(), &[], &[]).stdout);
    for line in [
        "on_user_agent_change = \"revoke\"",
        "on_ip_change = \"log\"",
        "event_retention = \"90d\"",
        "forwarded_header = \"x-forwarded-for\"",
    ] {
        assert!(defaults.contains(line), "{defaults} lacks {line}");
    }
    let file = dir.path().join("latchkey.toml");
    std::fs::write(
        &file,
        "on_ip_change = \"revoke\"\non_user_agent_change = \"log\"\nevent_retention = \"30d\"\n",
    )
    .unwrap();
    let out = text(
        &check(
            dir.path(),
            &["--config", file.to_str().unwrap()],
            &[("LATCHKEY_ON_USER_AGENT_CHANGE", "allow")],
        )
        .stdout,
    );
    for line in [
        "on_ip_change = \"revoke\"",
        "on_user_agent_change = \"allow\"",
        "event_retention = \"30d\"",
    ] {
        assert!(out.contains(line), "{out} lacks {line}");
    }
}

#[test]
fn serve_refuses_to_start_half_configured() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        latchkey()
            .current_dir(dir.path())
            .arg("serve")
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--database", "sqlite:///nonexistent/dir/x.db?mode=rwc"]);
    assert_one_line_error(&out, "cannot open database");
    assert!(text(&out.stdout).is_empty(), "must not claim to listen");
    assert_one_line_error(
        &run(&["--database", "mysql://localhost/x"]),
        "unsupported database URL",
    );
    // An unreachable PostgreSQL: one line, and the password never shown.
    let out = run(&["--database", "postgres://app:s3cret@127.0.0.1:1/x"]);
    assert_one_line_error(
        &out,
        "cannot open database postgres://app:***@127.0.0.1:1/x",
    );
    assert!(!text(&out.stderr).contains("s3cret"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = latchkey()
        .current_dir(dir.path())
        .args(["serve", "--bind", &addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.lines().any(|l| l.contains("cannot listen on")), "{err}");
}

/// `config check` prints what the server would use, and no secret: not the
/// password of a database or Redis URL, not one passed as a query
/// parameter.
#[test]
fn config_check_redacts_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(
        &file,
        "database = \"postgres://app:db-pw-1@db:5432/auth?sslmode=require&password=db-pw-2\"\n\
         redis = \"redis://:redis-pw@cache:6379/\"\nbase_path = \"/id\"\n",
    )
    .unwrap();
    let out = check(
        dir.path(),
        &["--config", file.to_str().unwrap(), "--log-format", "json"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout) + &text(&out.stderr);
    for secret in ["db-pw-1", "db-pw-2", "redis-pw"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    for line in [
        "database = \"postgres://app:***@db:5432/auth?sslmode=require&password=***\"",
        "redis = \"redis://:***@cache:6379/\"",
        "base_path = \"/id\"",
        "log_format = \"json\"",
    ] {
        assert!(shown.contains(line), "{shown} lacks {line}");
    }
    let out = check(dir.path(), &["--log-format", "yaml"], &[]);
    assert_one_line_error(&out, "invalid log_format \"yaml\"");
    let out = check(dir.path(), &[], &[("LATCHKEY_BASE_PATH", "/id/")]);
    assert_one_line_error(&out, "invalid base_path \"/id/\"");
}
