//! [`PeerAddress`]: a connection's remote address as text, kept inside the struct when it is
//! short (every IPv4 address, and IPv6 addresses of up to 22 characters), so that an open
//! connection holds no heap block for it; longer ones (and Unix socket paths) are boxed.

use std::fmt;
use std::ops::Deref;

/// Most bytes kept inline: with the length and the variant, 24 bytes, a `String`'s size.
const INLINE: usize = 22;

/// The text of a peer's address (`127.0.0.1`, `::1`, or a Unix socket path). Reads as a `str`.
#[derive(Clone)]
pub struct PeerAddress(Repr);

#[derive(Clone)]
enum Repr {
    /// The first `len` bytes of `bytes` are the text (`len` ≤ [`INLINE`]).
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<str>),
}

impl PeerAddress {
    /// The address text.
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

impl From<&str> for PeerAddress {
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

impl From<String> for PeerAddress {
    fn from(text: String) -> Self {
        if text.len() <= INLINE {
            Self::from(text.as_str())
        } else {
            Self(Repr::Boxed(text.into_boxed_str()))
        }
    }
}

impl Deref for PeerAddress {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for PeerAddress {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for PeerAddress {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for PeerAddress {}

impl PartialEq<str> for PeerAddress {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for PeerAddress {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_addresses_are_inline_and_every_address_reads_back() {
        assert_eq!(size_of::<PeerAddress>(), size_of::<String>());
        let long_v6 = "2001:db8:85a3:8d3:1319:8a2e:370:7348";
        let path = "/run/culex/a-socket-path-longer-than-the-inline-room";
        let cases = ["", "127.0.0.1", "255.255.255.255", "::1", "fe80::1ff:fe23:4567:890a", long_v6, path];
        for text in cases {
            let inline = text.len() <= INLINE;
            for address in [PeerAddress::from(text), PeerAddress::from(text.to_owned())] {
                assert_eq!((address.as_str(), address.to_string()), (text, text.to_owned()));
                assert_eq!(matches!(address.0, Repr::Inline { .. }), inline, "{text}");
                assert_eq!(format!("{address:?}"), format!("{text:?}"));
                assert!(address == text && address == PeerAddress::from(text));
            }
        }
    }
}
