//! PROXY protocol version 1, the text header: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n`
//! or `PROXY UNKNOWN…\r\n`, at most 108 bytes. Pure: bytes in, [`Source`] out.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Corrupt, Source};

/// The longest header the protocol allows, `\r\n` included.
pub(super) const MAX_LEN: usize = 108;

/// What every header starts with.
const PREFIX: &[u8] = b"PROXY ";

/// Whether `start`, the bytes read so far, can still begin a header: a client that sends
/// something else (an MQTT CONNECT) is refused at once rather than when the time is up.
pub(super) fn may_start(start: &[u8]) -> bool {
    let n = start.len().min(PREFIX.len());
    start[..n] == PREFIX[..n]
}

/// Parses one whole header, `\r\n` included. `PROXY UNKNOWN` followed by `\r\n` or by a space
/// and anything names no client: the socket's peer is the client. Mosquitto 2.1 refuses
/// `PROXY UNKNOWN\r\n`, which the protocol allows (culex accepts it).
///
/// # Errors
/// [`Corrupt::Header`] for anything else than exactly four fields after `TCP4`/`TCP6`, with
/// addresses of that family and ports 1–65535, separated by single spaces.
pub(super) fn parse(header: &[u8]) -> Result<Source, Corrupt> {
    let line = header.strip_suffix(b"\r\n").ok_or(Corrupt::Header)?;
    if line == b"PROXY UNKNOWN" || line.starts_with(b"PROXY UNKNOWN ") {
        return Ok(Source::Socket);
    }
    let line = std::str::from_utf8(line).map_err(|_| Corrupt::Header)?;
    let fields: Vec<&str> = line.split(' ').collect();
    let ["PROXY", family, source, destination, source_port, destination_port] = fields[..] else {
        return Err(Corrupt::Header);
    };
    let valid = match family {
        "TCP4" => source.parse::<Ipv4Addr>().is_ok() && destination.parse::<Ipv4Addr>().is_ok(),
        "TCP6" => source.parse::<Ipv6Addr>().is_ok() && destination.parse::<Ipv6Addr>().is_ok(),
        _ => false,
    };
    match (valid, port(source_port), port(destination_port)) {
        (true, Some(port), Some(_)) => Ok(Source::Client { address: source.to_owned(), port }),
        _ => Err(Corrupt::Header),
    }
}

/// A port: decimal digits, 1–65535.
fn port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&port| port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(address: &str, port: u16) -> Result<Source, Corrupt> {
        Ok(Source::Client { address: address.to_owned(), port })
    }

    #[test]
    fn headers_that_name_a_client_or_none() {
        let table: &[(&[u8], Result<Source, Corrupt>)] = &[
            (b"PROXY TCP4 192.0.2.5 192.0.2.1 6275 1883\r\n", client("192.0.2.5", 6275)),
            (
                b"PROXY TCP6 2001:db8:506:708:900::1 2001:db8::2 6275 1883\r\n",
                client("2001:db8:506:708:900::1", 6275),
            ),
            (b"PROXY TCP6 ::ffff:192.0.2.5 ::1 65535 1\r\n", client("::ffff:192.0.2.5", 65535)),
            (b"PROXY UNKNOWN \r\n", Ok(Source::Socket)),
            (b"PROXY UNKNOWN\r\n", Ok(Source::Socket)),
            (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", Ok(Source::Socket)),
        ];
        for (header, expected) in table {
            assert_eq!(&parse(header), expected, "{}", String::from_utf8_lossy(header));
        }
    }

    #[test]
    fn corrupt_headers() {
        let table: &[&[u8]] = &[
            b"PROXY TCP5 192.0.2.5 192.0.2.1 6275 1883\r\n",
            b"PROXY UDP4 192.0.2.5 192.0.2.1 6275 1883\r\n",
            b"PROXY TCP4 192.0.2.5 192.0.2.1 6275\r\n",
            b"PROXY TCP4 192.0.2.5 192.0.2.1 6275 1883 1\r\n",
            b"PROXY TCP4 192.0.2.5  192.0.2.1 6275 1883\r\n",
            b"PROXY TCP4 192.0.2.5 192.0.2.1 0 1883\r\n",
            b"PROXY TCP4 192.0.2.5 192.0.2.1 6275 65536\r\n",
            b"PROXY TCP4 192.0.2.5 192.0.2.1 +6275 1883\r\n",
            b"PROXY TCP4 192.0.2.256 192.0.2.1 6275 1883\r\n",
            b"PROXY TCP4 2001:db8::1 192.0.2.1 6275 1883\r\n",
            b"PROXY TCP6 192.0.2.5 2001:db8::1 6275 1883\r\n",
            b"PROXY TCP4 192.0.2.5 192.0.2.1 6275 1883\n",
            b"PROXY UNKNOWNX\r\n",
            b"proxy TCP4 192.0.2.5 192.0.2.1 6275 1883\r\n",
        ];
        for header in table {
            assert_eq!(parse(header), Err(Corrupt::Header), "{}", String::from_utf8_lossy(header));
        }
    }

    #[test]
    fn only_the_prefix_may_start_a_header() {
        assert!(may_start(b""));
        assert!(may_start(b"PRO"));
        assert!(may_start(b"PROXY TCP4"));
        assert!(!may_start(b"\x10\x0c"));
        assert!(!may_start(b"PROXYX"));
    }
}
