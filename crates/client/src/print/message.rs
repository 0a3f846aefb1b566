//! A received message as the output code sees it: topic, payload, flags and the MQTT 5
//! properties that `-F` and `%j` can print, kept in the order they are printed in JSON.

use bytes::Bytes;
use mqtt_codec::Properties;

/// One MQTT 5 property of a received PUBLISH that the output can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Property {
    /// Subscription identifier (0x0B); several when overlapping subscriptions matched.
    SubscriptionIdentifier(u32),
    /// Payload format indicator (0x01).
    PayloadFormatIndicator(u8),
    /// Content type (0x03).
    ContentType(String),
    /// Response topic (0x08).
    ResponseTopic(String),
    /// Correlation data (0x09), raw bytes.
    CorrelationData(Bytes),
    /// Topic alias (0x23).
    TopicAlias(u16),
    /// One user property (0x26), key and value.
    User(String, String),
    /// Remaining message expiry interval in seconds (0x02).
    MessageExpiryInterval(u32),
}

/// A received application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name.
    pub topic: String,
    /// Payload bytes, printed raw.
    pub payload: Bytes,
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// The retain flag as received.
    pub retain: bool,
    /// Packet identifier, 0 for QoS 0.
    pub mid: u16,
    /// MQTT 5 properties in output order (empty for MQTT 3.x).
    pub properties: Vec<Property>,
}

impl Message {
    /// A message with no properties, as MQTT 3.x delivers it.
    #[cfg(test)]
    pub fn new(topic: &str, payload: &[u8], qos: u8, retain: bool, mid: u16) -> Self {
        Self {
            topic: topic.to_owned(),
            payload: Bytes::copy_from_slice(payload),
            qos,
            retain,
            mid,
            properties: Vec::new(),
        }
    }

    /// Takes what the output needs from a message the client library delivered.
    pub fn from_received(message: crate::session::Message) -> Self {
        Self {
            properties: ordered_properties(&message.properties),
            topic: message.topic,
            payload: message.payload,
            qos: message.qos,
            retain: message.retain,
            mid: message.mid,
        }
    }

    /// The first property of a kind, picked by `select`.
    pub fn find<'a, T>(&'a self, select: impl FnMut(&'a Property) -> Option<T>) -> Option<T> {
        self.properties.iter().find_map(select)
    }
}

/// Lists the properties the output can show.
///
/// The codec keeps properties by kind, not in wire order, so they are listed in the order a
/// Mosquitto broker forwards them from a publisher that writes them by identifier:
/// subscription identifiers first, message expiry last.
fn ordered_properties(props: &Properties) -> Vec<Property> {
    let mut properties: Vec<Property> = props
        .subscription_identifiers
        .iter()
        .map(|&id| Property::SubscriptionIdentifier(id))
        .collect();
    if let Some(indicator) = props.payload_format_indicator {
        properties.push(Property::PayloadFormatIndicator(indicator));
    }
    if let Some(content_type) = &props.content_type {
        properties.push(Property::ContentType(content_type.as_str().to_owned()));
    }
    if let Some(topic) = &props.response_topic {
        properties.push(Property::ResponseTopic(topic.as_str().to_owned()));
    }
    if let Some(data) = &props.correlation_data {
        properties.push(Property::CorrelationData(data.clone()));
    }
    if let Some(alias) = props.topic_alias {
        properties.push(Property::TopicAlias(alias));
    }
    properties.extend(
        props
            .user_properties
            .iter()
            .map(|(key, value)| Property::User(key.as_str().to_owned(), value.as_str().to_owned())),
    );
    if let Some(expiry) = props.message_expiry_interval {
        properties.push(Property::MessageExpiryInterval(expiry));
    }
    properties
}

#[cfg(test)]
mod tests {
    use mqtt_codec::{MqttString, PropertyValues, TopicName};

    use super::*;

    #[test]
    fn received_properties_are_listed_in_mosquittos_forwarding_order() {
        let text = |value: &str| MqttString::new(value).expect("valid MQTT string");
        let properties = Properties::from(PropertyValues {
            message_expiry_interval: Some(60),
            user_properties: vec![(text("k1"), text("v1")), (text("k2"), text("v2"))],
            correlation_data: Some(Bytes::from_static(b"corr")),
            response_topic: Some(TopicName::new("resp/t").expect("valid topic")),
            content_type: Some(text("text/plain")),
            payload_format_indicator: Some(1),
            subscription_identifiers: vec![7, 9],
            ..PropertyValues::default()
        });
        let message = Message::from_received(crate::session::Message {
            topic: "a/b".into(),
            payload: Bytes::from_static(b"hi"),
            qos: 1,
            retain: true,
            mid: 3,
            properties,
        });
        assert_eq!(
            message.properties,
            [
                Property::SubscriptionIdentifier(7),
                Property::SubscriptionIdentifier(9),
                Property::PayloadFormatIndicator(1),
                Property::ContentType("text/plain".into()),
                Property::ResponseTopic("resp/t".into()),
                Property::CorrelationData(Bytes::from_static(b"corr")),
                Property::User("k1".into(), "v1".into()),
                Property::User("k2".into(), "v2".into()),
                Property::MessageExpiryInterval(60),
            ]
        );
        assert_eq!(
            (message.topic.as_str(), message.qos, message.retain, message.mid),
            ("a/b", 1, true, 3)
        );
    }
}
