//! PROXY protocol version 2, the binary header: a 16-byte head (signature, version and
//! command, family, length) and a body of addresses and TLVs, of which only the SSL TLV
//! (the proxy's TLS facts) is read. Pure: bytes in, [`Header`] out.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Corrupt, Header, ProxiedTls, Source};

/// Bytes of the head.
pub(super) const HEAD_LEN: usize = 16;

/// The longest body accepted (Mosquitto 2.1's bound; the protocol allows 65535).
pub(super) const MAX_BODY: usize = 500;

/// The head's first 12 bytes.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Families (and transports) whose addresses are read: TCP over IPv4, TCP over IPv6, Unix
/// stream sockets, and UNSPEC (no addresses). Datagram transports are refused.
const UNSPEC: u8 = 0x00;
const TCP4: u8 = 0x11;
const TCP6: u8 = 0x21;
const UNIX_STREAM: u8 = 0x31;

/// TLV types and the SSL TLV's client bits.
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
const PP2_CLIENT_SSL: u8 = 0x01;
const PP2_CLIENT_CERT_CONN: u8 = 0x02;
const PP2_CLIENT_CERT_SESS: u8 = 0x04;

/// What the head says about the body that follows it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    /// The LOCAL command: the proxy's own connection (a health check), whose body is ignored.
    local: bool,
    /// The family and transport byte.
    family: u8,
    /// Bytes of the body.
    pub(super) len: usize,
}

/// Checks the head.
///
/// # Errors
/// [`Corrupt::Header`] for a wrong signature, a version other than 2, a command other than
/// LOCAL or PROXY, a body over [`MAX_BODY`] bytes, or for PROXY a family other than the four
/// above or a body too short for its addresses.
pub(super) fn head(bytes: &[u8; HEAD_LEN]) -> Result<Head, Corrupt> {
    if bytes[..12] != SIGNATURE || bytes[12] >> 4 != 2 {
        return Err(Corrupt::Header);
    }
    let local = match bytes[12] & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(Corrupt::Header),
    };
    let family = bytes[13];
    let len = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if len > MAX_BODY || (!local && len < addresses_len(family).ok_or(Corrupt::Header)?) {
        return Err(Corrupt::Header);
    }
    Ok(Head { local, family, len })
}

/// Bytes of a family's address block; `None` for a family that is refused.
fn addresses_len(family: u8) -> Option<usize> {
    match family {
        UNSPEC => Some(0),
        TCP4 => Some(12),
        TCP6 => Some(36),
        UNIX_STREAM => Some(216),
        _ => None,
    }
}

/// Reads the body of a header whose head is `head`. LOCAL, as the protocol says, is served
/// on the socket's own addresses, everything after the head ignored (Mosquitto 2.1 closes
/// LOCAL connections with an UNSPEC family, and uses the addresses of the others).
///
/// # Errors
/// [`Corrupt::Tlvs`] when a TLV (or a sub-TLV of the SSL TLV) runs past the end of the body;
/// [`Corrupt::Header`] when `body` is shorter than the head says.
pub(super) fn body(head: &Head, body: &[u8]) -> Result<Header, Corrupt> {
    if head.local {
        return Ok(Header { source: Source::Socket, tls: None });
    }
    let addresses = addresses_len(head.family).ok_or(Corrupt::Header)?;
    if body.len() != head.len || body.len() < addresses {
        return Err(Corrupt::Header);
    }
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    let source = match head.family {
        TCP4 => Source::Client {
            address: Ipv4Addr::from(<[u8; 4]>::try_from(&body[..4]).unwrap_or_default())
                .to_string(),
            port: port(8),
        },
        TCP6 => Source::Client {
            address: Ipv6Addr::from(<[u8; 16]>::try_from(&body[..16]).unwrap_or_default())
                .to_string(),
            port: port(32),
        },
        UNIX_STREAM => {
            let path = &body[..108];
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            Source::Client { address: String::from_utf8_lossy(&path[..end]).into_owned(), port: 0 }
        }
        _ => Source::Socket,
    };
    let rest = &body[addresses..];
    let Some(tlvs) = tlvs(rest) else {
        return Err(Corrupt::Tlvs(source));
    };
    let mut tls = None;
    for (kind, value) in tlvs {
        if kind == PP2_TYPE_SSL {
            tls = Some(ssl(value).ok_or_else(|| Corrupt::Tlvs(source.clone()))?);
        }
    }
    Ok(Header { source, tls })
}

/// The SSL TLV: the client byte, the verify result (0 = the certificate was verified) and
/// sub-TLVs. The client connected with TLS when the client byte says so (Mosquitto 2.1 takes
/// any SSL TLV for TLS, though HAProxy sends one with the bit clear for a plain connection);
/// it presented a verified certificate when a certificate bit is set too and verify is 0.
/// `None` when it is too short or a sub-TLV runs past its end.
fn ssl(value: &[u8]) -> Option<ProxiedTls> {
    let (&client, rest) = value.split_first()?;
    let verify = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let mut tls = ProxiedTls { connected: client & PP2_CLIENT_SSL != 0, ..ProxiedTls::default() };
    tls.certificate =
        tls.connected && client & (PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS) != 0 && verify == 0;
    for (kind, value) in tlvs(&rest[4..])? {
        let text = || Some(String::from_utf8_lossy(value).into_owned());
        match kind {
            PP2_SUBTYPE_SSL_VERSION => tls.version = text(),
            PP2_SUBTYPE_SSL_CN => tls.common_name = text(),
            PP2_SUBTYPE_SSL_CIPHER => tls.cipher = text(),
            _ => {}
        }
    }
    Some(tls)
}

/// Splits `bytes` into TLVs (type, 16-bit length, value); `None` when one runs past the end.
fn tlvs(mut bytes: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut found = Vec::new();
    while let [kind, high, low, rest @ ..] = bytes {
        let len = usize::from(u16::from_be_bytes([*high, *low]));
        found.push((*kind, rest.get(..len)?));
        bytes = &rest[len..];
    }
    bytes.is_empty().then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head with `command` (0 LOCAL, 1 PROXY), `family` and a body of `len` bytes.
    fn head_bytes(command: u8, family: u8, len: u16) -> [u8; HEAD_LEN] {
        let mut bytes = [0; HEAD_LEN];
        bytes[..12].copy_from_slice(&SIGNATURE);
        bytes[12] = 0x20 | command;
        bytes[13] = family;
        bytes[14..].copy_from_slice(&len.to_be_bytes());
        bytes
    }

    fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(value);
        bytes
    }

    /// Parses a whole PROXY header of `family` with `body`.
    fn parse(family: u8, body_bytes: &[u8]) -> Result<Header, Corrupt> {
        let head = head(&head_bytes(1, family, u16::try_from(body_bytes.len()).unwrap()))?;
        body(&head, body_bytes)
    }

    fn tcp4_body(tlvs: &[u8]) -> Vec<u8> {
        let mut body = vec![192, 0, 2, 5, 192, 0, 2, 1];
        body.extend_from_slice(&6275u16.to_be_bytes());
        body.extend_from_slice(&1883u16.to_be_bytes());
        body.extend_from_slice(tlvs);
        body
    }

    #[test]
    fn heads_that_are_refused() {
        let mut bad_signature = head_bytes(1, TCP4, 12);
        bad_signature[3] = 0;
        let mut version_1 = head_bytes(1, TCP4, 12);
        version_1[12] = 0x11;
        for bytes in [
            bad_signature,
            version_1,
            head_bytes(2, TCP4, 12),
            head_bytes(1, 0x12, 12),
            head_bytes(1, 0x22, 36),
            head_bytes(1, 0x32, 216),
            head_bytes(1, 0x41, 12),
            head_bytes(1, TCP4, 11),
            head_bytes(1, TCP6, 35),
            head_bytes(1, UNIX_STREAM, 215),
            head_bytes(1, TCP4, 501),
            head_bytes(0, UNSPEC, 501),
        ] {
            assert_eq!(head(&bytes), Err(Corrupt::Header), "{bytes:02x?}");
        }
        assert_eq!(
            head(&head_bytes(1, TCP4, 500)),
            Ok(Head { local: false, family: TCP4, len: 500 })
        );
        assert_eq!(head(&head_bytes(0, 0x12, 0)), Ok(Head { local: true, family: 0x12, len: 0 }));
    }

    #[test]
    fn addresses_of_each_family() {
        let client = |address: &str, port| Source::Client { address: address.to_owned(), port };
        assert_eq!(parse(TCP4, &tcp4_body(&[])).unwrap().source, client("192.0.2.5", 6275));
        let mut tcp6 = vec![0x20, 0x01, 0x0d, 0xb8, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 1];
        tcp6.extend_from_slice(&[0; 16]);
        tcp6.extend_from_slice(&[0x18, 0x83, 0x07, 0x5b]);
        assert_eq!(parse(TCP6, &tcp6).unwrap().source, client("2001:db8:506:708:900::1", 6275));
        let mut unix = vec![0; 216];
        unix[..5].copy_from_slice(b"/path");
        assert_eq!(parse(UNIX_STREAM, &unix).unwrap().source, client("/path", 0));
        assert_eq!(parse(UNSPEC, &[]).unwrap().source, Source::Socket);
        // LOCAL ignores whatever follows the head, addresses and TLVs alike.
        let local = head(&head_bytes(0, TCP4, 12)).unwrap();
        assert_eq!(body(&local, &tcp4_body(&[])), Ok(Header { source: Source::Socket, tls: None }));
    }

    #[test]
    fn the_ssl_tlv_gives_the_tls_facts() {
        let mut ssl_value = vec![PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS, 0, 0, 0, 0];
        ssl_value.extend(tlv(PP2_SUBTYPE_SSL_VERSION, b"TLSv1.3"));
        ssl_value.extend(tlv(PP2_SUBTYPE_SSL_CIPHER, b"pqrstuv"));
        ssl_value.extend(tlv(PP2_SUBTYPE_SSL_CN, b"ppppppp"));
        ssl_value.extend(tlv(0x25, b"RSA2048"));
        let mut tlvs = tlv(0x04, &[0; 4]); // CRC32C, not checked
        tlvs.extend(tlv(PP2_TYPE_SSL, &ssl_value));
        let tls = parse(TCP4, &tcp4_body(&tlvs)).unwrap().tls.unwrap();
        assert_eq!(
            tls,
            ProxiedTls {
                connected: true,
                certificate: true,
                version: Some("TLSv1.3".to_owned()),
                cipher: Some("pqrstuv".to_owned()),
                common_name: Some("ppppppp".to_owned()),
            }
        );
        let certificate = |client: u8, verify: u8| {
            let tlvs = tlv(PP2_TYPE_SSL, &[client, 0, 0, 0, verify]);
            let tls = parse(TCP4, &tcp4_body(&tlvs)).unwrap().tls.unwrap();
            (tls.connected, tls.certificate)
        };
        assert_eq!(certificate(PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, 0), (true, true));
        assert_eq!(certificate(PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, 1), (true, false));
        assert_eq!(certificate(PP2_CLIENT_SSL, 0), (true, false));
        assert_eq!(certificate(PP2_CLIENT_CERT_CONN, 0), (false, false));
        assert_eq!(parse(TCP4, &tcp4_body(&[])).unwrap().tls, None);
    }

    #[test]
    fn a_tlv_past_the_end_is_corrupt_and_names_the_client() {
        let source = Source::Client { address: "192.0.2.5".to_owned(), port: 6275 };
        let mut long = tlv(0x04, &[0; 4]);
        long[2] = 5;
        let short_ssl = tlv(PP2_TYPE_SSL, &[PP2_CLIENT_SSL, 0, 0, 0]);
        let mut long_sub = vec![PP2_CLIENT_SSL, 0, 0, 0, 0];
        long_sub.extend(&tlv(PP2_SUBTYPE_SSL_CN, b"cn")[..4]);
        for tlvs in [long, vec![0x04, 0], short_ssl, tlv(PP2_TYPE_SSL, &long_sub)] {
            assert_eq!(parse(TCP4, &tcp4_body(&tlvs)), Err(Corrupt::Tlvs(source.clone())));
        }
    }
}
