//! Password hashing with argon2id at OWASP's minimum (m=19 MiB, t=2, p=1).
//! Hashing runs on the blocking pool and at most `2 × cores` at a time, so a
//! burst of logins neither stalls the async runtime nor claims unbounded memory.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use roomy_core::user_fields::Password;
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

/// Memory cost in KiB (19 MiB).
const M_COST: u32 = 19 * 1024;
/// Iterations.
const T_COST: u32 = 2;
/// Lanes.
const P_COST: u32 = 1;

/// Why hashing or verifying could not run (never "wrong password": that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// argon2 refused its parameters, a salt or a stored hash.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The hashing task was lost (the runtime is shutting down, or it panicked).
    #[error("password hashing task failed")]
    Task(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The password hasher; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    permits: Semaphore,
    /// Hash verified against when a user is unknown, so that "no such user"
    /// takes as long as "wrong password" and usernames cannot be probed by timing.
    decoy: OnceCell<String>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords")
    }
}

fn hash_error(e: impl std::fmt::Display) -> PasswordError {
    PasswordError::Hash(e.to_string())
}

fn argon2() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST, T_COST, P_COST, None).map_err(hash_error)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl Passwords {
    /// A hasher allowing `parallelism` concurrent hashes.
    pub fn new(parallelism: usize) -> Passwords {
        Passwords {
            inner: Arc::new(Inner {
                permits: Semaphore::new(parallelism.max(1)),
                decoy: OnceCell::new(),
            }),
        }
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let secret = password.expose().to_owned();
        self.blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()?
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(hash_error)
        })
        .await
    }

    /// Checks `password` against `hash`; `None` (no such user, or a guest)
    /// costs the same time and yields false.
    pub async fn verify(
        &self,
        hash: Option<String>,
        password: &str,
    ) -> Result<bool, PasswordError> {
        let (hash, real) = match hash {
            Some(h) => (h, true),
            None => (self.decoy().await?, false),
        };
        let secret = password.to_owned();
        let matches = self
            .blocking(move || {
                let parsed = PasswordHash::new(&hash).map_err(hash_error)?;
                Ok(argon2()?
                    .verify_password(secret.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(real && matches)
    }

    async fn decoy(&self) -> Result<String, PasswordError> {
        self.inner
            .decoy
            .get_or_try_init(|| async {
                let random = format!("decoy-{}", rand::random::<u128>());
                let pw = Password::parse(&random)
                    .map_err(|e| PasswordError::Hash(format!("decoy password: {e}")))?;
                self.hash(&pw).await
            })
            .await
            .cloned()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Task(Box::new(e)))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| PasswordError::Task(Box::new(e)))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let p = Passwords::new(2);
        let pw = Password::parse("correct horse").expect("valid");
        let h = p.hash(&pw).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            p.verify(Some(h.clone()), "correct horse")
                .await
                .expect("verify")
        );
        assert!(!p.verify(Some(h), "wrong horse").await.expect("verify"));
        assert!(!p.verify(None, "correct horse").await.expect("verify"));
    }
}
