//! Who is calling. The socket peer is the truth; `X-Forwarded-*` headers
//! are believed only when that peer is a configured trusted proxy, since
//! anyone else can write them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, header, request::Parts},
};
use ipnet::IpNet;

use crate::state::AppState;

/// The calling client as far as this request can tell.
#[derive(Debug, Clone)]
pub(crate) struct ClientInfo {
    /// Client address.
    pub(crate) ip: IpAddr,
    /// The request reached the client's side of the connection over TLS.
    pub(crate) tls: bool,
    /// `User-Agent`, if it is valid text.
    pub(crate) user_agent: Option<String>,
    /// The host the client addressed (for the `Origin` check).
    pub(crate) host: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(ClientInfo::resolve(
            peer,
            &parts.headers,
            &state.http.trusted_proxies,
        ))
    }
}

impl ClientInfo {
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

    pub(crate) fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Self {
        // A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; they
        // are matched, stored and limited as the IPv4 addresses they are.
        let peer = peer.to_canonical();
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
        let via_proxy = is_trusted(&peer);
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let ip = if via_proxy {
            forwarded_client(peer, headers, &is_trusted)
        } else {
            peer
        };
        let ip = ip.to_canonical();
        let tls = via_proxy
            && text("x-forwarded-proto")
                .and_then(|v| v.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        let forwarded_host = via_proxy
            .then(|| text("x-forwarded-host"))
            .flatten()
            .and_then(|v| v.split(',').next())
            .map(str::trim);
        let host = forwarded_host
            .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
            .map(str::to_owned);
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self {
            ip,
            tls,
            user_agent,
            host,
        }
    }
}

/// The right-most address in `X-Forwarded-For` that is not one of our own
/// proxies: everything left of it was written by the client and may be a
/// lie. An unparsable hop ends the walk at the last address we believed.
fn forwarded_client(
    peer: IpAddr,
    headers: &HeaderMap,
    is_trusted: &dyn Fn(&IpAddr) -> bool,
) -> IpAddr {
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
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
        );
        assert_eq!(c.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(c.tls);
        assert_eq!(c.rate_key(), "127.0.0.1");
        let v6 = ClientInfo::resolve("2001:db8:1:2:aaaa::1".parse().unwrap(), &h, &[]);
        let w6 = ClientInfo::resolve("2001:db8:1:2:bbbb::9".parse().unwrap(), &h, &[]);
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
        );
        assert_eq!(c.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
