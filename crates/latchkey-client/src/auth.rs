//! The signed-in state shared by every clone of a client: the current
//! tokens, their write-through to the store, the single-flight refresh, and
//! sending a request with the bearer token.
//!
//! Each change of the tokens (login, refresh, renewal, sign-out) bumps a
//! generation number. A request remembers the generation it was sent
//! with; whatever it learns afterwards (a `401`, an `X-Refreshed-Token`)
//! applies only while that generation is still current. That is what makes
//! the refresh single-flight: of N requests refused together, the first
//! to take the refresh lock spends the refresh token, and the others find
//! a newer generation and retry with it instead of spending the same token
//! again (which, outside the server's grace period, revokes the session).

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use reqwest::{
    Request, Response, StatusCode,
    header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE},
};

use crate::{
    Error, SignedOutReason, TokenStore, Tokens,
    base::Base,
    error::{from_response, reason_of},
    types::{RefreshRequest, TokenResponse},
};

/// The header an `auto-refresh` server renews a bearer token in.
const REFRESHED_TOKEN: &str = "x-refreshed-token";

/// Tokens as one generation of the state.
#[derive(Clone)]
pub(crate) struct Held {
    generation: u64,
    tokens: Arc<Tokens>,
}

impl Held {
    pub(crate) fn access_token(&self) -> &str {
        self.tokens.access_token()
    }
}

#[derive(Default)]
struct Slot {
    generation: u64,
    tokens: Option<Arc<Tokens>>,
    /// Why there are no tokens: requests that were in flight when the
    /// server ended the session report the same reason as the one that
    /// noticed, not "not signed in".
    ended: Ended,
}

#[derive(Clone, Copy)]
struct Ended(SignedOutReason);

impl Default for Ended {
    fn default() -> Self {
        Self(SignedOutReason::NotSignedIn)
    }
}

/// Whose endpoint a request goes to, which decides what a `401` means.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// latchkey's own: every `401` refuses the credential.
    Latchkey,
    /// The app's: only a `401` with a `Bearer` challenge (RFC 6750, which
    /// latchkey sends and forward-auth proxies pass on) refuses the
    /// credential; any other `401` is the app's business.
    App,
}

pub(crate) struct Auth {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Base,
    store: Arc<dyn TokenStore>,
    margin: Duration,
    slot: Mutex<Slot>,
    loaded: tokio::sync::OnceCell<()>,
    /// Held while a refresh token is being spent: one at a time.
    refresh: tokio::sync::Mutex<()>,
    /// Held while the store is written, so writes land in order.
    persist: tokio::sync::Mutex<()>,
}

impl Auth {
    pub(crate) fn new(
        http: reqwest::Client,
        base: Base,
        store: Arc<dyn TokenStore>,
        margin: Duration,
    ) -> Self {
        Self {
            http,
            base,
            store,
            margin,
            slot: Mutex::default(),
            loaded: tokio::sync::OnceCell::new(),
            refresh: tokio::sync::Mutex::new(()),
            persist: tokio::sync::Mutex::new(()),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the store the first time anything needs the tokens. A login
    /// that finished first wins over what the store held.
    async fn ensure_loaded(&self) -> Result<(), Error> {
        self.loaded
            .get_or_try_init(|| async {
                let store = Arc::clone(&self.store);
                let loaded = joined(tokio::task::spawn_blocking(move || store.load()).await)?
                    .map_err(Error::store)?;
                let mut slot = self.slot();
                if slot.generation == 0 {
                    slot.tokens = loaded.map(Arc::new);
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// The current tokens, if signed in.
    pub(crate) async fn current(&self) -> Result<Option<Tokens>, Error> {
        self.ensure_loaded().await?;
        Ok(self.slot().tokens.as_deref().cloned())
    }

    async fn held(&self) -> Result<Held, Error> {
        self.ensure_loaded().await?;
        current_of(&self.slot())
    }

    /// Replaces the tokens, whatever they were (a login, a sign-out), and
    /// writes the change to the store.
    pub(crate) async fn replace(&self, tokens: Option<Tokens>) -> Result<(), Error> {
        {
            let mut slot = self.slot();
            slot.generation += 1;
            slot.tokens = tokens.map(Arc::new);
            slot.ended = Ended::default();
        }
        // Whatever the store holds is now stale: never load it over this.
        let _ = self.loaded.set(());
        self.persist().await
    }

    /// Installs `tokens` if `seen` is still the current generation;
    /// otherwise someone else changed them first, and theirs stand.
    async fn install(&self, seen: &Held, tokens: Tokens) -> Result<Held, Error> {
        let held = {
            let mut slot = self.slot();
            if slot.generation != seen.generation {
                return current_of(&slot);
            }
            slot.generation += 1;
            let tokens = Arc::new(tokens);
            slot.tokens = Some(Arc::clone(&tokens));
            Held {
                generation: slot.generation,
                tokens,
            }
        };
        self.persist_quietly().await;
        Ok(held)
    }

    /// Signs out if `seen` is still current (a request refused with old
    /// tokens must not sign out a newer login), and says why.
    async fn sign_out(&self, seen: &Held, reason: SignedOutReason) -> Error {
        let changed = {
            let mut slot = self.slot();
            let current = slot.generation == seen.generation;
            if current {
                slot.generation += 1;
                slot.tokens = None;
                slot.ended = Ended(reason);
            }
            current
        };
        if changed {
            self.persist_quietly().await;
        }
        Error::signed_out(reason)
    }

    /// Writes the current tokens to the store. Writes are serialized and
    /// each writes the latest state, so the store ends up with what memory
    /// holds, whatever order the changes raced in.
    async fn persist(&self) -> Result<(), Error> {
        let _turn = self.persist.lock().await;
        let tokens = self.slot().tokens.clone();
        let store = Arc::clone(&self.store);
        let written = tokio::task::spawn_blocking(move || match tokens {
            Some(t) => store.save(&t),
            None => store.clear(),
        })
        .await;
        joined(written)?.map_err(Error::store)
    }

    /// [`Self::persist`] for changes made in passing (a refresh, a renewal,
    /// a sign-out noticed on some request): the request's own result
    /// matters more than the store's, and the tokens in memory keep
    /// working, so a failing store is logged rather than failing the call.
    async fn persist_quietly(&self) {
        if let Err(e) = self.persist().await {
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            tracing::warn!(error = %e, cause, "latchkey-client could not write its token store");
        }
    }

    /// Spends the refresh token of `seen` for a new pair, unless another
    /// task already replaced `seen`, in which case its result is used.
    ///
    /// The refresh runs as a task of its own, so that it completes even if
    /// the caller gives up (a timeout around a request): once the server
    /// has rotated the token, losing its answer would leave only the spent
    /// token, which signs the session out when presented after the grace
    /// period.
    async fn refresh(self: &Arc<Self>, seen: &Held) -> Result<Held, Error> {
        let this = Arc::clone(self);
        let seen = seen.clone();
        joined(tokio::spawn(async move { this.refresh_now(&seen).await }).await)?
    }

    async fn refresh_now(&self, seen: &Held) -> Result<Held, Error> {
        let _flight = self.refresh.lock().await;
        {
            let slot = self.slot();
            if slot.generation != seen.generation {
                return current_of(&slot);
            }
        }
        let Some(refresh_token) = seen.tokens.refresh_token() else {
            return Err(self.sign_out(seen, SignedOutReason::Unauthenticated).await);
        };
        let res = self
            .http
            .post(self.base.endpoint(&["auth", "refresh"]))
            .json(&RefreshRequest { refresh_token })
            .send()
            .await?;
        match res.status() {
            s if s.is_success() => {
                let tokens = read_tokens(res).await?;
                self.install(seen, tokens).await
            }
            StatusCode::UNAUTHORIZED => {
                let reason = reason_of(&res.bytes().await.unwrap_or_default());
                Err(self.sign_out(seen, reason).await)
            }
            _ => Err(from_response(res).await),
        }
    }

    /// A bearer token fit to send now: the current one, refreshed first
    /// if it is within the margin of its expiry. A refresh that fails for
    /// a passing reason (network, `429`, `503`) is not fatal while the
    /// token has not expired yet.
    pub(crate) async fn fresh(self: &Arc<Self>) -> Result<Held, Error> {
        let held = self.held().await?;
        if !held.tokens.needs_refresh(SystemTime::now(), self.margin) {
            return Ok(held);
        }
        match self.refresh(&held).await {
            Ok(fresh) => Ok(fresh),
            Err(e) if e.is_signed_out() || held.tokens.is_expired(SystemTime::now()) => Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "early refresh failed; using the current token");
                Ok(held)
            }
        }
    }

    /// Sends `req` with the bearer token through `http`, refreshing ahead
    /// of expiry, retrying once after a refused credential when a refresh
    /// is possible and the body can be replayed, and keeping any
    /// `X-Refreshed-Token` renewal.
    ///
    /// A request whose body is a stream cannot be replayed: after the
    /// refresh its original `401` is returned, and sending it again works.
    pub(crate) async fn send(
        self: &Arc<Self>,
        http: &reqwest::Client,
        mut req: Request,
        target: Target,
    ) -> Result<Response, Error> {
        let held = self.fresh().await?;
        let can_refresh = held.tokens.refresh_token().is_some();
        let replay = if can_refresh { req.try_clone() } else { None };
        self.authorize(&mut req, &held).await?;
        let res = http.execute(req).await?;
        self.keep_renewal(&res, &held).await;
        if !refused(&res, target) {
            return Ok(res);
        }
        if !can_refresh {
            return Err(self.refused_by(res, &held).await);
        }
        let fresh = self.refresh(&held).await?;
        let Some(mut replay) = replay else {
            return Ok(res);
        };
        self.authorize(&mut replay, &fresh).await?;
        let res = http.execute(replay).await?;
        self.keep_renewal(&res, &fresh).await;
        if refused(&res, target) {
            return Err(self.refused_by(res, &fresh).await);
        }
        Ok(res)
    }

    /// Sets `Authorization: Bearer …`, marked sensitive so that the HTTP
    /// stack never logs it.
    async fn authorize(&self, req: &mut Request, held: &Held) -> Result<(), Error> {
        let Ok(mut value) =
            HeaderValue::from_str(&format!("Bearer {}", held.tokens.access_token()))
        else {
            // Not a token any server issued (a damaged store).
            return Err(self.sign_out(held, SignedOutReason::Unauthenticated).await);
        };
        value.set_sensitive(true);
        req.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }

    /// Signs out after the server refused the credential of `held`.
    async fn refused_by(&self, res: Response, held: &Held) -> Error {
        let body = res.bytes().await.unwrap_or_default();
        self.sign_out(held, reason_of(&body)).await
    }

    /// Keeps the token an `auto-refresh` server renewed `held`'s into.
    /// Every response carries it, errors included: the old token is stale
    /// from then on, and presenting it after the grace period would end
    /// the session as a replay.
    async fn keep_renewal(&self, res: &Response, held: &Held) {
        let Some(renewed) = res
            .headers()
            .get(REFRESHED_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty() && *t != held.tokens.access_token())
        else {
            return;
        };
        let tokens = held.tokens.renewed(renewed.to_owned());
        // A renewal of tokens that have since changed is not newer than them.
        let _ = self.install(held, tokens).await;
    }
}

/// The result of a task: a panic goes on unwinding in the caller; a task
/// cancelled because the runtime is shutting down is [`Error::Cancelled`].
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> Result<T, Error> {
    result.map_err(|e| match e.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(_) => Error::Cancelled,
    })
}

/// The current tokens of `slot`, or why there are none.
fn current_of(slot: &Slot) -> Result<Held, Error> {
    slot.tokens
        .clone()
        .map(|tokens| Held {
            generation: slot.generation,
            tokens,
        })
        .ok_or(Error::signed_out(slot.ended.0))
}

/// Whether `res` refuses the credential the request carried.
fn refused(res: &Response, target: Target) -> bool {
    if res.status() != StatusCode::UNAUTHORIZED {
        return false;
    }
    target == Target::Latchkey
        || res.headers().get_all(WWW_AUTHENTICATE).iter().any(|v| {
            v.as_bytes()
                .get(..6)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer"))
        })
}

/// The tokens of a login or refresh answer.
pub(crate) async fn read_tokens(res: Response) -> Result<Tokens, Error> {
    let status = res.status();
    let body = res.bytes().await?;
    serde_json::from_slice::<TokenResponse>(&body)
        .ok()
        .and_then(TokenResponse::into_tokens)
        .ok_or(Error::UnexpectedResponse {
            status,
            what: "not a bearer token answer",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, challenge: Option<&str>) -> Response {
        let mut res = http::Response::builder().status(status);
        if let Some(c) = challenge {
            res = res.header(WWW_AUTHENTICATE, c);
        }
        Response::from(res.body("").unwrap())
    }

    #[test]
    fn only_a_bearer_challenge_makes_an_app_401_a_refusal() {
        let bearer = response(401, Some(r#"Bearer error="invalid_token""#));
        assert!(refused(&bearer, Target::App));
        assert!(refused(&response(401, Some("bearer")), Target::App));
        let basic = response(401, Some(r#"Basic realm="app""#));
        assert!(!refused(&basic, Target::App));
        assert!(!refused(&response(401, None), Target::App));
        assert!(refused(&response(401, None), Target::Latchkey));
        assert!(!refused(&response(403, Some("Bearer")), Target::Latchkey));
    }
}
