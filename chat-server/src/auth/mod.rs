//! Who a client is (feature "auth"): the server's password, the keys clients prove at the
//! handshake, and what the server decides from them.
//!
//! The handshake (`conn::handshake`) sends a challenge, checks the password
//! (`Auth::check_password`) and the proof of a key against the stream's binding
//! ([`crate::transport::Binding`]), and hands the proved key to the registry, which keeps
//! it beside the client's nick (`Registry::key_of`). `Auth` is what connections ask;
//! who is an operator is the configuration's (`conn::Live::is_operator`), which a reload
//! changes, as it changes the password (`Auth::set_password`).
//!
//! - [`password`]: the password as its Argon2id hash.
//! - `attempts`: the password attempts each address may make.
//! - `owners`: nicks registered to keys, and the file that keeps them.

mod attempts;
pub(crate) mod owners;
pub mod password;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use shared::ErrorKind;
use tokio::sync::Semaphore;

use crate::common::Refusal;
use crate::transport::PeerAddr;
use attempts::Attempts;
pub use attempts::{MAX_ADDRESSES, PER_MINUTE};
use owners::OwnersFile;
pub use password::Password;

/// Password checks that run at once. Each takes the hash's memory (19 MiB with the
/// parameters of `--hash-password`) and tens of milliseconds of a blocking thread; more
/// clients wait their turn within their handshake timeout.
pub const CHECKS_AT_ONCE: usize = 2;

/// What the server knows about passwords and keys, lent to every connection.
#[derive(Debug)]
pub(crate) struct Auth {
    /// The server's password, if it has one. Replaced whole by
    /// [`Auth::set_password`] (a configuration reload); a check under way finishes with
    /// the password it started with.
    password: RwLock<Option<Arc<Password>>>,
    /// The password attempts of each address.
    attempts: Mutex<Attempts>,
    /// One permit per password check running.
    checks: Arc<Semaphore>,
    /// Where the registered nicks are kept (the registry holds the table).
    pub(crate) owners: Arc<OwnersFile>,
}

impl Default for Auth {
    fn default() -> Self {
        Self::new(None, OwnersFile::default())
    }
}

impl Auth {
    pub(crate) fn new(password: Option<Password>, owners: OwnersFile) -> Self {
        Self {
            password: RwLock::new(password.map(Arc::new)),
            attempts: Mutex::default(),
            checks: Arc::new(Semaphore::new(CHECKS_AT_ONCE)),
            owners: Arc::new(owners),
        }
    }

    /// Whether clients must give a password.
    pub(crate) fn needs_password(&self) -> bool {
        self.password().is_some()
    }

    /// Replaces the server's password (`None`: no password from now on). Clients logged
    /// in stay; the next handshake asks for the new one. For a reload of the
    /// configuration ([`crate::Reloader`]).
    pub(crate) fn set_password(&self, password: Option<Password>) {
        *self
            .password
            .write()
            .unwrap_or_else(PoisonError::into_inner) = password.map(Arc::new);
    }

    fn password(&self) -> Option<Arc<Password>> {
        self.password
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Checks the password a client at `peer` gave, if the server has one. An address
    /// that has used up its attempts ([`PER_MINUTE`]) is refused without a check; a right
    /// password gives its attempt back. The check runs on the blocking pool, at most
    /// [`CHECKS_AT_ONCE`] at a time.
    pub(crate) async fn check_password(
        &self,
        peer: &PeerAddr,
        given: String,
    ) -> Result<(), Refusal> {
        let Some(password) = self.password() else {
            return Ok(());
        };
        let wrong = |text: &str| Refusal {
            kind: ErrorKind::WrongPassword,
            text: text.into(),
        };
        if given.is_empty() {
            return Err(wrong("this server needs a password"));
        }
        let ip = peer.ip();
        let taken = self.attempts().take(ip, Instant::now());
        if let Err(wait) = taken {
            // Whole seconds, rounded up: "in 0 s" would be wrong.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(Refusal {
                kind: ErrorKind::RateLimited,
                text: format!(
                    "too many wrong passwords from your address; try again in {seconds} s"
                ),
            });
        }
        let right = {
            let permit = Arc::clone(&self.checks).acquire_owned().await;
            // The permit goes with the check: a handshake that times out while the hash
            // runs does not let another check start beside it.
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                password.verify(&given)
            })
            .await
            .unwrap_or(false)
        };
        if right {
            self.attempts().give_back(ip, Instant::now());
            Ok(())
        } else {
            Err(wrong("wrong password"))
        }
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, Attempts> {
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> PeerAddr {
        PeerAddr::Ip(format!("{ip}:1000").parse().unwrap())
    }

    #[tokio::test]
    async fn the_password_is_checked_limited_and_replaced() {
        let auth = Auth::new(
            Some(Password::hash("sesame").unwrap()),
            OwnersFile::default(),
        );
        assert!(auth.needs_password());
        let refused = |r: Result<(), Refusal>| r.unwrap_err();
        let at = peer("10.0.0.1");
        assert_eq!(
            refused(auth.check_password(&at, String::new()).await).text,
            "this server needs a password"
        );
        // Right passwords do not count against the limit.
        for _ in 0..PER_MINUTE + 2 {
            auth.check_password(&at, "sesame".into()).await.unwrap();
        }
        for _ in 0..PER_MINUTE {
            let wrong = refused(auth.check_password(&at, "open".into()).await);
            assert_eq!(
                (wrong.kind, wrong.text.as_str()),
                (ErrorKind::WrongPassword, "wrong password")
            );
        }
        let limited = refused(auth.check_password(&at, "sesame".into()).await);
        assert_eq!(limited.kind, ErrorKind::RateLimited);
        assert_eq!(
            limited.text,
            "too many wrong passwords from your address; try again in 12 s"
        );
        // Another address is not held back.
        auth.check_password(&peer("10.0.0.2"), "sesame".into())
            .await
            .unwrap();
        // A reload: the new password from now on, or none.
        auth.set_password(Some(Password::hash("door").unwrap()));
        auth.check_password(&peer("10.0.0.2"), "door".into())
            .await
            .unwrap();
        auth.set_password(None);
        assert!(!auth.needs_password());
        auth.check_password(&at, String::new()).await.unwrap();
    }
}
