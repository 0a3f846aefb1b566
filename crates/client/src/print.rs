//! What `culex_sub` and `culex_rr` share as receivers of messages, as `mosquitto_sub` and
//! `mosquitto_rr` share one printer: the options ([`ReceiveArgs`]: `-v`, `-N`, `-F`,
//! `--pretty` choose the style; `-W`, `-R`, `--retain-as-published`, with the subscription
//! options they imply) and the pure rendering behind them.
//!
//! - [`output`]: payload, `-v` or `-F` style, `-N`; bytes in, bytes out.
//! - [`format`](mod@format): `-F` format strings, parsed with Mosquitto's messages and rendered.
//! - [`json`]: the JSON model behind `%j` / `%J`.
//! - [`message`]: a received message as the printer sees it.
//! - [`clock`]: the timestamp of a message and its local-time formatting.

pub mod clock;
pub mod format;
pub mod json;
pub mod message;
pub mod output;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use mqtt_codec::{QoS, RetainHandling, SubscriptionOptions};

use crate::args::{ArgCursor, ArgError, atoi};
use format::Format;
use output::{Output, Style};

/// The receiving options as typed: `-v`, `-N`, `-F`, `--pretty`, `-W`, `-R`,
/// `--retain-as-published`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiveArgs {
    /// `-v`.
    pub verbose: bool,
    /// `-N`: no newline after each message.
    pub no_eol: bool,
    /// `-F`.
    pub format: Option<Format>,
    /// `--pretty`.
    pub pretty: bool,
    /// `-W`: give up after this many seconds.
    pub timeout: Option<u32>,
    /// `-R`: skip retained messages.
    pub no_retained: bool,
    /// `--retain-as-published`.
    pub retain_as_published: bool,
}

impl ReceiveArgs {
    /// Parses `option` when it is a receiving option, consuming its value from `cursor`;
    /// `Ok(false)` leaves it to the caller.
    ///
    /// # Errors
    /// Mosquitto's message for a missing or invalid `-F` format or `-W` timeout.
    pub fn parse_option(
        &mut self,
        option: &OsStr,
        cursor: &mut ArgCursor<'_>,
    ) -> Result<bool, ArgError> {
        match option.as_bytes() {
            b"-F" => {
                let format = cursor.value("-F", "format")?;
                let parsed = Format::parse(format.as_bytes())
                    .map_err(|err| ArgError::usage(format!("Error: {err}\n")))?;
                self.format = Some(parsed);
            }
            b"-v" | b"--verbose" => self.verbose = true,
            b"-N" => self.no_eol = true,
            b"--pretty" => self.pretty = true,
            b"-W" => {
                let timeout = atoi(cursor.value("-W", "timeout")?);
                self.timeout =
                    Some(u32::try_from(timeout).ok().filter(|timeout| *timeout > 0).ok_or_else(
                        || ArgError::usage(format!("Error: Invalid timeout \"{timeout}\".\n\n")),
                    )?);
            }
            b"-R" => self.no_retained = true,
            b"--retain-as-published" => self.retain_as_published = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The output settings: `-F` wins over `-v`.
    pub fn output(&self) -> Output {
        let style = match (&self.format, self.verbose) {
            (Some(format), _) => Style::Custom(format.clone()),
            (None, true) => Style::Verbose,
            (None, false) => Style::Payload,
        };
        Output { style, end_of_line: !self.no_eol, pretty: self.pretty }
    }

    /// The options of a subscription at `qos`: `--retain-as-published` and `-R` (no retained
    /// messages at subscribe time) go only to an MQTT v5 broker.
    pub fn subscription(&self, qos: QoS, v5: bool) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: v5 && self.retain_as_published,
            retain_handling: if v5 && self.no_retained {
                RetainHandling::DoNotSend
            } else {
                RetainHandling::SendAtSubscribe
            },
        }
    }
}
