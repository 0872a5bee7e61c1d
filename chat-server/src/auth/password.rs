//! The server's password, kept only as its Argon2id hash: a PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`), made in memory from `--password` at
//! start, or read from the configuration file (`password_hash`), where
//! `chat-server --hash-password` puts it. The password itself is never stored.
//!
//! Argon2id is memory-hard: each guess at a stolen hash costs 19 MiB and two passes over
//! it, which is what makes guessing on a GPU slow. The parameters are OWASP's
//! recommendation ([`PARAMS`]), about 20-50 ms per check on a LAN server's CPU. The PHC
//! string names its own parameters, so a hash made elsewhere, with others, verifies too,
//! within bounds ([`MAX_MEMORY_KIB`], [`MAX_PASSES`]) that keep one check's cost known.

use std::fmt;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// The parameters of a hash made here: 19 MiB, 2 passes, 1 lane (Argon2id, version
/// 0x13), OWASP's first recommendation and the argon2 crate's default.
pub const PARAMS: [u32; 3] = [
    Params::DEFAULT_M_COST,
    Params::DEFAULT_T_COST,
    Params::DEFAULT_P_COST,
];

/// Most memory a hash read from a file may ask of each check, in KiB (256 MiB): checks
/// run two at once (`Auth`), so a hash cannot make the server take gigabytes.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// Most passes a hash read from a file may ask of each check.
pub const MAX_PASSES: u32 = 16;

/// Most lanes a hash read from a file may ask of each check.
pub const MAX_LANES: u32 = 8;

/// Longest password taken, in bytes: far beyond any passphrase, and a bound on what a
/// client makes the server hash.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A server password, as its Argon2id hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Password {
    /// The PHC string, checked: Argon2id, parameters within bounds.
    phc: String,
}

impl Password {
    /// Hashes `plain` with a new random salt and [`PARAMS`].
    ///
    /// # Errors
    ///
    /// `plain` is empty or longer than [`MAX_PASSWORD_BYTES`]; the system has no
    /// randomness for the salt.
    pub fn hash(plain: &str) -> Result<Self, String> {
        if plain.is_empty() {
            return Err("the password is empty".into());
        }
        if plain.len() > MAX_PASSWORD_BYTES {
            return Err(format!(
                "the password is longer than {MAX_PASSWORD_BYTES} bytes"
            ));
        }
        let [m, t, p] = PARAMS;
        let params = Params::new(m, t, p, None).map_err(|e| e.to_string())?;
        let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(plain.as_bytes())
            .map_err(|e| format!("cannot hash the password: {e}"))?;
        Ok(Self {
            phc: hash.to_string(),
        })
    }

    /// Reads a PHC string as `--hash-password` prints it.
    ///
    /// # Errors
    ///
    /// A sentence for a person: not a PHC string, not Argon2id, or parameters beyond the
    /// bounds of this module.
    pub fn parse(phc: &str) -> Result<Self, String> {
        let hash = PasswordHash::new(phc).map_err(|e| {
            format!("'{phc}' is not a password hash as --hash-password prints one: {e}")
        })?;
        if hash.algorithm.as_str() != "argon2id" {
            return Err(format!(
                "the password hash uses {}, not argon2id",
                hash.algorithm
            ));
        }
        if hash.salt.is_none() || hash.hash.is_none() {
            return Err("the password hash has no salt or no hash".into());
        }
        let params = Params::try_from(&hash)
            .map_err(|e| format!("the password hash's parameters are not valid: {e}"))?;
        if params.m_cost() > MAX_MEMORY_KIB
            || params.t_cost() > MAX_PASSES
            || params.p_cost() > MAX_LANES
        {
            return Err(format!(
                "the password hash asks for too much work per check (at most m={MAX_MEMORY_KIB}, \
                 t={MAX_PASSES}, p={MAX_LANES})"
            ));
        }
        Ok(Self {
            phc: phc.to_owned(),
        })
    }

    /// Whether `plain` is the password. Takes tens of milliseconds of CPU and the hash's
    /// memory: call it off the async threads.
    pub fn verify(&self, plain: &str) -> bool {
        if plain.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        // Checked when it was made or read.
        PasswordHash::new(&self.phc).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(plain.as_bytes(), &hash)
                .is_ok()
        })
    }

    /// The PHC string, for the configuration file.
    pub fn phc(&self) -> &str {
        &self.phc
    }
}

/// Never the hash itself: a log line has no use for it.
impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(argon2id)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_reads_back() {
        let started = std::time::Instant::now();
        let password = Password::hash("correct horse").unwrap();
        println!("one hash: {:?}", started.elapsed());
        assert!(
            password
                .phc()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        let started = std::time::Instant::now();
        assert!(password.verify("correct horse"));
        println!("one check: {:?}", started.elapsed());
        assert!(!password.verify("correct horse "));
        assert!(!password.verify(""));
        let again = Password::parse(password.phc()).unwrap();
        assert_eq!(again, password);
        assert!(again.verify("correct horse"));
        // A new salt each time.
        assert_ne!(Password::hash("correct horse").unwrap(), password);
        assert_eq!(format!("{password:?}"), "Password(argon2id)");
    }

    #[test]
    fn bad_passwords_and_hashes_are_refused_in_words() {
        assert_eq!(Password::hash("").unwrap_err(), "the password is empty");
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(Password::hash(&long).unwrap_err().contains("longer than"));
        assert!(
            Password::parse("hunter2")
                .unwrap_err()
                .contains("is not a password hash")
        );
        let argon2i =
            "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";
        assert!(
            Password::parse(argon2i)
                .unwrap_err()
                .contains("not argon2id"),
        );
        let greedy = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";
        assert!(
            Password::parse(greedy)
                .unwrap_err()
                .contains("too much work")
        );
    }
}
