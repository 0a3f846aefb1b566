//! CONNECT: protocol name and level, connect flags, keep alive, properties, and the payload of
//! client identifier, will and credentials.
//!
//! ```text
//! protocol name (string "MQTT" / "MQIsdp") | level (4 / 3 / 5) | connect flags | keep alive (u16)
//! [v5: properties] | client id | [will: [v5: will properties] topic, payload]
//! | [user name] | [password]
//! connect flags: 7 user name | 6 password | 5 will retain | 4-3 will QoS | 2 will | 1 clean | 0 reserved
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::fields::topic_name_error;
use crate::properties::{Context, Properties};
use crate::reader::Reader;
use crate::topic::{MqttString, TopicName};
use crate::types::{ProtocolVersion, QoS};
use crate::writer::{binary_len, put_binary, put_string, string_len};

/// CONNECT: the first packet a client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    /// The protocol version the client speaks (from name and level); CONNECT is always
    /// encoded for this version.
    pub protocol: ProtocolVersion,
    /// Clean session (3.x) / clean start (5.0).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 turns it off.
    pub keep_alive: u16,
    /// The client identifier; may be empty (the server then assigns one or refuses).
    pub client_id: MqttString,
    /// The will message, if any.
    pub will: Option<Will>,
    /// User name, if any.
    pub username: Option<MqttString>,
    /// Password, if any (binary data).
    pub password: Option<Bytes>,
    /// v5 CONNECT properties.
    pub properties: Properties,
    /// Mosquitto's bridge bit (`try_private`): bit 7 of the protocol level (0x83 / 0x84) says
    /// that a bridge is connecting. Only 3.x levels carry it, as in Mosquitto.
    pub bridge: bool,
}

/// The will message carried by CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Will {
    /// Topic it is published to.
    pub topic: TopicName,
    /// Its payload.
    pub payload: Bytes,
    /// Its QoS.
    pub qos: QoS,
    /// Whether it is retained.
    pub retain: bool,
    /// v5 will properties (will delay, message expiry, content type, ...).
    pub properties: Properties,
}

impl Connect {
    /// A CONNECT for `protocol` with `client_id`, clean start, keep alive 60 and nothing else.
    #[must_use]
    pub fn new(protocol: ProtocolVersion, client_id: MqttString) -> Self {
        Self {
            protocol,
            clean_start: true,
            keep_alive: 60,
            client_id,
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
            bridge: false,
        }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let name = r.binary("protocol name")?;
        let raw_level = r.u8("protocol level")?;
        // Mosquitto's bridges also set the bit on level 5, where it means nothing.
        let private = raw_level & 0x80 != 0 && matches!(raw_level & 0x7f, 3..=5);
        let level = if private { raw_level & 0x7f } else { raw_level };
        let bridge = private && level != 5;
        let protocol = match (&name[..], level) {
            (b"MQIsdp", 3) => ProtocolVersion::V3_1,
            (b"MQTT", 4) => ProtocolVersion::V3_1_1,
            (b"MQTT", 5) => ProtocolVersion::V5,
            (b"MQIsdp" | b"MQTT", _) => {
                let name = String::from_utf8_lossy(&name).into_owned();
                return Err(DecodeError::UnsupportedProtocolVersion { name, level });
            }
            _ => {
                return Err(DecodeError::InvalidProtocolName {
                    name: String::from_utf8_lossy(&name).into_owned(),
                });
            }
        };
        r.version = protocol;
        let flags = r.u8("connect flags")?;
        let malformed = |rule3, rule5, detail: &'static str| {
            Err(DecodeError::malformed(protocol, rule3, rule5, detail))
        };
        // MQTT 3.1 sets no rule for these bits, and Mosquitto accepts a 3.1 CONNECT with the
        // reserved bit or a will QoS or retain without a will (which it then ignores).
        let strict = protocol != ProtocolVersion::V3_1;
        if strict && flags & 0x01 != 0 {
            return malformed(
                "MQTT-3.1.2-3",
                "MQTT-3.1.2-3",
                "CONNECT: reserved connect flag (bit 0) is set",
            );
        }
        let will_flag = flags & 0x04 != 0;
        let will_qos = (flags >> 3) & 0x03;
        let will_retain = flags & 0x20 != 0;
        let password_flag = flags & 0x40 != 0;
        let username_flag = flags & 0x80 != 0;
        if strict && !will_flag && will_qos != 0 {
            return malformed(
                "MQTT-3.1.2-13",
                "MQTT-3.1.2-11",
                "CONNECT: will QoS is set without a will",
            );
        }
        if strict && !will_flag && will_retain {
            return malformed(
                "MQTT-3.1.2-15",
                "MQTT-3.1.2-13",
                "CONNECT: will retain is set without a will",
            );
        }
        let Some(will_qos) = QoS::from_u8(will_qos) else {
            return malformed("MQTT-3.1.2-14", "MQTT-3.1.2-12", "CONNECT: will QoS is 3");
        };
        if password_flag && !username_flag && !protocol.is_v5() {
            return Err(DecodeError::protocol(
                protocol,
                "MQTT-3.1.2-22",
                "MQTT-3.1.2-22",
                "CONNECT: password without a user name",
            ));
        }
        let keep_alive = r.u16("keep alive")?;
        let properties = if protocol.is_v5() {
            Properties::decode(r, Context::Connect)?
        } else {
            Properties::default()
        };
        let client_id = r.string("client identifier")?;
        let will = if will_flag {
            let properties = if protocol.is_v5() {
                Properties::decode(r, Context::Will)?
            } else {
                Properties::default()
            };
            let topic = r.string("will topic")?;
            let topic = TopicName::decoded(topic).map_err(|err| {
                topic_name_error(protocol, err, "CONNECT: will topic", "MQTT-4.7.1-1")
            })?;
            let payload = r.binary("will payload")?;
            Some(Will { topic, payload, qos: will_qos, retain: will_retain, properties })
        } else {
            None
        };
        let username = if username_flag { Some(r.string("user name")?) } else { None };
        let password = if password_flag { Some(r.binary("password")?) } else { None };
        Ok(Self {
            protocol,
            clean_start: flags & 0x02 != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
            bridge,
        })
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        let v = self.protocol;
        if self.password.is_some() && self.username.is_none() && !v.is_v5() {
            return Err(EncodeError::invalid(
                v,
                "MQTT-3.1.2-22",
                "MQTT-3.1.2-22",
                "CONNECT: password without a user name",
            ));
        }
        let mut len = 2 + v.protocol_name().len() + 1 + 1 + 2 + string_len(&self.client_id);
        if v.is_v5() {
            len += self.properties.encoded_len_prefixed(Context::Connect)?;
        }
        if let Some(will) = &self.will {
            if will.topic.is_empty() {
                return Err(EncodeError::invalid(
                    v,
                    "MQTT-4.7.3-1",
                    "MQTT-4.7.3-1",
                    "CONNECT: will topic is empty",
                ));
            }
            if v.is_v5() {
                len += will.properties.encoded_len_prefixed(Context::Will)?;
            }
            len +=
                string_len(will.topic.as_mqtt_str()) + binary_len("will payload", &will.payload)?;
        }
        if let Some(username) = &self.username {
            len += string_len(username);
        }
        if let Some(password) = &self.password {
            len += binary_len("password", password)?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, out: &mut BytesMut) {
        let v = self.protocol;
        put_binary(out, v.protocol_name().as_bytes());
        let bridge_bit = if self.bridge && !v.is_v5() { 0x80 } else { 0 };
        out.put_u8(v.level() | bridge_bit);
        let mut flags = 0;
        if self.clean_start {
            flags |= 0x02;
        }
        if let Some(will) = &self.will {
            flags |= 0x04 | will.qos.as_u8() << 3;
            if will.retain {
                flags |= 0x20;
            }
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        out.put_u8(flags);
        out.put_u16(self.keep_alive);
        if v.is_v5() {
            self.properties.write(out);
        }
        put_string(out, &self.client_id);
        if let Some(will) = &self.will {
            if v.is_v5() {
                will.properties.write(out);
            }
            put_string(out, will.topic.as_mqtt_str());
            put_binary(out, &will.payload);
        }
        if let Some(username) = &self.username {
            put_string(out, username);
        }
        if let Some(password) = &self.password {
            put_binary(out, password);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::{decode_err, encode_err, round_trip};

    fn s(text: &'static str) -> MqttString {
        MqttString::from_static(text)
    }

    #[test]
    fn minimal_connect_in_every_version() {
        let mut connect = Connect::new(ProtocolVersion::V3_1, s("c"));
        connect.keep_alive = 10;
        round_trip(
            &Packet::Connect(Box::new(connect.clone())),
            ProtocolVersion::V3_1,
            &[0x10, 15, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 0x02, 0, 10, 0, 1, b'c'],
        );
        connect.protocol = ProtocolVersion::V3_1_1;
        connect.clean_start = false;
        round_trip(
            &Packet::Connect(Box::new(connect.clone())),
            ProtocolVersion::V3_1_1,
            &[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 10, 0, 1, b'c'],
        );
        connect.protocol = ProtocolVersion::V5;
        connect.properties.session_expiry_interval = Some(300);
        round_trip(
            &Packet::Connect(Box::new(connect)),
            ProtocolVersion::V5,
            &[
                0x10, 19, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 10, 5, 0x11, 0, 0, 1, 0x2C, 0,
                1, b'c',
            ],
        );
    }

    #[test]
    fn connect_with_will_and_credentials() {
        let mut connect = Connect::new(ProtocolVersion::V3_1_1, MqttString::empty());
        connect.will = Some(Will {
            topic: TopicName::from_static("w"),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        });
        connect.username = Some(s("u"));
        connect.password = Some(Bytes::from_static(b"p"));
        #[rustfmt::skip]
        let v4 = [0x10, 26, 0, 4, b'M', b'Q', b'T', b'T', 4, 0b1110_1110, 0, 60, 0, 0,
            0, 1, b'w', 0, 3, b'b', b'y', b'e', 0, 1, b'u', 0, 1, b'p'];
        round_trip(&Packet::Connect(Box::new(connect.clone())), ProtocolVersion::V3_1_1, &v4);

        connect.protocol = ProtocolVersion::V5;
        connect.username = None;
        if let Some(will) = &mut connect.will {
            will.properties.will_delay_interval = Some(5);
        }
        #[rustfmt::skip]
        let v5 = [0x10, 30, 0, 4, b'M', b'Q', b'T', b'T', 5, 0b0110_1110, 0, 60, 0, 0, 0,
            5, 0x18, 0, 0, 0, 5, 0, 1, b'w', 0, 3, b'b', b'y', b'e', 0, 1, b'p'];
        round_trip(&Packet::Connect(Box::new(connect)), ProtocolVersion::V5, &v5);
    }

    #[test]
    fn connect_violations() {
        let v4 = ProtocolVersion::V3_1_1;
        let cases: [(&[u8], &str); 8] = [
            (
                &[0x10, 10, 0, 4, b'M', b'Q', b'T', b'T', 6, 0, 0, 0],
                "unsupported protocol version: CONNECT with protocol name \"MQTT\" and level 6 [v3.1.1 MQTT-3.1.2-2]",
            ),
            (
                &[0x10, 10, 0, 4, b'M', b'Q', b'X', b'X', 4, 0, 0, 0],
                "invalid protocol name \"MQXX\" in CONNECT [v3.1.1 MQTT-3.1.2-1]",
            ),
            (
                &[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x01, 0, 0, 0, 0],
                "malformed packet: [v3.1.1 MQTT-3.1.2-3] CONNECT: reserved connect flag (bit 0) is set",
            ),
            (
                &[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x08, 0, 0, 0, 0],
                "malformed packet: [v3.1.1 MQTT-3.1.2-13] CONNECT: will QoS is set without a will",
            ),
            (
                &[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x20, 0, 0, 0, 0],
                "malformed packet: [v5.0 MQTT-3.1.2-13] CONNECT: will retain is set without a will",
            ),
            (
                &[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x1C, 0, 0, 0, 0],
                "malformed packet: [v3.1.1 MQTT-3.1.2-14] CONNECT: will QoS is 3",
            ),
            (
                &[0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x40, 0, 0, 0, 0, 0, 1, b'p'],
                "protocol error: [v3.1.1 MQTT-3.1.2-22] CONNECT: password without a user name",
            ),
            (
                &[0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x04, 0, 0, 0, 0, 0, 1, b'#', 0, 0],
                "protocol error: [v3.1.1 MQTT-4.7.1-1] CONNECT: will topic: topic name contains a wildcard ('+' or '#')",
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(decode_err(bytes, v4), expected, "{bytes:02X?}");
        }
    }

    #[test]
    fn a_3_1_connect_may_set_the_reserved_bit_and_will_bits_without_a_will() {
        // Clean session, reserved bit, will QoS 1 and will retain, but no will.
        let bytes = [0x10, 14, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 0x2B, 0, 60, 0, 0];
        let mut buf = BytesMut::from(&bytes[..]);
        let decoded = crate::decode(&mut buf, ProtocolVersion::V3_1_1, u32::MAX);
        let Ok(Some(Packet::Connect(connect))) = decoded else {
            panic!("a 3.1 CONNECT as Mosquitto accepts it: {decoded:?}")
        };
        assert_eq!((connect.protocol, connect.will.is_none()), (ProtocolVersion::V3_1, true));
        // The same bits in 3.1.1 are malformed.
        let mut v4 = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x2B, 0, 60, 0, 0].to_vec();
        assert!(decode_err(&v4, ProtocolVersion::V3_1_1).contains("reserved connect flag"));
        v4[9] = 0x2A;
        assert!(decode_err(&v4, ProtocolVersion::V3_1_1).contains("will QoS is set without"));
    }

    #[test]
    fn v3_connect_with_password_only_is_refused() {
        let mut connect = Connect::new(ProtocolVersion::V3_1, s("c"));
        connect.password = Some(Bytes::from_static(b"p"));
        assert_eq!(
            encode_err(&Packet::Connect(Box::new(connect)), ProtocolVersion::V3_1),
            "cannot encode: [v3.1.1 MQTT-3.1.2-22] CONNECT: password without a user name"
        );
    }
}
