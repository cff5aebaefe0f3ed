//! Hostile and malformed input: always the contract's JSON error, never a
//! 5xx, never a panic.

use reqwest::{
    Method,
    header::{CONTENT_TYPE, HeaderValue},
};

use crate::support::*;

struct Case {
    name: &'static str,
    method: Method,
    path: &'static str,
    headers: Vec<(String, HeaderValue)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn json_case(
    name: &'static str,
    path: &'static str,
    body: &str,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name,
        method: Method::POST,
        path,
        headers: vec![(
            "content-type".into(),
            HeaderValue::from_static("application/json"),
        )],
        body: body.as_bytes().to_vec(),
        status,
        code,
    }
}

fn header_case(name: &'static str, header: &'static str, value: &[u8]) -> Case {
    Case {
        name,
        method: Method::GET,
        path: "/auth/me",
        headers: vec![(header.into(), HeaderValue::from_bytes(value).unwrap())],
        body: Vec::new(),
        status: 401,
        code: "unauthenticated",
    }
}

fn cases() -> Vec<Case> {
    let long_password = format!(r#"{{"username":"x","password":"{}"}}"#, "p".repeat(1025));
    let long_username = format!(
        r#"{{"username":"{}","password":"{PASSWORD}"}}"#,
        "u".repeat(65)
    );
    let huge = format!(r#"{{"username":"x","password":"{}"}}"#, "p".repeat(200_000));
    let long_token = format!("Bearer {}", "A".repeat(10_000));
    let long_cookie = format!("latchkey_session={}", "A".repeat(8_000));
    let big_header = "h".repeat(40 * 1024);
    let many_cookies = (0..200)
        .map(|i| format!("c{i}=v"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut cases = vec![
        Case {
            name: "login without content type",
            method: Method::POST,
            path: "/auth/login",
            headers: vec![],
            body: br#"{"username":"a","password":"b"}"#.to_vec(),
            status: 400,
            code: "invalid_request",
        },
        Case {
            name: "login as text/plain",
            method: Method::POST,
            path: "/auth/login",
            headers: vec![(
                "content-type".into(),
                HeaderValue::from_static("text/plain"),
            )],
            body: br#"{"username":"a","password":"b"}"#.to_vec(),
            status: 400,
            code: "invalid_request",
        },
        json_case(
            "malformed json",
            "/auth/login",
            r#"{"username":"#,
            400,
            "invalid_request",
        ),
        json_case("empty body", "/auth/login", "", 400, "invalid_request"),
        json_case("json array", "/auth/login", "[1,2]", 400, "invalid_request"),
        json_case(
            "missing password",
            "/auth/login",
            r#"{"username":"a"}"#,
            400,
            "invalid_request",
        ),
        json_case(
            "number username",
            "/auth/login",
            r#"{"username":5,"password":"b"}"#,
            400,
            "invalid_request",
        ),
        json_case(
            "null password",
            "/auth/login",
            r#"{"username":"a","password":null}"#,
            400,
            "invalid_request",
        ),
        json_case(
            "unknown client",
            "/auth/login",
            r#"{"username":"a","password":"bbbbbbbb","client":"desktop"}"#,
            400,
            "invalid_request",
        ),
        json_case(
            "deep nesting",
            "/auth/login",
            &"[".repeat(5000),
            400,
            "invalid_request",
        ),
        json_case(
            "register short password",
            "/auth/register",
            r#"{"username":"a","password":"short"}"#,
            400,
            "invalid_request",
        ),
        json_case(
            "register empty username",
            "/auth/register",
            r#"{"username":"  ","password":"long enough"}"#,
            400,
            "invalid_request",
        ),
        json_case(
            "register spaced username",
            "/auth/register",
            r#"{"username":"a b","password":"long enough"}"#,
            400,
            "invalid_request",
        ),
        json_case(
            "register control char",
            "/auth/register",
            r#"{"username":"a\u0000b","password":"long enough"}"#,
            400,
            "invalid_request",
        ),
        json_case(
            "register long username",
            "/auth/register",
            &long_username,
            400,
            "invalid_request",
        ),
        json_case(
            "login long password",
            "/auth/login",
            &long_password,
            400,
            "invalid_request",
        ),
        json_case(
            "register long password",
            "/auth/register",
            &long_password,
            400,
            "invalid_request",
        ),
        json_case(
            "oversized body",
            "/auth/login",
            &huge,
            413,
            "payload_too_large",
        ),
        Case {
            name: "non-utf8 body",
            method: Method::POST,
            path: "/auth/login",
            headers: vec![(
                "content-type".into(),
                HeaderValue::from_static("application/json"),
            )],
            body: b"{\"username\":\"\xff\xfe\",\"password\":\"x\"}".to_vec(),
            status: 400,
            code: "invalid_request",
        },
        header_case("oversized bearer", "authorization", long_token.as_bytes()),
        header_case("non-utf8 bearer", "authorization", b"Bearer \xff\xfe\xfd"),
        header_case("basic auth", "authorization", b"Basic YWxpY2U6cGFzc3dvcmQ="),
        header_case("empty bearer", "authorization", b"Bearer"),
        header_case("bearer with spaces", "authorization", b"Bearer a b c"),
        header_case("oversized cookie", "cookie", long_cookie.as_bytes()),
        header_case("garbage cookie", "cookie", b"latchkey_session=%%%; ;;=;"),
        header_case("non-utf8 cookie", "cookie", b"latchkey_session=\xff\xfe"),
        header_case("many cookies", "cookie", many_cookies.as_bytes()),
        header_case(
            "truncated token",
            "cookie",
            b"latchkey_session=AAAAAAAAAAAAAAAAAAAA",
        ),
        Case {
            name: "headers over the cap",
            method: Method::GET,
            path: "/auth/me",
            headers: vec![(
                "x-padding".into(),
                HeaderValue::from_str(&big_header).unwrap(),
            )],
            body: Vec::new(),
            status: 431,
            code: "invalid_request",
        },
        Case {
            name: "too many headers",
            method: Method::GET,
            path: "/auth/me",
            headers: (0..70)
                .map(|i| (format!("x-h{i}"), HeaderValue::from_static("v")))
                .collect(),
            body: Vec::new(),
            status: 431,
            code: "invalid_request",
        },
        Case {
            name: "unknown route",
            method: Method::GET,
            path: "/auth/nope",
            headers: vec![],
            body: Vec::new(),
            status: 404,
            code: "not_found",
        },
        Case {
            name: "wrong method",
            method: Method::PUT,
            path: "/auth/login",
            headers: vec![],
            body: Vec::new(),
            status: 405,
            code: "invalid_request",
        },
        Case {
            name: "refresh without a refresh token",
            method: Method::POST,
            path: "/auth/refresh",
            headers: vec![],
            body: Vec::new(),
            // Served by access-refresh only.
            status: if strategy() == "access-refresh" {
                401
            } else {
                404
            },
            code: if strategy() == "access-refresh" {
                "unauthenticated"
            } else {
                "not_found"
            },
        },
    ];
    for path in ["/auth/logout", "/auth/logout-all"] {
        cases.push(Case {
            name: "unauthenticated unsafe request",
            method: Method::POST,
            path,
            headers: vec![],
            body: Vec::new(),
            status: 401,
            code: "unauthenticated",
        });
    }
    cases
}

#[tokio::test]
async fn bad_input_gets_the_contract_error_and_never_a_5xx() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    for case in cases() {
        let mut req = http()
            .request(case.method.clone(), server.url(case.path))
            .body(case.body.clone());
        for (k, v) in &case.headers {
            req = req.header(k.as_str(), v.clone());
        }
        let r = Reply::from(req.send().await.unwrap()).await;
        assert!(
            r.status.as_u16() < 500,
            "{}: {} {}",
            case.name,
            r.status,
            r.raw
        );
        assert_eq!(r.status.as_u16(), case.status, "{}: {}", case.name, r.raw);
        assert_eq!(r.body["error"], case.code, "{}: {}", case.name, r.raw);
        assert!(r.body["message"].is_string(), "{}", case.name);
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "{}",
            case.name
        );
        assert!(
            !r.raw.contains("pppppppp"),
            "{}: echoed the password",
            case.name
        );
    }
    // The server is still healthy after all of it.
    mobile_login(&server, "alice").await;
    assert!(!server.log().contains("panicked"));
}

#[tokio::test]
async fn bad_csrf_header_bytes_are_a_403_not_a_crash() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    let r = Reply::from(
        user.client
            .post(server.url("/auth/logout"))
            .header(
                "x-csrf-token",
                HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.error(403, "csrf_failed");
    let weird_id = user
        .send(&server, reqwest::Method::DELETE, "/auth/sessions/%ff%00")
        .await;
    weird_id.error(404, "not_found");
}

#[tokio::test]
async fn errors_never_reveal_whether_a_user_exists() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let mut bodies = Vec::new();
    for user in ["alice", "nobody", "a b c", ""] {
        let r = Reply::from(
            http()
                .post(server.url("/auth/login"))
                .header(CONTENT_TYPE, "application/json")
                .body(format!(
                    r#"{{"username":"{user}","password":"wrong password"}}"#
                ))
                .send()
                .await
                .unwrap(),
        )
        .await;
        r.error(401, "unauthenticated");
        bodies.push(r.raw);
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
}
