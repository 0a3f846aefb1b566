//! Small value types shared by every packet: packet type, protocol version, QoS and packet
//! identifier.

use std::fmt;
use std::num::NonZeroU16;

/// The MQTT protocol version a connection speaks.
///
/// ```text
/// version   protocol name   protocol level
/// 3.1       "MQIsdp"        3
/// 3.1.1     "MQTT"          4
/// 5.0       "MQTT"          5
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1 (protocol name `MQIsdp`, level 3).
    V3_1,
    /// MQTT 3.1.1 (protocol name `MQTT`, level 4).
    V3_1_1,
    /// MQTT 5.0 (protocol name `MQTT`, level 5).
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte carried by CONNECT.
    #[must_use]
    pub const fn level(self) -> u8 {
        match self {
            Self::V3_1 => 3,
            Self::V3_1_1 => 4,
            Self::V5 => 5,
        }
    }

    /// The version with this protocol level, if any.
    #[must_use]
    pub const fn from_level(level: u8) -> Option<Self> {
        match level {
            3 => Some(Self::V3_1),
            4 => Some(Self::V3_1_1),
            5 => Some(Self::V5),
            _ => None,
        }
    }

    /// The protocol name carried by CONNECT: `MQIsdp` for 3.1, `MQTT` otherwise.
    #[must_use]
    pub const fn protocol_name(self) -> &'static str {
        match self {
            Self::V3_1 => "MQIsdp",
            Self::V3_1_1 | Self::V5 => "MQTT",
        }
    }

    /// True for MQTT 5.0, the only version with properties and reason codes everywhere.
    #[must_use]
    pub const fn is_v5(self) -> bool {
        matches!(self, Self::V5)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V3_1 => "3.1",
            Self::V3_1_1 => "3.1.1",
            Self::V5 => "5.0",
        })
    }
}

/// Quality of service of a message or subscription. Ordered: `AtMostOnce < AtLeastOnce < ExactlyOnce`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: fire and forget.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: acknowledged by PUBACK.
    AtLeastOnce = 1,
    /// QoS 2: PUBREC / PUBREL / PUBCOMP handshake.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS with this numeric value; `None` for 3 and above.
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }

    /// The numeric value (0, 1 or 2).
    #[must_use]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for QoS {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u8())
    }
}

/// A packet identifier: never zero, so "is the id zero?" is answered once, at decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// The smallest identifier, 1.
    pub const MIN: Self = Self(NonZeroU16::MIN);

    /// The identifier `value`; `None` for 0.
    #[must_use]
    pub const fn new(value: u16) -> Option<Self> {
        match NonZeroU16::new(value) {
            Some(id) => Some(Self(id)),
            None => None,
        }
    }

    /// The numeric value (1..=65535).
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// The next identifier, wrapping from 65535 to 1 (for allocators).
    #[must_use]
    pub const fn next(self) -> Self {
        match NonZeroU16::new(self.0.get().wrapping_add(1)) {
            Some(id) => Self(id),
            None => Self::MIN,
        }
    }
}

impl From<PacketId> for u16 {
    fn from(id: PacketId) -> Self {
        id.get()
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}

/// The control packet types (high nibble of byte 1). Displays as the spec spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PacketType {
    /// 1: client asks to connect.
    Connect = 1,
    /// 2: server answers CONNECT.
    ConnAck = 2,
    /// 3: an application message.
    Publish = 3,
    /// 4: QoS 1 acknowledgement.
    PubAck = 4,
    /// 5: QoS 2, part 1.
    PubRec = 5,
    /// 6: QoS 2, part 2.
    PubRel = 6,
    /// 7: QoS 2, part 3.
    PubComp = 7,
    /// 8: client subscribes.
    Subscribe = 8,
    /// 9: server answers SUBSCRIBE.
    SubAck = 9,
    /// 10: client unsubscribes.
    Unsubscribe = 10,
    /// 11: server answers UNSUBSCRIBE.
    UnsubAck = 11,
    /// 12: keep-alive ping.
    PingReq = 12,
    /// 13: keep-alive answer.
    PingResp = 13,
    /// 14: orderly close.
    Disconnect = 14,
    /// 15: MQTT 5 extended authentication.
    Auth = 15,
}

impl PacketType {
    /// The type with this number (1..=15).
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => Self::Connect,
            2 => Self::ConnAck,
            3 => Self::Publish,
            4 => Self::PubAck,
            5 => Self::PubRec,
            6 => Self::PubRel,
            7 => Self::PubComp,
            8 => Self::Subscribe,
            9 => Self::SubAck,
            10 => Self::Unsubscribe,
            11 => Self::UnsubAck,
            12 => Self::PingReq,
            13 => Self::PingResp,
            14 => Self::Disconnect,
            15 => Self::Auth,
            _ => return None,
        })
    }

    /// The name as the spec spells it: "CONNECT", "PUBLISH", ...
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::ConnAck => "CONNACK",
            Self::Publish => "PUBLISH",
            Self::PubAck => "PUBACK",
            Self::PubRec => "PUBREC",
            Self::PubRel => "PUBREL",
            Self::PubComp => "PUBCOMP",
            Self::Subscribe => "SUBSCRIBE",
            Self::SubAck => "SUBACK",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::UnsubAck => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect => "DISCONNECT",
            Self::Auth => "AUTH",
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_levels_and_names() {
        for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            assert_eq!(ProtocolVersion::from_level(v.level()), Some(v));
        }
        assert_eq!(ProtocolVersion::from_level(6), None);
        assert_eq!(ProtocolVersion::V3_1.protocol_name(), "MQIsdp");
        assert_eq!(ProtocolVersion::V5.to_string(), "5.0");
    }

    #[test]
    fn qos_is_ordered_and_refuses_three() {
        assert!(QoS::AtMostOnce < QoS::AtLeastOnce && QoS::AtLeastOnce < QoS::ExactlyOnce);
        assert_eq!(QoS::from_u8(2), Some(QoS::ExactlyOnce));
        assert_eq!(QoS::from_u8(3), None);
    }

    #[test]
    fn packet_id_is_never_zero_and_wraps_to_one() {
        assert_eq!(PacketId::new(0), None);
        assert_eq!(PacketId::new(65535).map(PacketId::next), Some(PacketId::MIN));
        assert_eq!(PacketId::MIN.next().get(), 2);
    }
}
