//! A whole password file: entries plus the comments, blank lines and order around them.
//!
//! ```text
//! # comment (a `#` in column 0)        kept as is
//!                                      blank lines kept as is
//! alice:$7$101$<salt>$<hash>           username ':' password field [':' ignored]
//! bob:plaintext                        a plaintext entry: only `-U` (upgrade) uses it
//! ```
//! Username and password field are trimmed of spaces and tabs; a trailing `\r` is ignored.
//! Lines that are not edited are written back byte for byte; the text always ends in `\n`.

use std::collections::HashMap;
use std::fmt;

use super::hash::{HashError, PasswordHash};
use super::{MAX_FIELD_LEN, UsernameError, validate_username};

/// A parsed password file.
#[derive(Debug, Clone, Default)]
pub struct PasswordFile {
    lines: Vec<Line>,
    /// Username -> index in `lines` of its first entry, so a login is one hash lookup.
    index: HashMap<String, usize>,
    /// Decoy for unknown users: same kind and costs as the first hashed entry.
    decoy: Option<PasswordHash>,
}

#[derive(Debug, Clone)]
struct Line {
    /// The line as read (without its `\n`), or as formatted for a new or edited entry.
    raw: String,
    /// `None` for comments, blank lines and (in a lenient parse) lines that were skipped.
    entry: Option<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    username: String,
    credential: Credential,
}

/// What a password-file entry stores for its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A hash in one of the supported forms.
    Hashed(PasswordHash),
    /// A password field that does not start with `$`: a plaintext password waiting for
    /// `culex_passwd -U`. Never accepted for login (Mosquitto 2.0 drops such entries too).
    Plaintext(String),
}

/// A line that could not be parsed, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// The username, when the line got as far as having one.
    pub username: Option<String>,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// The line Mosquitto 2.0 logs when its broker drops this entry while loading `file`, or
    /// `None` where it drops the line silently (no `:`). For the broker's log, so that culex
    /// reports a bad password file in Mosquitto's words.
    #[must_use]
    pub fn mosquitto_log_line(&self, file: &str) -> Option<String> {
        let user = self.username.as_deref().unwrap_or_default();
        Some(match &self.kind {
            ParseErrorKind::MissingColon => return None,
            ParseErrorKind::Username(UsernameError::TooLong) => {
                format!("Warning: Invalid line in password file '{file}', username too long.")
            }
            ParseErrorKind::PasswordTooLong => {
                format!("Warning: Invalid line in password file '{file}', password too long.")
            }
            ParseErrorKind::Username(problem) => {
                format!("Warning: Invalid line {} in password file '{file}': {problem}.", self.line)
            }
            ParseErrorKind::MissingPassword => {
                format!("Error: Invalid password hash for user {user}, removing entry.")
            }
            ParseErrorKind::Plaintext | ParseErrorKind::Hash(HashError::UnknownType) => {
                format!("Error: Invalid password hash type for user {user}, removing entry.")
            }
            ParseErrorKind::Hash(HashError::InvalidIterations) => {
                format!("Error: Invalid hash iterations for user {user}, removing entry.")
            }
            ParseErrorKind::Hash(HashError::InvalidSalt) => {
                format!("Error: Unable to decode password salt for user {user}, removing entry.")
            }
            ParseErrorKind::Hash(
                HashError::InvalidHash | HashError::Malformed | HashError::InvalidArgon2Params,
            ) => format!("Error: Unable to decode password for user {user}, removing entry."),
        })
    }
}

/// What is wrong with a password-file line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// A line that is neither a comment, blank, nor `user:password`.
    #[error("missing ':' between username and password")]
    MissingColon,
    /// The username is not acceptable.
    #[error("{0}")]
    Username(UsernameError),
    /// Nothing after the `:`.
    #[error("missing password hash")]
    MissingPassword,
    /// The password field is longer than 65535 bytes.
    #[error("password too long")]
    PasswordTooLong,
    /// The password field starts with `$` but is not a valid hash.
    #[error("{0}")]
    Hash(HashError),
    /// Reported only by [`PasswordFile::parse_lenient`]: a plaintext password, which can never
    /// be used to log in.
    #[error("plaintext password (hash the file with `culex_passwd -U`)")]
    Plaintext,
}

/// What [`PasswordFile::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The user was new; a line was appended.
    Added,
    /// The user's line was replaced in place.
    Updated,
}

impl PasswordFile {
    /// Parses a whole file, refusing it if any line is not a comment, a blank line or a valid
    /// entry. Plaintext entries are accepted (see [`Credential::Plaintext`]). This is what an
    /// editor wants: it must not rewrite a file it does not understand.
    ///
    /// # Errors
    /// The first line that does not parse.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut lines = Vec::new();
        for (index, raw) in split_lines(text).enumerate() {
            let entry = parse_line(raw).map_err(|(username, kind)| ParseError {
                line: index + 1,
                username,
                kind,
            })?;
            lines.push(Line { raw: raw.to_owned(), entry });
        }
        Ok(Self::from_lines(lines))
    }

    /// Parses a file the way a broker loads it: lines that do not parse and plaintext entries
    /// are reported and left out, every good entry is kept.
    #[must_use]
    pub fn parse_lenient(text: &str) -> (Self, Vec<ParseError>) {
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for (index, raw) in split_lines(text).enumerate() {
            let entry = match parse_line(raw) {
                Ok(Some(Entry { username, credential: Credential::Plaintext(_) })) => {
                    problems.push(ParseError {
                        line: index + 1,
                        username: Some(username),
                        kind: ParseErrorKind::Plaintext,
                    });
                    None
                }
                Ok(entry) => entry,
                Err((username, kind)) => {
                    problems.push(ParseError { line: index + 1, username, kind });
                    None
                }
            };
            lines.push(Line { raw: raw.to_owned(), entry });
        }
        (Self::from_lines(lines), problems)
    }

    fn from_lines(lines: Vec<Line>) -> Self {
        let mut file = Self { lines, index: HashMap::new(), decoy: None };
        file.reindex();
        file
    }

    /// Rebuilds the lookup index and the decoy after the lines changed.
    fn reindex(&mut self) {
        self.index.clear();
        self.decoy = None;
        for (position, line) in self.lines.iter().enumerate() {
            let Some(entry) = &line.entry else { continue };
            self.index.entry(entry.username.clone()).or_insert(position);
            if let (None, Credential::Hashed(hash)) = (&self.decoy, &entry.credential) {
                self.decoy = Some(hash.decoy());
            }
        }
    }

    /// Every entry in file order, duplicates included.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Credential)> {
        self.lines
            .iter()
            .filter_map(|line| line.entry.as_ref())
            .map(|e| (e.username.as_str(), &e.credential))
    }

    /// The credential stored for `username` (the first entry if it appears twice).
    #[must_use]
    pub fn get(&self, username: &str) -> Option<&Credential> {
        let position = *self.index.get(username)?;
        self.lines.get(position)?.entry.as_ref().map(|entry| &entry.credential)
    }

    /// Whether the file has no entries (comments and blank lines do not count).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries().next().is_none()
    }

    /// Looks up `username` and returns a check that can be moved to another thread (hashing
    /// may take tens of milliseconds). An unknown user, or one with a plaintext entry, gets a
    /// decoy hash with the same costs as the first hashed entry, so that the answer takes as
    /// long as a wrong password.
    #[must_use]
    pub fn credentials(&self, username: &str) -> Credentials {
        match self.get(username) {
            Some(Credential::Hashed(hash)) => Credentials { hash: Some(hash.clone()), known: true },
            _ => Credentials { hash: self.decoy.clone(), known: false },
        }
    }

    /// Checks `password` for `username` on the calling thread. See [`PasswordFile::credentials`].
    #[must_use]
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        self.credentials(username).verify(password)
    }

    /// Stores `hash` for `username`: the user's first line is replaced in place (later
    /// duplicates are removed), or a new line is appended at the end.
    ///
    /// # Errors
    /// If the username cannot be written to a password file.
    pub fn set(&mut self, username: &str, hash: PasswordHash) -> Result<Change, UsernameError> {
        validate_username(username)?;
        let raw = format!("{username}:{hash}");
        let entry = Entry { username: username.to_owned(), credential: Credential::Hashed(hash) };
        let new_line = Line { raw, entry: Some(entry) };
        match self.position(username) {
            Some(index) => {
                self.lines[index] = new_line;
                let mut seen_first = false;
                self.lines.retain(|line| {
                    let matches = line.entry.as_ref().is_some_and(|e| e.username == username);
                    let keep = !matches || !seen_first;
                    seen_first |= matches;
                    keep
                });
                self.reindex();
                Ok(Change::Updated)
            }
            None => {
                self.lines.push(new_line);
                self.reindex();
                Ok(Change::Added)
            }
        }
    }

    /// Removes every line for `username`. Returns whether there was one.
    pub fn remove(&mut self, username: &str) -> bool {
        let before = self.lines.len();
        self.lines.retain(|line| line.entry.as_ref().is_none_or(|e| e.username != username));
        self.reindex();
        self.lines.len() != before
    }

    /// Replaces every plaintext entry with the hash `hasher` makes of its password, in place.
    /// Entries that are already hashed are left alone. Returns how many entries were hashed.
    ///
    /// # Errors
    /// The first error from `hasher`; the file is then unchanged.
    pub fn upgrade_plaintext<E>(
        &mut self,
        mut hasher: impl FnMut(&str) -> Result<PasswordHash, E>,
    ) -> Result<usize, E> {
        let mut upgraded = self.lines.clone();
        let mut count = 0;
        for line in &mut upgraded {
            let Some(Entry { username, credential: Credential::Plaintext(password) }) = &line.entry
            else {
                continue;
            };
            let hash = hasher(password)?;
            line.raw = format!("{username}:{hash}");
            let username = username.clone();
            line.entry = Some(Entry { username, credential: Credential::Hashed(hash) });
            count += 1;
        }
        self.lines = upgraded;
        self.reindex();
        Ok(count)
    }

    fn position(&self, username: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| line.entry.as_ref().is_some_and(|e| e.username == username))
    }
}

impl fmt::Display for PasswordFile {
    /// The file's text: each line followed by `\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{}", line.raw)?;
        }
        Ok(())
    }
}

/// The stored hash for one login attempt, detached from the file so that it can be checked on
/// a blocking thread. Made by [`PasswordFile::credentials`].
#[derive(Debug, Clone)]
pub struct Credentials {
    hash: Option<PasswordHash>,
    known: bool,
}

impl Credentials {
    /// Whether the user exists in the file with a usable hash.
    #[must_use]
    pub fn user_known(&self) -> bool {
        self.known
    }

    /// Whether `password` is the user's password. For an unknown user this does the same work
    /// as for a known one and returns `false`.
    #[must_use]
    pub fn verify(&self, password: &[u8]) -> bool {
        let Some(hash) = &self.hash else { return false };
        // Evaluate the hash first in every case so the time does not depend on `known`.
        let matches = hash.verify(password);
        matches & self.known
    }
}

/// Splits text into lines without their `\n`; a final line without `\n` is still a line.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    body.split('\n').filter(move |_| !empty)
}

type LineResult = Result<Option<Entry>, (Option<String>, ParseErrorKind)>;

fn parse_line(raw: &str) -> LineResult {
    let line = raw.strip_suffix('\r').unwrap_or(raw);
    if line.starts_with('#') || line.trim_matches(is_blank).is_empty() {
        return Ok(None);
    }
    let (username, rest) = line.split_once(':').ok_or((None, ParseErrorKind::MissingColon))?;
    let username = username.trim_matches(is_blank);
    validate_username(username).map_err(|e| (None, ParseErrorKind::Username(e)))?;
    let fail = |kind| (Some(username.to_owned()), kind);
    let field = rest.split(':').next().unwrap_or_default().trim_matches(is_blank);
    if field.is_empty() {
        return Err(fail(ParseErrorKind::MissingPassword));
    }
    if field.len() > MAX_FIELD_LEN {
        return Err(fail(ParseErrorKind::PasswordTooLong));
    }
    let credential = if field.starts_with('$') {
        Credential::Hashed(PasswordHash::parse(field).map_err(|e| fail(ParseErrorKind::Hash(e)))?)
    } else {
        Credential::Plaintext(field.to_owned())
    };
    Ok(Some(Entry { username: username.to_owned(), credential }))
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests;
