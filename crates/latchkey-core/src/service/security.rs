//! The session binding, the anomaly policies, and the security log.

use std::sync::{OnceLock, PoisonError};

use super::{AuthService, Caller};
use crate::{
    anomaly::{AnomalyAction, AnomalyKind, AnomalyPolicy, ClientBinding},
    device::{AgentBinding, NetworkBinding, device_label},
    error::AuthError,
    event::{EventCursor, EventKind, EventPolicy, MAX_PAGE, SecurityEvent},
    ids::{SessionId, UserId},
    session::{ClientContext, RevocationReason, Session},
    token::Claims,
};

/// The first user agent a binding let through with no mismatch. Later
/// requests from the same agent (nearly every request) skip parsing it and
/// the lookup in the cache of parsed agents: the answer would be the same.
/// One agent is kept, never more, so it cannot grow.
#[derive(Debug, Default)]
pub(super) struct AgentSeen(OnceLock<Box<str>>);

impl AgentSeen {
    fn is(&self, user_agent: Option<&str>) -> bool {
        user_agent.is_some_and(|ua| self.0.get().is_some_and(|seen| **seen == *ua))
    }

    /// Whether a request from `context` passes `binding` without a
    /// look at its agent: the agent is the one that passed last, and the
    /// network is allowed.
    pub(super) fn settles(&self, binding: &ClientBinding, context: &ClientContext) -> bool {
        self.is(context.user_agent.as_deref()) && binding.permits_network(context.ip)
    }

    fn remember(&self, user_agent: Option<&str>) {
        if let Some(ua) = user_agent {
            // Already set means another agent passed first: keep that one.
            let _ = self.0.set(ua.into());
        }
    }
}

impl AuthService {
    /// Sets what a mismatch between a session's binding and a request
    /// does.
    pub fn set_anomaly_policy(&self, policy: AnomalyPolicy) {
        *self
            .inner
            .anomaly
            .write()
            .unwrap_or_else(PoisonError::into_inner) = policy;
    }

    /// Sets how long the security log keeps events.
    pub fn set_event_policy(&self, policy: EventPolicy) {
        *self
            .inner
            .events
            .write()
            .unwrap_or_else(PoisonError::into_inner) = policy;
    }

    fn anomaly_policy(&self) -> AnomalyPolicy {
        *self
            .inner
            .anomaly
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The agent binding of a user agent, parsed once per distinct agent.
    pub(super) fn agent_binding(&self, user_agent: Option<&str>) -> AgentBinding {
        match user_agent {
            None => AgentBinding::of(None),
            Some(ua) => self
                .inner
                .agents
                .get_with_by_ref(ua, || AgentBinding::of(Some(ua))),
        }
    }

    /// The binding a session was created with, its agent parsed through
    /// the cache.
    pub(super) fn session_binding(&self, session: &Session) -> ClientBinding {
        ClientBinding {
            agent: Some(self.agent_binding(session.user_agent.as_deref())),
            network: session.ip.map(NetworkBinding::of),
        }
    }

    /// The binding claims of a token for a session created from `ip` and
    /// `user_agent`.
    pub(super) fn binding_claims(
        &self,
        ip: Option<std::net::IpAddr>,
        user_agent: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        (
            Some(self.agent_binding(user_agent).encode()),
            ip.map(|ip| NetworkBinding::of(ip).encode()),
        )
    }

    /// The binding a token carries. A token without binding claims (none
    /// are issued without them) is bound to nothing; a claim that does not
    /// decode cannot have been issued here, and is refused.
    pub(super) fn binding_of_claims(&self, claims: &Claims) -> Result<ClientBinding, AuthError> {
        let agent = match &claims.ua {
            None => None,
            Some(text) => Some(AgentBinding::decode(text).ok_or(AuthError::Unauthenticated)?),
        };
        let network = match &claims.net {
            None => None,
            Some(text) => Some(NetworkBinding::decode(text).ok_or(AuthError::Unauthenticated)?),
        };
        Ok(ClientBinding { agent, network })
    }

    /// Applies the anomaly policies to a request from `context` on a
    /// session bound to `binding`. Under `revoke` the session is ended
    /// everywhere and the request refused; under `log` an event is
    /// recorded once per session and new value on this node.
    /// `seen` remembers the agent that last passed this binding.
    pub(super) async fn enforce_binding(
        &self,
        binding: &ClientBinding,
        seen: &AgentSeen,
        user: UserId,
        session: SessionId,
        context: &ClientContext,
    ) -> Result<(), AuthError> {
        if seen.settles(binding, context) {
            return Ok(());
        }
        let agent = context.user_agent.as_deref();
        let presented = self.agent_binding(agent);
        let mismatches = binding.mismatches(&presented, context);
        if mismatches.is_empty() {
            seen.remember(agent);
            return Ok(());
        }
        // Boxed: the rare path's state (store writes, events) would
        // otherwise be carried, and copied, by every request's future.
        Box::pin(self.act_on_anomalies(mismatches, presented, user, session, context)).await
    }

    async fn act_on_anomalies(
        &self,
        mismatches: Vec<AnomalyKind>,
        presented: AgentBinding,
        user: UserId,
        session: SessionId,
        context: &ClientContext,
    ) -> Result<(), AuthError> {
        let policy = self.anomaly_policy();
        for kind in mismatches {
            let action = policy.action(kind);
            let observed = match kind {
                AnomalyKind::UserAgentChanged => presented.encode(),
                AnomalyKind::IpChanged => context
                    .ip
                    .map(|ip| NetworkBinding::of(ip).encode())
                    .unwrap_or_default(),
            };
            let detail = match kind {
                AnomalyKind::UserAgentChanged => {
                    format!("used from {}", device_label(context.user_agent.as_deref()))
                }
                AnomalyKind::IpChanged => format!("used from network {observed}"),
            };
            let event = |outcome: &str| {
                SecurityEvent::new(user, EventKind::AnomalyDetected, self.now(), Some(context))
                    .session(session)
                    .reason(kind.as_str())
                    .detail(format!("{detail}; {outcome}"))
            };
            match action {
                AnomalyAction::Allow | AnomalyAction::Log => {
                    // Counted, and logged, once per session, kind and new
                    // value on this node: a moved phone is one anomaly.
                    let first = self
                        .inner
                        .anomalies_logged
                        .entry((session, kind, observed))
                        .or_insert(())
                        .is_fresh();
                    if first {
                        self.inner.metrics.anomaly(kind, action);
                        if action == AnomalyAction::Log {
                            self.log_event(event("allowed by policy")).await;
                        }
                    }
                }
                AnomalyAction::Revoke => {
                    // Refused here at once, even if the store cannot be
                    // written; the store tells the other nodes.
                    self.deny(&[session]);
                    let revoked = self
                        .store()
                        .revoke_session(user, session, self.now(), RevocationReason::Anomaly)
                        .await?;
                    if revoked {
                        self.inner.metrics.anomaly(kind, action);
                        metrics::counter!("latchkey_revocations_total", "reason" => "anomaly")
                            .increment(1);
                        self.log_event(event("session revoked")).await;
                        self.record_revocations(
                            user,
                            &[session],
                            RevocationReason::Anomaly,
                            Some(context),
                            None,
                        )
                        .await;
                    }
                    return Err(AuthError::SessionRevoked);
                }
            }
        }
        Ok(())
    }

    /// Records the end of `sessions` in their owner's log: `logout` for
    /// the session that asked (`own`), `session_revoked` with the reason
    /// for the others.
    pub(super) async fn record_revocations(
        &self,
        user: UserId,
        sessions: &[SessionId],
        reason: RevocationReason,
        context: Option<&ClientContext>,
        own: Option<SessionId>,
    ) {
        let now = self.now();
        for id in sessions {
            let event = if Some(*id) == own {
                SecurityEvent::new(user, EventKind::Logout, now, context)
            } else {
                SecurityEvent::new(user, EventKind::SessionRevoked, now, context)
                    .reason(revoked_by(reason))
            };
            self.log_event(event.session(*id)).await;
        }
    }

    /// Appends an event to its user's log and to the process log. The
    /// action it records has happened either way, so a store failure is
    /// logged rather than returned.
    pub(super) async fn log_event(&self, event: SecurityEvent) {
        let ip = event.ip.map(|ip| ip.to_string());
        tracing::info!(
            target: "latchkey::security",
            event = event.kind.as_str(),
            user_id = %event.user_id,
            session_id = event.session_id.map(|s| s.to_string()),
            reason = event.reason.as_deref(),
            ip = ip.as_deref(),
            device = %device_label(event.user_agent.as_deref()),
            "security event"
        );
        // Failed logins are not counted here: only names that exist have a
        // log, so the counter would tell a watcher of /metrics which names
        // do (`latchkey_logins_total` counts every failure alike).
        if event.kind != EventKind::LoginFailed {
            metrics::counter!("latchkey_security_events_total", "event" => event.kind.as_str())
                .increment(1);
        }
        if let Err(e) = self.store().record_event(&event).await {
            tracing::warn!(error = %e, event = event.kind.as_str(), "could not store a security event");
        }
    }

    /// Records an event without making the caller wait for the store: for
    /// failed logins, whose timing must not tell a registered name from an
    /// unknown one.
    pub(super) fn record_later(&self, event: SecurityEvent) {
        let service = self.clone();
        tokio::spawn(async move { service.log_event(event).await });
    }

    /// A page of the caller's security log, newest first, after `after`:
    /// at most `limit` events (1 to [`MAX_PAGE`]), and where the next page
    /// starts if there is one.
    pub async fn events(
        &self,
        caller: &Caller,
        after: Option<EventCursor>,
        limit: u32,
    ) -> Result<(Vec<SecurityEvent>, Option<EventCursor>), AuthError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // One more than asked tells whether there is a next page.
        let mut events = self
            .store()
            .events(caller.user_id, after, limit + 1)
            .await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next = more
            .then(|| events.last().map(SecurityEvent::cursor))
            .flatten();
        Ok((events, next))
    }

    /// Deletes events older than the retention.
    pub(super) async fn prune_events(&self) -> Result<u64, AuthError> {
        let retention = self
            .inner
            .events
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .retention;
        let before = self.now() - retention;
        Ok(self.store().delete_events_before(before).await?)
    }

    /// The current event policy.
    pub fn event_policy(&self) -> EventPolicy {
        *self
            .inner
            .events
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Who ended a session, as the log says it: the user (from this device or
/// another), an operator, theft detection, an anomaly policy or a password
/// change.
fn revoked_by(reason: RevocationReason) -> &'static str {
    match reason {
        RevocationReason::Logout | RevocationReason::LogoutAll | RevocationReason::User => "user",
        other => other.as_str(),
    }
}
