//! `-w`/`--watch` (Mosquitto 2.1): a screen that keeps one terminal line per topic. Line 1
//! names the broker; each topic gets the next free line from line 2 down, in order of first
//! arrival, and each of its messages is printed over that line (not cleared first, as in
//! Mosquitto: a shorter message leaves the end of a longer one). Pure: it returns the bytes
//! to write around a rendered message.

use std::collections::HashMap;

/// Clears the terminal and puts the cursor at its top left.
const CLEAR: &str = "\x1b[2J\x1b[1;1H";

/// The line of the first topic: line 1 shows the broker.
const FIRST_TOPIC_LINE: u32 = 2;

/// The lines given to topics so far.
#[derive(Debug, Default)]
pub(crate) struct Screen {
    /// Each topic's line.
    lines: HashMap<String, u32>,
    /// The line given most recently (0 before the first).
    last: u32,
}

impl Screen {
    /// What is written once at the start: clear the terminal, then `Broker: <host>`.
    pub(crate) fn header(host: &str) -> String {
        format!("{CLEAR}Broker: {host}\n")
    }

    /// Moves the cursor to the start of `topic`'s line, giving the topic the next free line
    /// when it is new.
    pub(crate) fn before(&mut self, topic: &str) -> String {
        let line = match self.lines.get(topic) {
            Some(&line) => line,
            None => {
                let line = self.last.max(FIRST_TOPIC_LINE - 1) + 1;
                self.lines.insert(topic.to_owned(), line);
                self.last = line;
                line
            }
        };
        cursor_to(line)
    }

    /// After a message: back to the line given most recently, then a newline, so the cursor
    /// rests below every topic's line.
    pub(crate) fn after(&self) -> String {
        format!("{}\n", cursor_to(self.last))
    }
}

/// The escape sequence that moves the cursor to the start of `line`.
fn cursor_to(line: u32) -> String {
    format!("\x1b[{line};1H")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_clears_the_screen_and_names_the_broker() {
        assert_eq!(Screen::header("localhost"), "\x1b[2J\x1b[1;1HBroker: localhost\n");
    }

    #[test]
    fn topics_get_lines_from_2_in_order_of_first_arrival() {
        let mut screen = Screen::default();
        let mut visit = |topic: &str| {
            let before = screen.before(topic);
            (before, screen.after())
        };
        assert_eq!(visit("a"), ("\x1b[2;1H".to_owned(), "\x1b[2;1H\n".to_owned()));
        assert_eq!(visit("b"), ("\x1b[3;1H".to_owned(), "\x1b[3;1H\n".to_owned()));
        assert_eq!(visit("a"), ("\x1b[2;1H".to_owned(), "\x1b[3;1H\n".to_owned()));
        assert_eq!(visit("c"), ("\x1b[4;1H".to_owned(), "\x1b[4;1H\n".to_owned()));
        assert_eq!(visit("b"), ("\x1b[3;1H".to_owned(), "\x1b[4;1H\n".to_owned()));
    }
}
