//! The built-in pages and `/latchkey.js`, over HTTP: what they are served
//! as, and that they keep to a policy with no inline code. (What they do
//! in a browser is for the browser tests.)

use crate::support::*;

const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

async fn get(server: &Server, path: &str) -> Reply {
    Reply::from(http().get(server.url(path)).send().await.unwrap()).await
}

/// Every `attr="…"` value in `html` for the given attribute name.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.split_once('"').map(|(value, _)| value)
        })
        .collect()
}

#[tokio::test]
async fn pages_are_served_with_a_strict_policy_and_no_inline_code() {
    let server = Server::start(&[]);
    for path in ["/", "/account"] {
        let r = get(&server, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(r.header("content-security-policy"), Some(PAGE_POLICY));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let html = &r.raw;
        // Every script is a file of this origin; none is inline, and no
        // element carries an event handler or a style attribute.
        let scripts = html.matches("<script").count();
        let sources = attribute_values(html, "src");
        assert!(scripts >= 1, "{path}: no script");
        assert_eq!(
            html.matches("<script type=\"module\" src=\"/").count(),
            scripts,
            "{path}: a script without a same-origin src"
        );
        assert!(!html.contains("<style"), "{path}: inline style element");
        assert!(!html.contains(" style=\""), "{path}: style attribute");
        let lower = html.to_ascii_lowercase();
        for handler in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " onerror=",
            "javascript:",
        ] {
            assert!(!lower.contains(handler), "{path}: {handler}");
        }
        // What the page loads is served, with the type its use needs
        // (`nosniff` makes browsers insist on it).
        let links = attribute_values(html, "href");
        for asset in sources.iter().chain(&links).filter(|a| a.starts_with('/')) {
            let a = get(&server, asset).await;
            assert_eq!(a.status, 200, "{path} loads {asset}");
            let expected = if asset.ends_with(".js") {
                "text/javascript; charset=utf-8"
            } else if asset.ends_with(".css") {
                "text/css; charset=utf-8"
            } else {
                "text/html; charset=utf-8"
            };
            assert_eq!(a.header("content-type"), Some(expected), "{asset}");
        }
    }
}

#[tokio::test]
async fn the_browser_client_is_an_es_module_that_never_stores_the_token() {
    let server = Server::start(&[]);
    let r = get(&server, "/latchkey.js").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    for export in [
        "login",
        "logout",
        "logoutAll",
        "me",
        "fetch",
        "session",
        "register",
    ] {
        assert!(
            r.raw.contains(&format!("export async function {export}("))
                || r.raw.contains(&format!("export function {export}("))
                || r.raw.contains(&format!(" as {export} }}")),
            "latchkey.js does not export {export}"
        );
    }
    for storage in [
        "localStorage",
        "sessionStorage",
        "document.cookie",
        "innerHTML",
    ] {
        assert!(!r.raw.contains(storage), "latchkey.js uses {storage}");
    }
}

/// A form posted before its script ran (or with scripts off) must not
/// sign anyone in or echo what was typed: the pages only answer GET.
#[tokio::test]
async fn posting_to_a_page_changes_nothing() {
    let server = Server::start(&[]);
    for path in ["/", "/account"] {
        let r = Reply::from(
            http()
                .post(server.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("username=alice&password=correct+horse+battery+staple")
                .send()
                .await
                .unwrap(),
        )
        .await;
        r.error(405, "invalid_request");
        assert!(!r.raw.contains("alice"));
    }
}
