//! Anomaly policies: what to do when a session's credential shows up from a
//! client other than the one it was issued to.
//!
//! A session is bound at login to its client's user agent (family, OS and
//! major version) and IP network. A stolen cookie or token replayed from
//! the thief's own browser or script usually differs in both. The user
//! agent is cheap to fake, so this catches the careless thief, not the
//! careful one; the IP network changes legitimately (phones move between
//! networks), so by default an IP change is only logged.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{
    device::{AgentBinding, NetworkBinding},
    session::ClientContext,
};

/// What a policy does about a mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnomalyAction {
    /// Nothing.
    Allow,
    /// Record an `anomaly_detected` event (once per session and new value
    /// per node) and let the request through.
    Log,
    /// Revoke the session everywhere and refuse the request.
    Revoke,
}

impl AnomalyAction {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Log => "log",
            Self::Revoke => "revoke",
        }
    }
}

impl FromStr for AnomalyAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "allow" => Ok(Self::Allow),
            "log" => Ok(Self::Log),
            "revoke" => Ok(Self::Revoke),
            other => Err(format!(
                "unknown anomaly action {other:?}: expected allow, log or revoke"
            )),
        }
    }
}

impl fmt::Display for AnomalyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of the binding did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    /// Another browser or app family, OS, or an older version.
    UserAgentChanged,
    /// Another /24 (IPv4) or /56 (IPv6) network.
    IpChanged,
}

impl AnomalyKind {
    /// The name events and logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserAgentChanged => "user_agent_changed",
            Self::IpChanged => "ip_changed",
        }
    }
}

/// The deployment's anomaly policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnomalyPolicy {
    /// A request whose user agent does not match the session's.
    pub on_user_agent_change: AnomalyAction,
    /// A request from outside the session's IP network.
    pub on_ip_change: AnomalyAction,
}

impl Default for AnomalyPolicy {
    /// A browser does not change into another browser, so a user-agent
    /// change revokes; phones change networks all day, so an IP change is
    /// only logged.
    fn default() -> Self {
        Self {
            on_user_agent_change: AnomalyAction::Revoke,
            on_ip_change: AnomalyAction::Log,
        }
    }
}

impl AnomalyPolicy {
    /// The action for `kind`.
    pub fn action(&self, kind: AnomalyKind) -> AnomalyAction {
        match kind {
            AnomalyKind::UserAgentChanged => self.on_user_agent_change,
            AnomalyKind::IpChanged => self.on_ip_change,
        }
    }
}

/// What a session is bound to. In the JWT strategies it travels in the
/// token, so checking it reads nothing from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientBinding {
    /// The login's user agent; `None` only for tokens that carry no
    /// binding.
    pub agent: Option<AgentBinding>,
    /// The login's network; `None` when the login's address was unknown.
    pub network: Option<NetworkBinding>,
}

impl ClientBinding {
    /// The binding of a client at login. (The service builds the same
    /// through its cache of parsed agents.)
    pub fn of(context: &ClientContext) -> Self {
        Self {
            agent: Some(AgentBinding::of(context.user_agent.as_deref())),
            network: context.ip.map(NetworkBinding::of),
        }
    }

    /// The parts of this binding that `presented` does not match, in the
    /// order they are acted on (user agent first: it is the stronger sign).
    /// `presented_agent` is the request's agent binding, computed (and
    /// cached) by the caller.
    pub fn mismatches(
        &self,
        presented_agent: &AgentBinding,
        context: &ClientContext,
    ) -> Vec<AnomalyKind> {
        let mut found = Vec::new();
        if self
            .agent
            .as_ref()
            .is_some_and(|bound| !bound.permits(presented_agent))
        {
            found.push(AnomalyKind::UserAgentChanged);
        }
        if !self.permits_network(context.ip) {
            found.push(AnomalyKind::IpChanged);
        }
        found
    }

    /// Whether a request from `ip` is inside the bound network (or there
    /// is nothing to compare).
    pub fn permits_network(&self, ip: Option<std::net::IpAddr>) -> bool {
        match (self.network, ip) {
            (Some(net), Some(ip)) => net.contains(ip),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIREFOX_120: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    const FIREFOX_121: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const CURL: &str = "curl/8.5.0";

    fn ctx(ip: [u8; 4], ua: &str) -> ClientContext {
        ClientContext::new(Some(ip.into()), Some(ua))
    }

    fn check(bound: &ClientContext, presented: &ClientContext) -> Vec<AnomalyKind> {
        let agent = AgentBinding::of(presented.user_agent.as_deref());
        ClientBinding::of(bound).mismatches(&agent, presented)
    }

    #[test]
    fn same_client_and_network_matches() {
        let login = ctx([203, 0, 113, 7], FIREFOX_120);
        assert!(check(&login, &ctx([203, 0, 113, 200], FIREFOX_120)).is_empty());
        assert!(check(&login, &ctx([203, 0, 113, 7], FIREFOX_121)).is_empty());
    }

    #[test]
    fn another_agent_or_network_is_named() {
        let login = ctx([203, 0, 113, 7], FIREFOX_120);
        assert_eq!(
            check(&login, &ctx([203, 0, 113, 7], CURL)),
            [AnomalyKind::UserAgentChanged]
        );
        assert_eq!(
            check(&login, &ctx([198, 51, 100, 7], FIREFOX_120)),
            [AnomalyKind::IpChanged]
        );
        assert_eq!(
            check(&login, &ctx([198, 51, 100, 7], CURL)),
            [AnomalyKind::UserAgentChanged, AnomalyKind::IpChanged]
        );
    }

    #[test]
    fn unreadable_agents_match_only_themselves() {
        let login = ctx([203, 0, 113, 7], "!!!");
        assert!(check(&login, &ctx([203, 0, 113, 7], "!!!")).is_empty());
        assert_eq!(
            check(&login, &ctx([203, 0, 113, 7], "???")),
            [AnomalyKind::UserAgentChanged]
        );
    }

    #[test]
    fn unknown_addresses_do_not_count_as_a_change() {
        let login = ClientContext::new(None, Some(FIREFOX_120));
        assert!(check(&login, &ctx([198, 51, 100, 7], FIREFOX_120)).is_empty());
        let now_unknown = ClientContext::new(None, Some(FIREFOX_120));
        assert!(check(&ctx([203, 0, 113, 7], FIREFOX_120), &now_unknown).is_empty());
    }

    #[test]
    fn defaults_revoke_on_agent_and_log_on_ip() {
        let p = AnomalyPolicy::default();
        assert_eq!(
            p.action(AnomalyKind::UserAgentChanged),
            AnomalyAction::Revoke
        );
        assert_eq!(p.action(AnomalyKind::IpChanged), AnomalyAction::Log);
        for a in [
            AnomalyAction::Allow,
            AnomalyAction::Log,
            AnomalyAction::Revoke,
        ] {
            assert_eq!(a.as_str().parse(), Ok(a));
        }
        assert!("block".parse::<AnomalyAction>().is_err());
    }
}
