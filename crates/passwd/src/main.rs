//! `culex_passwd`: manage password files for the culex broker, like `mosquitto_passwd`.
//!
//! Same flags, prompts, messages and exit codes as Mosquitto 2.0.11's tool, plus Mosquitto
//! 2.1's additions (`-c -` writes the new line to stdout; `Adding password for user <u>` and
//! `Updating password for user <u>` report what an add or update did), with these
//! deliberate differences: new passwords default to argon2id (`-H sha512-pbkdf2` writes lines
//! Mosquitto 2.0 reads), comments and blank lines are kept instead of being "corrupt", edits
//! replace the file atomically, and already-hashed lines survive `-U`.

mod args;
mod edit;
mod os;
mod prompt;

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use culex_compat::file::Step;
use culex_compat::strerror;
use mqtt_core::auth::{Change, HashAlgorithm, PasswordFile, PasswordHash};
use rand::RngCore as _;

use args::{Action, ArgsError, Command};
use prompt::PromptError;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // Mosquitto's tool has no `--version` (it prints the usage); culex's prints its version
    // in the broker's format when it is the only argument.
    if args == ["--version"] {
        println!("culex_passwd version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage) => {
            print!("{}", usage());
            let _ = std::io::stdout().flush();
            ExitCode::from(1)
        }
        Err(Failure::Silent(code)) => ExitCode::from(code),
        Err(Failure::Message(text, code)) => {
            eprintln!("{text}");
            ExitCode::from(code)
        }
    }
}

/// How a run ends when it does not succeed.
#[derive(Debug)]
enum Failure {
    /// Print the usage text on stdout, exit 1.
    Usage,
    /// Print this on stderr and exit with this status.
    Message(String, u8),
    /// Exit with this status without a message.
    Silent(u8),
}

impl Failure {
    fn new(text: impl Into<String>) -> Self {
        Self::Message(text.into(), 1)
    }
}

impl From<ArgsError> for Failure {
    fn from(error: ArgsError) -> Self {
        match error {
            ArgsError::Usage => Self::Usage,
            ArgsError::Message(text) => Self::new(text),
        }
    }
}

impl From<PromptError> for Failure {
    fn from(error: PromptError) -> Self {
        match error {
            PromptError::Empty => Self::new("Error: Empty password."),
            PromptError::Mismatch => Self::Message("Error: Passwords do not match.".into(), 2),
            PromptError::TooLong => {
                Self::new("Error: Password must be less than 65536 characters long.")
            }
            // Like a shell, report Ctrl-C as 128 + SIGINT (Mosquitto exits 0 here).
            PromptError::Interrupted => {
                println!();
                Self::Silent(130)
            }
            PromptError::Io(error) => {
                Self::new(format!("Error: Unable to read password. {}.", strerror(&error)))
            }
        }
    }
}

/// The file name that, with `-c`, means stdout (Mosquitto 2.1).
const STDOUT_FILE: &str = "-";

fn run(raw_args: Vec<std::ffi::OsString>) -> Result<(), Failure> {
    let Command { file, algorithm, action } = args::parse(raw_args)?;
    let to_stdout = matches!(action, Action::Create { .. }) && file.as_os_str() == STDOUT_FILE;
    let path = if to_stdout {
        file
    } else {
        edit::resolve(&file)
            .map_err(|e| Failure::new(format!("Error reading password file: {}", strerror(&e))))?
    };
    match action {
        Action::Create { username, password } => {
            // Ask first, so that a typing mistake leaves no file behind.
            let password = password_or_prompt(password)?;
            let mut passwords = PasswordFile::default();
            set_password(&mut passwords, &username, &password, algorithm)?;
            if to_stdout {
                return write_stdout(&passwords.to_string());
            }
            let previous = std::fs::metadata(&path).ok().filter(std::fs::Metadata::is_file);
            save(&path, &passwords, previous.as_ref(), true)?;
            report(Change::Added, &username);
            Ok(())
        }
        Action::Set { username, password } => {
            let (mut passwords, previous) = load(&path)?;
            let password = password_or_prompt(password)?;
            let change = set_password(&mut passwords, &username, &password, algorithm)?;
            save(&path, &passwords, Some(&previous), false)?;
            report(change, &username);
            Ok(())
        }
        Action::Delete { username } => {
            let (mut passwords, previous) = load(&path)?;
            if !passwords.remove(&username) {
                return Err(Failure::new(format!(
                    "Warning: User {username} not found in password file."
                )));
            }
            save(&path, &passwords, Some(&previous), false)
        }
        Action::Upgrade => {
            let (mut passwords, previous) = load(&path)?;
            let upgraded =
                passwords.upgrade_plaintext(|plaintext| hash(plaintext.as_bytes(), algorithm))?;
            if upgraded == 0 {
                return Ok(());
            }
            save(&path, &passwords, Some(&previous), false)
        }
    }
}

/// Mosquitto 2.1's line on stdout after an add or an update. A closed stdout is not worth
/// failing a finished edit for.
fn report(change: Change, username: &str) {
    let verb = match change {
        Change::Added => "Adding",
        Change::Updated => "Updating",
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{verb} password for user {username}").and_then(|()| out.flush());
}

/// `-c -`: the new file goes to stdout instead.
fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("Error: Unable to write to stdout. {}.", strerror(&e))))
}

fn password_or_prompt(password: Option<Vec<u8>>) -> Result<Vec<u8>, Failure> {
    match password {
        Some(password) => Ok(password),
        None => Ok(prompt::read_new_password()?),
    }
}

/// Reads and parses an existing file; refuses to go on with a file it does not understand.
fn load(path: &Path) -> Result<(PasswordFile, std::fs::Metadata), Failure> {
    let existing = edit::read_existing(path).map_err(|e| {
        Failure::new(format!(
            "Error: Unable to open password file {}. {}.",
            path.display(),
            strerror(&e)
        ))
    })?;
    let text = String::from_utf8(existing.bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        Failure::new(format!("Error: Corrupt password file at line {line} (not valid UTF-8)."))
    })?;
    let passwords = PasswordFile::parse(&text).map_err(|e| {
        Failure::new(format!("Error: Corrupt password file at line {} ({}).", e.line, e.kind))
    })?;
    Ok((passwords, existing.metadata))
}

fn set_password(
    passwords: &mut PasswordFile,
    username: &str,
    password: &[u8],
    algorithm: HashAlgorithm,
) -> Result<Change, Failure> {
    let hashed = hash(password, algorithm)?;
    // The username was validated with the command line, so this cannot fail in practice.
    passwords.set(username, hashed).map_err(|e| Failure::new(format!("Error: {e}.")))
}

fn hash(password: &[u8], algorithm: HashAlgorithm) -> Result<PasswordHash, Failure> {
    let mut salt = vec![0; algorithm.salt_len()];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| Failure::new(format!("Error: Unable to generate a random salt. {e}.")))?;
    algorithm.hash(password, &salt).map_err(|_| Failure::new("Error: Unable to hash password."))
}

fn save(
    path: &Path,
    passwords: &PasswordFile,
    previous: Option<&std::fs::Metadata>,
    creating: bool,
) -> Result<(), Failure> {
    edit::write_atomically(path, passwords.to_string().as_bytes(), previous).map_err(|error| {
        match error.step {
            Step::Create if creating => Failure::new(format!(
                "Error: Unable to open file {} for writing. {}.",
                path.display(),
                strerror(&error.io)
            )),
            Step::Create => Failure::new(format!(
                "Error: Unable to create a temporary file next to {}. {}. The password file is unchanged.",
                path.display(),
                strerror(&error.io)
            )),
            _ => Failure::new(format!(
                "Error: Unable to write password file {}: {error}. The password file is unchanged.",
                path.display()
            )),
        }
    })
}

fn usage() -> &'static str {
    "culex_passwd is a tool for managing password files for the culex MQTT broker.\n\
     \n\
     Usage: culex_passwd [-H argon2id | -H sha512-pbkdf2 | -H sha512] [-I n] [-c | -D] passwordfile username\n       \
     culex_passwd [-H argon2id | -H sha512-pbkdf2 | -H sha512] [-I n] [-c] -b passwordfile username password\n       \
     culex_passwd [-H argon2id | -H sha512-pbkdf2 | -H sha512] [-I n] -U passwordfile\n \
     -b : batch mode: take the password from the command line (other local users may see it).\n \
     -c : create a new password file, replacing the file if it already exists;\n      \
     with - as the file, print the new line to stdout instead.\n \
     -D : delete the user instead of adding it or changing its password.\n \
     -H : choose the hash for new passwords. argon2id is the default and the strongest;\n      \
     sha512-pbkdf2 writes lines that Mosquitto 2.0 can read; sha512 is for older tools only.\n \
     -I : iterations for sha512-pbkdf2 (default 101), or passes for argon2id (default 1).\n \
     -U : hash the plain text passwords in a password file, keeping lines already hashed.\n\
     \n\
     See docs/security.md in the culex sources for more information.\n\
     \n"
}
