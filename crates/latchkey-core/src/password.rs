//! Argon2id password hashing at OWASP's parameters (19 MiB, t=2, p=1).
//!
//! Each hash holds 19 MiB and ~30 ms of a core, so hashing runs on a pool
//! of its own: `max_in_flight` threads, at the lowest scheduling priority
//! (so a login flood takes only the CPU that request handling leaves over),
//! with at most `max_waiting` more hashes queued; beyond that a caller is
//! told [`AuthError::Busy`] at once rather than piling up memory and
//! latency. A fixed set of threads also bounds the memory the allocator
//! keeps for them: `max_in_flight` × 19 MiB.

use std::sync::{Arc, Mutex, PoisonError, mpsc};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};
use tokio::sync::{Semaphore, oneshot};

use crate::{error::AuthError, secret::random_bytes, user::Password};

/// Argon2 cost parameters, for callers that need other than the default
/// (tests of the upgrade path, benchmarks).
pub use argon2::Params as HashParams;

/// Concurrency bounds for password hashing.
#[derive(Debug, Clone, Copy)]
pub struct HashLimits {
    /// Hashes computed at the same time.
    pub max_in_flight: usize,
    /// Hashes waiting for a slot before new ones are refused.
    pub max_waiting: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            max_in_flight: cores,
            max_waiting: cores * 16,
        }
    }
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// The stored hash uses weaker or other parameters than today's policy
    /// and should be replaced while the plain password is at hand.
    pub needs_rehash: bool,
}

/// A unit of hashing work for the pool.
type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords under the concurrency bounds.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Feeds the hashing threads; they stop when the last hasher is gone.
    jobs: mpsc::Sender<Job>,
    admitted: Arc<Semaphore>,
    /// A hash of a random password, verified against when the user does not
    /// exist so that the answer takes as long as for a real user.
    dummy_hash: Arc<String>,
}

impl PasswordHasher {
    /// A hasher with OWASP's Argon2id parameters. Computes the dummy hash
    /// once, on the calling thread.
    pub fn new(limits: HashLimits) -> Result<Self, AuthError> {
        Self::with_params(Params::DEFAULT, limits)
    }

    /// A hasher with other parameters (tests of the rehash path).
    pub fn with_params(params: Params, limits: HashLimits) -> Result<Self, AuthError> {
        let max_in_flight = limits.max_in_flight.max(1);
        let random: [u8; 32] = random_bytes()?;
        let dummy_hash = hash_with(&params, &random)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..max_in_flight {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("latchkey-argon2-{n}"))
                .spawn(move || hashing_thread(&queue))
                .map_err(|e| AuthError::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self {
            params,
            jobs,
            admitted: Arc::new(Semaphore::new(max_in_flight + limits.max_waiting)),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        let params = self.params.clone();
        let pw = password.clone();
        self.run_bounded(move || hash_with(&params, pw.expose()))
            .await
    }

    /// Checks `password` against `stored`; with `None` (no such user) checks
    /// against the dummy hash and reports a mismatch, in the same time.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verified, AuthError> {
        let (phc, real) = match stored {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash.as_str().to_owned(), false),
        };
        let params = self.params.clone();
        let pw = password.clone();
        let verified = self
            .run_bounded(move || Ok(verify_with(&params, pw.expose(), &phc)))
            .await?;
        Ok(Verified {
            ok: verified.ok && real,
            needs_rehash: verified.needs_rehash && real,
        })
    }

    async fn run_bounded<T, F>(&self, work: F) -> Result<T, AuthError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, AuthError> + Send + 'static,
    {
        let _admitted = self.admitted.try_acquire().map_err(|_| AuthError::Busy)?;
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (a client hung up); nothing to tell.
            let _ = done.send(work());
        });
        self.jobs
            .send(job)
            .map_err(|_| AuthError::Internal("password hashing threads are gone".into()))?;
        result
            .await
            .map_err(|_| AuthError::Internal("a password hashing job was lost".into()))?
    }
}

/// One hashing thread: lowers its own priority, then runs jobs until every
/// sender is gone. A job that panics takes only itself down.
fn hashing_thread(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else {
            return;
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

/// Nice 19: the scheduler runs request handling first whenever both want
/// the core. Failure only costs fairness, so it is logged.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), 19) {
            tracing::warn!(error = %e, "cannot lower the priority of a hashing thread");
        }
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &[u8]) -> Result<String, AuthError> {
    argon2(params)
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("password hashing failed: {e}")))
}

fn verify_with(policy: &Params, password: &[u8], phc: &str) -> Verified {
    let Ok(parsed) = PasswordHash::new(phc) else {
        tracing::error!("stored password hash is not a PHC string");
        return Verified {
            ok: false,
            needs_rehash: false,
        };
    };
    // The parameters come from the stored string, not from `policy`.
    let ok = argon2(policy).verify_password(password, &parsed).is_ok();
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() >= policy.m_cost()
                && p.t_cost() >= policy.t_cost()
                && p.p_cost() >= policy.p_cost()
        });
    Verified {
        ok,
        needs_rehash: ok && !current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(1024, 1, 1, None).unwrap()
    }

    #[tokio::test]
    async fn owasp_parameters_are_the_default() {
        let hasher = PasswordHasher::new(HashLimits::default()).unwrap();
        let pw = Password::parse_new("correct horse battery").unwrap();
        let phc = hasher.hash(&pw).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let v = hasher.verify(&pw, Some(&phc)).await.unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        let wrong = Password::parse_attempt("correct horse battery!").unwrap();
        assert!(!hasher.verify(&wrong, Some(&phc)).await.unwrap().ok);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let hasher = PasswordHasher::with_params(cheap(), HashLimits::default()).unwrap();
        let pw = Password::parse_attempt("anything at all").unwrap();
        assert!(!hasher.verify(&pw, None).await.unwrap().ok);
    }

    #[tokio::test]
    async fn weaker_stored_hashes_ask_for_a_rehash() {
        let weak = PasswordHasher::with_params(cheap(), HashLimits::default()).unwrap();
        let pw = Password::parse_new("correct horse battery").unwrap();
        let old = weak.hash(&pw).await.unwrap();
        let strong = PasswordHasher::new(HashLimits::default()).unwrap();
        let v = strong.verify(&pw, Some(&old)).await.unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        let garbage = strong.verify(&pw, Some("not a hash")).await.unwrap();
        assert!(!garbage.ok && !garbage.needs_rehash);
    }

    #[tokio::test]
    async fn excess_work_is_refused_not_queued() {
        let limits = HashLimits {
            max_in_flight: 1,
            max_waiting: 0,
        };
        let hasher = PasswordHasher::with_params(Params::DEFAULT, limits).unwrap();
        let pw = Password::parse_new("correct horse battery").unwrap();
        let (a, b) = tokio::join!(hasher.hash(&pw), hasher.hash(&pw));
        let busy = [a.is_err(), b.is_err()];
        assert_eq!(
            busy.iter().filter(|x| **x).count(),
            1,
            "exactly one refused"
        );
        assert!(matches!(a.err().or(b.err()), Some(AuthError::Busy)));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_lowest_priority() {
        let hasher = PasswordHasher::with_params(cheap(), HashLimits::default()).unwrap();
        let nice = hasher
            .run_bounded(|| {
                rustix::process::getpriority_process(Some(rustix::thread::gettid()))
                    .map_err(|e| AuthError::Internal(e.to_string()))
            })
            .await
            .unwrap();
        assert_eq!(nice, 19);
    }
}
