//! Mosquitto's listener `mount_point`: a topic prefix added to everything a listener's clients
//! publish, subscribe to and leave as a will, and removed again from the topics of messages
//! sent to them (Mosquitto 2.0.12 and later; 2.0.11 leaves it on).

use crate::topic;

/// The topic a client publishes to, under `mount`.
pub(crate) fn topic(mount: &str, topic: &str) -> String {
    format!("{mount}{topic}")
}

/// A subscription filter under `mount`. A shared subscription keeps its `$share/<group>/`
/// prefix in front, so that it stays shared (Mosquitto 2.0 prefixes the whole text, which
/// turns it into an ordinary filter that never matches).
pub(crate) fn filter(mount: &str, filter: &str) -> String {
    match topic::split_shared(filter) {
        Ok(topic::SplitFilter { group: Some(group), filter }) => {
            format!("{}{group}/{mount}{filter}", topic::SHARE_PREFIX)
        }
        _ => format!("{mount}{filter}"),
    }
}

/// The topic shown to a client under `mount`: without the prefix when it has it.
pub(crate) fn strip<'t>(mount: &str, topic: &'t str) -> &'t str {
    match topic.strip_prefix(mount) {
        Some(rest) if !rest.is_empty() => rest,
        _ => topic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_topics_and_filters_and_keeps_shares_shared() {
        assert_eq!(topic("site/", "a/b"), "site/a/b");
        assert_eq!(filter("site/", "a/#"), "site/a/#");
        assert_eq!(filter("site/", "#"), "site/#");
        assert_eq!(filter("site/", "$share/g/a/+"), "$share/g/site/a/+");
    }

    #[test]
    fn strips_only_its_own_prefix() {
        assert_eq!(strip("site/", "site/a/b"), "a/b");
        assert_eq!(strip("site/", "other/a"), "other/a");
        assert_eq!(strip("site/", "site/"), "site/", "an empty topic is never sent");
    }
}
