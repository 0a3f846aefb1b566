//! One line of an `acl_file`, tokenised the way Mosquitto 2.0.11 does it.
//!
//! Trailing white space is dropped and a `#` in column 0 starts a comment. Words are separated
//! by spaces (not tabs). `topic`/`pattern` take an optional access word and then the rest of
//! the line, trimmed, as the filter (so a filter may contain spaces); with a single word after
//! `topic` that word is the filter and the access is `readwrite`. `user` takes the rest of
//! the line, trimmed.

use super::topic::is_valid_filter;
use super::{Permission, Rule};

/// A line Mosquitto would refuse, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct AclError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: AclErrorKind,
}

impl AclError {
    /// The line Mosquitto 2.0.11 logs for this error while loading `file` (it then logs
    /// `Error opening acl file "<file>".` and refuses to start, or keeps the old rules on reload).
    #[must_use]
    pub fn mosquitto_log_line(&self, file: &str) -> String {
        match &self.kind {
            AclErrorKind::InvalidAccess(word) => {
                format!("Error: Invalid topic access type \"{word}\" in acl_file \"{file}\".")
            }
            AclErrorKind::EmptyTopic => format!("Error: Empty topic in acl_file \"{file}\"."),
            AclErrorKind::InvalidTopic(topic) => {
                format!("Error: Invalid ACL topic \"{topic}\" in acl_file \"{file}\".")
            }
            AclErrorKind::MissingUsername => {
                format!("Error: Missing username in acl_file \"{file}\".")
            }
            AclErrorKind::InvalidLine(word) => {
                format!("Error: Invalid line in acl_file \"{file}\": {word}.")
            }
        }
    }
}

/// What is wrong with an ACL line. Mosquitto's log wording is given for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclErrorKind {
    /// Not `read`, `write`, `readwrite` or `deny`
    /// (`Invalid topic access type "<x>" in acl_file "<f>".`).
    #[error("invalid topic access type \"{0}\"")]
    InvalidAccess(String),
    /// `topic`/`pattern` with nothing after it (`Empty topic in acl_file "<f>".`).
    #[error("empty topic")]
    EmptyTopic,
    /// A filter with `+`/`#` in the wrong place (`Invalid ACL topic "<t>" in acl_file "<f>".`).
    #[error("invalid ACL topic \"{0}\"")]
    InvalidTopic(String),
    /// `user` with no name (`Missing username in acl_file "<f>".`).
    #[error("missing username")]
    MissingUsername,
    /// A line whose first word is none of the keywords; holds that word
    /// (`Invalid line in acl_file "<f>": <word>.`).
    #[error("invalid line starting with \"{0}\"")]
    InvalidLine(String),
}

/// What one line says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    Skip,
    User(String),
    Topic(Rule),
    Pattern(Rule),
}

pub(super) fn parse_line(raw: &str) -> Result<Line, AclErrorKind> {
    let line = raw.trim_end();
    if line.starts_with('#') {
        return Ok(Line::Skip);
    }
    let Some((keyword, rest)) = next_word(Some(line)) else {
        return Ok(Line::Skip);
    };
    match keyword {
        "topic" | "pattern" => {
            let (first, rest) = next_word(rest).ok_or(AclErrorKind::EmptyTopic)?;
            let (permission, filter) = match rest {
                Some(rest) => (parse_permission(first)?, rest.trim()),
                None => (Permission::ReadWrite, first),
            };
            if !is_valid_filter(filter) {
                return Err(AclErrorKind::InvalidTopic(filter.to_owned()));
            }
            let rule = Rule { filter: filter.to_owned(), permission };
            Ok(if keyword == "topic" { Line::Topic(rule) } else { Line::Pattern(rule) })
        }
        "user" => match rest.map(str::trim) {
            Some(name) if !name.is_empty() => Ok(Line::User(name.to_owned())),
            _ => Err(AclErrorKind::MissingUsername),
        },
        other => Err(AclErrorKind::InvalidLine(other.to_owned())),
    }
}

/// Splits off the next space-separated word: `(word, rest after the one space that ends it)`.
/// `rest` is `None` when the word ends the line.
fn next_word(text: Option<&str>) -> Option<(&str, Option<&str>)> {
    let text = text?.trim_start_matches(' ');
    if text.is_empty() {
        return None;
    }
    Some(match text.split_once(' ') {
        Some((word, rest)) if !rest.is_empty() => (word, Some(rest)),
        Some((word, _)) => (word, None),
        None => (text, None),
    })
}

fn parse_permission(word: &str) -> Result<Permission, AclErrorKind> {
    match word {
        "read" => Ok(Permission::Read),
        "write" => Ok(Permission::Write),
        "readwrite" => Ok(Permission::ReadWrite),
        "deny" => Ok(Permission::Deny),
        other => Err(AclErrorKind::InvalidAccess(other.to_owned())),
    }
}
