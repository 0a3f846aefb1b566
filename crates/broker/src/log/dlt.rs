//! `log_dest dlt`: log lines for the COVESA (GENIVI) Diagnostic Log and Trace daemon, written
//! to its FIFO in the user protocol of libdlt 2.18, as Debian's Mosquitto 2.0.11 (linked with
//! libdlt) sends them: application `MQTT` ("mosquitto log"), context `MQTT` ("mosquitto DLT
//! context"), each line one verbose log message holding the printed line as a string.
//!
//! The FIFO is `$DLT_PIPE_DIR/dlt` (libdlt's variable; `/tmp/dlt` without it). As in
//! Mosquitto, DLT is used only when that FIFO exists and a daemon reads it when the log
//! destinations are opened (at start and on SIGHUP); lines are dropped rather than waited for
//! when the FIFO is full. libdlt starts a context at log level info and only the daemon may
//! raise it, over a FIFO of the application's own that culex does not create: so error,
//! warning and information lines are sent (levels 2, 3, 4) and the lines Mosquitto maps below
//! info (debug 5; notice, subscribe and unsubscribe 6) are not, as with libdlt's default.
//!
//! Each message starts with the user header `DUH\x01` and a little-endian message type:
//! ```text
//! 2 register application:   apid[4] pid:i32 len:u32 description
//! 4 register context:       apid[4] ctid[4] index:i32 level:i8 trace:i8 pid:i32 len:u32 description
//! 1 log:                    standard header  htyp=0x3d mcnt len:u16be ecu[4] session(pid):u32be
//!                                            timestamp(0.1 ms since boot):u32be
//!                           extended header  msin=(level << 4)|1 noar=1 apid[4] ctid[4]
//!                           argument         type=0x200 (string):u32 len:u16 text NUL
//! 5 unregister context:     apid[4] ctid[4] pid:i32
//! 3 unregister application: apid[4] pid:i32
//! ```

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::PathBuf;

use crate::config::LogTypes;

/// Application and context id, as Mosquitto registers them.
const ID: &[u8; 4] = b"MQTT";
/// libdlt's default ECU id.
const ECU: &[u8; 4] = b"ECU1";
/// The longest line Mosquitto logs (its line buffer holds 999 bytes and a NUL).
const MAX_LINE: usize = 999;

/// The open FIFO of a DLT daemon.
#[derive(Debug)]
pub(super) struct Dlt {
    fifo: File,
    pid: u32,
    /// The message counter of the standard header (wraps).
    counter: u8,
}

impl Dlt {
    /// Registers with the daemon reading the FIFO; `None` when there is none (then nothing
    /// goes to DLT, as in Mosquitto).
    pub(super) fn open() -> Option<Self> {
        let path = fifo_path();
        if !std::fs::metadata(&path).ok()?.file_type().is_fifo() {
            return None;
        }
        let fifo = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .ok()?;
        let mut dlt = Self { fifo, pid: std::process::id(), counter: 0 };
        dlt.write(&register_application(dlt.pid));
        dlt.write(&register_context(dlt.pid));
        Some(dlt)
    }

    /// Sends `line` (as printed, without its newline) as a line of `kind`, if libdlt's
    /// default level lets it through.
    pub(super) fn send(&mut self, kind: LogTypes, line: &str) {
        let Some(level) = level(kind) else { return };
        let stamp = crate::os::monotonic_since_boot().as_micros() / 100;
        #[expect(clippy::cast_possible_truncation, reason = "DLT's timestamp wraps at 32 bits")]
        let stamp = stamp as u32;
        let message = log_message(self.counter, self.pid, stamp, level, line);
        self.counter = self.counter.wrapping_add(1);
        self.write(&message);
    }

    /// One write per message: a message shorter than the pipe's atomic size goes whole or
    /// not at all, and a full FIFO drops it.
    fn write(&mut self, message: &[u8]) {
        let _ = self.fifo.write(message);
    }
}

impl Drop for Dlt {
    fn drop(&mut self) {
        self.write(&unregister_context(self.pid));
        self.write(&unregister_application(self.pid));
    }
}

/// The daemon's FIFO.
fn fifo_path() -> PathBuf {
    let dir = std::env::var_os("DLT_PIPE_DIR").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(dir).join("dlt")
}

/// The DLT level Mosquitto gives lines of `kind`, for the levels libdlt's default (info)
/// sends: error 2, warning 3, information 4.
fn level(kind: LogTypes) -> Option<u8> {
    [(LogTypes::ERROR, 2), (LogTypes::WARNING, 3), (LogTypes::INFORMATION, 4)]
        .into_iter()
        .find(|&(types, _)| kind.contains(types))
        .map(|(_, level)| level)
}

/// The user header of a message of `kind`.
fn user_header(kind: u32) -> Vec<u8> {
    let mut message = b"DUH\x01".to_vec();
    message.extend_from_slice(&kind.to_le_bytes());
    message
}

/// A control message of `kind`: the application id, the context id when `context`, the
/// `middle` bytes, the process id, and the `description` with its length before it.
fn control(
    kind: u32,
    context: bool,
    middle: &[u8],
    pid: u32,
    description: Option<&str>,
) -> Vec<u8> {
    let mut message = user_header(kind);
    message.extend_from_slice(ID);
    if context {
        message.extend_from_slice(ID);
    }
    message.extend_from_slice(middle);
    message.extend_from_slice(&pid.to_le_bytes());
    if let Some(description) = description {
        let len = u32::try_from(description.len()).unwrap_or(0);
        message.extend_from_slice(&len.to_le_bytes());
        message.extend_from_slice(description.as_bytes());
    }
    message
}

fn register_application(pid: u32) -> Vec<u8> {
    control(2, false, &[], pid, Some("mosquitto log"))
}

/// The context's index in the application (the first), then its log level and trace status
/// "not set" (-2): the daemon's defaults apply.
fn register_context(pid: u32) -> Vec<u8> {
    control(4, true, &[0, 0, 0, 0, 0xfe, 0xfe], pid, Some("mosquitto DLT context"))
}

fn unregister_context(pid: u32) -> Vec<u8> {
    control(5, true, &[], pid, None)
}

fn unregister_application(pid: u32) -> Vec<u8> {
    control(3, false, &[], pid, None)
}

/// One log message: `line` (cut to [`MAX_LINE`] bytes) at DLT `level`.
fn log_message(counter: u8, pid: u32, stamp: u32, level: u8, line: &str) -> Vec<u8> {
    let mut end = line.len().min(MAX_LINE);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let text = &line.as_bytes()[..end];
    // Standard header with extras (16) + extended header (10) + type, length, text and NUL.
    let total = 16 + 10 + 4 + 2 + text.len() + 1;
    let mut message = user_header(1);
    message.extend_from_slice(&[0x3d, counter]);
    message.extend_from_slice(&u16::try_from(total).unwrap_or(u16::MAX).to_be_bytes());
    message.extend_from_slice(ECU);
    message.extend_from_slice(&pid.to_be_bytes());
    message.extend_from_slice(&stamp.to_be_bytes());
    message.extend_from_slice(&[(level << 4) | 0x01, 1]);
    message.extend_from_slice(ID);
    message.extend_from_slice(ID);
    message.extend_from_slice(&0x200_u32.to_le_bytes());
    message.extend_from_slice(&u16::try_from(text.len() + 1).unwrap_or(u16::MAX).to_le_bytes());
    message.extend_from_slice(text);
    message.push(0);
    message
}

#[cfg(test)]
mod tests {
    //! Byte vectors captured from Debian's Mosquitto 2.0.11 (pid 5300) writing to a FIFO at
    //! `/tmp/dlt` with `log_dest dlt`.

    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn registration_is_libdlts() {
        assert_eq!(
            register_application(5300),
            hex("44554801 02000000 4d515454 b4140000 0d000000 6d6f7371756974746f206c6f67")
        );
        assert_eq!(
            register_context(5300),
            hex("44554801 04000000 4d515454 4d515454 00000000 fe fe b4140000 15000000
                 6d6f7371756974746f20444c5420636f6e74657874")
        );
        assert_eq!(unregister_context(5300), hex("44554801 05000000 4d515454 4d515454 b4140000"));
        assert_eq!(unregister_application(5300), hex("44554801 03000000 4d515454 b4140000"));
    }

    #[test]
    fn a_line_is_one_verbose_string_message() {
        let line = "1796513971: mosquitto version 2.0.11 starting";
        let mut expected =
            hex("44554801 01000000 3d 00 004e 45435531 000014b4 0e93f467 41 01 4d515454 4d515454
             00020000 2e00");
        expected.extend_from_slice(line.as_bytes());
        expected.push(0);
        assert_eq!(log_message(0, 5300, 0x0e93_f467, 4, line), expected);
    }

    #[test]
    fn levels_and_long_lines() {
        assert_eq!(level(LogTypes::ERROR), Some(2));
        assert_eq!(level(LogTypes::WARNING), Some(3));
        assert_eq!(level(LogTypes::INFORMATION), Some(4));
        for below_info in [LogTypes::DEBUG, LogTypes::NOTICE, LogTypes::SUBSCRIBE] {
            assert_eq!(level(below_info), None);
        }
        let long = "é".repeat(600);
        let message = log_message(7, 1, 2, 2, &long);
        // 998 bytes of whole characters, the NUL, and the headers.
        assert_eq!(message.len(), 8 + 16 + 10 + 6 + 998 + 1);
        assert_eq!(message[5 + 4], 7);
        assert_eq!(message[8 + 16], 0x21);
    }
}
