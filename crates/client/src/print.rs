//! What `culex_sub` and `culex_rr` share as receivers of messages, as `mosquitto_sub` and
//! `mosquitto_rr` share one printer: the options ([`ReceiveArgs`]: `-v`, `-N`, `-F`,
//! `--pretty` choose the style; `-W`, `-R`, `--retain-as-published`, `--retain-handling`, with
//! the subscription options they imply) and the pure rendering behind them.
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
/// `--retain-as-published`, `--retain-handling`.
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
    /// The MQTT v5 Retain Handling of the subscription, as `--retain-handling` and `-R` left
    /// it in argument order (Mosquitto 2.1): `--retain-handling` replaces it, `-R` makes it
    /// "never".
    pub retain_handling: RetainHandling,
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
            b"-R" => {
                // Mosquitto 2.1 ORs -R's bits into --retain-handling's: after `new` that
                // makes 3, which MQTT forbids and libmosquitto then refuses to send, leaving
                // the client subscribed to nothing.
                if self.retain_handling == RetainHandling::SendIfNew {
                    return Err(ArgError::usage(
                        "Error: --retain-handling new and a later -R cannot be used together.\n",
                    ));
                }
                self.no_retained = true;
                self.retain_handling = RetainHandling::DoNotSend;
            }
            b"--retain-as-published" => self.retain_as_published = true,
            b"--retain-handling" => {
                let value = cursor.value("--retain-handling", "option")?;
                self.retain_handling = match value.as_bytes() {
                    b"always" => RetainHandling::SendAtSubscribe,
                    b"new" => RetainHandling::SendIfNew,
                    b"never" => RetainHandling::DoNotSend,
                    other => {
                        return Err(ArgError::usage(format!(
                            "Error: Unknown value '{}' for --retain-handling.\n\n",
                            String::from_utf8_lossy(other)
                        )));
                    }
                };
            }
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

    /// The options of a subscription at `qos`: `--retain-as-published` and the retain
    /// handling (`-R`, `--retain-handling`) go only to an MQTT v5 broker.
    pub fn subscription(&self, qos: QoS, v5: bool) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: v5 && self.retain_as_published,
            retain_handling: if v5 {
                self.retain_handling
            } else {
                RetainHandling::SendAtSubscribe
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_each;

    /// Parses `list` as receiving options only.
    fn parse(list: &[&str]) -> Result<ReceiveArgs, ArgError> {
        parse_each(list, |args: &mut ReceiveArgs, option, cursor| {
            assert!(args.parse_option(option, cursor)?, "{option:?} is a receiving option");
            Ok(())
        })
    }

    /// The retain handling a v5 and a v3 subscription get from `list`.
    fn handling(list: &[&str]) -> [RetainHandling; 2] {
        let args = parse(list).expect("valid options");
        [true, false].map(|v5| args.subscription(QoS::AtMostOnce, v5).retain_handling)
    }

    #[test]
    fn retain_handling_follows_argument_order_and_only_reaches_v5() {
        use RetainHandling::{DoNotSend, SendAtSubscribe, SendIfNew};
        let cases: [(&[&str], RetainHandling); 8] = [
            (&[], SendAtSubscribe),
            (&["--retain-handling", "always"], SendAtSubscribe),
            (&["--retain-handling", "new"], SendIfNew),
            (&["--retain-handling", "never"], DoNotSend),
            (&["-R"], DoNotSend),
            (&["-R", "--retain-handling", "always"], SendAtSubscribe),
            (&["-R", "--retain-handling", "new"], SendIfNew),
            (&["--retain-handling", "always", "-R"], DoNotSend),
        ];
        for (list, v5) in cases {
            assert_eq!(handling(list), [v5, SendAtSubscribe], "{list:?}");
        }
        // --retain-handling leaves -R's "do not print retained messages" alone.
        assert!(parse(&["-R", "--retain-handling", "always"]).expect("valid").no_retained);
        assert!(!parse(&["--retain-handling", "never"]).expect("valid").no_retained);
    }

    #[test]
    fn retain_handling_errors_are_mosquittos() {
        let error = |list: &[&str]| parse(list).expect_err("refused").text;
        assert_eq!(
            error(&["--retain-handling"]),
            "Error: --retain-handling argument given but no option specified.\n\n"
        );
        assert_eq!(
            error(&["--retain-handling", "Never"]),
            "Error: Unknown value 'Never' for --retain-handling.\n\n"
        );
        assert_eq!(
            error(&["--retain-handling", "new", "-R"]),
            "Error: --retain-handling new and a later -R cannot be used together.\n"
        );
    }
}
