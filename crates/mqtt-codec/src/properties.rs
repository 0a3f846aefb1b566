//! MQTT 5 properties: one `Properties` struct for every packet, the property table (`PropertyId`:
//! each property's name, value type and the packets that allow it, which `culex_pub` and
//! `culex_sub` read for `-D` too), and their encoding. 3.1 and 3.1.1 have no properties: decode leaves
//! the struct empty and encode writes nothing for it.
//!
//! ```text
//! property list = property length (variable byte integer)
//!                 { identifier (variable byte integer), value }*
//! ```
//!
//! Only User Property may repeat, and Subscription Identifier in PUBLISH; any other repeat or a
//! value out of range is a protocol error (0x82); an unknown identifier, or one the packet does
//! not allow, is a malformed packet (0x81, §2.2.2.2). Encoding writes properties in identifier
//! order, user properties in the order given, except where `order` keeps Mosquitto's order:
//! in the packets whose order it fixes (CONNACK) and where the sender chose one (`WriteOrder`,
//! which culex_pub and culex_sub set to the order of their `-D` options, as Mosquitto's tools do).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError, Spec, Violation};
use crate::reader::{Reader, VARINT_MAX};
use crate::topic::{MqttString, TopicName};
use crate::types::PacketType;
use crate::writer::{binary_len, put_binary, put_string, put_varint, string_len, varint_len};

mod order;

use order::OrderTracker;
pub use order::WriteOrder;

/// The MQTT 5 properties of one packet (or of a will): one pointer, null when no property is
/// set, so that a packet without properties (every 3.1 and 3.1.1 packet, most v5 ones) neither
/// allocates nor carries the ~400 bytes of [`PropertyValues`] as it is moved around.
///
/// Reading a field goes through `Deref` (an absent list reads as [`PropertyValues::EMPTY`]);
/// writing one through `DerefMut`, which allocates the values on first use. Code that only
/// clears fields should use [`Properties::get_mut`], which allocates nothing. Equality and
/// `Debug` see the values only: an allocated list with nothing set equals an absent one.
#[derive(Default, Clone)]
pub struct Properties(Option<Box<PropertyValues>>);

impl Properties {
    /// The values, if any were ever set; `None` without allocating otherwise.
    #[must_use]
    pub fn get_mut(&mut self) -> Option<&mut PropertyValues> {
        self.0.as_deref_mut()
    }

    /// True when no property is set (the same as [`PropertyValues::is_empty`], without looking
    /// at an absent list's fields).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.as_deref().is_none_or(PropertyValues::is_empty)
    }

    /// Calls `f` with every property that is set, in identifier order.
    fn for_each<'a>(&'a self, f: impl FnMut(u8, Value<'a>)) {
        if let Some(values) = &self.0 {
            values.for_each(f);
        }
    }
}

impl std::ops::Deref for Properties {
    type Target = PropertyValues;

    fn deref(&self) -> &PropertyValues {
        self.0.as_deref().unwrap_or(&NO_VALUES)
    }
}

/// What an absent list derefs to (a `static`: a `const` with heap-owning fields is not
/// promoted to a reference that outlives the call).
static NO_VALUES: PropertyValues = PropertyValues::EMPTY;

impl std::ops::DerefMut for Properties {
    /// Allocates the values when none were set yet.
    fn deref_mut(&mut self) -> &mut PropertyValues {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<PropertyValues> for Properties {
    /// Boxes `values`, unless no property is set.
    fn from(values: PropertyValues) -> Self {
        Self((!values.is_empty()).then(|| Box::new(values)))
    }
}

impl PartialEq for Properties {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => a == b,
            (Some(values), None) | (None, Some(values)) => values.is_empty(),
            (None, None) => true,
        }
    }
}

impl Eq for Properties {}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// The values of a property list (the target of [`Properties`]). Every field is optional;
/// which may be set depends on the packet (v5.0 §2.2.2.2). Always empty for 3.1 and 3.1.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyValues {
    /// 0x01 Payload Format Indicator (PUBLISH, will): 0 bytes, 1 UTF-8.
    pub payload_format_indicator: Option<u8>,
    /// 0x02 Message Expiry Interval in seconds (PUBLISH, will).
    pub message_expiry_interval: Option<u32>,
    /// 0x03 Content Type (PUBLISH, will).
    pub content_type: Option<MqttString>,
    /// 0x08 Response Topic (PUBLISH, will).
    pub response_topic: Option<TopicName>,
    /// 0x09 Correlation Data (PUBLISH, will).
    pub correlation_data: Option<Bytes>,
    /// 0x0B Subscription Identifiers: several in a PUBLISH to a client, at most one in SUBSCRIBE.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11 Session Expiry Interval in seconds (CONNECT, CONNACK, DISCONNECT).
    pub session_expiry_interval: Option<u32>,
    /// 0x12 Assigned Client Identifier (CONNACK).
    pub assigned_client_identifier: Option<MqttString>,
    /// 0x13 Server Keep Alive in seconds (CONNACK).
    pub server_keep_alive: Option<u16>,
    /// 0x15 Authentication Method (CONNECT, CONNACK, AUTH).
    pub authentication_method: Option<MqttString>,
    /// 0x16 Authentication Data (CONNECT, CONNACK, AUTH).
    pub authentication_data: Option<Bytes>,
    /// 0x17 Request Problem Information, 0 or 1 (CONNECT).
    pub request_problem_information: Option<u8>,
    /// 0x18 Will Delay Interval in seconds (will).
    pub will_delay_interval: Option<u32>,
    /// 0x19 Request Response Information, 0 or 1 (CONNECT).
    pub request_response_information: Option<u8>,
    /// 0x1A Response Information (CONNACK).
    pub response_information: Option<MqttString>,
    /// 0x1C Server Reference (CONNACK, DISCONNECT).
    pub server_reference: Option<MqttString>,
    /// 0x1F Reason String (every acknowledgement, CONNACK, DISCONNECT, AUTH).
    pub reason_string: Option<MqttString>,
    /// 0x21 Receive Maximum, non-zero (CONNECT, CONNACK).
    pub receive_maximum: Option<u16>,
    /// 0x22 Topic Alias Maximum (CONNECT, CONNACK).
    pub topic_alias_maximum: Option<u16>,
    /// 0x23 Topic Alias, non-zero (PUBLISH).
    pub topic_alias: Option<u16>,
    /// 0x24 Maximum QoS, 0 or 1 (CONNACK).
    pub maximum_qos: Option<u8>,
    /// 0x25 Retain Available, 0 or 1 (CONNACK).
    pub retain_available: Option<u8>,
    /// 0x26 User Properties, in order (every packet with properties).
    pub user_properties: Vec<(MqttString, MqttString)>,
    /// 0x27 Maximum Packet Size, non-zero (CONNECT, CONNACK).
    pub maximum_packet_size: Option<u32>,
    /// 0x28 Wildcard Subscription Available, 0 or 1 (CONNACK).
    pub wildcard_subscription_available: Option<u8>,
    /// 0x29 Subscription Identifiers Available, 0 or 1 (CONNACK).
    pub subscription_identifiers_available: Option<u8>,
    /// 0x2A Shared Subscription Available, 0 or 1 (CONNACK).
    pub shared_subscription_available: Option<u8>,
    /// The order to write the properties in, when the sender chose one (see [`WriteOrder`]);
    /// empty for identifier order. Decoding keeps the order read when it was not identifier
    /// order, so that a forwarded PUBLISH keeps its publisher's order, as Mosquitto's does.
    pub order: WriteOrder,
}

impl PropertyValues {
    /// No property set: what an absent [`Properties`] reads as.
    pub const EMPTY: Self = Self {
        payload_format_indicator: None,
        message_expiry_interval: None,
        content_type: None,
        response_topic: None,
        correlation_data: None,
        subscription_identifiers: Vec::new(),
        session_expiry_interval: None,
        assigned_client_identifier: None,
        server_keep_alive: None,
        authentication_method: None,
        authentication_data: None,
        request_problem_information: None,
        will_delay_interval: None,
        request_response_information: None,
        response_information: None,
        server_reference: None,
        reason_string: None,
        receive_maximum: None,
        topic_alias_maximum: None,
        topic_alias: None,
        maximum_qos: None,
        retain_available: None,
        user_properties: Vec::new(),
        maximum_packet_size: None,
        wildcard_subscription_available: None,
        subscription_identifiers_available: None,
        shared_subscription_available: None,
        order: WriteOrder::NONE,
    };
}

impl Default for PropertyValues {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Where a property list sits (a packet, or the will in a CONNECT): decides which properties
/// are allowed ([`PropertyId::allowed_in`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(missing_docs, reason = "the variants are the packets' names")]
pub enum Context {
    Connect,
    /// The will properties of a CONNECT.
    Will,
    ConnAck,
    Publish,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

impl Context {
    const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// The packet (or part) for messages: the packet's name as [`PacketType`] spells it.
    const fn name(self) -> &'static str {
        let packet = match self {
            Self::Will => return "CONNECT will properties",
            Self::Connect => PacketType::Connect,
            Self::ConnAck => PacketType::ConnAck,
            Self::Publish => PacketType::Publish,
            Self::PubAck => PacketType::PubAck,
            Self::PubRec => PacketType::PubRec,
            Self::PubRel => PacketType::PubRel,
            Self::PubComp => PacketType::PubComp,
            Self::Subscribe => PacketType::Subscribe,
            Self::SubAck => PacketType::SubAck,
            Self::Unsubscribe => PacketType::Unsubscribe,
            Self::UnsubAck => PacketType::UnsubAck,
            Self::Disconnect => PacketType::Disconnect,
            Self::Auth => PacketType::Auth,
        };
        packet.name()
    }
}

/// Every MQTT 5 property, with its wire identifier as discriminant (v5.0 §2.2.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[expect(missing_docs, reason = "the variants are the spec's property names")]
pub enum PropertyId {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQos = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

/// How a property's value is written on the wire (v5.0 §1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyType {
    /// One byte.
    Byte,
    /// A big-endian `u16`.
    TwoByteInteger,
    /// A big-endian `u32`.
    FourByteInteger,
    /// A variable byte integer (up to 268,435,455).
    VariableByteInteger,
    /// A length-prefixed UTF-8 string.
    Utf8String,
    /// Length-prefixed binary data.
    BinaryData,
    /// Two UTF-8 strings: a name and a value.
    Utf8StringPair,
}

/// What the spec says about one property identifier.
struct Info {
    name: &'static str,
    value_type: PropertyType,
    /// Contexts (as `Context::bit`s) that allow it.
    allowed: u16,
    /// The section that defines it.
    section: &'static str,
}

/// The mask of `contexts`.
const fn any(contexts: &[Context]) -> u16 {
    let mut mask = 0;
    let mut i = 0;
    while i < contexts.len() {
        mask |= contexts[i].bit();
        i += 1;
    }
    mask
}

/// Properties indexed by identifier, built from `PropertyId::ALL`.
const BY_ID: [Option<PropertyId>; 0x2B] = {
    let mut table = [None; 0x2B];
    let mut i = 0;
    while i < PropertyId::ALL.len() {
        table[PropertyId::ALL[i] as usize] = Some(PropertyId::ALL[i]);
        i += 1;
    }
    table
};

impl PropertyId {
    /// Every property, in identifier order.
    pub const ALL: [Self; 27] = [
        Self::PayloadFormatIndicator,
        Self::MessageExpiryInterval,
        Self::ContentType,
        Self::ResponseTopic,
        Self::CorrelationData,
        Self::SubscriptionIdentifier,
        Self::SessionExpiryInterval,
        Self::AssignedClientIdentifier,
        Self::ServerKeepAlive,
        Self::AuthenticationMethod,
        Self::AuthenticationData,
        Self::RequestProblemInformation,
        Self::WillDelayInterval,
        Self::RequestResponseInformation,
        Self::ResponseInformation,
        Self::ServerReference,
        Self::ReasonString,
        Self::ReceiveMaximum,
        Self::TopicAliasMaximum,
        Self::TopicAlias,
        Self::MaximumQos,
        Self::RetainAvailable,
        Self::UserProperty,
        Self::MaximumPacketSize,
        Self::WildcardSubscriptionAvailable,
        Self::SubscriptionIdentifierAvailable,
        Self::SharedSubscriptionAvailable,
    ];

    /// The property whose wire identifier is `id`; `None` for an unknown identifier.
    #[must_use]
    pub const fn from_id(id: u32) -> Option<Self> {
        if id < BY_ID.len() as u32 { BY_ID[id as usize] } else { None }
    }

    /// The property's name as the spec and the codec's errors spell it, such as
    /// `"Payload Format Indicator"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// How the property's value is written.
    #[must_use]
    pub const fn value_type(self) -> PropertyType {
        self.info().value_type
    }

    /// Whether the spec allows this property in `context`.
    #[must_use]
    pub const fn allowed_in(self, context: Context) -> bool {
        self.info().allowed & context.bit() != 0
    }

    /// The property table (v5.0 §2.2.2.2).
    const fn info(self) -> Info {
        use Context::{
            Auth, ConnAck, Connect, Disconnect, PubAck, PubComp, PubRec, PubRel, Publish, SubAck,
            Subscribe, UnsubAck, Will,
        };
        use PropertyType::{
            BinaryData, Byte, FourByteInteger, TwoByteInteger, Utf8String, Utf8StringPair,
            VariableByteInteger,
        };
        const MESSAGE: u16 = any(&[Publish, Will]);
        const REASON: u16 =
            any(&[ConnAck, PubAck, PubRec, PubRel, PubComp, SubAck, UnsubAck, Disconnect, Auth]);
        const ALL: u16 = (1 << 14) - 1;
        let (name, value_type, allowed, section) = match self {
            Self::PayloadFormatIndicator => {
                ("Payload Format Indicator", Byte, MESSAGE, "§3.3.2.3.2")
            }
            Self::MessageExpiryInterval => {
                ("Message Expiry Interval", FourByteInteger, MESSAGE, "§3.3.2.3.3")
            }
            Self::ContentType => ("Content Type", Utf8String, MESSAGE, "§3.3.2.3.9"),
            Self::ResponseTopic => ("Response Topic", Utf8String, MESSAGE, "§3.3.2.3.5"),
            Self::CorrelationData => ("Correlation Data", BinaryData, MESSAGE, "§3.3.2.3.6"),
            Self::SubscriptionIdentifier => (
                "Subscription Identifier",
                VariableByteInteger,
                any(&[Publish, Subscribe]),
                "§3.8.2.1.2",
            ),
            Self::SessionExpiryInterval => (
                "Session Expiry Interval",
                FourByteInteger,
                any(&[Connect, ConnAck, Disconnect]),
                "§3.1.2.11.2",
            ),
            Self::AssignedClientIdentifier => {
                ("Assigned Client Identifier", Utf8String, any(&[ConnAck]), "§3.2.2.3.7")
            }
            Self::ServerKeepAlive => {
                ("Server Keep Alive", TwoByteInteger, any(&[ConnAck]), "§3.2.2.3.14")
            }
            Self::AuthenticationMethod => {
                ("Authentication Method", Utf8String, any(&[Connect, ConnAck, Auth]), "§3.1.2.11.9")
            }
            Self::AuthenticationData => {
                ("Authentication Data", BinaryData, any(&[Connect, ConnAck, Auth]), "§3.1.2.11.10")
            }
            Self::RequestProblemInformation => {
                ("Request Problem Information", Byte, any(&[Connect]), "§3.1.2.11.7")
            }
            Self::WillDelayInterval => {
                ("Will Delay Interval", FourByteInteger, any(&[Will]), "§3.1.3.2.2")
            }
            Self::RequestResponseInformation => {
                ("Request Response Information", Byte, any(&[Connect]), "§3.1.2.11.6")
            }
            Self::ResponseInformation => {
                ("Response Information", Utf8String, any(&[ConnAck]), "§3.2.2.3.15")
            }
            Self::ServerReference => {
                ("Server Reference", Utf8String, any(&[ConnAck, Disconnect]), "§3.2.2.3.16")
            }
            Self::ReasonString => ("Reason String", Utf8String, REASON, "§3.2.2.3.9"),
            Self::ReceiveMaximum => {
                ("Receive Maximum", TwoByteInteger, any(&[Connect, ConnAck]), "§3.1.2.11.3")
            }
            Self::TopicAliasMaximum => {
                ("Topic Alias Maximum", TwoByteInteger, any(&[Connect, ConnAck]), "§3.1.2.11.5")
            }
            Self::TopicAlias => ("Topic Alias", TwoByteInteger, any(&[Publish]), "§3.3.2.3.4"),
            Self::MaximumQos => ("Maximum QoS", Byte, any(&[ConnAck]), "§3.2.2.3.4"),
            Self::RetainAvailable => ("Retain Available", Byte, any(&[ConnAck]), "§3.2.2.3.5"),
            Self::UserProperty => ("User Property", Utf8StringPair, ALL, "§3.1.2.11.8"),
            Self::MaximumPacketSize => {
                ("Maximum Packet Size", FourByteInteger, any(&[Connect, ConnAck]), "§3.1.2.11.4")
            }
            Self::WildcardSubscriptionAvailable => {
                ("Wildcard Subscription Available", Byte, any(&[ConnAck]), "§3.2.2.3.11")
            }
            Self::SubscriptionIdentifierAvailable => {
                ("Subscription Identifier Available", Byte, any(&[ConnAck]), "§3.2.2.3.12")
            }
            Self::SharedSubscriptionAvailable => {
                ("Shared Subscription Available", Byte, any(&[ConnAck]), "§3.2.2.3.13")
            }
        };
        Info { name, value_type, allowed, section }
    }
}

/// The table's row for wire identifier `id`.
fn info(id: u32) -> Option<Info> {
    PropertyId::from_id(id).map(PropertyId::info)
}

/// One property value, borrowed from a `Properties`.
enum Value<'a> {
    Byte(u8),
    TwoByte(u16),
    FourByte(u32),
    Varint(u32),
    Str(&'a MqttString),
    Binary(&'a Bytes),
    Pair(&'a MqttString, &'a MqttString),
}

impl Value<'_> {
    /// Bytes the value takes on the wire (binary data must fit; see `Properties::encoded_len`).
    fn len(&self) -> usize {
        match self {
            Self::Byte(_) => 1,
            Self::TwoByte(_) => 2,
            Self::FourByte(_) => 4,
            Self::Varint(v) => varint_len(*v),
            Self::Str(s) => string_len(s),
            Self::Binary(b) => 2 + b.len(),
            Self::Pair(k, v) => string_len(k) + string_len(v),
        }
    }
}

impl PropertyValues {
    /// True when no property is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        let mut empty = true;
        self.for_each(|_, _| {
            empty = false;
        });
        empty
    }

    /// Calls `f` with every property that is set, in identifier order.
    fn for_each<'a>(&'a self, mut f: impl FnMut(u8, Value<'a>)) {
        use Value::*;
        let opt = |f: &mut dyn FnMut(u8, Value<'a>), id: u8, v: Option<Value<'a>>| {
            if let Some(v) = v {
                f(id, v);
            }
        };
        opt(&mut f, 0x01, self.payload_format_indicator.map(Byte));
        opt(&mut f, 0x02, self.message_expiry_interval.map(FourByte));
        opt(&mut f, 0x03, self.content_type.as_ref().map(Str));
        opt(&mut f, 0x08, self.response_topic.as_ref().map(|t| Str(t.as_mqtt_str())));
        opt(&mut f, 0x09, self.correlation_data.as_ref().map(Binary));
        for &id in &self.subscription_identifiers {
            f(0x0B, Varint(id));
        }
        opt(&mut f, 0x11, self.session_expiry_interval.map(FourByte));
        opt(&mut f, 0x12, self.assigned_client_identifier.as_ref().map(Str));
        opt(&mut f, 0x13, self.server_keep_alive.map(TwoByte));
        opt(&mut f, 0x15, self.authentication_method.as_ref().map(Str));
        opt(&mut f, 0x16, self.authentication_data.as_ref().map(Binary));
        opt(&mut f, 0x17, self.request_problem_information.map(Byte));
        opt(&mut f, 0x18, self.will_delay_interval.map(FourByte));
        opt(&mut f, 0x19, self.request_response_information.map(Byte));
        opt(&mut f, 0x1A, self.response_information.as_ref().map(Str));
        opt(&mut f, 0x1C, self.server_reference.as_ref().map(Str));
        opt(&mut f, 0x1F, self.reason_string.as_ref().map(Str));
        opt(&mut f, 0x21, self.receive_maximum.map(TwoByte));
        opt(&mut f, 0x22, self.topic_alias_maximum.map(TwoByte));
        opt(&mut f, 0x23, self.topic_alias.map(TwoByte));
        opt(&mut f, 0x24, self.maximum_qos.map(Byte));
        opt(&mut f, 0x25, self.retain_available.map(Byte));
        for (key, value) in &self.user_properties {
            f(0x26, Pair(key, value));
        }
        opt(&mut f, 0x27, self.maximum_packet_size.map(FourByte));
        opt(&mut f, 0x28, self.wildcard_subscription_available.map(Byte));
        opt(&mut f, 0x29, self.subscription_identifiers_available.map(Byte));
        opt(&mut f, 0x2A, self.shared_subscription_available.map(Byte));
    }
}

impl Properties {
    /// Checks that every property set is allowed in `ctx` and has a legal value.
    pub(crate) fn check(&self, ctx: Context) -> Result<(), Violation> {
        let mut result = Ok(());
        self.for_each(|id, value| {
            if result.is_ok() {
                result = check_one(ctx, id, &value);
            }
        });
        result?;
        if ctx == Context::Subscribe && self.subscription_identifiers.len() > 1 {
            return Err(repeated(ctx, "Subscription Identifier", "§3.8.2.1.2"));
        }
        if self.authentication_data.is_some() && self.authentication_method.is_none() {
            return Err(Violation::new(
                Spec::V5,
                "§3.1.2.11.10",
                format!("{}: Authentication Data without an Authentication Method", ctx.name()),
            ));
        }
        Ok(())
    }

    /// Reads a property list (length prefix included) for `ctx`, enforcing the spec's rules.
    pub(crate) fn decode(r: &mut Reader, ctx: Context) -> Result<Self, DecodeError> {
        let len = r.varint("property length")?;
        let mut r = r.sub(len as usize, "properties")?;
        if r.is_empty() {
            return Ok(Self::default());
        }
        let mut p = Box::<PropertyValues>::default();
        let mut order = OrderTracker::default();
        while !r.is_empty() {
            let id = r.varint("property identifier")?;
            let Some(info) = info(id) else {
                return Err(DecodeError::Malformed(Violation::new(
                    Spec::V5,
                    "§2.2.2.2",
                    format!("{}: unknown property identifier 0x{id:02X}", ctx.name()),
                )));
            };
            if info.allowed & ctx.bit() == 0 {
                return Err(DecodeError::Malformed(not_allowed(ctx, id, &info)));
            }
            order.note(u8::try_from(id).unwrap_or(u8::MAX), &p);
            let name = info.name;
            let once = |present: bool| {
                if present {
                    Err(DecodeError::Protocol(repeated(ctx, name, info.section)))
                } else {
                    Ok(())
                }
            };
            match id {
                0x01 => {
                    once(p.payload_format_indicator.is_some())?;
                    p.payload_format_indicator = Some(r.u8(name)?);
                }
                0x02 => {
                    once(p.message_expiry_interval.is_some())?;
                    p.message_expiry_interval = Some(r.u32(name)?);
                }
                0x03 => {
                    once(p.content_type.is_some())?;
                    p.content_type = Some(r.string(name)?);
                }
                0x08 => {
                    once(p.response_topic.is_some())?;
                    let topic = r.string(name)?;
                    p.response_topic = Some(TopicName::from_mqtt_string(topic).map_err(|err| {
                        DecodeError::Protocol(Violation::new(
                            Spec::V5,
                            "MQTT-3.3.2-14",
                            format!("{}: Response Topic: {err}", ctx.name()),
                        ))
                    })?);
                }
                0x09 => {
                    once(p.correlation_data.is_some())?;
                    p.correlation_data = Some(r.binary(name)?);
                }
                0x0B => {
                    once(ctx == Context::Subscribe && !p.subscription_identifiers.is_empty())?;
                    let id = r.varint(name)?;
                    if id == 0 {
                        return Err(zero(ctx, "§3.8.2.1.2", name, "; it must be 1 to 268435455"));
                    }
                    p.subscription_identifiers.push(id);
                }
                0x11 => {
                    once(p.session_expiry_interval.is_some())?;
                    p.session_expiry_interval = Some(r.u32(name)?);
                }
                0x12 => {
                    once(p.assigned_client_identifier.is_some())?;
                    p.assigned_client_identifier = Some(r.string(name)?);
                }
                0x13 => {
                    once(p.server_keep_alive.is_some())?;
                    p.server_keep_alive = Some(r.u16(name)?);
                }
                0x15 => {
                    once(p.authentication_method.is_some())?;
                    p.authentication_method = Some(r.string(name)?);
                }
                0x16 => {
                    once(p.authentication_data.is_some())?;
                    p.authentication_data = Some(r.binary(name)?);
                }
                0x17 => {
                    once(p.request_problem_information.is_some())?;
                    p.request_problem_information = Some(r.u8(name)?);
                }
                0x18 => {
                    once(p.will_delay_interval.is_some())?;
                    p.will_delay_interval = Some(r.u32(name)?);
                }
                0x19 => {
                    once(p.request_response_information.is_some())?;
                    p.request_response_information = Some(r.u8(name)?);
                }
                0x1A => {
                    once(p.response_information.is_some())?;
                    p.response_information = Some(r.string(name)?);
                }
                0x1C => {
                    once(p.server_reference.is_some())?;
                    p.server_reference = Some(r.string(name)?);
                }
                0x1F => {
                    once(p.reason_string.is_some())?;
                    p.reason_string = Some(r.string(name)?);
                }
                0x21 => {
                    once(p.receive_maximum.is_some())?;
                    p.receive_maximum = Some(r.u16(name)?);
                }
                0x22 => {
                    once(p.topic_alias_maximum.is_some())?;
                    p.topic_alias_maximum = Some(r.u16(name)?);
                }
                0x23 => {
                    once(p.topic_alias.is_some())?;
                    let alias = r.u16(name)?;
                    if alias == 0 {
                        return Err(zero(ctx, "MQTT-3.3.2-8", name, ""));
                    }
                    p.topic_alias = Some(alias);
                }
                0x24 => {
                    once(p.maximum_qos.is_some())?;
                    p.maximum_qos = Some(r.u8(name)?);
                }
                0x25 => {
                    once(p.retain_available.is_some())?;
                    p.retain_available = Some(r.u8(name)?);
                }
                0x26 => {
                    let key = r.string("User Property name")?;
                    let value = r.string("User Property value")?;
                    p.user_properties.push((key, value));
                }
                0x27 => {
                    once(p.maximum_packet_size.is_some())?;
                    p.maximum_packet_size = Some(r.u32(name)?);
                }
                0x28 => {
                    once(p.wildcard_subscription_available.is_some())?;
                    p.wildcard_subscription_available = Some(r.u8(name)?);
                }
                0x29 => {
                    once(p.subscription_identifiers_available.is_some())?;
                    p.subscription_identifiers_available = Some(r.u8(name)?);
                }
                _ => {
                    once(p.shared_subscription_available.is_some())?;
                    p.shared_subscription_available = Some(r.u8(name)?);
                }
            }
        }
        p.order = order.finish();
        let p = Self(Some(p));
        p.check(ctx).map_err(DecodeError::Protocol)?;
        Ok(p)
    }

    /// Bytes of the property list *without* its length prefix; checks the list for `ctx`.
    pub(crate) fn encoded_len(&self, ctx: Context) -> Result<usize, EncodeError> {
        self.check(ctx).map_err(EncodeError::Invalid)?;
        let mut result = Ok(());
        self.for_each(|id, value| {
            if let Value::Binary(data) = value {
                let what = info(u32::from(id)).map_or("property", |i| i.name);
                if let Err(err) = binary_len(what, data) {
                    result = Err(err);
                }
            }
        });
        result.map(|()| self.wire_len())
    }

    /// Bytes of the property list *with* its length prefix; checks the list for `ctx`.
    pub(crate) fn encoded_len_prefixed(&self, ctx: Context) -> Result<usize, EncodeError> {
        let len = self.encoded_len(ctx)?;
        Ok(varint_len(u32::try_from(len).unwrap_or(VARINT_MAX)) + len)
    }

    /// Bytes of the property list without its length prefix, unchecked.
    fn wire_len(&self) -> usize {
        let mut len = 0;
        self.for_each(|_, value| len += 1 + value.len());
        len
    }

    /// Writes the property list with its length prefix, in [`Properties::order`] when it has
    /// one; `encoded_len` checked it before.
    pub(crate) fn write(&self, out: &mut BytesMut) {
        if self.order.is_empty() {
            put_varint(out, u32::try_from(self.wire_len()).unwrap_or(VARINT_MAX));
            self.for_each(|id, value| put_property(out, id, value));
        } else {
            self.write_ordered(self.order.ids(), out);
        }
    }
}

/// Writes one property: its identifier, then its value.
fn put_property(out: &mut BytesMut, id: u8, value: Value<'_>) {
    out.put_u8(id);
    match value {
        Value::Byte(v) => out.put_u8(v),
        Value::TwoByte(v) => out.put_u16(v),
        Value::FourByte(v) => out.put_u32(v),
        Value::Varint(v) => put_varint(out, v),
        Value::Str(s) => put_string(out, s),
        Value::Binary(b) => put_binary(out, b),
        Value::Pair(k, v) => {
            put_string(out, k);
            put_string(out, v);
        }
    }
}

/// A Subscription Identifier or Topic Alias of 0 in a decoded packet: the spec calls it a
/// protocol error, Mosquitto answers it as malformed (0x81), and so do we.
fn zero(ctx: Context, rule: &'static str, name: &str, range: &str) -> DecodeError {
    DecodeError::Malformed(Violation::new(
        Spec::V5,
        rule,
        format!("{}: {name} is 0{range}", ctx.name()),
    ))
}

/// Checks one property against the table and its value range.
fn check_one(ctx: Context, id: u8, value: &Value<'_>) -> Result<(), Violation> {
    let Some(info) = info(u32::from(id)) else {
        return Err(Violation::new(Spec::V5, "§2.2.2.2", format!("unknown property 0x{id:02X}")));
    };
    if info.allowed & ctx.bit() == 0 {
        return Err(not_allowed(ctx, u32::from(id), &info));
    }
    let bad = |rule: &'static str, what: &str| {
        Err(Violation::new(Spec::V5, rule, format!("{}: {} {what}", ctx.name(), info.name)))
    };
    match (id, value) {
        (0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A, Value::Byte(v)) if *v > 1 => {
            bad(info.section, &format!("is {v}; it must be 0 or 1"))
        }
        (0x0B, Value::Varint(v)) if *v == 0 || *v > VARINT_MAX => {
            bad(info.section, &format!("is {v}; it must be 1 to 268435455"))
        }
        (0x21 | 0x27, Value::TwoByte(0) | Value::FourByte(0)) => bad(info.section, "is 0"),
        (0x23, Value::TwoByte(0)) => bad("MQTT-3.3.2-8", "is 0"),
        (0x08, Value::Str(s)) if s.is_empty() => bad("MQTT-3.3.2-14", "is empty"),
        _ => Ok(()),
    }
}

fn not_allowed(ctx: Context, id: u32, info: &Info) -> Violation {
    Violation::new(
        Spec::V5,
        "§2.2.2.2",
        format!("{}: property {} (0x{id:02X}) is not allowed here", ctx.name(), info.name),
    )
}

fn repeated(ctx: Context, name: &str, section: &'static str) -> Violation {
    Violation::new(
        Spec::V5,
        section,
        format!("{}: property {name} appears more than once", ctx.name()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PacketType;
    use crate::types::ProtocolVersion;

    fn decode(ctx: Context, bytes: &[u8]) -> Result<Properties, DecodeError> {
        let mut r =
            Reader::new(Bytes::copy_from_slice(bytes), ProtocolVersion::V5, PacketType::Publish);
        let p = Properties::decode(&mut r, ctx)?;
        r.finish()?;
        Ok(p)
    }

    fn encode(ctx: Context, p: &Properties) -> Vec<u8> {
        p.encoded_len(ctx).expect("valid properties");
        let mut out = BytesMut::new();
        p.write(&mut out);
        out.to_vec()
    }

    #[test]
    fn publish_properties_round_trip_in_identifier_order() {
        let p = Properties::from(PropertyValues {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            response_topic: Some(TopicName::from_static("r")),
            subscription_identifiers: vec![1, 200],
            topic_alias: Some(3),
            user_properties: vec![(MqttString::from_static("k"), MqttString::from_static("v"))],
            ..PropertyValues::default()
        });
        let bytes = encode(Context::Publish, &p);
        assert_eq!(
            bytes,
            [
                26, 0x01, 1, 0x02, 0, 0, 0, 60, 0x08, 0, 1, b'r', 0x0B, 1, 0x0B, 0xC8, 0x01, 0x23,
                0, 3, 0x26, 0, 1, b'k', 0, 1, b'v'
            ]
        );
        assert_eq!(decode(Context::Publish, &bytes), Ok(p));
        assert!(
            !Properties::from(PropertyValues { topic_alias: Some(1), ..PropertyValues::default() })
                .is_empty()
        );
        assert!(Properties::default().is_empty());
    }

    #[test]
    fn the_table_knows_every_identifier_once() {
        for id in 0..=0x30 {
            let found = PropertyId::from_id(id);
            assert_eq!(found.map(|p| p as u32), found.is_some().then_some(id), "0x{id:02X}");
        }
        let known = (0..=0x30).filter_map(PropertyId::from_id).count();
        assert_eq!(known, PropertyId::ALL.len());
        assert_eq!(PropertyId::from_id(u32::MAX), None);
        assert_eq!(PropertyId::TopicAlias.name(), "Topic Alias");
        assert!(PropertyId::UserProperty.allowed_in(Context::Auth));
        assert!(!PropertyId::ReasonString.allowed_in(Context::Will));
    }

    #[test]
    fn value_types_agree_with_the_encoding() {
        let s = || Some(MqttString::from_static("s"));
        let b = || Some(Bytes::from_static(b"b"));
        let all = Properties::from(PropertyValues {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(1),
            content_type: s(),
            response_topic: Some(TopicName::from_static("r")),
            correlation_data: b(),
            subscription_identifiers: vec![1],
            session_expiry_interval: Some(1),
            assigned_client_identifier: s(),
            server_keep_alive: Some(1),
            authentication_method: s(),
            authentication_data: b(),
            request_problem_information: Some(1),
            will_delay_interval: Some(1),
            request_response_information: Some(1),
            response_information: s(),
            server_reference: s(),
            reason_string: s(),
            receive_maximum: Some(1),
            topic_alias_maximum: Some(1),
            topic_alias: Some(1),
            maximum_qos: Some(1),
            retain_available: Some(1),
            user_properties: vec![(MqttString::from_static("k"), MqttString::from_static("v"))],
            maximum_packet_size: Some(1),
            wildcard_subscription_available: Some(1),
            subscription_identifiers_available: Some(1),
            shared_subscription_available: Some(1),
            order: WriteOrder::default(),
        });
        let mut seen = Vec::new();
        all.for_each(|id, value| {
            let written = match value {
                Value::Byte(_) => PropertyType::Byte,
                Value::TwoByte(_) => PropertyType::TwoByteInteger,
                Value::FourByte(_) => PropertyType::FourByteInteger,
                Value::Varint(_) => PropertyType::VariableByteInteger,
                Value::Str(_) => PropertyType::Utf8String,
                Value::Binary(_) => PropertyType::BinaryData,
                Value::Pair(..) => PropertyType::Utf8StringPair,
            };
            let property = PropertyId::from_id(u32::from(id)).expect("a known identifier");
            assert_eq!(property.value_type(), written, "{}", property.name());
            seen.push(property);
        });
        assert_eq!(seen, PropertyId::ALL);
    }

    #[test]
    fn property_rules_name_their_section() {
        let cases: [(Context, &[u8], &str); 7] = [
            (
                Context::Publish,
                &[2, 0x11, 0],
                "malformed packet: [v5.0 §2.2.2.2] PUBLISH: property Session Expiry Interval (0x11) is not allowed here",
            ),
            (
                Context::Connect,
                &[4, 0x21, 0, 1, 0x21],
                "protocol error: [v5.0 §3.1.2.11.3] CONNECT: property Receive Maximum appears more than once",
            ),
            (
                Context::Connect,
                &[2, 0x05, 0],
                "malformed packet: [v5.0 §2.2.2.2] CONNECT: unknown property identifier 0x05",
            ),
            (
                Context::Publish,
                &[3, 0x23, 0, 0],
                "malformed packet: [v5.0 MQTT-3.3.2-8] PUBLISH: Topic Alias is 0",
            ),
            (
                Context::Subscribe,
                &[4, 0x0B, 1, 0x0B, 2],
                "protocol error: [v5.0 §3.8.2.1.2] SUBSCRIBE: property Subscription Identifier appears more than once",
            ),
            (
                Context::Connect,
                &[2, 0x17, 2],
                "protocol error: [v5.0 §3.1.2.11.7] CONNECT: Request Problem Information is 2; it must be 0 or 1",
            ),
            (
                Context::Publish,
                &[5, 0x01, 0],
                "malformed packet: [v5.0 §2.1.4] PUBLISH: remaining length ends inside the properties (5 bytes needed, 2 left)",
            ),
        ];
        for (ctx, bytes, expected) in cases {
            assert_eq!(decode(ctx, bytes).unwrap_err().to_string(), expected);
        }
    }

    #[test]
    fn encode_refuses_what_decode_refuses() {
        let p =
            Properties::from(PropertyValues { topic_alias: Some(1), ..PropertyValues::default() });
        assert_eq!(
            p.encoded_len(Context::Connect).unwrap_err().to_string(),
            "cannot encode: [v5.0 §2.2.2.2] CONNECT: property Topic Alias (0x23) is not allowed here"
        );
        let p = Properties::from(PropertyValues {
            authentication_data: Some(Bytes::from_static(b"x")),
            ..PropertyValues::default()
        });
        assert!(p.encoded_len(Context::Auth).is_err());
        let p = Properties::from(PropertyValues {
            correlation_data: Some(Bytes::from(vec![0; 65536])),
            ..PropertyValues::default()
        });
        assert_eq!(
            p.encoded_len(Context::Publish),
            Err(EncodeError::FieldTooLong { what: "Correlation Data", len: 65536 })
        );
    }
}
