//! `GET /openapi.json` against the router that serves it, in process
//! (`latchkey_http::app` over a real SQLite store): every operation the
//! document describes is served, at the root and under a mount prefix;
//! nothing else is served at a described path; the document describes
//! exactly the contract's routes; and no handler is registered outside the
//! router that describes itself.

mod common;

use std::{
    collections::BTreeSet,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::ConnectInfo,
    http::{Method, Request, StatusCode, header},
};
use latchkey_core::strategy::{Strategy, StrategyConfig};
use latchkey_http::{AppState, HttpConfig};
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;

/// The contract's routes (`API.md`), latchkey's extension `GET
/// /auth/refresh` (README), and the built-in pages and their assets.
const CONTRACT: [(&str, &str); 24] = [
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("GET", "/auth/refresh"),
    ("GET", "/auth/me"),
    ("GET", "/auth/session"),
    ("GET", "/auth/sessions"),
    ("DELETE", "/auth/sessions/{id}"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/logout-all"),
    ("GET", "/auth/verify"),
    ("POST", "/auth/password"),
    ("GET", "/auth/events"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/openapi.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/account"),
    ("GET", "/latchkey.js"),
    ("GET", "/assets/login.js"),
    ("GET", "/assets/account.js"),
    ("GET", "/assets/app.css"),
];

/// Methods a client could try on any path (HEAD is GET's, by HTTP).
const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// The whole application in `access-refresh`, the strategy that serves
/// every route (the others answer `/auth/refresh` with `404`), mounted
/// under `base`.
async fn app(base: &str) -> (Router, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = StrategyConfig {
        strategy: Strategy::AccessRefresh,
        ..StrategyConfig::default()
    };
    let auth = common::service(&dir, config).await;
    let http = HttpConfig::default().with_base_path(base).expect("base");
    (latchkey_http::app(AppState::new(auth, http, None)), dir)
}

/// `method uri` with no credential, as from a loopback client.
async fn send(
    app: &Router,
    method: Method,
    uri: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((Ipv4Addr::LOCALHOST, 40000))));
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, headers, body.to_vec())
}

/// The document the app mounted under `base` serves.
async fn document(app: &Router, base: &str) -> (Value, Vec<u8>) {
    let (status, headers, body) = send(app, Method::GET, &format!("{base}/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=300");
    (serde_json::from_slice(&body).expect("JSON"), body)
}

/// Every `(METHOD, path)` the document describes.
fn described(doc: &Value) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            all.insert((method.to_uppercase(), path.clone()));
        }
    }
    all
}

/// A described path, with a value for its parameter.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0190b4a4-7c9e-7d5a-8f00-000000000000")
}

#[tokio::test]
async fn the_document_describes_exactly_the_contract() {
    let (app, _dir) = app("").await;
    let (doc, _) = document(&app, "").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let contract: BTreeSet<(String, String)> = CONTRACT
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(described(&doc), contract);
}

/// Every described operation reaches its handler (no fallback `404`, no
/// `405`), and answers with a status the document lists for it.
async fn every_described_operation_is_served_under(base: &str) {
    let (app, _dir) = app(base).await;
    let (doc, _) = document(&app, base).await;
    let server = doc["servers"][0]["url"].as_str().unwrap_or("");
    assert_eq!(server, base);
    for (method, path) in described(&doc) {
        let uri = format!("{server}{}", concrete(&path));
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let (status, _, body) = send(&app, method.clone(), &uri).await;
        let text = String::from_utf8_lossy(&body);
        assert_ne!(status, StatusCode::NOT_FOUND, "{method} {uri}: {text}");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        let listed = &doc["paths"][&path][method.as_str().to_lowercase()]["responses"];
        assert!(
            listed.get(status.as_str()).is_some(),
            "{method} {uri} answered {status}, which the document does not list: {text}"
        );
    }
}

#[tokio::test]
async fn every_described_operation_is_served() {
    every_described_operation_is_served_under("").await;
}

#[tokio::test]
async fn every_described_operation_is_served_under_a_prefix() {
    every_described_operation_is_served_under("/id").await;
    // The one alias: the prefix itself is the sign-in page, like `/id/`.
    let (app, _dir) = app("/id").await;
    let (status, headers, _) = send(&app, Method::GET, "/id").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // And the contract's paths are not served outside the prefix.
    let (status, _, _) = send(&app, Method::GET, "/openapi.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// At a described path, every method the document does not name is `405`:
/// the router serves nothing there that the document leaves out.
#[tokio::test]
async fn nothing_else_is_served_at_described_paths() {
    let (app, _dir) = app("").await;
    let (doc, _) = document(&app, "").await;
    let described = described(&doc);
    let paths: BTreeSet<&String> = described.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            if described.contains(&(method.to_string(), path.clone())) {
                continue;
            }
            let (status, headers, _) = send(&app, method.clone(), &concrete(path)).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(headers.contains_key(header::ALLOW), "{method} {path}");
        }
    }
}

/// Paths next to the described ones, and the usual places of API
/// documentation, are the contract's `404`.
#[tokio::test]
async fn undescribed_paths_are_not_found() {
    let (app, _dir) = app("").await;
    for path in [
        "/auth",
        "/auth/",
        "/auth/sessions/",
        "/auth/session/x",
        "/assets",
        "/assets/",
        "/assets/other.js",
        "/openapi.yaml",
        "/openapi.json/",
        "/api-docs",
        "/swagger-ui",
        "/docs",
        "/.well-known/openid-configuration",
    ] {
        let (status, headers, _) = send(&app, Method::GET, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{path}");
    }
}

/// Two apps built apart serve the same bytes.
#[tokio::test]
async fn the_document_is_the_same_every_time() {
    let (first, _a) = app("").await;
    let (second, _b) = app("").await;
    let (_, one) = document(&first, "").await;
    let (_, again) = document(&first, "").await;
    let (_, other) = document(&second, "").await;
    assert_eq!(one, again);
    assert_eq!(one, other);
}

/// Every handler is registered through utoipa-axum's `routes!`, which
/// describes what it registers: no `.route(…)` or other way of adding a
/// handler appears in the crate's code (tests aside) except the one alias
/// of the sign-in page under a mount prefix.
#[test]
fn no_route_is_registered_outside_the_described_router() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            // Unit tests sit at the end of a file.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for needle in [".route(", ".route_service(", ".nest_service(", ".merge("] {
                for (at, _) in code.match_indices(needle) {
                    let line = code[..at].lines().count();
                    found.push(format!("{}:{line}: {needle}", path.display()));
                }
            }
        }
    }
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("routes/mod.rs"), "{found:#?}");
}
