//! One stored password hash: Mosquitto's `$6$` and `$7$` forms and the `$argon2id$` PHC form.
//!
//! ```text
//! $6$<salt b64>$<hash b64>                    hash = SHA-512(password ‖ salt)
//! $7$<iterations>$<salt b64>$<hash b64>       hash = PBKDF2-HMAC-SHA512(password, salt, iterations, 64)
//! $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64, no padding>$<hash b64, no padding>
//! ```
//! `$6$`/`$7$` use standard base64 with `=` padding (Mosquitto 2.0); decoding also accepts
//! unpadded text. Mosquitto 2.0's broker needs 12-byte salts, which is what
//! [`HashAlgorithm::salt_len`] asks for; longer salts (Mosquitto 2.1 writes 64 bytes) are read.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD,
};
use sha2::{Digest as _, Sha512};
use subtle::ConstantTimeEq as _;

/// Base64 decoder for `$6$`/`$7$` fields: standard alphabet, padding optional.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Length of a SHA-512 digest, the only hash length Mosquitto's `$6$`/`$7$` lines use.
const SHA512_LEN: usize = 64;
/// Length of the argon2id output this crate writes.
const ARGON2_OUTPUT_LEN: usize = 32;
/// Argon2 allows at most this much output; longer stored hashes are refused when parsing.
const ARGON2_MAX_OUTPUT_LEN: usize = 1024;
/// Argon2 needs at least this much salt.
const ARGON2_MIN_SALT_LEN: usize = 8;
/// A salt longer than this is refused (Mosquitto 2.1 writes 64 bytes).
const MAX_SALT_LEN: usize = 1024;
/// argon2id memory costs above this (1 GiB, in KiB) are refused: one login must not be able
/// to exhaust the broker's memory.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;
/// argon2id pass counts above this are refused, for the same reason as the iteration cap.
pub const MAX_ARGON2_PASSES: u32 = 1_000;
/// PBKDF2 iteration counts above this are refused: a file must not be able to stall the broker
/// for minutes per login.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// The kinds of hash a password-file line can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// `$6$`: salted SHA-512 (Mosquitto 1.x default; fast, so weak against offline guessing).
    Sha512,
    /// `$7$`: PBKDF2-HMAC-SHA512 (Mosquitto 2.0 default).
    Sha512Pbkdf2,
    /// `$argon2id$`: memory-hard argon2id (Mosquitto 2.1; Culex's default).
    Argon2id,
}

impl fmt::Display for HashKind {
    /// The `-H` spelling: `sha512`, `sha512-pbkdf2`, `argon2id`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha512 => "sha512",
            Self::Sha512Pbkdf2 => "sha512-pbkdf2",
            Self::Argon2id => "argon2id",
        })
    }
}

/// Why a hash field could not be parsed or a hash could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The field does not start with `$6$`, `$7$` or `$argon2id$`.
    #[error("unknown password hash type")]
    UnknownType,
    /// The field has the wrong number of `$`-separated parts.
    #[error("malformed password hash")]
    Malformed,
    /// The `$7$` iteration count is not a number from 1 to 10000000.
    #[error("invalid hash iterations")]
    InvalidIterations,
    /// The salt is not valid base64, or empty, or too long.
    #[error("unable to decode password salt")]
    InvalidSalt,
    /// The hash is not valid base64 or has the wrong length.
    #[error("unable to decode password hash")]
    InvalidHash,
    /// The argon2id version or `m=`, `t=`, `p=` parameters are missing or out of range
    /// (memory above 1 GiB and more than 1000 passes are refused).
    #[error("invalid argon2id parameters")]
    InvalidArgon2Params,
}

/// How to hash a new password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `$6$`: one SHA-512 over password and salt. Only for files older tools must read.
    Sha512,
    /// `$7$`: PBKDF2-HMAC-SHA512 with this many iterations (Mosquitto 2.0 uses 101).
    Sha512Pbkdf2 {
        /// Iteration count, at least 1.
        iterations: u32,
    },
    /// `$argon2id$` with these costs.
    Argon2id {
        /// Memory cost in KiB (`m=`).
        memory_kib: u32,
        /// Number of passes (`t=`).
        time_cost: u32,
        /// Number of lanes (`p=`).
        parallelism: u32,
    },
}

impl HashAlgorithm {
    /// Mosquitto 2.0's PBKDF2 iteration count.
    pub const PBKDF2_DEFAULT_ITERATIONS: u32 = 101;

    /// Culex's default: argon2id with Mosquitto 2.1's costs (46 MiB, one pass, one lane).
    pub const DEFAULT: Self = Self::Argon2id { memory_kib: 47_104, time_cost: 1, parallelism: 1 };

    /// `$7$` exactly as Mosquitto 2.0 writes it (101 iterations).
    pub const MOSQUITTO_2_0: Self =
        Self::Sha512Pbkdf2 { iterations: Self::PBKDF2_DEFAULT_ITERATIONS };

    /// The kind of line this algorithm writes.
    #[must_use]
    pub fn kind(&self) -> HashKind {
        match self {
            Self::Sha512 => HashKind::Sha512,
            Self::Sha512Pbkdf2 { .. } => HashKind::Sha512Pbkdf2,
            Self::Argon2id { .. } => HashKind::Argon2id,
        }
    }

    /// How many random salt bytes the caller should pass to [`HashAlgorithm::hash`]: 12 for
    /// `$6$`/`$7$` (the only length Mosquitto 2.0's broker reads), 16 for argon2id.
    #[must_use]
    pub fn salt_len(&self) -> usize {
        match self {
            Self::Sha512 | Self::Sha512Pbkdf2 { .. } => 12,
            Self::Argon2id { .. } => 16,
        }
    }

    /// Hashes `password` with `salt` (which the caller draws from a secure random source).
    ///
    /// # Errors
    /// [`HashError::InvalidSalt`] for an empty or too long salt (argon2id needs 8 bytes or
    /// more), [`HashError::InvalidIterations`] / [`HashError::InvalidArgon2Params`] for costs
    /// out of range.
    pub fn hash(&self, password: &[u8], salt: &[u8]) -> Result<PasswordHash, HashError> {
        if salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return Err(HashError::InvalidSalt);
        }
        let repr = match *self {
            Self::Sha512 => {
                Repr::Sha512 { salt: salt.to_vec(), hash: sha512_salted(password, salt) }
            }
            Self::Sha512Pbkdf2 { iterations } => {
                check_iterations(iterations)?;
                let hash = pbkdf2_sha512(password, salt, iterations, SHA512_LEN);
                Repr::Pbkdf2 { iterations, salt: salt.to_vec(), hash }
            }
            Self::Argon2id { memory_kib, time_cost, parallelism } => {
                let params = Argon2Params { version: 0x13, memory_kib, time_cost, parallelism };
                let hash = params.compute(password, salt, ARGON2_OUTPUT_LEN)?;
                Repr::Argon2id { params, salt: salt.to_vec(), hash }
            }
        };
        Ok(PasswordHash(repr))
    }
}

/// A parsed password hash from one password-file line.
///
/// `Display` writes it back in the form it was read (`$7$101$…`). `Debug` names the kind and
/// costs only.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Sha512 { salt: Vec<u8>, hash: Vec<u8> },
    Pbkdf2 { iterations: u32, salt: Vec<u8>, hash: Vec<u8> },
    Argon2id { params: Argon2Params, salt: Vec<u8>, hash: Vec<u8> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Argon2Params {
    version: u32,
    memory_kib: u32,
    time_cost: u32,
    parallelism: u32,
}

impl Argon2Params {
    fn compute(&self, password: &[u8], salt: &[u8], out_len: usize) -> Result<Vec<u8>, HashError> {
        if salt.len() < ARGON2_MIN_SALT_LEN {
            return Err(HashError::InvalidSalt);
        }
        if self.memory_kib > MAX_ARGON2_MEMORY_KIB || self.time_cost > MAX_ARGON2_PASSES {
            return Err(HashError::InvalidArgon2Params);
        }
        let version = match self.version {
            0x13 => argon2::Version::V0x13,
            0x10 => argon2::Version::V0x10,
            _ => return Err(HashError::InvalidArgon2Params),
        };
        let params =
            argon2::Params::new(self.memory_kib, self.time_cost, self.parallelism, Some(out_len))
                .map_err(|_| HashError::InvalidArgon2Params)?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, version, params);
        let mut out = vec![0; out_len];
        argon
            .hash_password_into(password, salt, &mut out)
            .map_err(|_| HashError::InvalidArgon2Params)?;
        Ok(out)
    }
}

impl PasswordHash {
    /// Parses the password field of a line (`$6$…`, `$7$…` or `$argon2id$…`).
    ///
    /// # Errors
    /// A [`HashError`] naming what is wrong: unknown type, wrong field count, bad iteration
    /// count or argon2 parameters, salt or hash that does not decode or has the wrong length.
    pub fn parse(field: &str) -> Result<Self, HashError> {
        if let Some(rest) = field.strip_prefix("$6$") {
            let (salt, hash) = rest.split_once('$').ok_or(HashError::Malformed)?;
            let salt = decode_salt(salt)?;
            let hash = decode_sha512_hash(hash)?;
            Ok(Self(Repr::Sha512 { salt, hash }))
        } else if let Some(rest) = field.strip_prefix("$7$") {
            let mut parts = rest.split('$');
            let (Some(iterations), Some(salt), Some(hash), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(HashError::Malformed);
            };
            let iterations = parse_decimal(iterations).ok_or(HashError::InvalidIterations)?;
            check_iterations(iterations)?;
            Ok(Self(Repr::Pbkdf2 {
                iterations,
                salt: decode_salt(salt)?,
                hash: decode_sha512_hash(hash)?,
            }))
        } else if let Some(rest) = field.strip_prefix("$argon2id$") {
            parse_argon2id(rest)
        } else {
            Err(HashError::UnknownType)
        }
    }

    /// The kind of hash.
    #[must_use]
    pub fn kind(&self) -> HashKind {
        match self.0 {
            Repr::Sha512 { .. } => HashKind::Sha512,
            Repr::Pbkdf2 { .. } => HashKind::Sha512Pbkdf2,
            Repr::Argon2id { .. } => HashKind::Argon2id,
        }
    }

    /// Whether `password` hashes to this value. The comparison is constant-time; the work
    /// done depends only on the stored parameters, never on the password.
    #[must_use]
    pub fn verify(&self, password: &[u8]) -> bool {
        let (computed, stored) = match &self.0 {
            Repr::Sha512 { salt, hash } => (sha512_salted(password, salt), hash),
            Repr::Pbkdf2 { iterations, salt, hash } => {
                (pbkdf2_sha512(password, salt, *iterations, hash.len()), hash)
            }
            Repr::Argon2id { params, salt, hash } => {
                match params.compute(password, salt, hash.len()) {
                    Ok(computed) => (computed, hash),
                    // Parameters were checked at parse time, so this is unreachable in practice;
                    // refusing is the safe answer.
                    Err(_) => return false,
                }
            }
        };
        computed.ct_eq(stored).into()
    }

    /// A hash with the same kind and costs whose verification does the same work as this one
    /// but never succeeds: used for unknown users so that they cost as much as a wrong password.
    #[must_use]
    pub fn decoy(&self) -> Self {
        let repr = match &self.0 {
            Repr::Sha512 { salt, hash } => {
                Repr::Sha512 { salt: vec![0; salt.len()], hash: vec![0; hash.len()] }
            }
            Repr::Pbkdf2 { iterations, salt, hash } => Repr::Pbkdf2 {
                iterations: *iterations,
                salt: vec![0; salt.len()],
                hash: vec![0; hash.len()],
            },
            Repr::Argon2id { params, salt, hash } => Repr::Argon2id {
                params: *params,
                salt: vec![0; salt.len()],
                hash: vec![0; hash.len()],
            },
        };
        Self(repr)
    }
}

impl fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Sha512 { salt, hash } => {
                write!(f, "$6${}${}", STANDARD.encode(salt), STANDARD.encode(hash))
            }
            Repr::Pbkdf2 { iterations, salt, hash } => {
                write!(f, "$7${iterations}${}${}", STANDARD.encode(salt), STANDARD.encode(hash))
            }
            Repr::Argon2id { params, salt, hash } => write!(
                f,
                "$argon2id$v={}$m={},t={},p={}${}${}",
                params.version,
                params.memory_kib,
                params.time_cost,
                params.parallelism,
                STANDARD_NO_PAD.encode(salt),
                STANDARD_NO_PAD.encode(hash)
            ),
        }
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Sha512 { .. } => f.write_str("PasswordHash(sha512)"),
            Repr::Pbkdf2 { iterations, .. } => {
                write!(f, "PasswordHash(sha512-pbkdf2, {iterations} iterations)")
            }
            Repr::Argon2id { params, .. } => write!(
                f,
                "PasswordHash(argon2id, m={}, t={}, p={})",
                params.memory_kib, params.time_cost, params.parallelism
            ),
        }
    }
}

fn sha512_salted(password: &[u8], salt: &[u8]) -> Vec<u8> {
    let mut digest = Sha512::new();
    digest.update(password);
    digest.update(salt);
    digest.finalize().to_vec()
}

fn pbkdf2_sha512(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
    out
}

fn check_iterations(iterations: u32) -> Result<(), HashError> {
    if (1..=MAX_PBKDF2_ITERATIONS).contains(&iterations) {
        Ok(())
    } else {
        Err(HashError::InvalidIterations)
    }
}

/// Parses a plain decimal number (no sign, no spaces), as the hash fields write them.
fn parse_decimal(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn decode_salt(text: &str) -> Result<Vec<u8>, HashError> {
    let salt = LENIENT_B64.decode(text).map_err(|_| HashError::InvalidSalt)?;
    if salt.is_empty() || salt.len() > MAX_SALT_LEN {
        return Err(HashError::InvalidSalt);
    }
    Ok(salt)
}

fn decode_sha512_hash(text: &str) -> Result<Vec<u8>, HashError> {
    let hash = LENIENT_B64.decode(text).map_err(|_| HashError::InvalidHash)?;
    if hash.len() != SHA512_LEN {
        return Err(HashError::InvalidHash);
    }
    Ok(hash)
}

/// Parses what follows `$argon2id$`: `[v=<n>$]m=<n>,t=<n>,p=<n>$<salt>$<hash>`.
fn parse_argon2id(rest: &str) -> Result<PasswordHash, HashError> {
    let parts: Vec<&str> = rest.split('$').collect();
    let (version, costs, salt, hash) = match parts.as_slice() {
        [version, costs, salt, hash] => {
            let version = version.strip_prefix("v=").and_then(parse_decimal);
            (version.ok_or(HashError::InvalidArgon2Params)?, *costs, *salt, *hash)
        }
        // libargon2 writes no `v=` for version 1.0 hashes.
        [costs, salt, hash] => (0x10, *costs, *salt, *hash),
        _ => return Err(HashError::Malformed),
    };
    let mut memory_kib = None;
    let mut time_cost = None;
    let mut parallelism = None;
    for pair in costs.split(',') {
        let (key, value) = pair.split_once('=').ok_or(HashError::InvalidArgon2Params)?;
        let slot = match key {
            "m" => &mut memory_kib,
            "t" => &mut time_cost,
            "p" => &mut parallelism,
            _ => return Err(HashError::InvalidArgon2Params),
        };
        if slot.replace(parse_decimal(value).ok_or(HashError::InvalidArgon2Params)?).is_some() {
            return Err(HashError::InvalidArgon2Params);
        }
    }
    let (Some(memory_kib), Some(time_cost), Some(parallelism)) =
        (memory_kib, time_cost, parallelism)
    else {
        return Err(HashError::InvalidArgon2Params);
    };
    let params = Argon2Params { version, memory_kib, time_cost, parallelism };
    let salt = STANDARD_NO_PAD.decode(salt).map_err(|_| HashError::InvalidSalt)?;
    if !(ARGON2_MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
        return Err(HashError::InvalidSalt);
    }
    let hash = STANDARD_NO_PAD.decode(hash).map_err(|_| HashError::InvalidHash)?;
    if !(4..=ARGON2_MAX_OUTPUT_LEN).contains(&hash.len()) {
        return Err(HashError::InvalidHash);
    }
    // Validate the costs now so that `verify` cannot fail later.
    if !matches!(version, 0x10 | 0x13)
        || memory_kib > MAX_ARGON2_MEMORY_KIB
        || time_cost > MAX_ARGON2_PASSES
        // Checked first: `Params::new` multiplies `parallelism` by 8 before its own range check.
        || parallelism > argon2::Params::MAX_P_COST
        || argon2::Params::new(memory_kib, time_cost, parallelism, Some(hash.len())).is_err()
    {
        return Err(HashError::InvalidArgon2Params);
    }
    Ok(PasswordHash(Repr::Argon2id { params, salt, hash }))
}

#[cfg(test)]
mod tests;
