//! Password files: Mosquitto's `$6$`/`$7$` and argon2id lines, parsed, verified and formatted.
//!
//! Shared by the broker (which loads a file and checks CONNECT credentials) and
//! `culex_passwd` (which edits files). Everything here is pure: text in, text out, salts passed
//! in by the caller. No file I/O, no clock, no random numbers.
//!
//! # Layout
//! - [`hash`]: one stored password hash ([`PasswordHash`]): parse, verify, create, format;
//!   [`HashAlgorithm`] says how to create new ones.
//! - [`file`](mod@file): the whole file ([`PasswordFile`]): comments, blank lines and order kept, so an
//!   edit changes only the lines it must; [`Credentials`] is a detached check that can run on
//!   another thread.
//!
//! # Example
//! ```
//! use mqtt_core::auth::{HashAlgorithm, PasswordFile};
//!
//! let mut file = PasswordFile::parse("# users\n").unwrap();
//! let hash = HashAlgorithm::Sha512Pbkdf2 { iterations: 101 }.hash(b"secret", &[7; 12]).unwrap();
//! file.set("alice", hash).unwrap();
//! assert!(file.verify("alice", b"secret"));
//! assert!(!file.verify("alice", b"wrong"));
//! assert!(!file.verify("mallory", b"secret"));
//! assert!(file.to_string().starts_with("# users\nalice:$7$101$"));
//! ```

pub mod file;
pub mod hash;

pub use file::{Change, Credential, Credentials, ParseError, ParseErrorKind, PasswordFile};
pub use hash::{HashAlgorithm, HashError, HashKind, PasswordHash};

/// Largest username or password Mosquitto accepts (both are MQTT strings: 16-bit length).
pub const MAX_FIELD_LEN: usize = 65_535;

/// Why a username cannot be stored in a password file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// The username is empty.
    #[error("username is empty")]
    Empty,
    /// The username is longer than 65535 bytes.
    #[error("username must be less than 65536 characters long")]
    TooLong,
    /// The username contains a control character (such as TAB or newline).
    #[error("username must not contain control characters")]
    ControlCharacter,
    /// The username contains `:`, the field separator.
    #[error("username must not contain the ':' character")]
    Colon,
    /// The username starts or ends with a space, which the broker would trim away when it
    /// reads the file (so nobody could log in with the name as given).
    #[error("username must not begin or end with a space")]
    SurroundingSpace,
}

/// Checks that `username` can be written as the first field of a password-file line.
///
/// Spaces inside the name and non-ASCII characters are allowed, as in `mosquitto_passwd`.
///
/// # Errors
/// The first rule the username breaks, in `mosquitto_passwd`'s order (length, control
/// characters, `:`), then surrounding spaces, which Mosquitto lets through.
pub fn validate_username(username: &str) -> Result<(), UsernameError> {
    if username.is_empty() {
        Err(UsernameError::Empty)
    } else if username.len() > MAX_FIELD_LEN {
        Err(UsernameError::TooLong)
    } else if username.chars().any(char::is_control) {
        Err(UsernameError::ControlCharacter)
    } else if username.contains(':') {
        Err(UsernameError::Colon)
    } else if username.starts_with(' ') || username.ends_with(' ') {
        Err(UsernameError::SurroundingSpace)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_mosquitto_passwd_rules() {
        assert_eq!(validate_username("user name"), Ok(()));
        assert_eq!(validate_username("ünïcode"), Ok(()));
        assert_eq!(validate_username(""), Err(UsernameError::Empty));
        assert_eq!(validate_username("a\tb"), Err(UsernameError::ControlCharacter));
        assert_eq!(validate_username("a:b"), Err(UsernameError::Colon));
        assert_eq!(validate_username(&"x".repeat(65_536)), Err(UsernameError::TooLong));
        assert_eq!(validate_username(&"x".repeat(65_535)), Ok(()));
        assert_eq!(validate_username(" bob"), Err(UsernameError::SurroundingSpace));
        assert_eq!(validate_username("bob "), Err(UsernameError::SurroundingSpace));
    }
}
