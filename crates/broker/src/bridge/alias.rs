//! Topic aliases on a v5 bridge's remote connection, both ways; both start empty on each
//! connection. Towards us the remote may use aliases 1 to `bridge_max_topic_alias` (what the
//! CONNECT offered); they are resolved here, and any other alias ends the connection.
//! Towards the remote the bridge gives out aliases 1, 2, 3… to topics in the order it first
//! sends them, up to the Topic Alias Maximum of the remote's CONNACK, never reassigning one:
//! the first PUBLISH on a topic carries the topic and its alias, later ones only the alias.

use std::collections::HashMap;

use mqtt_codec::{Properties, TopicName};

/// Aliases the remote broker set up towards us.
#[derive(Debug, Default)]
pub(super) struct Inbound {
    /// The highest alias the CONNECT allowed (0: none).
    max: u16,
    topics: HashMap<u16, String>,
}

/// A PUBLISH from the remote whose topic alias is invalid: 0, above the maximum, or unknown
/// with an empty topic.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct InvalidAlias;

impl Inbound {
    /// A new connection that offered `max` aliases.
    pub(super) fn new(max: u16) -> Self {
        Self { max, topics: HashMap::new() }
    }

    /// The topic of a PUBLISH that came with `topic` and `properties`.
    pub(super) fn resolve(
        &mut self,
        topic: &str,
        properties: &Properties,
    ) -> Result<String, InvalidAlias> {
        let Some(alias) = properties.topic_alias else { return Ok(topic.to_owned()) };
        if alias == 0 || alias > self.max {
            return Err(InvalidAlias);
        }
        if topic.is_empty() {
            return self.topics.get(&alias).cloned().ok_or(InvalidAlias);
        }
        self.topics.insert(alias, topic.to_owned());
        Ok(topic.to_owned())
    }
}

/// Aliases the bridge sets up towards the remote broker.
#[derive(Debug, Default)]
pub(super) struct Outbound {
    /// The remote's Topic Alias Maximum (0: it takes none).
    max: u16,
    aliases: HashMap<String, u16>,
}

/// How one PUBLISH names its topic.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Named {
    /// The topic name as sent (empty when the alias stands for it).
    pub(super) topic: TopicName,
    /// Its alias, if it has one.
    pub(super) alias: Option<u16>,
    /// Whether this PUBLISH gives out a new alias (to [`Outbound::commit`] once sent).
    fresh: bool,
}

impl Outbound {
    /// A new connection to a remote that takes `max` aliases.
    pub(super) fn new(max: u16) -> Self {
        Self { max, aliases: HashMap::new() }
    }

    /// How a PUBLISH on `topic` names it: by its alias when it has one, with a new alias while
    /// some are left, by name otherwise.
    pub(super) fn name(&self, topic: &TopicName) -> Named {
        if let Some(&alias) = self.aliases.get(topic.as_str()) {
            return Named { topic: TopicName::empty(), alias: Some(alias), fresh: false };
        }
        let next = u16::try_from(self.aliases.len() + 1).ok().filter(|&next| next <= self.max);
        Named { topic: topic.clone(), alias: next, fresh: next.is_some() }
    }

    /// Records the alias a sent PUBLISH gave out.
    pub(super) fn commit(&mut self, topic: &TopicName, named: &Named) {
        if let (true, Some(alias)) = (named.fresh, named.alias) {
            self.aliases.insert(topic.as_str().to_owned(), alias);
        }
    }
}

#[cfg(test)]
mod tests {
    use mqtt_codec::PropertyValues;

    use super::*;

    fn with_alias(alias: u16) -> Properties {
        Properties::from(PropertyValues { topic_alias: Some(alias), ..PropertyValues::default() })
    }

    #[test]
    fn inbound_aliases_are_learnt_then_resolved_within_the_maximum() {
        let mut inbound = Inbound::new(2);
        assert_eq!(inbound.resolve("a/b", &Properties::default()), Ok("a/b".to_owned()));
        assert_eq!(inbound.resolve("x", &with_alias(2)), Ok("x".to_owned()));
        assert_eq!(inbound.resolve("", &with_alias(2)), Ok("x".to_owned()));
        // An alias may be set up again for another topic.
        assert_eq!(inbound.resolve("y", &with_alias(2)), Ok("y".to_owned()));
        assert_eq!(inbound.resolve("", &with_alias(2)), Ok("y".to_owned()));
        for (topic, alias) in [("", 1), ("z", 3), ("z", 0)] {
            assert_eq!(inbound.resolve(topic, &with_alias(alias)), Err(InvalidAlias), "{alias}");
        }
        assert_eq!(Inbound::new(0).resolve("t", &with_alias(1)), Err(InvalidAlias));
    }

    #[test]
    fn outbound_aliases_are_given_in_order_up_to_the_remotes_maximum() {
        let mut outbound = Outbound::new(2);
        let topic = |name: &str| TopicName::new(name).unwrap();
        let mut sent = Vec::new();
        for name in ["a", "b", "a", "c", "b", "c"] {
            let named = outbound.name(&topic(name));
            outbound.commit(&topic(name), &named);
            sent.push((named.topic.as_str().to_owned(), named.alias));
        }
        let want = [("a", Some(1)), ("b", Some(2)), ("", Some(1)), ("c", None), ("", Some(2))];
        let mut want: Vec<_> = want.iter().map(|(t, a)| ((*t).to_owned(), *a)).collect();
        want.push(("c".to_owned(), None));
        assert_eq!(sent, want);
        // Not committed (not sent): the alias is offered again.
        let none = Outbound::new(0);
        assert_eq!(none.name(&topic("a")).alias, None);
        let unsent = Outbound::new(3);
        let _ = unsent.name(&topic("a"));
        assert_eq!(unsent.name(&topic("b")).alias, Some(1));
    }
}
