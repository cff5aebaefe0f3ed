//! The deny-list: sessions revoked while tokens for them may still be
//! alive. JWT strategies check it on every request instead of the store.
//!
//! Entries only need to outlive the tokens they block, so each one leaves
//! when the longest-lived token it could block would have expired anyway;
//! the list's size is bounded by the revocations of one token lifetime.
//! Every source of revocations — this node's own actions, the store poll,
//! and later a shared feed — delivers them through [`DenyList::apply`].

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

use time::OffsetDateTime;

use crate::ids::SessionId;

/// One session revoked, and until when tokens for it must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// The revoked session.
    pub session: SessionId,
    /// No token for it lives past this instant.
    pub until: OffsetDateTime,
}

/// Revoked session ids, in memory.
#[derive(Debug, Default)]
pub struct DenyList {
    entries: RwLock<HashMap<SessionId, OffsetDateTime>>,
}

impl DenyList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a revocation. The one method a revocation feed calls.
    pub fn apply(&self, revocation: Revocation) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let until = entries
            .entry(revocation.session)
            .or_insert(revocation.until);
        if *until < revocation.until {
            *until = revocation.until;
        }
    }

    /// Whether tokens of `session` must be refused at `now`.
    pub fn is_revoked(&self, session: SessionId, now: OffsetDateTime) -> bool {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&session)
            .is_some_and(|until| now < *until)
    }

    /// Drops entries whose tokens have all expired; returns how many remain.
    pub fn prune(&self, now: OffsetDateTime) -> usize {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, until| now < *until);
        entries.len()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    #[test]
    fn entries_block_until_their_tokens_would_expire() {
        let list = DenyList::new();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let s = SessionId::new();
        assert!(!list.is_revoked(s, t0));
        list.apply(Revocation {
            session: s,
            until: t0 + Duration::minutes(5),
        });
        // A shorter, later report never shortens the block.
        list.apply(Revocation {
            session: s,
            until: t0 + Duration::minutes(1),
        });
        assert!(list.is_revoked(s, t0 + Duration::minutes(4)));
        assert!(!list.is_revoked(SessionId::new(), t0));
        assert_eq!(list.prune(t0 + Duration::minutes(4)), 1);
        assert!(!list.is_revoked(s, t0 + Duration::minutes(5)));
        assert_eq!(list.prune(t0 + Duration::minutes(5)), 0);
        assert!(list.is_empty());
    }
}
