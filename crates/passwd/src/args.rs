//! Command-line parsing for `culex_passwd`, following `mosquitto_passwd`'s rules and messages.
//!
//! Options are scanned left to right while they are exactly one of `-H`, `-b`, `-c`, `-D`,
//! `-I`, `-U` (no bundling, repeats allowed); the first other argument starts the positional
//! arguments, so an unknown `-x` is taken as the password file's name, as in Mosquitto.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt as _;
use std::path::PathBuf;

use mqtt_core::auth::hash::{MAX_ARGON2_PASSES, MAX_PBKDF2_ITERATIONS};
use mqtt_core::auth::{HashAlgorithm, MAX_FIELD_LEN, UsernameError, validate_username};

/// What the command line asks for, validated.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Command {
    /// The password file as given (resolved later).
    pub(crate) file: PathBuf,
    /// The hash for new passwords.
    pub(crate) algorithm: HashAlgorithm,
    /// What to do with the file.
    pub(crate) action: Action,
}

/// The operation on the password file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// `-c`: create or overwrite the file with one entry.
    Create { username: String, password: Option<Vec<u8>> },
    /// Add the user or update its password (`-b` gives the password).
    Set { username: String, password: Option<Vec<u8>> },
    /// `-D`: delete the user.
    Delete { username: String },
    /// `-U`: hash every plaintext password.
    Upgrade,
}

/// Why the command line was refused: the usage text, or one error line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ArgsError {
    /// Print the usage text to stdout and exit 1.
    Usage,
    /// Print this line to stderr and exit 1.
    Message(String),
}

fn message(text: &str) -> ArgsError {
    ArgsError::Message(text.to_owned())
}

/// Which hash `-H` named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashChoice {
    Argon2id,
    Sha512Pbkdf2,
    Sha512,
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: Vec<OsString>) -> Result<Command, ArgsError> {
    let mut hash = HashChoice::Argon2id;
    let mut iterations: Option<u32> = None;
    let (mut batch, mut create, mut delete, mut upgrade) = (false, false, false, false);
    let mut rest = args.into_iter().peekable();
    while let Some(flag) = rest.peek().and_then(|a| a.to_str()).map(str::to_owned) {
        match flag.as_str() {
            "-b" => batch = true,
            "-c" => create = true,
            "-D" => delete = true,
            "-U" => upgrade = true,
            "-H" => {
                rest.next();
                let value = rest.peek().ok_or_else(|| {
                    message("Error: -H argument given but not enough other arguments.")
                })?;
                hash = match value.to_str() {
                    Some("argon2id") => HashChoice::Argon2id,
                    Some("sha512-pbkdf2") => HashChoice::Sha512Pbkdf2,
                    Some("sha512") => HashChoice::Sha512,
                    _ => {
                        return Err(ArgsError::Message(format!(
                            "Error: Unknown hash type '{}'",
                            value.to_string_lossy()
                        )));
                    }
                };
            }
            "-I" => {
                rest.next();
                let value = rest.peek().ok_or_else(|| {
                    message("Error: -I argument given but not enough other arguments.")
                })?;
                let count = value.to_str().and_then(|v| v.parse::<u32>().ok()).filter(|&n| n > 0);
                iterations =
                    Some(count.ok_or_else(|| message("Error: Number of iterations must be > 0."))?);
            }
            _ => break,
        }
        rest.next();
    }
    let positional: Vec<OsString> = rest.collect();

    if create && delete {
        return Err(message("Error: -c and -D cannot be used together."));
    }
    if create && upgrade {
        return Err(message("Error: -c and -U cannot be used together."));
    }
    if delete && upgrade {
        return Err(message("Error: -D and -U cannot be used together."));
    }
    if batch && delete {
        return Err(message("Error: -b and -D cannot be used together."));
    }
    let algorithm = algorithm(hash, iterations)?;

    let mut positional = positional.into_iter();
    let (file, username, password) = if create {
        let needed = if batch { 3 } else { 2 };
        if positional.len() < needed {
            return Err(message(if batch {
                "Error: -c argument given but password file, username, or password missing."
            } else {
                "Error: -c argument given but password file or username missing."
            }));
        }
        (positional.next(), positional.next(), if batch { positional.next() } else { None })
    } else if delete {
        if positional.len() < 2 {
            return Err(message("Error: -D argument given but password file or username missing."));
        }
        (positional.next(), positional.next(), None)
    } else if upgrade {
        if positional.len() != 1 {
            return Err(message("Error: -U argument given but password file missing."));
        }
        (positional.next(), None, None)
    } else {
        let needed = if batch { 3 } else { 2 };
        if positional.len() != needed {
            return Err(ArgsError::Usage);
        }
        (positional.next(), positional.next(), positional.next())
    };
    let file = PathBuf::from(file.ok_or(ArgsError::Usage)?);
    let username = username.map(checked_username).transpose()?;
    let password = password.map(checked_password).transpose()?;

    let action = match (create, delete, upgrade, username) {
        (true, _, _, Some(username)) => Action::Create { username, password },
        (_, true, _, Some(username)) => Action::Delete { username },
        (_, _, true, _) => Action::Upgrade,
        (false, false, false, Some(username)) => Action::Set { username, password },
        _ => return Err(ArgsError::Usage),
    };
    Ok(Command { file, algorithm, action })
}

fn algorithm(hash: HashChoice, iterations: Option<u32>) -> Result<HashAlgorithm, ArgsError> {
    Ok(match hash {
        HashChoice::Sha512 if iterations.is_some() => {
            return Err(message(
                "Error: -I cannot be used with -H sha512, which has no iterations.",
            ));
        }
        HashChoice::Sha512 => HashAlgorithm::Sha512,
        HashChoice::Sha512Pbkdf2 => {
            let iterations = iterations.unwrap_or(HashAlgorithm::PBKDF2_DEFAULT_ITERATIONS);
            if iterations > MAX_PBKDF2_ITERATIONS {
                return Err(ArgsError::Message(format!(
                    "Error: Number of iterations must be at most {MAX_PBKDF2_ITERATIONS}."
                )));
            }
            HashAlgorithm::Sha512Pbkdf2 { iterations }
        }
        HashChoice::Argon2id => match (HashAlgorithm::DEFAULT, iterations) {
            (HashAlgorithm::Argon2id { memory_kib, parallelism, .. }, Some(time_cost)) => {
                if time_cost > MAX_ARGON2_PASSES {
                    return Err(ArgsError::Message(format!(
                        "Error: Number of iterations must be at most {MAX_ARGON2_PASSES} for argon2id."
                    )));
                }
                HashAlgorithm::Argon2id { memory_kib, time_cost, parallelism }
            }
            (default, _) => default,
        },
    })
}

fn checked_username(raw: OsString) -> Result<String, ArgsError> {
    let username =
        raw.into_string().map_err(|_| message("Error: Username must be valid UTF-8."))?;
    validate_username(&username).map_err(|e| {
        message(match e {
            UsernameError::Empty => "Error: Username must not be empty.",
            UsernameError::TooLong => "Error: Username must be less than 65536 characters long.",
            UsernameError::ControlCharacter => {
                "Error: Username must not contain control characters."
            }
            UsernameError::Colon => "Error: Username must not contain the ':' character.",
            UsernameError::SurroundingSpace => {
                "Error: Username must not begin or end with a space."
            }
        })
    })?;
    Ok(username)
}

fn checked_password(raw: OsString) -> Result<Vec<u8>, ArgsError> {
    let password = raw.into_vec();
    if password.len() > MAX_FIELD_LEN {
        return Err(message("Error: Password must be less than 65536 characters long."));
    }
    Ok(password)
}

#[cfg(test)]
mod tests;
