//! What culex_sub prints for one received message: the payload (default), `topic payload`
//! (`-v`), or a `-F` format; `-N` drops the newline. Pure: bytes in, bytes out.

use crate::print::clock::Timestamp;
use crate::print::format::Format;
use crate::print::message::Message;

/// How each message is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Style {
    /// The raw payload; an empty payload prints nothing at all.
    Payload,
    /// `-v`: topic, a space, the payload; an empty payload prints `topic (null)`.
    Verbose,
    /// `-F`: a custom format (overrides `-v`).
    Custom(Format),
}

/// The output settings of one culex_sub run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Payload, verbose or custom.
    pub style: Style,
    /// Print a newline after each message (off with `-N`).
    pub end_of_line: bool,
    /// Indent `%j`/`%J` JSON (`--pretty`).
    pub pretty: bool,
}

/// The bytes one message produces.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// For stdout.
    pub stdout: Vec<u8>,
    /// Complete lines for stderr (without their newline), e.g. a `%J` payload that is not JSON.
    pub errors: Vec<String>,
}

impl Output {
    /// Renders `message`, received at `time`.
    pub fn render(&self, message: &Message, time: Timestamp) -> Rendered {
        let mut rendered = Rendered::default();
        let out = &mut rendered.stdout;
        match &self.style {
            Style::Payload => {
                if message.payload.is_empty() {
                    return rendered;
                }
                out.extend_from_slice(&message.payload);
            }
            Style::Verbose => {
                if message.payload.is_empty() {
                    if self.end_of_line {
                        out.extend_from_slice(message.topic.as_bytes());
                        out.extend_from_slice(b" (null)");
                    } else {
                        return rendered;
                    }
                } else {
                    out.extend_from_slice(message.topic.as_bytes());
                    out.push(b' ');
                    out.extend_from_slice(&message.payload);
                }
            }
            Style::Custom(format) => {
                format.render(message, time, self.pretty, out, &mut rendered.errors);
            }
        }
        if self.end_of_line {
            out.push(b'\n');
        }
        rendered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIME: Timestamp = Timestamp { secs: 1_795_313_041, nanos: 593_903_507 };

    fn output(style: Style, end_of_line: bool) -> Output {
        Output { style, end_of_line, pretty: false }
    }

    /// What `style` prints for `message`, with the end of line and without.
    fn printed(style: &Style, message: &Message) -> [Vec<u8>; 2] {
        [true, false]
            .map(|end_of_line| output(style.clone(), end_of_line).render(message, TIME).stdout)
    }

    #[test]
    fn default_style_prints_the_raw_payload_and_nothing_for_an_empty_one() {
        let full = Message::new("a/b", b"hi\0\xff", 0, false, 0);
        let empty = Message::new("a/b", b"", 0, false, 0);
        assert_eq!(printed(&Style::Payload, &full), [&b"hi\0\xff\n"[..], b"hi\0\xff"]);
        assert_eq!(printed(&Style::Payload, &empty), [b"", b""]);
    }

    #[test]
    fn verbose_style_prints_topic_then_payload_and_null_for_an_empty_one() {
        let full = Message::new("e/full", b"hi", 0, true, 0);
        let empty = Message::new("e/empty", b"", 0, false, 0);
        assert_eq!(printed(&Style::Verbose, &full), [&b"e/full hi\n"[..], b"e/full hi"]);
        assert_eq!(printed(&Style::Verbose, &empty), [&b"e/empty (null)\n"[..], b""]);
    }

    #[test]
    fn custom_style_adds_a_newline_unless_told_not_to() {
        let format = Format::parse(b"%t=%p").expect("valid format");
        let empty = Message::new("t", b"", 0, false, 0);
        assert_eq!(printed(&Style::Custom(format), &empty), [&b"t=\n"[..], b"t="]);
    }

    #[test]
    fn invalid_json_for_percent_capital_j_is_reported_and_the_line_still_ends() {
        let format = Format::parse(b"%t %J").expect("valid format");
        let message = Message::new("j/bad", b"{x:1}", 0, false, 0);
        let rendered = output(Style::Custom(format), true).render(&message, TIME);
        assert_eq!(rendered.stdout, b"j/bad \n");
        assert_eq!(rendered.errors, ["Error: Message payload is not valid JSON on topic j/bad."]);
    }
}
