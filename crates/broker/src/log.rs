//! Mosquitto's log lines: `<epoch seconds>: <text>` on stderr (or the `log_dest`
//! destinations: the system logger in `log/syslog.rs`, `$SYS/broker/log/…` in
//! `log/topic.rs`, a DLT daemon in `log/dlt.rs`), filtered by `log_type` (`-v` = all), with `log_timestamp` and
//! `connection_messages` honoured; `log_timestamp_format` replaces the seconds with C's
//! `strftime` in local time, as Mosquitto does. Under `log_format json` (culex's) the lines to
//! stdout, stderr and the log file are JSON objects (`log/json.rs`); the system logger, DLT
//! and `$SYS/broker/log` keep Mosquitto's text, which their readers expect.
//!
//! The [`Logger`] is shared (`Arc`) by the listener, connection tasks and the driver; its
//! settings are atomics so that SIGHUP can change them while everything runs.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, LogDest, LogFormat, LogTypes};

mod dlt;
mod json;
mod syslog;
pub(crate) mod topic;

/// Writes filtered, timestamped log lines to stderr or the configured destinations.
#[derive(Debug)]
pub struct Logger {
    types: AtomicU16,
    timestamp: AtomicBool,
    connection_messages: AtomicBool,
    /// `log_format json`.
    json: AtomicBool,
    destinations: Mutex<Destinations>,
    /// `log_timestamp_format`; `None` = epoch seconds.
    timestamp_format: Mutex<Option<CString>>,
}

/// Where lines go; the file is opened by [`Logger::open_destinations`].
#[derive(Debug)]
struct Destinations {
    stdout: bool,
    stderr: bool,
    file: Option<std::fs::File>,
    syslog: Option<syslog::Syslog>,
    /// `log_dest dlt`, when a DLT daemon reads its FIFO.
    dlt: Option<dlt::Dlt>,
    /// `log_dest topic`.
    topic: bool,
    /// Where `log_dest topic` lines go: the driver, once it asked ([`Logger::topic_lines`]).
    topic_sink: Option<tokio::sync::mpsc::Sender<topic::TopicLine>>,
}

impl Logger {
    /// A logger with explicit settings.
    pub fn new(types: LogTypes, timestamp: bool, connection_messages: bool) -> Self {
        Self {
            types: AtomicU16::new(types.bits()),
            timestamp: AtomicBool::new(timestamp),
            connection_messages: AtomicBool::new(connection_messages),
            json: AtomicBool::new(false),
            destinations: Mutex::new(Destinations {
                stdout: false,
                stderr: true,
                file: None,
                syslog: None,
                dlt: None,
                topic: false,
                topic_sink: None,
            }),
            timestamp_format: Mutex::new(None),
        }
    }

    /// Sets `log_timestamp_format` (`None`: epoch seconds). A format with a NUL byte cannot
    /// reach C and is treated as absent (the configuration parser never produces one).
    pub fn set_timestamp_format(&self, format: Option<&str>) {
        let format = format.and_then(|format| CString::new(format).ok());
        *self.timestamp_format.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = format;
    }

    /// Switches to the `log_dest` destinations of `config` (stderr when it names none),
    /// opening (or, on SIGHUP, reopening: log rotation) the log file in append mode and
    /// connecting to the system logger with the `log_facility`.
    ///
    /// # Errors
    /// The log file cannot be opened; the destinations are then left as they were.
    pub fn open_destinations(&self, config: &Config) -> std::io::Result<()> {
        let dest =
            config.log_dest.clone().unwrap_or(LogDest { stderr: true, ..LogDest::default() });
        let file = match &dest.file {
            Some(path) => Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
            None => None,
        };
        let mut destinations =
            self.destinations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let syslog = dest.syslog.then(|| syslog::Syslog::new(config.log_facility));
        // As Mosquitto on SIGHUP: leave the DLT daemon before registering again.
        drop(destinations.dlt.take());
        let dlt = if dest.dlt { dlt::Dlt::open() } else { None };
        *destinations = Destinations {
            stdout: dest.stdout,
            stderr: dest.stderr,
            file,
            syslog,
            dlt,
            topic: dest.topic,
            topic_sink: destinations.topic_sink.take(),
        };
        Ok(())
    }

    /// The lines of `log_dest topic` from now on, for the driver to publish. (Lines logged
    /// before, and while nobody receives them, are dropped.)
    pub(crate) fn topic_lines(&self) -> tokio::sync::mpsc::Receiver<topic::TopicLine> {
        let (sink, lines) = topic::channel();
        self.destinations.lock().unwrap_or_else(std::sync::PoisonError::into_inner).topic_sink =
            Some(sink);
        lines
    }

    /// A logger for a configuration; `forced` log types come from the command line (`-v`,
    /// `-q`) and win over the file's.
    pub fn from_config(config: &Config, forced: Option<LogTypes>) -> Self {
        let logger = Self::new(
            config.effective_log_types(forced),
            config.log_timestamp,
            config.connection_messages,
        );
        logger.set_timestamp_format(config.log_timestamp_format.as_deref());
        logger.json.store(config.log_format == LogFormat::Json, Ordering::Relaxed);
        logger
    }

    /// Applies a reloaded configuration; `forced` as for [`Logger::from_config`].
    pub fn reconfigure(&self, config: &Config, forced: Option<LogTypes>) {
        self.types.store(config.effective_log_types(forced).bits(), Ordering::Relaxed);
        self.timestamp.store(config.log_timestamp, Ordering::Relaxed);
        self.connection_messages.store(config.connection_messages, Ordering::Relaxed);
        self.set_timestamp_format(config.log_timestamp_format.as_deref());
        self.json.store(config.log_format == LogFormat::Json, Ordering::Relaxed);
    }

    /// Whether lines of `kind` are printed; check it before formatting an expensive line.
    pub fn enabled(&self, kind: LogTypes) -> bool {
        LogTypes::from_bits(self.types.load(Ordering::Relaxed)).contains(kind)
    }

    /// Whether connect/disconnect lines are printed (`connection_messages`) at `kind`.
    pub fn connection_enabled(&self, kind: LogTypes) -> bool {
        self.connection_messages.load(Ordering::Relaxed) && self.enabled(kind)
    }

    /// Prints one line of `kind` if enabled.
    pub fn log(&self, kind: LogTypes, text: fmt::Arguments<'_>) {
        if self.enabled(kind) {
            if kind == LogTypes::ERROR {
                remember_error(text);
            }
            self.write_line(kind, text);
        }
    }

    /// Prints a connect/disconnect line (subject to `connection_messages`).
    pub fn connection(&self, kind: LogTypes, text: fmt::Arguments<'_>) {
        if self.connection_enabled(kind) {
            self.write_line(kind, text);
        }
    }

    /// Prints a line whatever the log types (used for errors before logging is configured,
    /// as Mosquitto does).
    pub fn always(&self, text: fmt::Arguments<'_>) {
        if text.to_string().starts_with("Error") {
            remember_error(text);
        }
        self.write_line(LogTypes::ERROR, text);
    }

    fn write_line(&self, kind: LogTypes, text: fmt::Arguments<'_>) {
        let now = epoch_seconds();
        let timestamp = self.timestamp.load(Ordering::Relaxed);
        let line = if !timestamp {
            format_line(None, text)
        } else {
            let format =
                self.timestamp_format.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match format.as_deref() {
                Some(format) => format!("{}: {text}\n", strftime_now(format)),
                None => format_line(Some(now), text),
            }
        };
        // stdout, stderr and the file get JSON under `log_format json`.
        let json = self.json.load(Ordering::Relaxed).then(|| {
            let millis = timestamp.then(epoch_millis);
            json::line(kind, &text.to_string(), millis)
        });
        let stream_line = json.as_deref().unwrap_or(&line);
        // One write per line and destination so concurrent lines do not interleave; a closed
        // stderr (daemon mode, a closed pipe) or a full disk must never stop the broker.
        let mut destinations =
            self.destinations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if destinations.stderr {
            let _ = std::io::stderr().lock().write_all(stream_line.as_bytes());
        }
        if destinations.stdout {
            let _ = std::io::stdout().lock().write_all(stream_line.as_bytes());
        }
        if let Some(file) = destinations.file.as_mut() {
            let _ = file.write_all(stream_line.as_bytes());
        }
        if let (true, Some(sink), Some(topic)) =
            (destinations.topic, &destinations.topic_sink, topic::topic(kind))
        {
            let _ = sink.try_send((topic, line.trim_end_matches('\n').to_owned()));
        }
        if let Some(syslog) = destinations.syslog.as_mut() {
            let now = i64::try_from(now).unwrap_or(i64::MAX);
            syslog.send(kind, line.trim_end_matches('\n'), now);
        }
        if let Some(dlt) = destinations.dlt.as_mut() {
            dlt.send(kind, line.trim_end_matches('\n'));
        }
    }
}

/// The first error line any logger of the process printed (without its timestamp).
static FIRST_ERROR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn remember_error(text: fmt::Arguments<'_>) {
    FIRST_ERROR.get_or_init(|| text.to_string());
}

/// The first error line this process logged, if any: what a failed start reports to systemd
/// as its status.
pub fn first_error() -> Option<&'static str> {
    FIRST_ERROR.get().map(String::as_str)
}

/// Formats one line: `<seconds>: <text>\n`, or `<text>\n` without a timestamp.
pub fn format_line(timestamp: Option<u64>, text: fmt::Arguments<'_>) -> String {
    match timestamp {
        Some(seconds) => format!("{seconds}: {text}\n"),
        None => format!("{text}\n"),
    }
}

/// The current local time through C's `strftime(format)`, as Mosquitto prints it (see
/// [`culex_compat::time`] for why the libc call). An empty or over-long (4 KiB) result gives
/// an empty timestamp.
fn strftime_now(format: &CStr) -> String {
    let now = i64::try_from(epoch_seconds()).unwrap_or(i64::MAX);
    String::from_utf8_lossy(&culex_compat::time::strftime_local(now, format)).into_owned()
}

fn epoch_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Logs through a [`Logger`] at a level: `log!(logger, NOTICE, "Client {} disconnected.", id)`.
#[macro_export]
macro_rules! log {
    ($logger:expr, $kind:ident, $($arg:tt)+) => {
        $logger.log($crate::config::LogTypes::$kind, format_args!($($arg)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_mosquittos_shape() {
        assert_eq!(
            format_line(Some(1_795_312_665), format_args!("mosquitto {}", 1)),
            "1795312665: mosquitto 1\n"
        );
        assert_eq!(format_line(None, format_args!("x")), "x\n");
    }

    #[test]
    fn timestamp_format_is_c_strftime() {
        let year = strftime_now(c"%Y");
        assert_eq!(year.len(), 4, "{year}");
        assert!(year.starts_with("20"), "{year}");
        assert_eq!(strftime_now(c"abc %% x"), "abc % x");
        let long = "%Y".repeat(30);
        assert_eq!(strftime_now(&CString::new(long).unwrap()), year.repeat(30));
    }

    #[test]
    fn filtering_follows_log_types_and_connection_messages() {
        let logger = Logger::new(LogTypes::DEFAULT, true, false);
        assert!(logger.enabled(LogTypes::NOTICE));
        assert!(!logger.enabled(LogTypes::DEBUG));
        assert!(!logger.connection_enabled(LogTypes::NOTICE));
        let mut config = Config::default();
        logger.reconfigure(&config, Some(LogTypes::ALL));
        assert!(logger.enabled(LogTypes::DEBUG));
        assert!(logger.connection_enabled(LogTypes::NOTICE));
        config.log_types = Some(LogTypes::NONE);
        logger.reconfigure(&config, None);
        assert!(!logger.enabled(LogTypes::ERROR));
    }
}
