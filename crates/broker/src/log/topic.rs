//! `log_dest topic`: log lines that the driver publishes on `$SYS/broker/log/<level>`, as
//! Mosquitto 2.0.11 does: the line as printed (with its timestamp) is the payload, at QoS 2,
//! not retained. Debug and internal lines are never published, so publishing a line logs
//! nothing that would be published in turn.

use tokio::sync::mpsc;

use crate::config::LogTypes;

/// Lines waiting for the driver; while it is this far behind, further lines are dropped.
const CAPACITY: usize = 1024;

/// One line for the driver to publish: its topic and the line.
pub(crate) type TopicLine = (&'static str, String);

/// The channel from the logger to the driver.
pub(super) fn channel() -> (mpsc::Sender<TopicLine>, mpsc::Receiver<TopicLine>) {
    mpsc::channel(CAPACITY)
}

/// Mosquitto's topic for a line of `kind`; `None` for the lines it never publishes.
pub(super) fn topic(kind: LogTypes) -> Option<&'static str> {
    const TOPICS: [(LogTypes, &str); 7] = [
        (LogTypes::ERROR, "$SYS/broker/log/E"),
        (LogTypes::WARNING, "$SYS/broker/log/W"),
        (LogTypes::NOTICE, "$SYS/broker/log/N"),
        (LogTypes::INFORMATION, "$SYS/broker/log/I"),
        (LogTypes::SUBSCRIBE, "$SYS/broker/log/M/subscribe"),
        (LogTypes::UNSUBSCRIBE, "$SYS/broker/log/M/unsubscribe"),
        (LogTypes::WEBSOCKETS, "$SYS/broker/log/WS"),
    ];
    TOPICS.iter().find(|(types, _)| kind.contains(*types)).map(|&(_, topic)| topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_has_mosquittos_topic_and_debug_none() {
        assert_eq!(topic(LogTypes::NOTICE), Some("$SYS/broker/log/N"));
        assert_eq!(topic(LogTypes::SUBSCRIBE), Some("$SYS/broker/log/M/subscribe"));
        assert_eq!(topic(LogTypes::ERROR), Some("$SYS/broker/log/E"));
        assert_eq!(topic(LogTypes::DEBUG), None);
        assert_eq!(topic(LogTypes::INTERNAL), None);
    }
}
