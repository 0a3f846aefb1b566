//! `http_api_token_file`: the bearer tokens an HTTP API listener accepts. The file holds
//! hashes, not tokens: one `name:hash` line per token, where `hash` is the SHA-256 of the
//! token in hexadecimal (`printf %s "$TOKEN" | sha256sum`); `#` lines and blank lines are
//! skipped. A token is checked by hashing it and comparing in constant time.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The parsed token file: names and SHA-256 hashes, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenFile {
    entries: Vec<(String, [u8; 32])>,
}

/// A line of a token file that cannot be used: its 1-based number and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct TokenFileError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl TokenFile {
    /// Parses the text of a token file.
    ///
    /// # Errors
    /// The first line that is not `name:64-hex-digits` (the name not empty, without `:`).
    pub fn parse(text: &str) -> Result<Self, TokenFileError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |reason| TokenFileError { line: index + 1, reason };
            let (name, hex) = line.rsplit_once(':').ok_or_else(|| fail("expected name:sha256"))?;
            if name.is_empty() || name.contains(':') {
                return Err(fail("the name is empty or holds ':'"));
            }
            let hash = decode_hash(hex).ok_or_else(|| fail("the hash is not 64 hex digits"))?;
            entries.push((name.to_owned(), hash));
        }
        Ok(Self { entries })
    }

    /// The name of the token `token`, if the file lists its hash.
    #[must_use]
    pub fn name_of(&self, token: &str) -> Option<&str> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every entry is compared, so the time taken does not say which one matched.
        let mut found = None;
        for (name, expected) in &self.entries {
            if bool::from(expected.ct_eq(&hash)) && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }
}

/// 64 hex digits as 32 bytes.
fn decode_hash(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut hash = [0; 32];
    for (slot, pair) in hash.iter_mut().zip(bytes.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(text, 16).ok()?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-256 of `secret`.
    const SECRET_HASH: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

    #[test]
    fn a_token_is_known_by_its_hash() {
        let file = TokenFile::parse(&format!("# ops\n\nops:{SECRET_HASH}\n")).unwrap();
        assert_eq!(file.name_of("secret"), Some("ops"));
        assert_eq!(file.name_of("Secret"), None);
        assert_eq!(file.name_of(SECRET_HASH), None, "the hash itself is no token");
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let cases = [
            ("ops\n", 1, "expected name:sha256"),
            ("# c\n:abc\n", 2, "the name is empty or holds ':'"),
            ("ops:abc\n", 1, "the hash is not 64 hex digits"),
        ];
        for (text, line, reason) in cases {
            assert_eq!(TokenFile::parse(text), Err(TokenFileError { line, reason }), "{text:?}");
        }
        let not_hex = format!("ops:{}", "g".repeat(64));
        assert_eq!(TokenFile::parse(&not_hex).unwrap_err().line, 1);
    }
}
