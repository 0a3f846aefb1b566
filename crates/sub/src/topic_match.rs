//! Whether a topic name matches a subscription filter, for `-T`: `+` is one whole level, `#`
//! the rest (including the parent level), and wildcards at the first level never match topics
//! that start with `$`.

/// `true` when `topic` matches `filter`.
pub(crate) fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(wanted), Some(level)) if wanted == level => {}
            (None, None) => return true,
            // "a/#" also matches "a": the filter's next level is the '#' and the topic ended.
            (Some(wanted), None) => return wanted == "#" && filter_levels.next().is_none(),
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn plain_levels_must_be_equal() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/c"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(matches("a//b", "a//b"));
    }

    #[test]
    fn plus_matches_exactly_one_level_even_an_empty_one() {
        assert!(matches("a/+", "a/b"));
        assert!(matches("a/+", "a/"));
        assert!(!matches("a/+", "a"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("+/+", "/x"));
    }

    #[test]
    fn hash_matches_the_rest_and_the_parent() {
        assert!(matches("#", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(!matches("a/#", "b/a"));
    }

    #[test]
    fn first_level_wildcards_skip_dollar_topics() {
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
    }
}
