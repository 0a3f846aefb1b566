//! Topic filters as ACL rules use them: validity and matching against a topic name.
//!
//! A small local matcher (the broker's subscription trie lives elsewhere) with MQTT's rules:
//! `+` matches exactly one level (possibly empty), `#` matches the rest including the parent
//! level (`a/#` matches `a`), and a topic starting with `$` is matched only by a filter that
//! starts with `$` too.

/// Whether `filter` is a valid topic filter: non-empty, at most 65535 bytes, `+` and `#` only
/// as whole levels, `#` only as the last level.
#[must_use]
pub fn is_valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > 65_535 {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let is_last = levels.peek().is_none();
        match level {
            "+" => {}
            "#" if is_last => {}
            _ if level.contains(['+', '#']) => return false,
            _ => {}
        }
    }
    true
}

/// Whether the topic name `topic` matches the topic filter `filter`.
#[must_use]
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if filter.starts_with('$') != topic.starts_with('$') {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        if level == "#" {
            return true;
        }
        match topic_levels.next() {
            Some(name) if level == "+" || level == name => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_follows_mqtt_rules() {
        let cases = [
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("a/+", "a/", true),
            ("a/+", "a", false),
            ("+/+", "/x", true),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("a/#", "ab", false),
            ("#", "anything/at/all", true),
            ("#", "/", true),
            ("#", "$SYS/broker/uptime", false),
            ("+/broker/uptime", "$SYS/broker/uptime", false),
            ("$SYS/#", "$SYS/broker/uptime", true),
            ("$SYS/#", "SYS/x", false),
            ("a/b/c", "a/b", false),
            ("a/b", "a/b/c", false),
            ("a//b", "a//b", true),
            ("a/+/b", "a//b", true),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(filter_matches(filter, topic), expected, "{filter} vs {topic}");
        }
    }

    #[test]
    fn validity_matches_mqtt_rules() {
        for good in ["a", "#", "+", "a/+/b", "a/#", "/", "+/+", "$SYS/#", "a b/c"] {
            assert!(is_valid_filter(good), "{good}");
        }
        for bad in ["", "a#", "a/#/b", "a+/b", "a/b+", "##", "#/"] {
            assert!(!is_valid_filter(bad), "{bad}");
        }
    }
}
