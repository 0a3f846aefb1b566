//! `-D command identifier value`: MQTT 5 properties typed on the command line, kept per command
//! in the order given, with Mosquitto's validation and error texts. Which properties exist, their
//! types and the packets that allow them come from the codec's table (`mqtt_codec::PropertyId`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use mqtt_codec::PropertyType;

use super::{ArgCursor, ArgError, atol, is_valid_mqtt_utf8};

/// The packet (or will) a `-D` property is attached to: the codec's property contexts.
pub use mqtt_codec::PropertyContext as PropertyCommand;
/// Every MQTT 5 property a user can name: the codec's table.
pub use mqtt_codec::PropertyId;

/// The `-D` command called `name`, in any case (`connack` is accepted by name, never usable).
fn command_from_name(name: &str) -> Option<PropertyCommand> {
    Some(match name.to_ascii_lowercase().as_str() {
        "connect" => PropertyCommand::Connect,
        "connack" => PropertyCommand::ConnAck,
        "publish" => PropertyCommand::Publish,
        "puback" => PropertyCommand::PubAck,
        "pubrec" => PropertyCommand::PubRec,
        "pubrel" => PropertyCommand::PubRel,
        "pubcomp" => PropertyCommand::PubComp,
        "subscribe" => PropertyCommand::Subscribe,
        "suback" => PropertyCommand::SubAck,
        "unsubscribe" => PropertyCommand::Unsubscribe,
        "unsuback" => PropertyCommand::UnsubAck,
        "disconnect" => PropertyCommand::Disconnect,
        "auth" => PropertyCommand::Auth,
        "will" => PropertyCommand::Will,
        _ => return None,
    })
}

/// The property called `name` as Mosquitto spells it: the spec's name in any case, with
/// hyphens for spaces (`payload-format-indicator`).
fn property_from_name(name: &str) -> Option<PropertyId> {
    PropertyId::ALL.into_iter().find(|id| is_option_name(id.name(), name))
}

/// Whether `typed` is the spec's `name` written as a `-D` name.
fn is_option_name(name: &str, typed: &str) -> bool {
    name.len() == typed.len()
        && name.bytes().zip(typed.bytes()).all(|(wanted, got)| {
            if wanted == b' ' { got == b'-' } else { wanted.eq_ignore_ascii_case(&got) }
        })
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
        let command = command_from_name(&command_text).ok_or_else(|| {
            ArgError::usage("Error: Invalid command given in --property argument.\n\n")
        })?;
        let id = property_from_name(&name_text).ok_or_else(|| {
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
    match id.value_type() {
        PropertyType::Byte => number(0xFF),
        PropertyType::TwoByteInteger => number(0xFFFF),
        PropertyType::FourByteInteger => number(0xFFFF_FFFF),
        PropertyType::VariableByteInteger => number(268_435_455),
        PropertyType::Utf8String | PropertyType::BinaryData => {
            let bytes = first.as_bytes();
            if bytes.len() > 65535 {
                return Err(too_long());
            }
            if id.value_type() == PropertyType::Utf8String && !is_valid_mqtt_utf8(bytes) {
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
        PropertyType::Utf8StringPair => {
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
    fn every_mosquitto_property_name_is_known() {
        let names = [
            "payload-format-indicator",
            "message-expiry-interval",
            "content-type",
            "response-topic",
            "correlation-data",
            "subscription-identifier",
            "session-expiry-interval",
            "assigned-client-identifier",
            "server-keep-alive",
            "authentication-method",
            "authentication-data",
            "request-problem-information",
            "will-delay-interval",
            "request-response-information",
            "response-information",
            "server-reference",
            "reason-string",
            "receive-maximum",
            "topic-alias-maximum",
            "topic-alias",
            "maximum-qos",
            "retain-available",
            "user-property",
            "maximum-packet-size",
            "wildcard-subscription-available",
            "subscription-identifier-available",
            "shared-subscription-available",
        ];
        let found: Vec<_> = names.iter().filter_map(|name| property_from_name(name)).collect();
        assert_eq!(found, PropertyId::ALL);
        assert_eq!(property_from_name("Maximum-QoS"), Some(PropertyId::MaximumQos));
        for unknown in ["maximum qos", "maximum_qos", "topic-alias-", "", "topic-aliaß"] {
            assert_eq!(property_from_name(unknown), None, "{unknown}");
        }
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
