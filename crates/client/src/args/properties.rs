//! `-D command identifier value`: MQTT 5 properties typed on the command line, kept per command
//! in the order given, with Mosquitto's validation and error texts.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use super::{ArgCursor, ArgError, atol, is_valid_mqtt_utf8};

/// The packet (or will) a `-D` property is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyCommand {
    /// CONNECT.
    Connect,
    /// CONNACK (accepted by name, never usable).
    ConnAck,
    /// PUBLISH.
    Publish,
    /// PUBACK.
    PubAck,
    /// PUBREC.
    PubRec,
    /// PUBREL.
    PubRel,
    /// PUBCOMP.
    PubComp,
    /// SUBSCRIBE.
    Subscribe,
    /// SUBACK.
    SubAck,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// UNSUBACK.
    UnsubAck,
    /// DISCONNECT.
    Disconnect,
    /// AUTH.
    Auth,
    /// The will message.
    Will,
}

impl PropertyCommand {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "connect" => Self::Connect,
            "connack" => Self::ConnAck,
            "publish" => Self::Publish,
            "puback" => Self::PubAck,
            "pubrec" => Self::PubRec,
            "pubrel" => Self::PubRel,
            "pubcomp" => Self::PubComp,
            "subscribe" => Self::Subscribe,
            "suback" => Self::SubAck,
            "unsubscribe" => Self::Unsubscribe,
            "unsuback" => Self::UnsubAck,
            "disconnect" => Self::Disconnect,
            "auth" => Self::Auth,
            "will" => Self::Will,
            _ => return None,
        })
    }
}

/// Every MQTT 5 property a user can name, with its wire identifier as discriminant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
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

/// How a property's value is written on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Byte,
    Int16,
    Int32,
    VarInt,
    String,
    Binary,
    Pair,
}

impl PropertyId {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "payload-format-indicator" => Self::PayloadFormatIndicator,
            "message-expiry-interval" => Self::MessageExpiryInterval,
            "content-type" => Self::ContentType,
            "response-topic" => Self::ResponseTopic,
            "correlation-data" => Self::CorrelationData,
            "subscription-identifier" => Self::SubscriptionIdentifier,
            "session-expiry-interval" => Self::SessionExpiryInterval,
            "assigned-client-identifier" => Self::AssignedClientIdentifier,
            "server-keep-alive" => Self::ServerKeepAlive,
            "authentication-method" => Self::AuthenticationMethod,
            "authentication-data" => Self::AuthenticationData,
            "request-problem-information" => Self::RequestProblemInformation,
            "will-delay-interval" => Self::WillDelayInterval,
            "request-response-information" => Self::RequestResponseInformation,
            "response-information" => Self::ResponseInformation,
            "server-reference" => Self::ServerReference,
            "reason-string" => Self::ReasonString,
            "receive-maximum" => Self::ReceiveMaximum,
            "topic-alias-maximum" => Self::TopicAliasMaximum,
            "topic-alias" => Self::TopicAlias,
            "maximum-qos" => Self::MaximumQos,
            "retain-available" => Self::RetainAvailable,
            "user-property" => Self::UserProperty,
            "maximum-packet-size" => Self::MaximumPacketSize,
            "wildcard-subscription-available" => Self::WildcardSubscriptionAvailable,
            "subscription-identifier-available" => Self::SubscriptionIdentifierAvailable,
            "shared-subscription-available" => Self::SharedSubscriptionAvailable,
            _ => return None,
        })
    }

    fn kind(self) -> Kind {
        match self {
            Self::PayloadFormatIndicator
            | Self::RequestProblemInformation
            | Self::RequestResponseInformation
            | Self::MaximumQos
            | Self::RetainAvailable
            | Self::WildcardSubscriptionAvailable
            | Self::SubscriptionIdentifierAvailable
            | Self::SharedSubscriptionAvailable => Kind::Byte,
            Self::ServerKeepAlive
            | Self::ReceiveMaximum
            | Self::TopicAliasMaximum
            | Self::TopicAlias => Kind::Int16,
            Self::MessageExpiryInterval
            | Self::SessionExpiryInterval
            | Self::WillDelayInterval
            | Self::MaximumPacketSize => Kind::Int32,
            Self::SubscriptionIdentifier => Kind::VarInt,
            Self::ContentType
            | Self::ResponseTopic
            | Self::AssignedClientIdentifier
            | Self::AuthenticationMethod
            | Self::ResponseInformation
            | Self::ServerReference
            | Self::ReasonString => Kind::String,
            Self::CorrelationData | Self::AuthenticationData => Kind::Binary,
            Self::UserProperty => Kind::Pair,
        }
    }

    /// Whether the MQTT 5 spec allows this property in `command`.
    fn allowed_in(self, command: PropertyCommand) -> bool {
        match self {
            Self::PayloadFormatIndicator
            | Self::MessageExpiryInterval
            | Self::ContentType
            | Self::ResponseTopic
            | Self::CorrelationData => {
                matches!(command, PropertyCommand::Publish | PropertyCommand::Will)
            }
            Self::SubscriptionIdentifier => {
                matches!(command, PropertyCommand::Publish | PropertyCommand::Subscribe)
            }
            Self::SessionExpiryInterval => matches!(
                command,
                PropertyCommand::Connect | PropertyCommand::ConnAck | PropertyCommand::Disconnect
            ),
            Self::AssignedClientIdentifier
            | Self::ServerKeepAlive
            | Self::ResponseInformation
            | Self::MaximumQos
            | Self::RetainAvailable
            | Self::WildcardSubscriptionAvailable
            | Self::SubscriptionIdentifierAvailable
            | Self::SharedSubscriptionAvailable => command == PropertyCommand::ConnAck,
            Self::AuthenticationMethod | Self::AuthenticationData => {
                matches!(
                    command,
                    PropertyCommand::Connect | PropertyCommand::ConnAck | PropertyCommand::Auth
                )
            }
            Self::RequestProblemInformation | Self::RequestResponseInformation => {
                command == PropertyCommand::Connect
            }
            Self::WillDelayInterval => command == PropertyCommand::Will,
            Self::ServerReference => {
                matches!(command, PropertyCommand::ConnAck | PropertyCommand::Disconnect)
            }
            Self::ReasonString => !matches!(
                command,
                PropertyCommand::Connect
                    | PropertyCommand::Publish
                    | PropertyCommand::Subscribe
                    | PropertyCommand::Unsubscribe
                    | PropertyCommand::Will
            ),
            Self::ReceiveMaximum | Self::TopicAliasMaximum | Self::MaximumPacketSize => {
                matches!(command, PropertyCommand::Connect | PropertyCommand::ConnAck)
            }
            Self::TopicAlias => command == PropertyCommand::Publish,
            Self::UserProperty => true,
        }
    }
}

/// A property value as typed, already range-checked for its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropertyValue {
    /// A byte, two-byte, four-byte or variable-byte integer.
    Number(u32),
    /// A UTF-8 string (or binary data given as text).
    Bytes(Vec<u8>),
    /// A user property's key and value.
    Pair(Vec<u8>, Vec<u8>),
}

/// The `-D` properties, per command, in the order they were given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawProperties {
    entries: Vec<(PropertyCommand, PropertyId, PropertyValue)>,
}

impl RawProperties {
    /// The properties given for `command`, in order.
    pub fn for_command(
        &self,
        command: PropertyCommand,
    ) -> impl Iterator<Item = (PropertyId, &PropertyValue)> {
        self.entries
            .iter()
            .filter(move |(c, _, _)| *c == command)
            .map(|(_, id, value)| (*id, value))
    }

    /// The numeric value of the first `id` given for `command`, if any.
    pub fn number(&self, command: PropertyCommand, id: PropertyId) -> Option<u32> {
        self.for_command(command).find_map(|(found, value)| match value {
            PropertyValue::Number(n) if found == id => Some(*n),
            _ => None,
        })
    }

    /// Parses the values of one `-D` (the option itself already consumed).
    pub(super) fn parse(&mut self, cursor: &mut ArgCursor<'_>) -> Result<(), ArgError> {
        let not_enough = || {
            ArgError::usage(
                "Error: --property argument given but not enough arguments specified.\n\n",
            )
        };
        if cursor.remaining() < 3 {
            return Err(not_enough());
        }
        let command_text = super::lossy(cursor.value_or(not_enough)?);
        let name_text = super::lossy(cursor.value_or(not_enough)?);
        let command = PropertyCommand::from_name(&command_text).ok_or_else(|| {
            ArgError::usage("Error: Invalid command given in --property argument.\n\n")
        })?;
        let id = PropertyId::from_name(&name_text).ok_or_else(|| {
            ArgError::usage("Error: Invalid property name given in --property argument.\n\n")
        })?;
        let first = cursor.value_or(not_enough)?;
        let second =
            if id == PropertyId::UserProperty { Some(cursor.value_or(not_enough)?) } else { None };
        if !id.allowed_in(command) {
            return Err(ArgError::usage(format!(
                "Error: {name_text} property not allowed for {command_text} in --property argument.\n\n"
            )));
        }
        match command {
            PropertyCommand::Connect
            | PropertyCommand::Subscribe
            | PropertyCommand::Unsubscribe
            | PropertyCommand::Disconnect
            | PropertyCommand::Will => {}
            PropertyCommand::Publish if id != PropertyId::SubscriptionIdentifier => {}
            // Mosquitto rejects a CONNACK property without printing anything.
            PropertyCommand::ConnAck => return Err(ArgError::usage("")),
            _ => {
                return Err(ArgError::usage(format!(
                    "Error: {name_text} property not supported for {command_text} in --property argument.\n\n"
                )));
            }
        }
        let value = value_of(id, &name_text, first, second)?;
        self.entries.push((command, id, value));
        Ok(())
    }

    /// Mosquitto's per-command consistency checks, CONNECT first, with the interval from `-x`
    /// counted as a CONNECT property.
    pub(super) fn check_all(&self, session_expiry: Option<u32>) -> Result<(), ArgError> {
        let commands = [
            (PropertyCommand::Connect, "CONNECT"),
            (PropertyCommand::Publish, "PUBLISH"),
            (PropertyCommand::Subscribe, "SUBSCRIBE"),
            (PropertyCommand::Unsubscribe, "UNSUBSCRIBE"),
            (PropertyCommand::Disconnect, "DISCONNECT"),
            (PropertyCommand::Will, "Will"),
        ];
        for (command, label) in commands {
            let mut list: Vec<(PropertyId, PropertyValue)> =
                self.for_command(command).map(|(id, value)| (id, value.clone())).collect();
            if command == PropertyCommand::Connect {
                if let Some(interval) = session_expiry {
                    list.insert(
                        0,
                        (PropertyId::SessionExpiryInterval, PropertyValue::Number(interval)),
                    );
                }
            }
            if let Err(reason) = check_list(&list) {
                return Err(ArgError::usage(format!("Error in {label} properties: {reason}\n")));
            }
        }
        Ok(())
    }
}

/// Why a property list is inconsistent, in libmosquitto's words.
fn check_list(list: &[(PropertyId, PropertyValue)]) -> Result<(), &'static str> {
    const PROTOCOL: &str = "A network protocol error occurred when communicating with the broker.";
    for (index, (id, value)) in list.iter().enumerate() {
        let number = match value {
            PropertyValue::Number(n) => Some(*n),
            _ => None,
        };
        let invalid = match id {
            PropertyId::RequestProblemInformation
            | PropertyId::RequestResponseInformation
            | PropertyId::MaximumQos
            | PropertyId::RetainAvailable
            | PropertyId::WildcardSubscriptionAvailable
            | PropertyId::SubscriptionIdentifierAvailable
            | PropertyId::SharedSubscriptionAvailable => number.is_some_and(|n| n > 1),
            PropertyId::MaximumPacketSize | PropertyId::ReceiveMaximum | PropertyId::TopicAlias => {
                number == Some(0)
            }
            _ => false,
        };
        if invalid {
            return Err(PROTOCOL);
        }
        let repeatable =
            matches!(id, PropertyId::UserProperty | PropertyId::SubscriptionIdentifier);
        if !repeatable && list[..index].iter().any(|(earlier, _)| earlier == id) {
            return Err("Duplicate property in property list");
        }
    }
    Ok(())
}

/// Converts the typed value, with Mosquitto's range and length messages.
fn value_of(
    id: PropertyId,
    name: &str,
    first: &OsStr,
    second: Option<&OsStr>,
) -> Result<PropertyValue, ArgError> {
    let too_long =
        || ArgError::usage(format!("Error: Property value too long for property {name}.\n\n"));
    let number = |max: i64| {
        let value = atol(first);
        if (0..=max).contains(&value) {
            u32::try_from(value).map(PropertyValue::Number).map_err(|_| too_long())
        } else {
            Err(ArgError::usage(format!(
                "Error: Property value ({value}) out of range for property {name}.\n\n"
            )))
        }
    };
    match id.kind() {
        Kind::Byte => number(0xFF),
        Kind::Int16 => number(0xFFFF),
        Kind::Int32 => number(0xFFFF_FFFF),
        Kind::VarInt => number(268_435_455),
        Kind::String | Kind::Binary => {
            let bytes = first.as_bytes();
            if bytes.len() > 65535 {
                return Err(too_long());
            }
            if id.kind() == Kind::String && !is_valid_mqtt_utf8(bytes) {
                // Mosquitto prints the property's type number (6 = string).
                return Err(ArgError::usage(format!("Error adding property {name} 6\n")));
            }
            if id == PropertyId::ResponseTopic && bytes.contains(&b'+') | bytes.contains(&b'#') {
                return Err(ArgError::usage(format!(
                    "Error: Invalid response topic '{}', does it contain '+' or '#'?\n",
                    String::from_utf8_lossy(bytes)
                )));
            }
            Ok(PropertyValue::Bytes(bytes.to_vec()))
        }
        Kind::Pair => {
            let key = first.as_bytes();
            let value = second.map(OsStrExt::as_bytes).unwrap_or_default();
            if key.len() > 65535 || value.len() > 65535 {
                return Err(too_long());
            }
            if !is_valid_mqtt_utf8(key) || !is_valid_mqtt_utf8(value) {
                // Type number 7 = string pair.
                return Err(ArgError::usage(format!("Error adding property {name} 7\n")));
            }
            Ok(PropertyValue::Pair(key.to_vec(), value.to_vec()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn parse(list: &[&str]) -> Result<RawProperties, ArgError> {
        let argv: Vec<OsString> = list.iter().map(OsString::from).collect();
        let mut cursor = ArgCursor::new(&argv);
        let mut props = RawProperties::default();
        props.parse(&mut cursor)?;
        Ok(props)
    }

    #[test]
    fn names_are_case_insensitive_and_errors_echo_them_as_typed() {
        let err = parse(&["Publish", "Topic-Alias", "70000"]).unwrap_err();
        assert_eq!(
            err.text,
            "Error: Property value (70000) out of range for property Topic-Alias.\n\n"
        );
        let props = parse(&["PUBLISH", "content-type", "x"]).unwrap();
        let got: Vec<_> = props.for_command(PropertyCommand::Publish).collect();
        assert_eq!(got, [(PropertyId::ContentType, &PropertyValue::Bytes(b"x".to_vec()))]);
    }

    #[test]
    fn not_allowed_and_not_supported_differ() {
        let err = parse(&["connect", "maximum-qos", "1"]).unwrap_err();
        assert_eq!(
            err.text,
            "Error: maximum-qos property not allowed for connect in --property argument.\n\n"
        );
        let err = parse(&["auth", "user-property", "a", "b"]).unwrap_err();
        assert_eq!(
            err.text,
            "Error: user-property property not supported for auth in --property argument.\n\n"
        );
        let err = parse(&["publish", "subscription-identifier", "3"]).unwrap_err();
        assert!(err.text.contains("not supported for publish"));
        assert_eq!(parse(&["connack", "maximum-qos", "1"]).unwrap_err().text, "");
    }

    #[test]
    fn user_property_needs_key_and_value() {
        let err = parse(&["connect", "user-property", "a"]).unwrap_err();
        assert!(err.text.contains("not enough arguments"));
        let props = parse(&["connect", "user-property", "k", "v"]).unwrap();
        assert_eq!(props.entries.len(), 1);
    }

    #[test]
    fn checks_find_duplicates_and_zero_maximums() {
        let mut props = parse(&["publish", "content-type", "x"]).unwrap();
        let argv: Vec<OsString> =
            ["publish", "content-type", "y"].iter().map(OsString::from).collect();
        props.parse(&mut ArgCursor::new(&argv)).unwrap();
        assert_eq!(
            props.check_all(None).unwrap_err().text,
            "Error in PUBLISH properties: Duplicate property in property list\n"
        );
        let props = parse(&["connect", "receive-maximum", "0"]).unwrap();
        assert!(
            props
                .check_all(None)
                .unwrap_err()
                .text
                .starts_with("Error in CONNECT properties: A network")
        );
        let props = parse(&["connect", "session-expiry-interval", "6"]).unwrap();
        assert!(props.check_all(Some(5)).unwrap_err().text.contains("Duplicate"));
        assert!(props.check_all(None).is_ok());
    }
}
