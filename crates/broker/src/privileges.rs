//! `user`: a broker started as root becomes the configured account (default
//! [`DEFAULT_USER`]) once its listeners are open and the files it reads at startup (password
//! and ACL files, the persistence file, the log file) have been read or opened, so ports below
//! 1024 and root-only files work. Mosquitto switches earlier, before any of them, and prints
//! the same lines: a missing default account falls back to `nobody`, a missing configured one
//! stops the broker, and `user root` keeps root with a warning. Everything after the switch
//! (reloads, persistence writes, the pid file) happens as the new account, and persistence
//! files that startup wrote as root (a checkpoint recovered from the journal) are given to it
//! first, so that a later start as that account (the service) can read them.

use std::io;

use culex_compat::strerror;

use crate::config::{Config, DEFAULT_USER};
use crate::log;
use crate::log::Logger;
use crate::os::{self, Account, SwitchStep};

/// The account tried when the default one does not exist, as Mosquitto does.
const FALLBACK_USER: &str = "nobody";

/// What to do for a broker started as root, decided from the configuration and the accounts.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Stay root (`user root`).
    KeepRoot,
    /// Switch to this account, after logging the warnings.
    Switch(Account, Vec<String>),
    /// Stop with this error line.
    Refuse(String),
}

fn missing(name: &str) -> String {
    format!("Unable to drop privileges to '{name}' because this user does not exist.")
}

fn plan(user: Option<&str>, lookup: impl Fn(&str) -> Option<Account>) -> Plan {
    let name = user.unwrap_or(DEFAULT_USER);
    if name == "root" {
        return Plan::KeepRoot;
    }
    if let Some(account) = lookup(name) {
        return Plan::Switch(account, Vec::new());
    }
    if user.is_some() {
        return Plan::Refuse(format!("Error: {}", missing(name)));
    }
    let warning = format!("Warning: {} Trying '{FALLBACK_USER}' instead.", missing(name));
    match lookup(FALLBACK_USER) {
        Some(account) => Plan::Switch(account, vec![warning]),
        None => Plan::Refuse(format!("Error: {}", missing(FALLBACK_USER))),
    }
}

/// The refusal to run: the broker must exit 1 (the reason is logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unable to drop privileges")]
pub struct Refused;

/// Switches a broker running as root to `config`'s `user`, logging as Mosquitto does; does
/// nothing for any other user. Must run before any thread is started.
///
/// # Errors
/// The account does not exist (and is not the default one with `nobody` to fall back on), or
/// the system refused the switch; the error line is logged.
pub fn drop_privileges(config: &Config, logger: &Logger) -> Result<(), Refused> {
    if !os::is_root() {
        return Ok(());
    }
    let lookup = |name: &str| os::lookup_account(name).ok().flatten();
    match plan(config.user.as_deref(), lookup) {
        Plan::KeepRoot => {}
        Plan::Refuse(line) => {
            log!(logger, ERROR, "{line}");
            return Err(Refused);
        }
        Plan::Switch(account, warnings) => {
            for warning in warnings {
                log!(logger, WARNING, "{warning}");
            }
            if let Err((path, error)) = hand_over_persistence(config, &account) {
                log!(
                    logger,
                    ERROR,
                    "Error: Unable to change the owner of {path} to '{}': {}.",
                    account.name.to_string_lossy(),
                    strerror(&error)
                );
                return Err(Refused);
            }
            if let Err((step, error)) = os::switch_to(&account) {
                let what = match step {
                    SwitchStep::Groups => "groups",
                    SwitchStep::Gid => "gid",
                    SwitchStep::Uid => "uid",
                };
                log!(
                    logger,
                    ERROR,
                    "Error setting {what} whilst dropping privileges: {}.",
                    strerror(&error)
                );
                return Err(Refused);
            }
        }
    }
    if os::is_root() {
        log!(logger, WARNING, "Warning: culex should not be run as root/administrator.");
    }
    Ok(())
}

/// Gives the persistence files of `config` that exist and belong to root (the checkpoint,
/// its journal, and the `.culex` pair of an imported Mosquitto file) to `account`.
fn hand_over_persistence(config: &Config, account: &Account) -> Result<(), (String, io::Error)> {
    use std::os::unix::fs::MetadataExt as _;
    let Some(path) = config.persistence_path() else { return Ok(()) };
    let own = format!("{path}.culex");
    for file in [format!("{path}.journal"), format!("{own}.journal"), path, own] {
        match std::fs::metadata(&file) {
            Ok(meta) if meta.is_file() && meta.uid() == 0 => {
                std::os::unix::fs::chown(&file, Some(account.uid), Some(account.gid))
                    .map_err(|error| (file, error))?;
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err((file, error)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, uid: u32) -> Account {
        Account { name: std::ffi::CString::new(name).unwrap(), uid, gid: uid }
    }

    /// A password database with `culex` (100) and `nobody` (65534) when `with_culex`, else only
    /// `nobody`.
    fn accounts(with_culex: bool, with_nobody: bool) -> impl Fn(&str) -> Option<Account> {
        move |name| match name {
            "culex" if with_culex => Some(account("culex", 100)),
            "nobody" if with_nobody => Some(account("nobody", 65534)),
            "leo" => Some(account("leo", 1000)),
            _ => None,
        }
    }

    #[test]
    fn decides_like_mosquitto() {
        let fallback = "Warning: Unable to drop privileges to 'culex' because this user does not \
                        exist. Trying 'nobody' instead.";
        let rows: [(Option<&str>, bool, bool, Plan); 7] = [
            (None, true, true, Plan::Switch(account("culex", 100), vec![])),
            (None, false, true, Plan::Switch(account("nobody", 65534), vec![fallback.into()])),
            (
                None,
                false,
                false,
                Plan::Refuse(
                    "Error: Unable to drop privileges to 'nobody' because this user does not \
                     exist."
                        .into(),
                ),
            ),
            (Some("leo"), true, true, Plan::Switch(account("leo", 1000), vec![])),
            (Some("culex"), true, true, Plan::Switch(account("culex", 100), vec![])),
            (
                Some("nosuchuser"),
                true,
                true,
                Plan::Refuse(
                    "Error: Unable to drop privileges to 'nosuchuser' because this user does \
                     not exist."
                        .into(),
                ),
            ),
            (Some("root"), false, false, Plan::KeepRoot),
        ];
        for (user, with_culex, with_nobody, expected) in rows {
            assert_eq!(plan(user, accounts(with_culex, with_nobody)), expected, "{user:?}");
        }
    }
}
