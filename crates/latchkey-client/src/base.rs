//! Where latchkey lives, and which URLs may see its bearer token.

use reqwest::Url;

use crate::Error;

/// The base URL latchkey is served under (possibly below a path prefix,
/// `https://host/id`) and the other origins trusted with the token.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    /// Always ends with `/`, so that joining a relative path keeps the
    /// prefix (`/id/` + `auth/me`, not `/` + `auth/me`).
    url: Url,
    trusted: Vec<String>,
}

/// An origin as `scheme://host:port`, comparable across URLs.
fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

impl Base {
    pub(crate) fn parse(base: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidUrl {
            url: base.to_owned(),
            reason,
        };
        let mut url = Url::parse(base).map_err(|_| invalid("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(invalid("latchkey's URL must be http:// or https://"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("latchkey's URL cannot have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("latchkey's URL cannot carry credentials"));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Self {
            url,
            trusted: Vec::new(),
        })
    }

    /// Also sends the token to `origin` (an app API on another host).
    pub(crate) fn trust(&mut self, origin: &str) -> Result<(), Error> {
        let url = Url::parse(origin).map_err(|_| Error::InvalidUrl {
            url: origin.to_owned(),
            reason: "not a URL",
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::InvalidUrl {
                url: origin.to_owned(),
                reason: "a trusted origin must be http:// or https://",
            });
        }
        self.trusted.push(origin_of(&url));
        Ok(())
    }

    /// The base URL, with its trailing `/`.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// One of latchkey's own endpoints: `segments` appended to the base
    /// path, each percent-encoded (a session id cannot escape its segment).
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A path below the base (`/api/orders` or `api/orders` both mean
    /// `<base>/api/orders`) or an absolute URL, which must be on a trusted
    /// origin.
    pub(crate) fn resolve(&self, path_or_url: &str) -> Result<Url, Error> {
        let url = match Url::parse(path_or_url) {
            Ok(absolute) => absolute,
            Err(_) => self
                .url
                .join(path_or_url.trim_start_matches('/'))
                .map_err(|_| Error::InvalidUrl {
                    url: path_or_url.to_owned(),
                    reason: "not a path or URL",
                })?,
        };
        self.check(&url)?;
        Ok(url)
    }

    /// Refuses any URL the token must not be sent to.
    pub(crate) fn check(&self, url: &Url) -> Result<(), Error> {
        let origin = origin_of(url);
        if origin == origin_of(&self.url) || self.trusted.contains(&origin) {
            return Ok(());
        }
        Err(Error::InvalidUrl {
            url: url.to_string(),
            reason: "not latchkey's origin nor a trusted one; the bearer token is not sent there",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_mount_prefix() {
        for base in ["http://h:8080/id", "http://h:8080/id/"] {
            let b = Base::parse(base).unwrap();
            assert_eq!(
                b.endpoint(&["auth", "me"]).as_str(),
                "http://h:8080/id/auth/me"
            );
            assert_eq!(
                b.resolve("/api/orders?x=1").unwrap().as_str(),
                "http://h:8080/id/api/orders?x=1"
            );
            assert_eq!(
                b.resolve("api/orders").unwrap().as_str(),
                "http://h:8080/id/api/orders"
            );
        }
        let root = Base::parse("http://h").unwrap();
        assert_eq!(root.endpoint(&["auth", "me"]).as_str(), "http://h/auth/me");
        assert_eq!(root.resolve("/x").unwrap().as_str(), "http://h/x");
    }

    #[test]
    fn path_segments_are_encoded() {
        let b = Base::parse("http://h/id").unwrap();
        let url = b.endpoint(&["auth", "sessions", "../../x?y#z"]);
        assert_eq!(
            url.as_str(),
            "http://h/id/auth/sessions/..%2F..%2Fx%3Fy%23z"
        );
    }

    #[test]
    fn the_token_goes_only_to_trusted_origins() {
        let mut b = Base::parse("https://id.example.com/auth-svc").unwrap();
        assert!(b.resolve("https://id.example.com/other").is_ok());
        for foreign in [
            "https://evil.example.com/",
            "http://id.example.com/",
            "https://id.example.com:8443/",
            "//evil.example.com/x",
            "javascript:alert(1)",
        ] {
            let resolved = b.resolve(foreign);
            assert!(
                resolved
                    .as_ref()
                    .map_or(true, |u| u.host_str() == Some("id.example.com")),
                "{foreign} resolved to {resolved:?}"
            );
        }
        assert!(b.resolve("https://api.example.com/orders").is_err());
        b.trust("https://api.example.com").unwrap();
        assert!(b.resolve("https://api.example.com/orders").is_ok());
    }

    #[test]
    fn bad_bases_are_refused() {
        for bad in [
            "id.example.com",
            "ftp://h/",
            "http://h/?q=1",
            "http://u:p@h/",
            "mailto:x@y",
        ] {
            assert!(Base::parse(bad).is_err(), "{bad}");
        }
    }
}
