//! How `culex_sub` and `culex_rr` print a received message, as `mosquitto_sub` and
//! `mosquitto_rr` share one printer: the options that choose the style (`-v`, `-N`, `-F`,
//! `--pretty`, [`PrintArgs`]) and the pure rendering behind them.
//!
//! - [`output`]: payload, `-v` or `-F` style, `-N`; bytes in, bytes out.
//! - [`format`]: `-F` format strings, parsed with Mosquitto's messages and rendered.
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

use crate::args::{ArgCursor, ArgError};
use format::Format;
use output::{Output, Style};

/// The printing options as typed: `-v`, `-N`, `-F`, `--pretty`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrintArgs {
    /// `-v`.
    pub verbose: bool,
    /// `-N`: no newline after each message.
    pub no_eol: bool,
    /// `-F`.
    pub format: Option<Format>,
    /// `--pretty`.
    pub pretty: bool,
}

impl PrintArgs {
    /// Parses `option` when it is a printing option, consuming its value from `cursor`;
    /// `Ok(false)` leaves it to the caller.
    ///
    /// # Errors
    /// Mosquitto's message for a missing or invalid `-F` format.
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
}
