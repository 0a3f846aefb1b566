//! `password_file` and `acl_file`: reading them (at start and on SIGHUP) into the pure models of
//! `mqtt_core::auth` and `mqtt_core::acl`, with Mosquitto's log lines, and checking passwords
//! off the driver task.

use std::sync::Arc;

use mqtt_core::acl::AclFile;
use mqtt_core::auth::PasswordFile;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::log;
use crate::log::Logger;

/// Exit status when a password or ACL file cannot be used (Mosquitto's `MOSQ_ERR_UNKNOWN`).
pub const EXIT_SECURITY: u8 = 13;

/// The loaded security files of a configuration.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// Users and password hashes, when `password_file` is set.
    pub passwords: Option<Arc<PasswordFile>>,
    /// Access rules, when `acl_file` is set.
    pub acl: Option<Arc<AclFile>>,
}

/// A security file that cannot be used. The lines are Mosquitto's (already logged).
#[derive(Debug, thiserror::Error)]
#[error("{}", .lines.join(" "))]
pub struct SecurityError {
    /// What was logged.
    pub lines: Vec<String>,
}

impl Security {
    /// Reads the files `config` names, logging each problem as Mosquitto does. A bad line in a
    /// password file drops that entry only; an ACL file with a bad line is refused whole.
    ///
    /// # Errors
    /// A file that cannot be read, or an ACL file that does not parse.
    pub fn load(config: &Config, logger: &Logger) -> Result<Self, SecurityError> {
        let fail = |lines: Vec<String>| {
            for line in &lines {
                log!(logger, ERROR, "{line}");
            }
            SecurityError { lines }
        };
        let mut security = Self::default();
        if let Some(path) = &config.password_file {
            let Ok(text) = std::fs::read_to_string(path) else {
                return Err(fail(vec![
                    format!("Error: Unable to open pwfile \"{path}\"."),
                    format!("Error opening password file \"{path}\"."),
                ]));
            };
            let (passwords, problems) = PasswordFile::parse_lenient(&text);
            for problem in problems {
                if let Some(line) = problem.mosquitto_log_line(path) {
                    log!(logger, ERROR, "{line}");
                }
            }
            security.passwords = Some(Arc::new(passwords));
        }
        if let Some(path) = &config.acl_file {
            let Ok(text) = std::fs::read_to_string(path) else {
                return Err(fail(vec![
                    format!("Error: Unable to open acl_file \"{path}\"."),
                    format!("Error opening acl file \"{path}\"."),
                ]));
            };
            match AclFile::parse(&text) {
                Ok(acl) => security.acl = Some(Arc::new(acl)),
                Err(err) => {
                    return Err(fail(vec![
                        err.mosquitto_log_line(path),
                        format!("Error opening acl file \"{path}\"."),
                    ]));
                }
            }
        }
        Ok(security)
    }
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
    use crate::config::LogTypes;

    fn quiet() -> Logger {
        Logger::new(LogTypes::NONE, false, true)
    }

    fn temp_file(name: &str, text: &str) -> String {
        let path =
            std::env::temp_dir().join(format!("culex-security-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn nothing_configured_loads_nothing() {
        let security = Security::load(&Config::default(), &quiet()).unwrap();
        assert!(security.passwords.is_none() && security.acl.is_none());
    }

    #[test]
    fn unreadable_files_give_mosquittos_two_lines() {
        let config = Config { password_file: Some("/nonexistent/pw".into()), ..Config::default() };
        let err = Security::load(&config, &quiet()).unwrap_err();
        assert_eq!(
            err.lines,
            [
                "Error: Unable to open pwfile \"/nonexistent/pw\".",
                "Error opening password file \"/nonexistent/pw\"."
            ]
        );
        let config = Config { acl_file: Some("/nonexistent/acl".into()), ..Config::default() };
        let err = Security::load(&config, &quiet()).unwrap_err();
        assert_eq!(err.lines[1], "Error opening acl file \"/nonexistent/acl\".");
    }

    #[test]
    fn a_bad_acl_line_refuses_the_file_and_bad_password_lines_are_skipped() {
        let acl = temp_file("acl", "topic sideways a/b\n");
        let config = Config { acl_file: Some(acl.clone()), ..Config::default() };
        let err = Security::load(&config, &quiet()).unwrap_err();
        assert!(err.lines[0].contains("Invalid topic access type"), "{:?}", err.lines);
        let passwords = temp_file("pw", "plain:text\n");
        let config = Config { password_file: Some(passwords.clone()), ..Config::default() };
        let security = Security::load(&config, &quiet()).unwrap();
        assert!(security.passwords.is_some_and(|p| p.is_empty()));
        std::fs::remove_file(acl).unwrap();
        std::fs::remove_file(passwords).unwrap();
    }
}
