//! Passwords already proven right since the password files were loaded, so that a client who
//! logs in again skips the hashing pool: during a flood of wrong passwords, which keeps the
//! pool busy, known clients still connect at once. Only successes are remembered: a wrong
//! password always takes a full check, so the time of an answer tells an attacker nothing new.
//!
//! An entry is a SHA-256 digest of a per-process random key, the username and the password,
//! never the password itself; one entry per user of a file at most, all forgotten on reload
//! (and a check that began before a reload remembers nothing).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest as _, Sha256};

/// The digests of passwords that passed a full check.
#[derive(Debug)]
pub(crate) struct Verified {
    /// Mixed into every digest; `None` when the OS gave no random bytes (nothing is
    /// remembered then: every login takes a full check).
    key: Option<[u8; 32]>,
    entries: Mutex<Entries>,
}

/// The digests of one generation of password files.
#[derive(Debug, Default)]
struct Entries {
    /// Counts reloads: a check that began before the last one remembers nothing.
    generation: u64,
    /// Per password file (its address: unique among the files of one generation, which the
    /// driver holds while it lasts) and username.
    digests: HashMap<(usize, String), [u8; 32]>,
}

impl Verified {
    /// An empty cache with a fresh random key.
    pub(crate) fn new() -> Self {
        let mut key = [0; 32];
        let key = getrandom::fill(&mut key).ok().map(|()| key);
        Self { key, entries: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current generation, to hand back to [`Self::insert`].
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Whether `password` is the one that last passed a full check for `username` in `file`.
    pub(crate) fn contains(&self, file: usize, username: &str, password: &[u8]) -> bool {
        let Some(digest) = self.digest(username, password) else { return false };
        self.lock().digests.get(&(file, username.to_owned())) == Some(&digest)
    }

    /// Remembers that `password` passed a full check for `username` in `file`, a check that
    /// began in `generation` (nothing, if the files were reloaded since).
    pub(crate) fn insert(&self, generation: u64, file: usize, username: &str, password: &[u8]) {
        let Some(digest) = self.digest(username, password) else { return };
        let mut entries = self.lock();
        if entries.generation == generation {
            entries.digests.insert((file, username.to_owned()), digest);
        }
    }

    /// Forgets everything: the password files were loaded again.
    pub(crate) fn clear(&self) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.digests.clear();
    }

    fn digest(&self, username: &str, password: &[u8]) -> Option<[u8; 32]> {
        let key = self.key.as_ref()?;
        let mut hasher = Sha256::new();
        hasher.update(key);
        // The username's length keeps `ab` + `c` apart from `a` + `bc`.
        hasher.update(username.len().to_be_bytes());
        hasher.update(username.as_bytes());
        hasher.update(password);
        Some(hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_remembered_password_of_that_user_and_file_is_known_until_cleared() {
        let verified = Verified::new();
        assert!(!verified.contains(1, "u", b"right"));
        verified.insert(verified.generation(), 1, "u", b"right");
        assert!(verified.contains(1, "u", b"right"));
        for (file, user, password) in
            [(1, "u", &b"wrong"[..]), (2, "u", b"right"), (1, "v", b"right")]
        {
            assert!(!verified.contains(file, user, password), "{file} {user}");
        }
        verified.insert(verified.generation(), 1, "ab", b"c");
        assert!(!verified.contains(1, "a", b"bc"));
        let before = verified.generation();
        verified.clear();
        assert!(!verified.contains(1, "u", b"right"));
        // A check that began before the reload remembers nothing.
        verified.insert(before, 1, "u", b"right");
        assert!(!verified.contains(1, "u", b"right"));
    }
}
