//! Validated strings: `MqttString` (UTF-8 per the MQTT rules), `TopicName` (no wildcards) and
//! `TopicFilter` (wildcards only in legal places). All are zero-copy over `Bytes`. Also the one
//! answer to "does filter F match topic T" (`filter_matches`), used by the core's retained store
//! and ACLs, the broker's bridges and `culex_sub -T`; the core's subscription trie walks levels
//! itself.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// Why bytes are not an MQTT UTF-8 string (v3.1.1 §1.5.3, v5.0 §1.5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StringError {
    /// Longer than the two-byte length prefix can say.
    #[error("string of {0} bytes is longer than 65535 bytes")]
    TooLong(usize),
    /// Ill-formed UTF-8 (including encoded surrogates).
    #[error("string is not well-formed UTF-8")]
    InvalidUtf8,
    /// Contains U+0000.
    #[error("string contains the null character U+0000")]
    NullCharacter,
    /// Contains a control character (U+0001..=U+001F, U+007F..=U+009F) or a Unicode
    /// noncharacter (U+FDD0..=U+FDEF, U+xFFFE, U+xFFFF). The spec says these SHOULD NOT be
    /// sent and a receiver MAY close the connection; Mosquitto does, and so do we.
    #[error("string contains the disallowed code point U+{:04X}", u32::from(*.0))]
    DisallowedCodePoint(char),
}

/// Why a string is not a valid topic name or topic filter (v3.1.1 §4.7, v5.0 §4.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Not a valid MQTT string.
    #[error(transparent)]
    String(#[from] StringError),
    /// Zero length.
    #[error("topic is empty")]
    Empty,
    /// `+` or `#` in a topic name.
    #[error("topic name contains a wildcard ('+' or '#')")]
    WildcardInName,
    /// `#` that is not a whole level, or not the last level.
    #[error("'#' must be a whole level and the last one")]
    MisplacedMultiLevel,
    /// `+` that is not a whole level.
    #[error("'+' must be a whole level")]
    MisplacedSingleLevel,
    /// `$share/` without a non-empty share name free of `+`/`#`, or without a filter after it.
    #[error(
        "a shared subscription is `$share/<share name>/<filter>`, with a share name free of '+' and '#'"
    )]
    InvalidShare,
    /// More than 200 `/` in a decoded topic or filter (Mosquitto's limit on the depth of the
    /// topics a broker accepts; topics built in code have no such limit, as in its clients).
    #[error("topic has more than 200 levels separated by '/'")]
    TooDeep,
}

/// The most `/` a decoded topic name or filter may contain: Mosquitto's broker refuses deeper
/// ones (in a PUBLISH as a protocol error, in a filter as a malformed packet), so we do too.
const MAX_TOPIC_SEPARATORS: usize = 200;

/// [`TopicError::TooDeep`] when `text` has more than [`MAX_TOPIC_SEPARATORS`] `/`.
fn check_depth(text: &[u8]) -> Result<(), TopicError> {
    if text.iter().filter(|&&b| b == b'/').count() > MAX_TOPIC_SEPARATORS {
        return Err(TopicError::TooDeep);
    }
    Ok(())
}

/// Checks the MQTT string rules: at most 65535 bytes, well-formed UTF-8, no U+0000, no control
/// characters or noncharacters.
fn validate(bytes: &[u8]) -> Result<&str, StringError> {
    if bytes.len() > usize::from(u16::MAX) {
        return Err(StringError::TooLong(bytes.len()));
    }
    let s = std::str::from_utf8(bytes).map_err(|_| StringError::InvalidUtf8)?;
    // Topics and identifiers are nearly always ASCII: check bytes, not chars, then.
    let bad = if s.is_ascii() {
        bytes.iter().find(|&&b| b < 0x20 || b == 0x7F).map(|&b| char::from(b))
    } else {
        s.chars().find(|&c| disallowed(c))
    };
    match bad {
        None => Ok(s),
        Some('\0') => Err(StringError::NullCharacter),
        Some(c) => Err(StringError::DisallowedCodePoint(c)),
    }
}

/// U+0000, the C0 and C1 control characters, and the Unicode noncharacters.
fn disallowed(c: char) -> bool {
    let code = u32::from(c);
    code <= 0x1F
        || (0x7F..=0x9F).contains(&code)
        || (0xFDD0..=0xFDEF).contains(&code)
        || code & 0xFFFE == 0xFFFE
}

/// A UTF-8 string as MQTT allows it: well-formed, no U+0000, at most 65535 bytes. Zero-copy:
/// decoded strings share the packet's buffer.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct MqttString(Bytes);

impl MqttString {
    /// The empty string.
    #[must_use]
    pub const fn empty() -> Self {
        Self(Bytes::new())
    }

    /// Copies `s` after checking it.
    ///
    /// # Errors
    /// [`StringError`] if `s` is longer than 65535 bytes or contains U+0000.
    pub fn new(s: &str) -> Result<Self, StringError> {
        validate(s.as_bytes())?;
        Ok(Self(Bytes::copy_from_slice(s.as_bytes())))
    }

    /// Wraps a string literal without copying.
    ///
    /// # Panics
    /// If `s` breaks the MQTT string rules; meant for literals in code, never for input.
    #[must_use]
    pub fn from_static(s: &'static str) -> Self {
        if let Err(err) = validate(s.as_bytes()) {
            panic!("MqttString::from_static({s:?}): {err}");
        }
        Self(Bytes::from_static(s.as_bytes()))
    }

    /// Takes `bytes` after checking them, without copying.
    ///
    /// # Errors
    /// [`StringError`] if the bytes are not an MQTT string.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, StringError> {
        validate(&bytes)?;
        Ok(Self(bytes))
    }

    /// The string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Topics are read on every routing step; re-validating them each time cost 6–8% of the
        // broker's CPU in profiles, so the check made at construction is trusted here.
        #[expect(unsafe_code, reason = "skips re-validating UTF-8 already checked at construction")]
        // SAFETY: the field is private and every constructor (`empty`, `new`, `from_static`,
        // `from_bytes`, `TryFrom<String>`) either validates the bytes with `validate`, which
        // rejects ill-formed UTF-8, or takes them from a `&str`/`String`; nothing mutates them
        // afterwards (`Bytes` is immutable).
        unsafe {
            std::str::from_utf8_unchecked(&self.0)
        }
    }

    /// The UTF-8 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The UTF-8 bytes as a shared handle (no copy).
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// Hash as `str` does, so that `Borrow<str>` lookups in hash maps agree with `Eq`.
impl Hash for MqttString {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Deref for MqttString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for MqttString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for MqttString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl TryFrom<&str> for MqttString {
    type Error = StringError;
    fn try_from(s: &str) -> Result<Self, StringError> {
        Self::new(s)
    }
}

impl TryFrom<String> for MqttString {
    type Error = StringError;
    fn try_from(s: String) -> Result<Self, StringError> {
        validate(s.as_bytes())?;
        Ok(Self(Bytes::from(s)))
    }
}

impl PartialEq<str> for MqttString {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for MqttString {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// Implements what `TopicName` and `TopicFilter` share: the constructors for decoded packets
/// and literals, the [`MqttString`] accessor and the string-like traits. `$what` names the
/// type in its docs ("topic name"); the type provides `new` and `from_mqtt_string`.
macro_rules! topic_string_impls {
    ($ty:ident, $what:literal) => {
        impl $ty {
            /// [`from_mqtt_string`](Self::from_mqtt_string) for a decoded packet: also refuses
            /// more than 200 levels ([`TopicError::TooDeep`]).
            pub(crate) fn decoded(s: MqttString) -> Result<Self, TopicError> {
                check_depth(s.as_bytes())?;
                Self::from_mqtt_string(s)
            }

            /// Wraps a literal without copying.
            ///
            /// # Panics
            #[doc = concat!("If `s` is not a valid ", $what, "; meant for literals in code, never for input.")]
            #[must_use]
            pub fn from_static(s: &'static str) -> Self {
                match Self::from_mqtt_string(MqttString::from_static(s)) {
                    Ok(value) => value,
                    Err(err) => panic!("{}::from_static({s:?}): {err}", stringify!($ty)),
                }
            }

            #[doc = concat!("The ", $what, " as an [`MqttString`].")]
            #[must_use]
            pub const fn as_mqtt_str(&self) -> &MqttString {
                &self.0
            }
        }
        impl Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                self.0.as_str()
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.0.as_str()
            }
        }
        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                self.0.as_str()
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.0.as_str(), f)
            }
        }
        impl TryFrom<&str> for $ty {
            type Error = TopicError;
            fn try_from(s: &str) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = TopicError;
            fn try_from(s: String) -> Result<Self, TopicError> {
                Self::from_mqtt_string(MqttString::try_from(s)?)
            }
        }
        impl From<$ty> for MqttString {
            fn from(topic: $ty) -> Self {
                topic.0
            }
        }
        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == *other
            }
        }
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// A topic name as PUBLISH carries it: no `+` or `#`, non-empty (v3.1.1 MQTT-4.7.1-1,
/// MQTT-4.7.3-1). The one exception is [`TopicName::empty`], which a v5 PUBLISH uses when a
/// topic alias stands in for the name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicName(MqttString);

impl TopicName {
    /// Copies `s` after checking it.
    ///
    /// # Errors
    /// [`TopicError`] if `s` is empty, too long, or contains U+0000, `+` or `#`.
    pub fn new(s: &str) -> Result<Self, TopicError> {
        Self::from_mqtt_string(MqttString::new(s)?)
    }

    /// Checks an already valid string for the topic-name rules.
    ///
    /// # Errors
    /// [`TopicError::Empty`] or [`TopicError::WildcardInName`].
    pub fn from_mqtt_string(s: MqttString) -> Result<Self, TopicError> {
        if s.is_empty() {
            return Err(TopicError::Empty);
        }
        if s.as_bytes().iter().any(|&b| b == b'+' || b == b'#') {
            return Err(TopicError::WildcardInName);
        }
        Ok(Self(s))
    }

    /// The empty name of a v5 PUBLISH whose topic alias stands in for the name.
    #[must_use]
    pub const fn empty() -> Self {
        Self(MqttString::empty())
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// True only for [`TopicName::empty`].
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

topic_string_impls!(TopicName, "topic name");

/// A topic filter as SUBSCRIBE and UNSUBSCRIBE carry it: non-empty, `+` only as a whole level,
/// `#` only as the whole last level (v3.1.1 MQTT-4.7.1-2, MQTT-4.7.1-3). A shared subscription
/// `$share/<share name>/<filter>` is accepted when the share name is non-empty and free of
/// `+`/`#` and the filter after it is valid (v5.0 MQTT-4.8.2-1, MQTT-4.8.2-2).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicFilter(MqttString);

const SHARE_PREFIX: &str = "$share/";

impl TopicFilter {
    /// Copies `s` after checking it.
    ///
    /// # Errors
    /// [`TopicError`] if `s` is not a valid filter.
    pub fn new(s: &str) -> Result<Self, TopicError> {
        Self::from_mqtt_string(MqttString::new(s)?)
    }

    /// Checks an already valid string for the topic-filter rules.
    ///
    /// # Errors
    /// [`TopicError`] if `s` is not a valid filter.
    pub fn from_mqtt_string(s: MqttString) -> Result<Self, TopicError> {
        let text = s.as_str();
        if text.is_empty() {
            return Err(TopicError::Empty);
        }
        let filter = match text.strip_prefix(SHARE_PREFIX) {
            Some(rest) => {
                let (group, filter) = rest.split_once('/').ok_or(TopicError::InvalidShare)?;
                if group.is_empty() || group.contains(['+', '#']) || filter.is_empty() {
                    return Err(TopicError::InvalidShare);
                }
                filter
            }
            None => text,
        };
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            if level.contains('#') && (level != "#" || levels.peek().is_some()) {
                return Err(TopicError::MisplacedMultiLevel);
            }
            if level.contains('+') && level != "+" {
                return Err(TopicError::MisplacedSingleLevel);
            }
        }
        Ok(Self(s))
    }

    /// The filter as sent (including any `$share/<group>/` prefix).
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// For `$share/<group>/<filter>`, the share name and the filter; `None` otherwise.
    #[must_use]
    pub fn shared(&self) -> Option<(&str, &str)> {
        self.as_str().strip_prefix(SHARE_PREFIX)?.split_once('/')
    }

    /// True if the filter (after any share prefix) contains `+` or `#`.
    #[must_use]
    pub fn has_wildcards(&self) -> bool {
        let filter = self.shared().map_or(self.as_str(), |(_, filter)| filter);
        filter.contains(['+', '#'])
    }
}

topic_string_impls!(TopicFilter, "topic filter");

/// Whether the topic name `topic` matches the topic filter `filter` (without any
/// `$share/<group>/` prefix).
///
/// `+` matches exactly one level, possibly empty; `#` matches the rest, including the parent
/// level (`a/#` matches `a`). A topic starting with `$` is not matched by a filter starting with
/// a wildcard ([v5 MQTT-4.7.2-1]), so `#` does not match `$SYS/…`. The filter is not validated:
/// a `+` or `#` inside a level is an ordinary character, and a `#` ends the match wherever it is.
#[must_use]
#[inline]
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match level {
            "#" => return true,
            "+" => {
                if topic_levels.next().is_none() {
                    return false;
                }
            }
            exact => {
                if topic_levels.next() != Some(exact) {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn strings_refuse_null_bad_utf8_and_overlong() {
        assert_eq!(MqttString::new("a\0b"), Err(StringError::NullCharacter));
        assert_eq!(
            MqttString::from_bytes(Bytes::from_static(b"\xed\xa0\x80")),
            Err(StringError::InvalidUtf8),
            "an encoded surrogate is ill-formed"
        );
        assert_eq!(MqttString::new(&"x".repeat(65536)), Err(StringError::TooLong(65536)));
        assert_eq!(MqttString::new(&"x".repeat(65535)).map(|s| s.len()), Ok(65535));
        assert_eq!(MqttString::new("tab\there"), Err(StringError::DisallowedCodePoint('\t')));
        assert_eq!(MqttString::new("del\u{7f}"), Err(StringError::DisallowedCodePoint('\u{7f}')));
        assert_eq!(MqttString::new("c1\u{85}"), Err(StringError::DisallowedCodePoint('\u{85}')));
        assert_eq!(
            MqttString::new("non\u{FFFF}"),
            Err(StringError::DisallowedCodePoint('\u{FFFF}'))
        );
        assert_eq!(
            MqttString::new("non\u{10FFFE}"),
            Err(StringError::DisallowedCodePoint('\u{10FFFE}'))
        );
        assert_eq!(
            MqttString::new("non\u{FDD0}"),
            Err(StringError::DisallowedCodePoint('\u{FDD0}'))
        );
        assert_eq!(MqttString::new("é\0"), Err(StringError::NullCharacter));
        assert_eq!(MqttString::new("\u{FDEF}x"), Err(StringError::DisallowedCodePoint('\u{FDEF}')));
        for ok in ["\u{A0}", "\u{FEFF}", "€😀", "\u{FFFD}", "\u{FDF0}"] {
            assert_eq!(MqttString::new(ok).map(|s| s.to_string()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn strings_hash_like_str() {
        let set: HashSet<MqttString> = [MqttString::from_static("a/b")].into();
        assert!(set.contains("a/b"));
        let topics: HashSet<TopicName> = [TopicName::from_static("x")].into();
        assert!(topics.contains("x"));
    }

    #[test]
    fn topic_names_refuse_wildcards_and_empty() {
        assert_eq!(TopicName::new("a/b/c").map(|t| t.to_string()), Ok("a/b/c".to_owned()));
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
        assert_eq!(TopicName::new("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new("#"), Err(TopicError::WildcardInName));
        assert!(TopicName::new("/").is_ok());
        assert!(TopicName::empty().is_empty());
    }

    #[test]
    fn decoded_names_and_filters_have_at_most_200_separators() {
        let string = |separators: usize, end: &str| {
            MqttString::new(&("/".repeat(separators) + end)).expect("a valid string")
        };
        assert!(TopicName::decoded(string(200, "")).is_ok());
        assert!(TopicFilter::decoded(string(200, "#")).is_ok());
        assert_eq!(TopicName::decoded(string(201, "")), Err(TopicError::TooDeep));
        assert_eq!(TopicFilter::decoded(string(201, "#")), Err(TopicError::TooDeep));
        assert!(TopicName::from_mqtt_string(string(201, "")).is_ok(), "no limit in code");
    }

    #[test]
    fn topic_filters_allow_wildcards_only_as_whole_levels() {
        for ok in ["#", "+", "a/#", "+/+/x", "/", "a//b", "$SYS/#", "$share/g/a/#", "$share"] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for (bad, err) in [
            ("", TopicError::Empty),
            ("a#", TopicError::MisplacedMultiLevel),
            ("#/a", TopicError::MisplacedMultiLevel),
            ("a/b#", TopicError::MisplacedMultiLevel),
            ("a+", TopicError::MisplacedSingleLevel),
            ("+a/b", TopicError::MisplacedSingleLevel),
            ("$share/g", TopicError::InvalidShare),
            ("$share//a", TopicError::InvalidShare),
            ("$share/g+/a", TopicError::InvalidShare),
            ("$share/g/", TopicError::InvalidShare),
            ("$share/g/a#", TopicError::MisplacedMultiLevel),
        ] {
            assert_eq!(TopicFilter::new(bad), Err(err), "{bad}");
        }
    }

    #[test]
    fn filters_match_topics_by_level() {
        let cases = [
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/b", "a/b/c", false),
            ("a/b/c", "a/b", false),
            ("a/b", "a", false),
            ("a", "a/b", false),
            ("a//b", "a//b", true),
            ("a/+", "a/b", true),
            ("a/+", "a/", true),
            ("a/+", "a", false),
            ("a/+", "a/b/c", false),
            ("a/+/c", "a/b/c", true),
            ("a/+/c", "a/b/d", false),
            ("a/+/b", "a//b", true),
            ("+", "", true),
            ("+", "a/b", false),
            ("+/+", "/x", true),
            ("#", "a/b/c", true),
            ("#", "/", true),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("a/#", "ab", false),
            ("a/#", "b/a", false),
            ("a/#", "a/$b", true),
            ("#", "$SYS/broker/uptime", false),
            ("+/broker/uptime", "$SYS/broker/uptime", false),
            ("$SYS/#", "$SYS/broker/uptime", true),
            ("$SYS/#", "SYS/x", false),
            ("$SYS/broker/connection/+/state", "$SYS/broker/connection/b/state", true),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(filter_matches(filter, topic), expected, "{filter} vs {topic}");
        }
    }

    #[test]
    fn shared_filters_split_into_group_and_filter() {
        let filter = TopicFilter::from_static("$share/group/a/+");
        assert_eq!(filter.shared(), Some(("group", "a/+")));
        assert!(filter.has_wildcards());
        assert_eq!(TopicFilter::from_static("a/b").shared(), None);
    }
}
