//! Typed decode and encode errors, each naming the spec rule it enforces and the MQTT 5 reason
//! code a broker answers with.
//!
//! Bytes that cannot be parsed (`Malformed`, reason 0x81) are kept apart from bytes that parse
//! but break a rule about behaviour (`Protocol`, reason 0x82), as rustls keeps `InvalidMessage`
//! apart from `PeerMisbehaved`.

use std::borrow::Cow;
use std::fmt;

use crate::reason::ReasonCode;
use crate::types::ProtocolVersion;

/// The specification document a rule is quoted from.
///
/// MQTT 3.1 has no numbered normative statements, so 3.1 connections quote the 3.1.1 rules,
/// which restate the 3.1 wire format. The numbers differ between 3.1.1 and 5.0
/// (`MQTT-3.8.3-3` is "no topic filters" in 3.1.1 but the No Local rule in 5.0), hence the tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Spec {
    /// MQTT Version 3.1.1 (OASIS Standard, 2014).
    V3_1_1,
    /// MQTT Version 5.0 (OASIS Standard, 2019).
    V5,
}

impl Spec {
    /// The document that governs `version`.
    #[must_use]
    pub const fn of(version: ProtocolVersion) -> Self {
        match version {
            ProtocolVersion::V3_1 | ProtocolVersion::V3_1_1 => Self::V3_1_1,
            ProtocolVersion::V5 => Self::V5,
        }
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V3_1_1 => "v3.1.1",
            Self::V5 => "v5.0",
        })
    }
}

/// One broken rule: which spec, which statement (`MQTT-x.y.z-n`, or a section `§x.y` where the
/// spec states the rule without a number), and what was wrong.
///
/// Displays as `[v3.1.1 MQTT-3.8.3-3] SUBSCRIBE with no topic filters`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    spec: Spec,
    rule: &'static str,
    detail: Cow<'static, str>,
}

impl Violation {
    /// A violation of `rule` in `spec`.
    #[must_use]
    pub fn new(spec: Spec, rule: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self { spec, rule, detail: detail.into() }
    }

    /// The spec document quoted.
    #[must_use]
    pub const fn spec(&self) -> Spec {
        self.spec
    }

    /// The normative statement id (`MQTT-3.3.1-4`) or section (`§2.2.3`).
    #[must_use]
    pub const fn rule(&self) -> &'static str {
        self.rule
    }

    /// What was wrong, in words.
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} {}] {}", self.spec, self.rule, self.detail)
    }
}

/// Why bytes from a peer could not become a [`Packet`](crate::Packet).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not parse: bad flags, lengths, UTF-8, QoS 3, trailing bytes... (0x81).
    #[error("malformed packet: {0}")]
    Malformed(Violation),
    /// The bytes parse, but break a rule: packet id 0, a property where it is not allowed or
    /// repeated, a wildcard in a topic name... (0x82).
    #[error("protocol error: {0}")]
    Protocol(Violation),
    /// The fixed header announces a packet larger than the limit; the body was not buffered (0x95).
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Size of the whole packet, fixed header included.
        size: usize,
        /// The limit in force.
        max: u32,
    },
    /// CONNECT with a known protocol name but a level this codec does not speak (0x84; a v3
    /// broker answers CONNACK return code 1).
    #[error(
        "unsupported protocol version: CONNECT with protocol name {name:?} and level {level} [{spec} {rule}]",
        spec = Spec::V3_1_1,
        rule = "MQTT-3.1.2-2"
    )]
    UnsupportedProtocolVersion {
        /// The protocol name as sent (lossy UTF-8).
        name: String,
        /// The protocol level as sent.
        level: u8,
    },
    /// CONNECT with a protocol name other than `MQTT` / `MQIsdp`. Mosquitto closes the
    /// connection without a CONNACK; a v5 server MAY answer 0x84.
    #[error(
        "invalid protocol name {name:?} in CONNECT [{spec} {rule}]",
        spec = Spec::V3_1_1,
        rule = "MQTT-3.1.2-1"
    )]
    InvalidProtocolName {
        /// The protocol name as sent (lossy UTF-8).
        name: String,
    },
}

impl DecodeError {
    /// The MQTT 5 reason code a broker answers this error with (in DISCONNECT, or CONNACK when
    /// the packet was CONNECT).
    #[must_use]
    pub const fn reason_code(&self) -> ReasonCode {
        match self {
            Self::Malformed(_) => ReasonCode::MalformedPacket,
            Self::Protocol(_) => ReasonCode::ProtocolError,
            Self::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            Self::UnsupportedProtocolVersion { .. } | Self::InvalidProtocolName { .. } => {
                ReasonCode::UnsupportedProtocolVersion
            }
        }
    }

    /// The broken rule, for `Malformed` and `Protocol`.
    #[must_use]
    pub const fn violation(&self) -> Option<&Violation> {
        match self {
            Self::Malformed(v) | Self::Protocol(v) => Some(v),
            _ => None,
        }
    }

    /// A malformed-packet error quoting `rule3` (3.1/3.1.1) or `rule5` (5.0).
    pub(crate) fn malformed(
        version: ProtocolVersion,
        rule3: &'static str,
        rule5: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Malformed(violation(version, rule3, rule5, detail))
    }

    /// A protocol-error quoting `rule3` (3.1/3.1.1) or `rule5` (5.0).
    pub(crate) fn protocol(
        version: ProtocolVersion,
        rule3: &'static str,
        rule5: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Protocol(violation(version, rule3, rule5, detail))
    }
}

/// Why a [`Packet`](crate::Packet) could not be encoded. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A binary field (password, will payload, correlation or authentication data) is longer
    /// than the two-byte length prefix can say.
    #[error("{what} is {len} bytes; a length-prefixed field holds at most 65535 bytes")]
    FieldTooLong {
        /// The field.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The packet would exceed the size limit (the peer's maximum, or 268,435,460 bytes, the
    /// most a four-byte remaining length can describe).
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Size of the whole packet, fixed header included.
        size: usize,
        /// The limit in force.
        max: u32,
    },
    /// The packet breaks a rule of the version it is encoded for (a property not allowed in the
    /// packet, AUTH in 3.1.1, QoS 0 with a packet id, ...).
    #[error("cannot encode: {0}")]
    Invalid(Violation),
}

impl EncodeError {
    /// The MQTT 5 reason code that describes this failure (PacketTooLarge for sizes,
    /// ProtocolError for rule violations, ImplementationSpecificError for overlong fields).
    #[must_use]
    pub const fn reason_code(&self) -> ReasonCode {
        match self {
            Self::FieldTooLong { .. } => ReasonCode::ImplementationSpecificError,
            Self::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            Self::Invalid(_) => ReasonCode::ProtocolError,
        }
    }

    /// An invalid-packet error quoting `rule3` (3.1/3.1.1) or `rule5` (5.0).
    pub(crate) fn invalid(
        version: ProtocolVersion,
        rule3: &'static str,
        rule5: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Invalid(violation(version, rule3, rule5, detail))
    }
}

/// The violation of the rule that governs `version`.
pub(crate) fn violation(
    version: ProtocolVersion,
    rule3: &'static str,
    rule5: &'static str,
    detail: impl Into<Cow<'static, str>>,
) -> Violation {
    let spec = Spec::of(version);
    let rule = match spec {
        Spec::V3_1_1 => rule3,
        Spec::V5 => rule5,
    };
    Violation::new(spec, rule, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_names_spec_and_rule() {
        let err = DecodeError::protocol(
            ProtocolVersion::V3_1_1,
            "MQTT-3.8.3-3",
            "MQTT-3.8.3-2",
            "SUBSCRIBE with no topic filters",
        );
        assert_eq!(
            err.to_string(),
            "protocol error: [v3.1.1 MQTT-3.8.3-3] SUBSCRIBE with no topic filters"
        );
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn each_error_maps_to_its_reason_code() {
        let malformed = DecodeError::malformed(ProtocolVersion::V5, "x", "§2.1.4", "short");
        assert_eq!(malformed.to_string(), "malformed packet: [v5.0 §2.1.4] short");
        assert_eq!(malformed.reason_code().as_u8(), 0x81);
        assert_eq!(DecodeError::PacketTooLarge { size: 9, max: 8 }.reason_code().as_u8(), 0x95);
        let level = DecodeError::UnsupportedProtocolVersion { name: "MQTT".into(), level: 6 };
        assert_eq!(level.reason_code().as_u8(), 0x84);
    }
}
