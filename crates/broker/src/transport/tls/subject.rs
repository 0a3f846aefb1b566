//! The subject of a DER X.509 certificate, as Mosquitto makes usernames of it: the first
//! common name (`use_identity_as_username`), or the whole subject printed like OpenSSL's
//! `X509_NAME_print_ex(.., XN_FLAG_RFC2253)` (`use_subject_as_username`). A small DER walk:
//! rustls has already checked the certificate, and anything unexpected gives `None`.

use std::fmt::Write as _;

/// DER tags used here.
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// `id-at-commonName` (2.5.4.3), DER-encoded.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// OpenSSL's short names of the usual attribute types (DER OID bytes, name).
const SHORT_NAMES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x04], "SN"),
    (&[0x55, 0x04, 0x05], "serialNumber"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x09], "street"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x0c], "title"),
    (&[0x55, 0x04, 0x2a], "GN"),
    (&[0x55, 0x04, 0x2b], "initials"),
    (&[0x55, 0x04, 0x2c], "generationQualifier"),
    (&[0x55, 0x04, 0x2e], "dnQualifier"),
    (&[0x55, 0x04, 0x41], "pseudonym"),
    (&[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19], "DC"),
    (&[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01], "UID"),
    (&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01], "emailAddress"),
];

/// One attribute of the subject: type, value tag, value bytes.
struct Attribute<'a> {
    oid: &'a [u8],
    tag: u8,
    value: &'a [u8],
}

/// The first common name of the certificate's subject; `None` without one, or when it holds
/// a NUL character (Mosquitto refuses those).
pub(super) fn common_name(certificate: &[u8]) -> Option<String> {
    let subject = subject(certificate)?;
    let attribute = subject.into_iter().flatten().find(|attribute| attribute.oid == COMMON_NAME)?;
    let text = decode_string(attribute.tag, attribute.value)?;
    (!text.contains('\0')).then_some(text)
}

/// The subject as OpenSSL prints it with `XN_FLAG_RFC2253`: attributes last to first,
/// separated by `,` (`+` inside one RDN), short names, RFC 2253 escaping, bytes above 0x7f
/// and control characters as `\XX`, values of unknown string types as `#` and DER hex.
pub(super) fn rfc2253(certificate: &[u8]) -> Option<String> {
    let subject = subject(certificate)?;
    let mut out = String::new();
    for (index, rdn) in subject.iter().rev().enumerate() {
        if index > 0 {
            out.push(',');
        }
        for (position, attribute) in rdn.iter().enumerate() {
            if position > 0 {
                out.push('+');
            }
            match SHORT_NAMES.iter().find(|(oid, _)| *oid == attribute.oid) {
                Some((_, name)) => out.push_str(name),
                None => out.push_str(&dotted(attribute.oid)?),
            }
            out.push('=');
            match decode_string(attribute.tag, attribute.value) {
                Some(text) => escape_into(&mut out, &text),
                None => {
                    out.push('#');
                    let _ = write!(out, "{:02X}", attribute.tag);
                    write_length(&mut out, attribute.value.len());
                    for byte in attribute.value {
                        let _ = write!(out, "{byte:02X}");
                    }
                }
            }
        }
    }
    Some(out)
}

/// The subject's RDNs in certificate order, each a list of attributes.
fn subject(certificate: &[u8]) -> Option<Vec<Vec<Attribute<'_>>>> {
    let (tag, certificate, _) = tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    // [0] version (optional), serial, signature, issuer, validity, subject.
    let mut fields = Vec::new();
    while fields.len() < 6 && !tbs.is_empty() {
        let (tag, value, rest) = tlv(tbs)?;
        fields.push((tag, value));
        tbs = rest;
    }
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let (tag, mut name) = *fields.get(skip + 4)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (tag, mut set, rest) = tlv(name)?;
        name = rest;
        if tag != SET {
            return None;
        }
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let (tag, pair, rest) = tlv(set)?;
            set = rest;
            if tag != SEQUENCE {
                return None;
            }
            let (oid_tag, oid, pair) = tlv(pair)?;
            let (value_tag, value, _) = tlv(pair)?;
            if oid_tag != OID {
                return None;
            }
            rdn.push(Attribute { oid, tag: value_tag, value });
        }
        rdns.push(rdn);
    }
    Some(rdns)
}

/// One DER element: tag, contents, what follows. Only single-byte tags and lengths up to
/// four bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |len, &byte| (len << 8) | usize::from(byte))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

/// A string value as text: UTF8String, PrintableString, IA5String, NumericString,
/// VisibleString, T61String and UniversalString/BMPString; `None` for other types.
fn decode_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x12 | 0x13 | 0x16 | 0x1a => String::from_utf8(value.to_vec()).ok(),
        // T61String: read as Latin-1, as OpenSSL does.
        0x14 => Some(value.iter().map(|&byte| char::from(byte)).collect()),
        0x1e => {
            let units: Vec<u16> =
                value.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect();
            String::from_utf16(&units).ok()
        }
        0x1c => value
            .chunks_exact(4)
            .map(|quad| char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]])))
            .collect(),
        _ => None,
    }
}

/// RFC 2253 escaping as OpenSSL's `ESC_2253 | ESC_CTRL | ESC_MSB` does it.
fn escape_into(out: &mut String, text: &str) {
    let last = text.len().saturating_sub(1);
    for (index, ch) in text.char_indices() {
        let mut utf8 = [0; 4];
        for &byte in ch.encode_utf8(&mut utf8).as_bytes() {
            let special = matches!(byte, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
                || (index == 0 && matches!(byte, b'#' | b' '))
                || (index == last && byte == b' ');
            if !(0x20..0x7f).contains(&byte) {
                let _ = write!(out, "\\{byte:02X}");
            } else if special {
                out.push('\\');
                out.push(char::from(byte));
            } else {
                out.push(char::from(byte));
            }
        }
    }
}

/// A DER length in hex, as part of a `#` dump.
fn write_length(out: &mut String, len: usize) {
    if len < 0x80 {
        let _ = write!(out, "{len:02X}");
        return;
    }
    let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&byte| byte == 0).collect();
    let _ = write!(out, "{:02X}", 0x80 | bytes.len());
    for byte in bytes {
        let _ = write!(out, "{byte:02X}");
    }
}

/// An OID in dotted form (for attribute types without a short name).
fn dotted(oid: &[u8]) -> Option<String> {
    let (&first, rest) = oid.split_first()?;
    let mut out = format!("{}.{}", first / 40, first % 40);
    let mut value: u64 = 0;
    for &byte in rest {
        value = value.checked_mul(128)? | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            let _ = write!(out, ".{value}");
            value = 0;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER element.
    fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if contents.len() < 0x80 {
            out.push(u8::try_from(contents.len()).unwrap());
        } else {
            out.push(0x82);
            out.extend_from_slice(&u16::try_from(contents.len()).unwrap().to_be_bytes());
        }
        out.extend_from_slice(contents);
        out
    }

    fn attribute(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        der(SEQUENCE, &[der(OID, oid), der(tag, value)].concat())
    }

    /// A certificate skeleton with this subject (only the fields the walk looks at).
    fn certificate(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let name: Vec<u8> = rdns.iter().flat_map(|rdn| der(SET, &rdn.concat())).collect();
        let tbs = [
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &[1]),
            der(SEQUENCE, &[]),
            der(SEQUENCE, &der(SET, &attribute(COMMON_NAME, 0x0c, b"Issuer CA"))),
            der(SEQUENCE, &[]),
            der(SEQUENCE, &name),
            der(SEQUENCE, &[0; 200]),
        ]
        .concat();
        der(SEQUENCE, &[der(SEQUENCE, &tbs), der(SEQUENCE, &[]), der(0x03, &[0])].concat())
    }

    #[test]
    fn the_first_common_name_of_the_subject_not_the_issuer() {
        let cert = certificate(&[
            vec![attribute(&[0x55, 0x04, 0x06], 0x13, b"GB")],
            vec![attribute(COMMON_NAME, 0x0c, b"client")],
            vec![attribute(COMMON_NAME, 0x0c, b"second")],
        ]);
        assert_eq!(common_name(&cert).as_deref(), Some("client"));
        let no_cn = certificate(&[vec![attribute(&[0x55, 0x04, 0x0a], 0x0c, b"Org")]]);
        assert_eq!(common_name(&no_cn), None);
        let nul = certificate(&[vec![attribute(COMMON_NAME, 0x0c, b"bad\0name")]]);
        assert_eq!(common_name(&nul), None);
        let bmp = certificate(&[vec![attribute(COMMON_NAME, 0x1e, &[0, b'h', 0, b'i'])]]);
        assert_eq!(common_name(&bmp).as_deref(), Some("hi"));
    }

    #[test]
    fn the_subject_prints_like_openssl_rfc2253() {
        let cert = certificate(&[
            vec![attribute(&[0x55, 0x04, 0x06], 0x13, b"GB")],
            vec![attribute(&[0x55, 0x04, 0x0a], 0x0c, b"Org, Inc")],
            vec![
                attribute(&[0x55, 0x04, 0x0b], 0x0c, b"Dev"),
                attribute(&[0x55, 0x04, 0x0b], 0x0c, "Zoë".as_bytes()),
            ],
            vec![attribute(COMMON_NAME, 0x0c, b" client#1 ")],
            vec![attribute(&[0x2a, 0x03, 0x04], 0x04, &[0xab])],
        ]);
        assert_eq!(
            rfc2253(&cert).as_deref(),
            Some("1.2.3.4=#0401AB,CN=\\ client#1\\ ,OU=Dev+OU=Zo\\C3\\AB,O=Org\\, Inc,C=GB")
        );
    }

    #[test]
    fn garbage_gives_no_name() {
        for bytes in [&[][..], &[0x30], &[0x30, 0x85, 1, 1, 1, 1, 1], &[0x30, 0x05, 0x30, 0x01]] {
            assert_eq!(common_name(bytes), None);
            assert_eq!(rfc2253(bytes), None);
        }
    }
}
