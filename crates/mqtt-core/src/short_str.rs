//! [`ShortStr`]: text that never changes, kept inside the struct when it is short (up to 22
//! bytes) and boxed otherwise. Every open connection keeps two such texts, its peer's address
//! (every IPv4 address is short) and its client id (most are): inline, neither costs a heap
//! block.

use std::fmt;
use std::ops::Deref;

/// Most bytes kept inline: with the length and the variant, 24 bytes, a `String`'s size.
const INLINE: usize = 22;

/// An immutable text, inline up to 22 bytes (the size of a `String`). Reads as a `str`.
#[derive(Clone)]
pub struct ShortStr(Repr);

#[derive(Clone)]
enum Repr {
    /// The first `len` bytes of `bytes` are the text (`len` ≤ [`INLINE`]).
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Boxed(Box<str>),
}

impl ShortStr {
    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Always valid: the bytes were copied from a `str` of `len` bytes.
            Repr::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .and_then(|text| std::str::from_utf8(text).ok())
                .unwrap_or_default(),
            Repr::Boxed(text) => text,
        }
    }
}

// Shown as its text, as a `String` is.
impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ShortStr {
    fn from(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Self(Repr::Inline { len, bytes })
            }
            _ => Self(Repr::Boxed(text.into())),
        }
    }
}

impl From<String> for ShortStr {
    fn from(text: String) -> Self {
        if text.len() <= INLINE {
            Self::from(text.as_str())
        } else {
            Self(Repr::Boxed(text.into_boxed_str()))
        }
    }
}

impl Deref for ShortStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for ShortStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ShortStr {}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_inline_and_every_text_reads_back() {
        assert_eq!(size_of::<ShortStr>(), size_of::<String>());
        let long_v6 = "2001:db8:85a3:8d3:1319:8a2e:370:7348";
        let path = "/run/culex/a-socket-path-longer-than-the-inline-room";
        let cases =
            ["", "127.0.0.1", "255.255.255.255", "::1", "fe80::1ff:fe23:4567:890a", long_v6, path];
        for text in cases {
            let inline = text.len() <= INLINE;
            let (borrowed, owned) = (ShortStr::from(text), ShortStr::from(text.to_owned()));
            assert_eq!(borrowed, owned);
            for short in [borrowed, owned] {
                assert_eq!((short.as_str(), short.to_string()), (text, text.to_owned()));
                assert_eq!(matches!(short.0, Repr::Inline { .. }), inline, "{text}");
                assert_eq!(format!("{short:?}"), format!("{text:?}"));
                assert!(short == text && &*short == text);
            }
        }
    }
}
