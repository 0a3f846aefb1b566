//! `password_file` and `acl_file`: reading them (at start and on SIGHUP) into the pure models of
//! `mqtt_core::auth` and `mqtt_core::acl`, with Mosquitto's log lines, and checking passwords
//! off the driver task; and an HTTP API listener's `http_api_token_file` (`tokens`).

mod tokens;

pub use tokens::{TokenFile, TokenFileError};

use std::collections::HashMap;
use std::sync::Arc;

use mqtt_core::acl::AclFile;
use mqtt_core::auth::PasswordFile;
use tokio::sync::Semaphore;

use crate::config::{Config, EffectiveSecurity, ListenerConfig};
use crate::log;
use crate::log::Logger;

/// Exit status when a password or ACL file cannot be used (Mosquitto's `MOSQ_ERR_UNKNOWN`).
pub const EXIT_SECURITY: u8 = 13;

/// The security of one listener: its options and the files they name, loaded.
#[derive(Clone, Debug)]
pub struct ListenerSecurity {
    /// The options in force on the listener.
    pub options: EffectiveSecurity,
    /// Users and password hashes, when `password_file` is set.
    pub passwords: Option<Arc<PasswordFile>>,
    /// Access rules, when `acl_file` is set.
    pub acl: Option<Arc<AclFile>>,
    /// Bearer tokens of an HTTP API listener, when `http_api_token_file` is set.
    pub tokens: Option<Arc<TokenFile>>,
}

/// The security of every listener in force, indexed like
/// [`ListenSpec::listener`](crate::config::ListenSpec::listener). Without `per_listener_settings` every entry is the same and
/// shares the same loaded files.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// One entry per listener.
    pub listeners: Vec<ListenerSecurity>,
}

/// A security file that cannot be used. The lines are Mosquitto's (already logged).
#[derive(Debug, thiserror::Error)]
#[error("{}", .lines.join(" "))]
pub struct SecurityError {
    /// What was logged.
    pub lines: Vec<String>,
}

impl Security {
    /// Reads the files `config` names for each of `listeners` (the listeners the broker
    /// started with; see [`Config::security_for`]), each file once, logging each problem as
    /// Mosquitto does. A bad line in a password file drops that entry only; an ACL file with
    /// a bad line is refused whole.
    ///
    /// # Errors
    /// A file that cannot be read, or an ACL file that does not parse.
    pub fn load<'a>(
        config: &Config,
        listeners: impl IntoIterator<Item = &'a ListenerConfig>,
        logger: &Logger,
    ) -> Result<Self, SecurityError> {
        let mut passwords: HashMap<String, Arc<PasswordFile>> = HashMap::new();
        let mut acls: HashMap<String, Arc<AclFile>> = HashMap::new();
        let mut tokens: HashMap<String, Arc<TokenFile>> = HashMap::new();
        let mut security = Self::default();
        for listener in listeners {
            let options = config.security_for(listener);
            let password_file =
                load_once(&mut passwords, options.password_file.as_deref(), |path| {
                    load_password_file(path, logger)
                })?;
            let acl = load_once(&mut acls, options.acl_file.as_deref(), |path| {
                load_acl_file(path, logger)
            })?;
            let tokens = load_once(&mut tokens, listener.http_api_token_file.as_deref(), |path| {
                load_token_file(path, logger)
            })?;
            security.listeners.push(ListenerSecurity {
                options,
                passwords: password_file,
                acl,
                tokens,
            });
        }
        Ok(security)
    }
}

/// The file at `path` (if any), loaded by `load` the first time it is asked for and shared
/// from `cache` afterwards.
fn load_once<T>(
    cache: &mut HashMap<String, Arc<T>>,
    path: Option<&str>,
    load: impl FnOnce(&str) -> Result<T, SecurityError>,
) -> Result<Option<Arc<T>>, SecurityError> {
    let Some(path) = path else { return Ok(None) };
    if let Some(loaded) = cache.get(path) {
        return Ok(Some(Arc::clone(loaded)));
    }
    let loaded = Arc::new(load(path)?);
    cache.insert(path.to_owned(), Arc::clone(&loaded));
    Ok(Some(loaded))
}

/// Logs `lines` as errors and returns them as the error.
fn fail(logger: &Logger, lines: Vec<String>) -> SecurityError {
    for line in &lines {
        log!(logger, ERROR, "{line}");
    }
    SecurityError { lines }
}

/// Reads the file `path` that the `option` names; if it cannot be read, logs Mosquitto's two
/// lines for that (`Error: Unable to open <option> "<path>".`, `Error opening <file> "<path>".`).
fn read_or_fail(
    path: &str,
    logger: &Logger,
    option: &str,
    file: &str,
) -> Result<String, SecurityError> {
    std::fs::read_to_string(path).map_err(|_| {
        fail(
            logger,
            vec![
                format!("Error: Unable to open {option} \"{path}\"."),
                format!("Error opening {file} \"{path}\"."),
            ],
        )
    })
}

/// Reads a password file; bad lines are logged and skipped.
fn load_password_file(path: &str, logger: &Logger) -> Result<PasswordFile, SecurityError> {
    let text = read_or_fail(path, logger, "pwfile", "password file")?;
    let (passwords, problems) = PasswordFile::parse_lenient(&text);
    for problem in problems {
        if let Some(line) = problem.mosquitto_log_line(path) {
            log!(logger, ERROR, "{line}");
        }
    }
    Ok(passwords)
}

/// Reads an ACL file; any bad line refuses the whole file.
fn load_acl_file(path: &str, logger: &Logger) -> Result<AclFile, SecurityError> {
    let text = read_or_fail(path, logger, "acl_file", "acl file")?;
    AclFile::parse(&text).map_err(|err| {
        fail(
            logger,
            vec![err.mosquitto_log_line(path), format!("Error opening acl file \"{path}\".")],
        )
    })
}

/// Reads an `http_api_token_file`, refusing it whole at its first bad line.
fn load_token_file(path: &str, logger: &Logger) -> Result<TokenFile, SecurityError> {
    let text = read_or_fail(path, logger, "http_api_token_file", "token file")?;
    TokenFile::parse(&text).map_err(|err| {
        fail(logger, vec![format!("Error: Invalid http_api_token_file \"{path}\" {err}.")])
    })
}

/// Checks passwords on the blocking pool, a few at a time: a hash check can take tens of
/// milliseconds and, for argon2id, tens of MiB.
#[derive(Debug)]
pub(crate) struct PasswordChecker {
    permits: Arc<Semaphore>,
}

impl PasswordChecker {
    pub(crate) fn new() -> Self {
        let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self { permits: Arc::new(Semaphore::new(2 * workers)) }
    }

    /// Whether `password` is right for `username`; `false` for a missing password.
    pub(crate) async fn check(
        &self,
        passwords: &PasswordFile,
        username: &str,
        password: Option<bytes::Bytes>,
    ) -> bool {
        let Some(password) = password else { return false };
        let credentials = passwords.credentials(username);
        let Ok(_permit) = Arc::clone(&self.permits).acquire_owned().await else { return false };
        tokio::task::spawn_blocking(move || credentials.verify(&password)).await.unwrap_or(false)
    }

    /// A handle sharing the same permits, for a spawned task.
    pub(crate) fn share(&self) -> Self {
        Self { permits: Arc::clone(&self.permits) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LogTypes, parse};

    fn quiet() -> Logger {
        Logger::new(LogTypes::NONE, false, true)
    }

    fn temp_file(name: &str, text: &str) -> String {
        let path =
            std::env::temp_dir().join(format!("culex-security-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// Loads the files of `config` for its own listeners.
    fn load(config: &Config) -> Result<Security, SecurityError> {
        Security::load(config, config.listeners_in_force(), &quiet())
    }

    #[test]
    fn nothing_configured_loads_nothing() {
        let security = load(&Config::default()).unwrap();
        let [only] = security.listeners.as_slice() else { panic!("one listener in force") };
        assert!(only.passwords.is_none() && only.acl.is_none());
    }

    #[test]
    fn unreadable_files_give_mosquittos_two_lines() {
        let config = Config { password_file: Some("/nonexistent/pw".into()), ..Config::default() };
        let err = load(&config).unwrap_err();
        assert_eq!(
            err.lines,
            [
                "Error: Unable to open pwfile \"/nonexistent/pw\".",
                "Error opening password file \"/nonexistent/pw\"."
            ]
        );
        let config = Config { acl_file: Some("/nonexistent/acl".into()), ..Config::default() };
        let err = load(&config).unwrap_err();
        assert_eq!(err.lines[1], "Error opening acl file \"/nonexistent/acl\".");
    }

    #[test]
    fn a_bad_acl_line_refuses_the_file_and_bad_password_lines_are_skipped() {
        let acl = temp_file("acl", "topic sideways a/b\n");
        let config = Config { acl_file: Some(acl.clone()), ..Config::default() };
        let err = load(&config).unwrap_err();
        assert!(err.lines[0].contains("Invalid topic access type"), "{:?}", err.lines);
        let passwords = temp_file("pw", "plain:text\n");
        let config = Config { password_file: Some(passwords.clone()), ..Config::default() };
        let security = load(&config).unwrap();
        assert!(security.listeners[0].passwords.as_ref().is_some_and(|p| p.is_empty()));
        std::fs::remove_file(acl).unwrap();
        std::fs::remove_file(passwords).unwrap();
    }

    #[test]
    fn each_listener_gets_its_own_files_and_shared_files_are_read_once() {
        let acl = temp_file("shared-acl", "topic read a/#\n");
        let passwords = temp_file("one-pw", "");
        let text = format!(
            "per_listener_settings true\n\
             listener 1884\nacl_file {acl}\npassword_file {passwords}\nallow_anonymous true\n\
             listener 1885\nacl_file {acl}\nauto_id_prefix b-\n\
             listener 1886\n"
        );
        let config = parse(&text, "test.conf").unwrap();
        let security = load(&config).unwrap();
        let [first, second, third] = security.listeners.as_slice() else { panic!("3 listeners") };
        assert!(first.passwords.is_some() && second.passwords.is_none());
        assert!(Arc::ptr_eq(first.acl.as_ref().unwrap(), second.acl.as_ref().unwrap()));
        assert!(third.acl.is_none() && third.passwords.is_none());
        assert!(first.options.allow_anonymous && !second.options.allow_anonymous);
        assert_eq!(second.options.auto_id_prefix, "b-");
        assert_eq!(third.options.auto_id_prefix, "auto-");
        std::fs::remove_file(acl).unwrap();
        std::fs::remove_file(passwords).unwrap();
    }
}
