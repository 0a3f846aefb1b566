//! Access control lists: Mosquitto's `acl_file` model and pure permission checks.
//!
//! ```text
//! # comment (a `#` in column 0)
//! topic read $SYS/#                 rules before the first `user` line: anonymous clients
//! user alice                        rules after it: clients logged in as alice
//! topic readwrite alice/#           access is read, write, readwrite (default) or deny
//! topic deny alice/secret
//! pattern write devices/%c/status   patterns apply to every client; %c = client id, %u = username
//! ```
//!
//! Semantics, as Mosquitto 2.0.11 checks an access ([`AclFile::check`]):
//! 1. The client's own rules (its user's, or the anonymous ones) are tried first, `deny`
//!    rules before grants; a matching `deny` refuses, a matching grant that includes the
//!    access allows; a grant for the other direction is passed over.
//! 2. Then the patterns, in the same way, after `%c`/`%u` are substituted. A client whose
//!    username or client id contains `+` or `#` is refused outright when patterns exist (it
//!    could otherwise widen a pattern), and `%u` patterns are skipped for clients without a
//!    username.
//! 3. Nothing matched: refused.
//!
//! A filter starting with `$` is needed to match a topic starting with `$` (`#` does not grant
//! `$SYS/…`). Subscribing is never refused by the ACL file in Mosquitto 2.0.11; reading is
//! checked per message at delivery instead. See [`reserved_topic_allowed`] for the `$SYS` and
//! `$share` rules that apply with or without an ACL file.

mod parse;
mod topic;

use std::collections::HashMap;

use mqtt_codec::filter_matches;
pub use parse::{AclError, AclErrorKind};
pub use topic::is_valid_filter;

/// A kind of access to a topic. (The broker's hook, `crate::AccessControl`, maps its own
/// `crate::Access` onto this one.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Receiving a message published to the topic (checked per message, at delivery).
    Read,
    /// Publishing to the topic.
    Write,
    /// Subscribing to a filter. Mosquitto 2.0.11's `acl_file` never refuses this.
    Subscribe,
    /// Unsubscribing from a filter. Never refused either.
    Unsubscribe,
}

/// What a rule grants: the access word of a `topic` or `pattern` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `deny`: refuses both directions, and wins over grants.
    Deny,
    /// `read`.
    Read,
    /// `write`.
    Write,
    /// `readwrite`, also the default when no access word is given.
    ReadWrite,
}

impl Permission {
    fn grants(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Self::Read | Self::ReadWrite, Access::Read)
                | (Self::Write | Self::ReadWrite, Access::Write)
        )
    }
}

/// One `topic` or `pattern` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The topic filter (for a pattern: before `%c`/`%u` substitution).
    pub filter: String,
    /// What it grants.
    pub permission: Permission,
}

/// The outcome of an ACL check, with the reason when Mosquitto logs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Access granted.
    Allowed,
    /// No rule grants the access, or a `deny` rule matches.
    Denied,
    /// Refused because the username contains `+` or `#` and patterns exist. Mosquitto logs
    /// `ACL denying access to client with dangerous username "<u>"`.
    DangerousUsername,
    /// Refused because the client id contains `+` or `#` and patterns exist. Mosquitto logs
    /// `ACL denying access to client with dangerous client id "<id>"`.
    DangerousClientId,
}

impl Decision {
    /// Whether the access is granted.
    #[must_use]
    pub fn is_allowed(self) -> bool {
        self == Self::Allowed
    }
}

/// A parsed `acl_file`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclFile {
    /// Rules before the first `user` line, for clients without a username; denies first.
    anonymous: Vec<Rule>,
    /// Rules per username (repeated `user` sections are merged); denies first.
    users: HashMap<String, Vec<Rule>>,
    /// `pattern` rules, for everybody; denies first.
    patterns: Vec<Rule>,
}

impl AclFile {
    /// Parses the text of an ACL file.
    ///
    /// # Errors
    /// The first line that Mosquitto would refuse, with its 1-based number.
    pub fn parse(text: &str) -> Result<Self, AclError> {
        let mut file = Self::default();
        let mut user: Option<String> = None;
        for (index, line) in text.lines().enumerate() {
            match parse::parse_line(line).map_err(|kind| AclError { line: index + 1, kind })? {
                parse::Line::Skip => {}
                parse::Line::User(name) => user = Some(name),
                parse::Line::Topic(rule) => {
                    let rules = match &user {
                        Some(name) => file.users.entry(name.clone()).or_default(),
                        None => &mut file.anonymous,
                    };
                    insert_rule(rules, rule);
                }
                parse::Line::Pattern(rule) => insert_rule(&mut file.patterns, rule),
            }
        }
        Ok(file)
    }

    /// Whether the client may have `access` to `topic`. `username` is `None` for an anonymous
    /// client. See the module docs for the order of the checks.
    #[must_use]
    pub fn allowed(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        self.check(client_id, username, topic, access).is_allowed()
    }

    /// Like [`AclFile::allowed`], but says why a client was refused.
    #[must_use]
    pub fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> Decision {
        if matches!(access, Access::Subscribe | Access::Unsubscribe) {
            return Decision::Allowed;
        }
        let own_rules = match username {
            Some(name) => self.users.get(name).map(Vec::as_slice),
            None => Some(self.anonymous.as_slice()),
        };
        for rule in own_rules.unwrap_or_default() {
            if filter_matches(&rule.filter, topic) {
                if rule.permission == Permission::Deny {
                    return Decision::Denied;
                }
                if rule.permission.grants(access) {
                    return Decision::Allowed;
                }
            }
        }
        if self.patterns.is_empty() {
            return Decision::Denied;
        }
        if username.is_some_and(is_dangerous) {
            return Decision::DangerousUsername;
        }
        if is_dangerous(client_id) {
            return Decision::DangerousClientId;
        }
        for rule in &self.patterns {
            let Some(filter) = substitute(&rule.filter, client_id, username) else {
                continue;
            };
            if filter_matches(&filter, topic) {
                if rule.permission == Permission::Deny {
                    return Decision::Denied;
                }
                if rule.permission.grants(access) {
                    return Decision::Allowed;
                }
            }
        }
        Decision::Denied
    }

    /// The rules of the anonymous section (before the first `user` line), denies first.
    #[must_use]
    pub fn anonymous_rules(&self) -> &[Rule] {
        &self.anonymous
    }

    /// The rules of `username`'s sections, denies first.
    #[must_use]
    pub fn user_rules(&self, username: &str) -> &[Rule] {
        self.users.get(username).map_or(&[], Vec::as_slice)
    }

    /// The `pattern` rules, denies first.
    #[must_use]
    pub fn pattern_rules(&self) -> &[Rule] {
        &self.patterns
    }
}

/// The broker's hook: `Broker::set_access_control(Some(Arc::new(acl_file)))`.
impl crate::access::AccessControl for AclFile {
    fn check(
        &self,
        client: &crate::access::ClientRef<'_>,
        topic: &str,
        access: crate::access::Access,
    ) -> bool {
        let access = match access {
            crate::access::Access::Write => Access::Write,
            crate::access::Access::Read => Access::Read,
            crate::access::Access::Subscribe => Access::Subscribe,
        };
        self.allowed(client.client_id, client.username, topic, access)
    }
}

/// Mosquitto keeps `deny` rules ahead of grants, each group in file order.
fn insert_rule(rules: &mut Vec<Rule>, rule: Rule) {
    if rule.permission == Permission::Deny {
        let first_grant =
            rules.iter().position(|r| r.permission != Permission::Deny).unwrap_or(rules.len());
        rules.insert(first_grant, rule);
    } else {
        rules.push(rule);
    }
}

fn is_dangerous(name: &str) -> bool {
    name.contains(['+', '#'])
}

/// Replaces `%c` and `%u` in a pattern. `None` when the pattern needs a username and the
/// client has none.
fn substitute(pattern: &str, client_id: &str, username: Option<&str>) -> Option<String> {
    if !pattern.contains('%') {
        return Some(pattern.to_owned());
    }
    if pattern.contains("%u") && username.is_none() {
        return None;
    }
    let mut out = String::with_capacity(pattern.len() + client_id.len());
    let mut rest = pattern;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after.as_bytes().first() {
            Some(b'c') => out.push_str(client_id),
            Some(b'u') => out.push_str(username.unwrap_or_default()),
            _ => {
                out.push('%');
                rest = after;
                continue;
            }
        }
        rest = &after[1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The rules for topics starting with `$` that Mosquitto applies to every client, with or
/// without an ACL file: nobody publishes to `$SYS/…` (except a bridge's
/// `$SYS/broker/connection/<name>/state`), and `$share/…` is only for subscribing.
/// Other `$` topics are left to the normal checks.
#[must_use]
pub fn reserved_topic_allowed(topic: &str, access: Access) -> bool {
    if topic.starts_with("$SYS") {
        access != Access::Write || filter_matches("$SYS/broker/connection/+/state", topic)
    } else if topic.starts_with("$share") {
        matches!(access, Access::Subscribe | Access::Unsubscribe)
    } else {
        true
    }
}

#[cfg(test)]
mod tests;
