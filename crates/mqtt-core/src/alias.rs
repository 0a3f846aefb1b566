//! The v5 topic aliases of one connection, in both directions: those the client sets up
//! towards us, and those we set up towards it under Mosquitto 2.1's `max_topic_alias_broker`.
//! Outgoing aliases are given out as 2.1 gives them: first come, first served, as 1, 2, 3…
//! in the order topics are first sent, never reassigned; once the limit is reached, other
//! topics go out in full. A connection starts with none ([v5 MQTT-3.3.2-7]: aliases do not
//! outlive the network connection).

use std::collections::{BTreeMap, HashMap};

use mqtt_codec::TopicName;

/// Topic aliases of a connection, allocated on first use (most clients use none).
#[derive(Debug, Default)]
pub(crate) struct Aliases {
    /// Aliases the client set up towards us.
    pub(crate) incoming: BTreeMap<u16, TopicName>,
    /// Aliases we set up towards the client.
    pub(crate) outgoing: OutgoingAliases,
}

/// The topics we gave an alias to, on one connection.
#[derive(Debug, Default)]
pub(crate) struct OutgoingAliases {
    /// Topic → alias. Keys are copies, never a received packet's buffer.
    by_topic: HashMap<TopicName, u16>,
}

/// How a PUBLISH to the client names its topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutgoingAlias {
    /// The topic in full, no alias.
    Topic,
    /// The topic in full plus a new alias, which [`OutgoingAliases::record`] keeps once the
    /// PUBLISH is sent.
    Assign(u16),
    /// An empty topic plus the alias set up earlier.
    Reuse(u16),
}

impl OutgoingAliases {
    /// How to send `topic` when the client accepts at most `max` aliases from us.
    pub(crate) fn choose(aliases: Option<&Self>, topic: &str, max: u16) -> OutgoingAlias {
        let given = aliases.map_or(0, |a| a.by_topic.len());
        if let Some(&alias) = aliases.and_then(|a| a.by_topic.get(topic)) {
            return OutgoingAlias::Reuse(alias);
        }
        // `given < max <= u16::MAX`, so the next alias fits.
        match u16::try_from(given + 1) {
            Ok(next) if given < usize::from(max) => OutgoingAlias::Assign(next),
            _ => OutgoingAlias::Topic,
        }
    }

    /// Keeps `alias` for `topic` after a PUBLISH that set it up was sent.
    pub(crate) fn record(&mut self, topic: &str, alias: u16) {
        // A copy, so that the alias table does not keep a whole received packet alive.
        if let Ok(topic) = TopicName::new(topic) {
            self.by_topic.insert(topic, alias);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{OutgoingAlias, OutgoingAliases};

    /// Sends `topics` in order through `max` aliases, recording what gets assigned.
    fn send(max: u16, topics: &[&str]) -> Vec<OutgoingAlias> {
        let mut aliases = OutgoingAliases::default();
        topics
            .iter()
            .map(|topic| {
                let chosen = OutgoingAliases::choose(Some(&aliases), topic, max);
                if let OutgoingAlias::Assign(alias) = chosen {
                    aliases.record(topic, alias);
                }
                chosen
            })
            .collect()
    }

    #[test]
    fn aliases_are_assigned_in_order_reused_and_never_reassigned_when_full() {
        use OutgoingAlias::{Assign, Reuse, Topic};
        let cases: &[(u16, &[&str], &[OutgoingAlias])] = &[
            (0, &["a", "a"], &[Topic, Topic]),
            (1, &["a", "b", "a", "b"], &[Assign(1), Topic, Reuse(1), Topic]),
            (
                3,
                &["a", "b", "a", "c", "d", "c", "b"],
                &[Assign(1), Assign(2), Reuse(1), Assign(3), Topic, Reuse(3), Reuse(2)],
            ),
        ];
        for &(max, topics, expected) in cases {
            assert_eq!(send(max, topics), expected, "max {max}, topics {topics:?}");
        }
    }

    #[test]
    fn no_table_yet_means_the_first_alias() {
        assert_eq!(OutgoingAliases::choose(None, "a", 5), OutgoingAlias::Assign(1));
        assert_eq!(OutgoingAliases::choose(None, "a", 0), OutgoingAlias::Topic);
    }

    #[test]
    fn the_whole_alias_range_is_usable() {
        let mut aliases = OutgoingAliases::default();
        for n in 1..=u16::MAX {
            aliases.record(&format!("t/{n}"), n);
        }
        assert_eq!(
            OutgoingAliases::choose(Some(&aliases), "t/7", u16::MAX),
            OutgoingAlias::Reuse(7)
        );
        assert_eq!(OutgoingAliases::choose(Some(&aliases), "new", u16::MAX), OutgoingAlias::Topic);
    }
}
