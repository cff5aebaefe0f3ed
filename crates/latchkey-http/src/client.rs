//! Who is calling. The socket peer is the truth; forwarding headers are
//! believed only when that peer is a configured trusted proxy, since anyone
//! else can write them, and then only the one header family the operator
//! named (`X-Forwarded-*` or RFC 7239 `Forwarded`): a proxy that sets one
//! usually passes the other through from the client untouched.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, header, request::Parts},
};
use ipnet::IpNet;
use latchkey_core::session::ClientContext;

use crate::{config::ForwardedHeader, state::AppState};

/// The calling client as far as this request can tell.
#[derive(Debug, Clone)]
pub(crate) struct ClientInfo {
    /// Client address.
    pub(crate) ip: IpAddr,
    /// The request reached the client's side of the connection over TLS.
    pub(crate) tls: bool,
    /// `User-Agent`, if it is valid text.
    pub(crate) user_agent: Option<String>,
    /// The host the client addressed, as a trusted proxy reported it;
    /// [`host`](Self::host) falls back to the request's own `Host`. Only
    /// unsafe cookie requests need it (the `Origin` check), so the common
    /// direct case copies nothing.
    forwarded_host: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, state))
    }
}

impl ClientInfo {
    /// The request's client, as the extractor finds it; for code that is
    /// not `async` (the authenticated path).
    pub(crate) fn of(parts: &Parts, state: &AppState) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Self::resolve(
            peer,
            &parts.headers,
            &state.http.trusted_proxies,
            state.http.forwarded_header,
        )
    }

    /// The key rate limits count this client under: its IPv4 address, or
    /// its IPv6 /64 (one subscriber's usual allocation, which an attacker
    /// could otherwise walk through for fresh allowances).
    pub(crate) fn rate_key(&self) -> String {
        match self.ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }

    /// The request's client as the domain sees it: address and user agent
    /// (cut to a bounded length).
    pub(crate) fn context(&self) -> ClientContext {
        ClientContext::new(Some(self.ip), self.user_agent.as_deref())
    }

    /// The same, handing over the user agent instead of copying it.
    pub(crate) fn into_context(self) -> ClientContext {
        ClientContext::from_owned(Some(self.ip), self.user_agent)
    }

    pub(crate) fn resolve(
        peer: IpAddr,
        headers: &HeaderMap,
        trusted: &[IpNet],
        family: ForwardedHeader,
    ) -> Self {
        // A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; they
        // are matched, stored and limited as the IPv4 addresses they are.
        let peer = peer.to_canonical();
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
        let via_proxy = is_trusted(&peer);
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let hop = if !via_proxy {
            Hop::direct(peer)
        } else {
            match family {
                ForwardedHeader::XForwardedFor => {
                    let ip = forwarded_for_client(peer, headers, &is_trusted);
                    let first = |name: &str| {
                        text(name)
                            .and_then(|v| v.split(',').next())
                            .map(|v| v.trim().to_owned())
                    };
                    Hop {
                        ip,
                        proto: first("x-forwarded-proto"),
                        host: first("x-forwarded-host"),
                    }
                }
                ForwardedHeader::Forwarded => forwarded_client(peer, headers, &is_trusted),
            }
        };
        let tls = hop
            .proto
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        // Any bytes a client sends are kept as text (invalid UTF-8 becomes
        // U+FFFD), so an odd agent is still told apart from no agent.
        let user_agent = headers
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        Self {
            ip: hop.ip.to_canonical(),
            tls,
            user_agent,
            forwarded_host: hop.host,
        }
    }

    /// The host the client addressed (for the `Origin` check): a trusted
    /// proxy's word for it, or the `Host` of `headers`, the request's own.
    pub(crate) fn host<'a>(&'a self, headers: &'a HeaderMap) -> Option<&'a str> {
        self.forwarded_host
            .as_deref()
            .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
    }
}

/// The hop that reached the first trusted proxy: the client's address, and
/// the scheme and host it used, as that proxy reported them.
struct Hop {
    ip: IpAddr,
    proto: Option<String>,
    host: Option<String>,
}

impl Hop {
    fn direct(ip: IpAddr) -> Self {
        Self {
            ip,
            proto: None,
            host: None,
        }
    }
}

/// The right-most address in `X-Forwarded-For` that is not one of our own
/// proxies: everything left of it was written by the client and may be a
/// lie. An unparsable hop ends the walk at the last address we believed.
fn forwarded_for_client(
    peer: IpAddr,
    headers: &HeaderMap,
    is_trusted: &dyn Fn(&IpAddr) -> bool,
) -> IpAddr {
    let mut client = peer;
    for hop in list_items(headers, "x-forwarded-for").iter().rev() {
        let Some(Ok(ip)) = hop.map(|h| h.trim().parse::<IpAddr>()) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The comma-separated items of every `name` header, in order. An item
/// that is not text is `None`, so only that hop is unreadable: the hops a
/// proxy appended after a client's garbage still count.
fn list_items<'h>(headers: &'h HeaderMap, name: &str) -> Vec<Option<&'h str>> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|item| std::str::from_utf8(item).ok())
        .collect()
}

/// RFC 7239 `Forwarded`: the same right-to-left walk over the `for=`
/// parameters; the element where it stops was written by the proxy that
/// received the client's connection, so its `proto=` and `host=` are the
/// ones that describe the client's request. Obfuscated or `unknown` nodes
/// and unparsable elements end the walk at the last address believed.
fn forwarded_client(
    peer: IpAddr,
    headers: &HeaderMap,
    is_trusted: &dyn Fn(&IpAddr) -> bool,
) -> Hop {
    let mut hop = Hop::direct(peer);
    for element in list_items(headers, header::FORWARDED.as_str()).iter().rev() {
        let Some(element) = element else {
            break;
        };
        let mut ip = None;
        let mut proto = None;
        let mut host = None;
        for pair in element.split(';') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "for" => ip = node_address(value),
                "proto" => proto = Some(value.to_owned()),
                "host" => host = Some(value.to_owned()),
                _ => {}
            }
        }
        let Some(ip) = ip else {
            break;
        };
        hop = Hop { ip, proto, host };
        if !is_trusted(&ip) {
            break;
        }
    }
    hop
}

/// The address of a `Forwarded` node: `192.0.2.1`, `192.0.2.1:8080`,
/// `[2001:db8::1]` or `[2001:db8::1]:8080`.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let addr = node.split_once(':').map_or(node, |(ip, _port)| ip);
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forwarded_headers_from_strangers_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = ClientInfo::resolve(
            "9.9.9.9".parse().unwrap(),
            &h,
            &["10.0.0.0/8".parse().unwrap()],
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(c.ip, "9.9.9.9".parse::<IpAddr>().unwrap());
        assert!(!c.tls);
    }

    #[test]
    fn trusted_proxy_yields_rightmost_untrusted_hop() {
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = ClientInfo::resolve(
            "10.0.0.1".parse().unwrap(),
            &h,
            &["10.0.0.0/8".parse().unwrap()],
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(c.ip, "1.2.3.4".parse::<IpAddr>().unwrap());
        assert!(c.tls);
    }

    #[test]
    fn mapped_ipv4_peers_are_ipv4_and_ipv6_is_limited_by_64() {
        let h = headers(&[("x-forwarded-proto", "https")]);
        let c = ClientInfo::resolve(
            "::ffff:127.0.0.1".parse().unwrap(),
            &h,
            &["127.0.0.1/32".parse().unwrap()],
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(c.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(c.tls);
        assert_eq!(c.rate_key(), "127.0.0.1");
        let v6 = ClientInfo::resolve(
            "2001:db8:1:2:aaaa::1".parse().unwrap(),
            &h,
            &[],
            ForwardedHeader::XForwardedFor,
        );
        let w6 = ClientInfo::resolve(
            "2001:db8:1:2:bbbb::9".parse().unwrap(),
            &h,
            &[],
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(v6.rate_key(), "2001:db8:1:2::/64");
        assert_eq!(v6.rate_key(), w6.rate_key());
    }

    #[test]
    fn garbage_hop_stops_the_walk() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4, nonsense")]);
        let c = ClientInfo::resolve(
            "10.0.0.1".parse().unwrap(),
            &h,
            &["10.0.0.0/8".parse().unwrap()],
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(c.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn rfc7239_forwarded_is_read_only_when_configured() {
        let h = headers(&[
            (
                "forwarded",
                "for=6.6.6.6;proto=http, for=1.2.3.4;proto=https;host=app.example, for=\"[2001:db8::9]:443\"",
            ),
            ("x-forwarded-for", "7.7.7.7"),
        ]);
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let c = ClientInfo::resolve(peer, &h, &trusted, ForwardedHeader::Forwarded);
        assert_eq!(c.ip, "1.2.3.4".parse::<IpAddr>().unwrap());
        assert!(c.tls);
        assert_eq!(c.host(&h), Some("app.example"));
        let x = ClientInfo::resolve(peer, &h, &trusted, ForwardedHeader::XForwardedFor);
        assert_eq!(x.ip, "7.7.7.7".parse::<IpAddr>().unwrap());
        let stranger = ClientInfo::resolve(
            "9.9.9.9".parse().unwrap(),
            &h,
            &trusted,
            ForwardedHeader::Forwarded,
        );
        assert_eq!(stranger.ip, "9.9.9.9".parse::<IpAddr>().unwrap());
        assert!(!stranger.tls);
    }

    #[test]
    fn forwarded_nodes_parse_or_stop_the_walk() {
        assert_eq!(node_address("192.0.2.1:80"), Some([192, 0, 2, 1].into()));
        assert_eq!(
            node_address("[2001:db8::1]:80"),
            "2001:db8::1".parse::<IpAddr>().ok()
        );
        for bad in ["unknown", "_hidden", "[::1", "", "1.2.3.4.5", "2001:db8::1"] {
            assert_eq!(node_address(bad), None, "{bad}");
        }
        let h = headers(&[("forwarded", "for=unknown, for=1.2.3.4")]);
        let c = ClientInfo::resolve(
            "10.0.0.1".parse().unwrap(),
            &h,
            &["10.0.0.0/8".parse().unwrap(), "1.2.3.0/24".parse().unwrap()],
            ForwardedHeader::Forwarded,
        );
        assert_eq!(c.ip, "1.2.3.4".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_clients_garbage_does_not_hide_the_hops_a_proxy_appended() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.7").unwrap(),
        );
        h.insert(
            header::FORWARDED,
            HeaderValue::from_bytes(b"for=\xff, for=198.51.100.4").unwrap(),
        );
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let x = ClientInfo::resolve(peer, &h, &trusted, ForwardedHeader::XForwardedFor);
        assert_eq!(x.ip, "203.0.113.7".parse::<IpAddr>().unwrap());
        let f = ClientInfo::resolve(peer, &h, &trusted, ForwardedHeader::Forwarded);
        assert_eq!(f.ip, "198.51.100.4".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn odd_user_agents_are_kept_as_text() {
        let mut h = HeaderMap::new();
        h.insert(
            header::USER_AGENT,
            HeaderValue::from_bytes(b"Agent\xff\xfe/1.0").unwrap(),
        );
        let c = ClientInfo::resolve([1, 2, 3, 4].into(), &h, &[], ForwardedHeader::XForwardedFor);
        assert_eq!(c.user_agent.as_deref(), Some("Agent\u{fffd}\u{fffd}/1.0"));
    }
}
