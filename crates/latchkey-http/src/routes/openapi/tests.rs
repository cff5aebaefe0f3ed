//! The document's own consistency: every reference resolves, every
//! operation is named, tagged and secured, every error code the server can
//! answer with is described, and the limits it states are the server's.
//! `tests/openapi.rs` checks it against the router from outside.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use latchkey_core::{
    AuthError,
    event::MAX_PAGE,
    user::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS},
};

use super::*;
use crate::error::ERROR_CODES;

/// The document a router mounted under `base` serves.
fn document(base: &str) -> Value {
    let (_, api) = super::super::contract_routes(&Document::default()).split_for_parts();
    complete(api, base)
}

/// Every `(method, path, operation)` of `doc`.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            all.push((method.clone(), path.clone(), operation));
        }
    }
    all
}

/// Every string value of a `$ref` key in `value`.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, v) in object {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => found.push(r.clone()),
                    _ => refs(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// What a JSON pointer such as `#/components/schemas/Error` names.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// The response `response` is, following one `$ref`.
fn deref<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(r) => resolve(doc, r).expect("reference resolves"),
        None => response,
    }
}

/// The codes an error response allows: its narrowed `error` enum.
fn codes(doc: &Value, response: &Value) -> Vec<String> {
    let schema = &deref(doc, response)["content"]["application/json"]["schema"];
    let all_of = schema["allOf"].as_array().expect("an Error, narrowed");
    assert_eq!(all_of[0]["$ref"], "#/components/schemas/Error");
    all_of[1]["properties"]["error"]["enum"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect()
}

#[test]
fn the_document_is_openapi_3_1() {
    let doc = document("");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "latchkey");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc.get("servers").is_none(),
        "at the root, the default server"
    );
}

#[test]
fn every_reference_resolves() {
    let doc = document("");
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50, "{found:?}");
    for r in found {
        assert!(resolve(&doc, &r).is_some(), "{r} does not resolve");
    }
}

#[test]
fn operations_are_named_tagged_summarized_and_secured() {
    let doc = document("");
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t["name"].as_str().expect("tag name"))
        .collect();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_owned()), "{id} twice");
        let op_tags = op["tags"].as_array().expect("tags");
        assert_eq!(op_tags.len(), 1, "{method} {path}");
        assert!(
            tags.contains(op_tags[0].as_str().unwrap_or("")),
            "{method} {path}"
        );
        assert!(op["summary"].is_string(), "{method} {path} has no summary");
        let security = op["security"].as_array().expect("security");
        assert!(
            !security.is_empty(),
            "{method} {path}: say it needs nothing"
        );
        for requirement in security {
            for name in requirement.as_object().expect("requirement").keys() {
                assert!(schemes.contains_key(name), "{method} {path}: {name}");
            }
        }
    }
}

/// Unsafe methods authenticated by cookie need the CSRF token; safe ones
/// do not; every authenticated operation takes a bearer token too.
#[test]
fn cookie_requirements_follow_the_csrf_rule() {
    let doc = document("");
    for (method, path, op) in operations(&doc) {
        let security = op["security"].as_array().expect("security");
        let cookie: Vec<&Value> = security
            .iter()
            .filter(|r| r.get(scheme::SESSION_COOKIE).is_some())
            .collect();
        if cookie.is_empty() {
            continue;
        }
        assert!(
            security.iter().any(|r| r.get(scheme::BEARER).is_some()),
            "{method} {path}"
        );
        let unsafe_method = !matches!(method.as_str(), "get" | "head" | "options");
        let with_csrf = cookie.iter().all(|r| r.get(scheme::CSRF_TOKEN).is_some());
        if unsafe_method {
            assert!(with_csrf, "{method} {path} takes a cookie without CSRF");
        }
        // Every authenticated operation can be refused.
        assert!(op["responses"].get("401").is_some(), "{method} {path}");
    }
}

#[test]
fn every_error_response_is_the_envelope_with_its_codes() {
    let doc = document("");
    let mut described = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            let code: u16 = status.parse().expect("numeric status");
            let status = StatusCode::from_u16(code).expect("status");
            if !(status.is_client_error() || status.is_server_error()) {
                continue;
            }
            let codes = codes(&doc, response);
            for c in &codes {
                assert!(ERROR_CODES.contains(&c.as_str()), "{method} {path}: {c}");
            }
            // What the server answers framework errors with fits too.
            if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
                let generic = ApiError::code_for_status(status);
                assert!(
                    codes.iter().any(|c| c == generic),
                    "{method} {path} {status}"
                );
            }
            let headers = &deref(&doc, response)["headers"];
            match code {
                401 => assert_eq!(headers["WWW-Authenticate"]["required"], true),
                429 | 503 => assert_eq!(headers["Retry-After"]["required"], true),
                _ => {}
            }
            described.extend(codes);
        }
    }
    let all: BTreeSet<String> = ERROR_CODES.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(described, all, "every code is answered somewhere");
}

/// The error codes the server can produce are all in [`ERROR_CODES`]: the
/// domain's errors, and the codes given to framework rejections.
#[test]
fn error_codes_are_complete() {
    let errors = [
        AuthError::InvalidRequest("x".into()),
        AuthError::InvalidCredentials,
        AuthError::Unauthenticated,
        AuthError::SessionRevoked,
        AuthError::CsrfFailed("x".into()),
        AuthError::Forbidden("x".into()),
        AuthError::NotFound,
        AuthError::UsernameTaken,
        AuthError::RateLimited(std::time::Duration::from_secs(1)),
        AuthError::Busy,
        AuthError::Unavailable("x".into()),
        AuthError::Internal("x".into()),
    ];
    for e in errors {
        let code = ApiError::from(e).code();
        assert!(ERROR_CODES.contains(&code), "{code}");
    }
    for status in 400..600 {
        let status = StatusCode::from_u16(status).expect("status");
        let code = ApiError::code_for_status(status);
        assert!(ERROR_CODES.contains(&code), "{status}: {code}");
    }
}

/// The limits the document states are the ones the server applies.
#[test]
fn stated_limits_are_the_servers() {
    let doc = document("");
    let schemas = &doc["components"]["schemas"];
    let new_password = &schemas["Registration"]["properties"]["password"];
    assert_eq!(new_password["minLength"], PASSWORD_MIN_CHARS);
    assert_eq!(new_password["maxLength"], PASSWORD_MAX_CHARS);
    assert_eq!(
        schemas["PasswordChange"]["properties"]["new_password"],
        json!({
            "type": "string",
            "minLength": PASSWORD_MIN_CHARS,
            "maxLength": PASSWORD_MAX_CHARS,
            "description": "The new one: 8 to 1024 characters, not the current one.",
        })
    );
    assert_eq!(
        schemas["Credentials"]["properties"]["password"]["maxLength"],
        PASSWORD_MAX_CHARS
    );
    let limit = doc["paths"]["/auth/events"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("limit");
    assert_eq!(limit["schema"]["maximum"], MAX_PAGE);
    assert_eq!(limit["schema"]["minimum"], 1);
}

#[test]
fn under_a_prefix_the_server_carries_it() {
    let root = document("");
    let mounted = document("/id");
    assert_eq!(mounted["servers"][0]["url"], "/id");
    assert_eq!(root["paths"], mounted["paths"], "paths stay the contract's");
}

/// Rendered twice, the document is the same bytes: nothing in it depends
/// on a hash map's order.
#[test]
fn the_document_is_deterministic() {
    let render_once = || {
        let (_, api) = super::super::contract_routes(&Document::default()).split_for_parts();
        render(api, "")
    };
    let first = render_once();
    assert!(first.len() > 10_000);
    for _ in 0..3 {
        assert_eq!(render_once(), first);
    }
}
