//! `-F` format strings: parsing (with Mosquitto's error messages) and rendering one message.
//!
//! ```text
//! %[-][0][width][.precision]X   message fields   (X in % A C D E F I j J l m p P q r R S t U x X)
//! @c                            strftime("%c") of the message's timestamp; @N nanoseconds; @@ '@'
//! \c                            escapes \\ \0 \a \e \n \r \t \v
//! ```
//! Which fields honour width, `0` and precision follows Mosquitto 2.0.11 (see `render_field`).

use std::fmt;

use crate::print::clock::Timestamp;
use crate::print::json::Json;
use crate::print::message::{Message, Property};

/// Widths above this are clamped: Mosquitto would pad with gigabytes of blanks.
const MAX_WIDTH: usize = 1 << 16;

/// Why a `-F` string was rejected; `Display` is Mosquitto's message without `Error: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The string ends inside a `%` or `@` specifier.
    IncompleteFormat,
    /// `%` followed by an unknown field letter.
    InvalidFormat(u8),
    /// The string ends right after a `\`.
    IncompleteEscape,
    /// `\` followed by an unknown escape letter.
    InvalidEscape(u8),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IncompleteFormat => f.write_str("Incomplete format specifier."),
            Self::InvalidFormat(byte) => {
                write!(f, "Invalid format specifier '{}'.", char::from(*byte))
            }
            Self::IncompleteEscape => f.write_str("Incomplete escape specifier."),
            Self::InvalidEscape(byte) => {
                write!(f, "Invalid escape specifier '{}'.", char::from(*byte))
            }
        }
    }
}

/// A message field selected by a `%` letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Percent,
    TopicAlias,
    ContentType,
    CorrelationData,
    MessageExpiry,
    PayloadFormat,
    Iso8601,
    Json,
    JsonPayload,
    PayloadLength,
    Mid,
    Payload,
    UserProperties,
    Qos,
    Retain,
    ResponseTopic,
    SubscriptionId,
    Topic,
    UnixTime,
    HexLower,
    HexUpper,
}

impl Field {
    fn from_letter(letter: u8) -> Option<Self> {
        Some(match letter {
            b'%' => Self::Percent,
            b'A' => Self::TopicAlias,
            b'C' => Self::ContentType,
            b'D' => Self::CorrelationData,
            b'E' => Self::MessageExpiry,
            b'F' => Self::PayloadFormat,
            b'I' => Self::Iso8601,
            b'j' => Self::Json,
            b'J' => Self::JsonPayload,
            b'l' => Self::PayloadLength,
            b'm' => Self::Mid,
            b'p' => Self::Payload,
            b'P' => Self::UserProperties,
            b'q' => Self::Qos,
            b'r' => Self::Retain,
            b'R' => Self::ResponseTopic,
            b'S' => Self::SubscriptionId,
            b't' => Self::Topic,
            b'U' => Self::UnixTime,
            b'x' => Self::HexLower,
            b'X' => Self::HexUpper,
            _ => return None,
        })
    }
}

/// Width, alignment and padding of one `%` specifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Layout {
    left: bool,
    zero: bool,
    /// Minimum width; 0 means none.
    width: usize,
    precision: Option<usize>,
}

impl Layout {
    fn pad_byte(self) -> u8 {
        if self.zero && !self.left { b'0' } else { b' ' }
    }

    /// Writes `content` padded to the width with `pad`, on the left unless `-` was given.
    fn pad(self, content: &[u8], pad: u8, out: &mut Vec<u8>) {
        let fill = self.width.saturating_sub(content.len());
        if self.left {
            out.extend_from_slice(content);
            out.extend(std::iter::repeat_n(b' ', fill));
        } else {
            out.extend(std::iter::repeat_n(pad, fill));
            out.extend_from_slice(content);
        }
    }

    /// A string field: precision truncates, width pads with blanks (`0` does not apply).
    fn string(self, content: &[u8], out: &mut Vec<u8>) {
        let end = self.precision.map_or(content.len(), |max| max.min(content.len()));
        self.pad(&content[..end], b' ', out);
    }

    /// A number field: width pads with blanks or zeros; precision is ignored.
    fn number(self, value: Option<u64>, out: &mut Vec<u8>) {
        let text = value.map(|value| value.to_string()).unwrap_or_default();
        self.pad(text.as_bytes(), self.pad_byte(), out);
    }
}

/// One parsed piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Field(Field, Layout),
    /// `@c`: strftime of one conversion character.
    Time(u8),
    /// `@N`: nanoseconds of the current second.
    Nanos,
}

/// A validated `-F` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pieces: Vec<Piece>,
}

impl Format {
    /// Parses a `-F` argument.
    ///
    /// # Errors
    /// The first malformed `%`, `@` or `\` sequence, as Mosquitto reports it.
    pub fn parse(text: &[u8]) -> Result<Self, FormatError> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut index = 0;
        while let Some(&byte) = text.get(index) {
            index += 1;
            let piece = match byte {
                b'%' => {
                    let (field, layout, next) = parse_field(text, index)?;
                    index = next;
                    Piece::Field(field, layout)
                }
                b'@' => {
                    let &conversion = text.get(index).ok_or(FormatError::IncompleteFormat)?;
                    index += 1;
                    match conversion {
                        b'@' => {
                            literal.push(b'@');
                            continue;
                        }
                        b'N' => Piece::Nanos,
                        other => Piece::Time(other),
                    }
                }
                b'\\' => {
                    let &escape = text.get(index).ok_or(FormatError::IncompleteEscape)?;
                    index += 1;
                    literal.push(match escape {
                        b'\\' => b'\\',
                        b'0' => 0,
                        b'a' => 0x07,
                        b'e' => 0x1b,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 0x0b,
                        other => return Err(FormatError::InvalidEscape(other)),
                    });
                    continue;
                }
                other => {
                    literal.push(other);
                    continue;
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Self { pieces })
    }

    /// Appends the rendering of `message` at `time` to `out` (no trailing newline). Complaints
    /// about the message (a `%J` payload that is not JSON) are appended to `errors`, one line each.
    pub fn render(
        &self,
        message: &Message,
        time: Timestamp,
        pretty: bool,
        out: &mut Vec<u8>,
        errors: &mut Vec<String>,
    ) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(bytes) => out.extend_from_slice(bytes),
                Piece::Time(conversion) => out.extend_from_slice(&time.strftime_char(*conversion)),
                Piece::Nanos => out.extend_from_slice(format!("{:09}", time.nanos).as_bytes()),
                Piece::Field(field, layout) => {
                    render_field(*field, *layout, message, time, pretty, out, errors);
                }
            }
        }
    }
}

/// Parses `[-][0][width][.precision]letter` starting at `index` (just after the `%`).
fn parse_field(text: &[u8], mut index: usize) -> Result<(Field, Layout, usize), FormatError> {
    let mut layout = Layout::default();
    let next = |index: &mut usize| {
        let byte = text.get(*index).copied().ok_or(FormatError::IncompleteFormat);
        *index += 1;
        byte
    };
    let mut byte = next(&mut index)?;
    if byte == b'-' {
        layout.left = true;
        byte = next(&mut index)?;
    }
    if byte == b'0' {
        layout.zero = true;
        byte = next(&mut index)?;
    }
    while byte.is_ascii_digit() {
        layout.width = (layout.width * 10 + usize::from(byte - b'0')).min(MAX_WIDTH);
        byte = next(&mut index)?;
    }
    if byte == b'.' {
        let mut precision = 0usize;
        byte = next(&mut index)?;
        while byte.is_ascii_digit() {
            precision = (precision * 10 + usize::from(byte - b'0')).min(MAX_WIDTH);
            byte = next(&mut index)?;
        }
        layout.precision = Some(precision);
    }
    let field = Field::from_letter(byte).ok_or(FormatError::InvalidFormat(byte))?;
    Ok((field, layout, index))
}

/// Renders one `%` field. Per Mosquitto 2.0.11:
/// - `%t %C %R %I`: precision truncates, width pads with blanks;
/// - `%l %m %E %F %S %A`: width pads with blanks or zeros, precision ignored; a missing
///   property still pads to the width (`%A %E %F %S`);
/// - `%p`: width truncates as well as pads (zeros with `0`);
/// - `%x %X`: width W shows ⌊min(len, W)/2⌋ bytes padded to W (Mosquitto's halving, fixed in
///   2.1 — kept so output matches the installed tools);
/// - `%% %q %r %U %D %P %j %J`: width and precision ignored.
fn render_field(
    field: Field,
    layout: Layout,
    message: &Message,
    time: Timestamp,
    pretty: bool,
    out: &mut Vec<u8>,
    errors: &mut Vec<String>,
) {
    match field {
        Field::Percent => out.push(b'%'),
        Field::Topic => layout.string(message.topic.as_bytes(), out),
        Field::Iso8601 => layout.string(&time.iso8601(), out),
        Field::ContentType => {
            let content_type = message.find(|property| match property {
                Property::ContentType(text) => Some(text.as_bytes()),
                _ => None,
            });
            layout.string(content_type.unwrap_or_default(), out);
        }
        Field::ResponseTopic => {
            if let Some(topic) = message.find(|property| match property {
                Property::ResponseTopic(text) => Some(text.as_bytes()),
                _ => None,
            }) {
                layout.string(topic, out);
            }
        }
        Field::CorrelationData => {
            if let Some(data) = message.find(|property| match property {
                Property::CorrelationData(data) => Some(data),
                _ => None,
            }) {
                out.extend_from_slice(data);
            }
        }
        Field::UserProperties => {
            let mut first = true;
            for property in &message.properties {
                if let Property::User(key, value) = property {
                    if !first {
                        out.push(b' ');
                    }
                    first = false;
                    out.extend_from_slice(key.as_bytes());
                    out.push(b':');
                    out.extend_from_slice(value.as_bytes());
                }
            }
        }
        Field::PayloadLength => layout.number(Some(message.payload.len() as u64), out),
        Field::Mid => layout.number(Some(u64::from(message.mid)), out),
        Field::TopicAlias | Field::MessageExpiry | Field::PayloadFormat | Field::SubscriptionId => {
            layout.number(message.find(|property| numeric_property(field, property)), out);
        }
        Field::Qos => out.push(b'0' + message.qos.min(9)),
        Field::Retain => out.push(if message.retain { b'1' } else { b'0' }),
        Field::UnixTime => out.extend_from_slice(&time.unix_with_nanos()),
        Field::Payload => {
            let payload = &message.payload[..];
            let shown = if layout.width > 0 {
                &payload[..payload.len().min(layout.width)]
            } else {
                payload
            };
            layout.pad(shown, layout.pad_byte(), out);
        }
        Field::HexLower | Field::HexUpper => {
            let payload = &message.payload[..];
            let shown = if layout.width > 0 {
                &payload[..payload.len().min(layout.width) / 2]
            } else {
                payload
            };
            let hex = hex(shown, field == Field::HexUpper);
            layout.pad(&hex, layout.pad_byte(), out);
        }
        Field::Json => {
            json_object(message, time, Some(json_string_payload(message))).print(pretty, out)
        }
        Field::JsonPayload => match json_parsed_payload(message) {
            Some(payload) => json_object(message, time, Some(payload)).print(pretty, out),
            None => errors.push(format!(
                "Error: Message payload is not valid JSON on topic {}.",
                message.topic
            )),
        },
    }
}

/// The value of `property` when it is the numeric property `field` prints (`%A %E %F %S`).
fn numeric_property(field: Field, property: &Property) -> Option<u64> {
    match (field, property) {
        (Field::TopicAlias, Property::TopicAlias(alias)) => Some(u64::from(*alias)),
        (Field::MessageExpiry, Property::MessageExpiryInterval(seconds)) => {
            Some(u64::from(*seconds))
        }
        (Field::PayloadFormat, Property::PayloadFormatIndicator(indicator)) => {
            Some(u64::from(*indicator))
        }
        (Field::SubscriptionId, Property::SubscriptionIdentifier(id)) => Some(u64::from(*id)),
        _ => None,
    }
}

fn hex(bytes: &[u8], upper: bool) -> Vec<u8> {
    let digits: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    bytes
        .iter()
        .flat_map(|byte| [digits[usize::from(byte >> 4)], digits[usize::from(byte & 0xf)]])
        .collect()
}

/// `%j`'s payload: a JSON string cut at the first NUL, or `null` when empty.
fn json_string_payload(message: &Message) -> Json {
    if message.payload.is_empty() {
        return Json::Null;
    }
    Json::String(until_nul(&message.payload).to_vec())
}

/// `%J`'s payload: the payload parsed as JSON, `null` when empty, `None` when not JSON.
fn json_parsed_payload(message: &Message) -> Option<Json> {
    if message.payload.is_empty() { Some(Json::Null) } else { Json::parse(&message.payload) }
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.iter().position(|&byte| byte == 0).map_or(bytes, |nul| &bytes[..nul])
}

/// The object `%j`/`%J` print: tst, topic, qos, retain, payloadlen, mid (QoS > 0 only),
/// properties (MQTT 5 only), payload.
fn json_object(message: &Message, time: Timestamp, payload: Option<Json>) -> Json {
    let text = |value: &str| Json::String(value.as_bytes().to_vec());
    let mut members = vec![
        (b"tst".to_vec(), Json::String(time.json_tst())),
        (b"topic".to_vec(), text(&message.topic)),
        (b"qos".to_vec(), Json::Number(f64::from(message.qos))),
        (b"retain".to_vec(), Json::Number(f64::from(u8::from(message.retain)))),
        (b"payloadlen".to_vec(), Json::Number(message.payload.len() as f64)),
    ];
    if message.qos > 0 {
        members.push((b"mid".to_vec(), Json::Number(f64::from(message.mid))));
    }
    if !message.properties.is_empty() {
        members.push((b"properties".to_vec(), json_properties(&message.properties)));
    }
    members.push((b"payload".to_vec(), payload.unwrap_or(Json::Null)));
    Json::Object(members)
}

/// The `properties` object: one key per property in message order; user properties gather in
/// one `user-properties` object placed where the first of them came.
fn json_properties(properties: &[Property]) -> Json {
    let mut members: Vec<(Vec<u8>, Json)> = Vec::new();
    let mut user_index = None;
    for property in properties {
        let (key, value): (&str, Json) = match property {
            Property::SubscriptionIdentifier(id) => {
                ("subscription-identifier", Json::Number(f64::from(*id)))
            }
            Property::PayloadFormatIndicator(indicator) => {
                ("payload-format-indicator", Json::Number(f64::from(*indicator)))
            }
            Property::ContentType(text) => ("content-type", Json::String(text.as_bytes().to_vec())),
            Property::ResponseTopic(text) => {
                ("response-topic", Json::String(text.as_bytes().to_vec()))
            }
            Property::CorrelationData(data) => {
                ("correlation-data", Json::String(until_nul(data).to_vec()))
            }
            Property::TopicAlias(alias) => ("topic-alias", Json::Number(f64::from(*alias))),
            Property::MessageExpiryInterval(seconds) => {
                ("message-expiry-interval", Json::Number(f64::from(*seconds)))
            }
            Property::User(key, value) => {
                let pair = (key.as_bytes().to_vec(), Json::String(value.as_bytes().to_vec()));
                match user_index {
                    Some(index) => {
                        if let Some((_, Json::Object(users))) = members.get_mut(index) {
                            users.push(pair);
                        }
                    }
                    None => {
                        user_index = Some(members.len());
                        members.push((b"user-properties".to_vec(), Json::Object(vec![pair])));
                    }
                }
                continue;
            }
        };
        members.push((key.as_bytes().to_vec(), value));
    }
    Json::Object(members)
}

#[cfg(test)]
mod tests;
