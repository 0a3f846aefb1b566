//! `log_dest syslog`: each log line as one datagram to the system logger's socket, `/dev/log`,
//! in the form the C library's `syslog()` gives it with Mosquitto's `openlog` options
//! (`<priority>Mmm dd hh:mm:ss ident[pid]: line`). The facility is `daemon`, or `local<N>`
//! with `log_facility N`; each log type has Mosquitto's severity.

use std::ffi::CStr;
use std::os::unix::net::UnixDatagram;

use crate::config::LogTypes;

/// The system logger's socket.
const SOCKET: &str = "/dev/log";
/// The name lines carry, as Mosquitto's carry `mosquitto`.
const IDENT: &str = "culex";
/// The C library's `LOG_DAEMON` facility code.
const DAEMON: u8 = 3;
/// `LOG_LOCAL0`; `local<N>` is this plus N.
const LOCAL0: u8 = 16;
/// The header's time stamp, as the C library writes it.
const STAMP: &CStr = c"%h %e %T";

/// The connection to the system logger. Lines are dropped while it cannot be reached (no
/// `/dev/log`, or its queue is full: the broker never waits for the logger), as the C
/// library drops them; each line tries to connect again.
#[derive(Debug)]
pub(super) struct Syslog {
    /// The facility code.
    facility: u8,
    socket: Option<UnixDatagram>,
}

impl Syslog {
    /// Connects to the system logger for facility `local<N>` (`log_facility N`) or `daemon`.
    pub(super) fn new(log_facility: Option<u8>) -> Self {
        let facility = log_facility.map_or(DAEMON, |n| LOCAL0 + n);
        Self { facility, socket: connect() }
    }

    /// Sends `line` (without its newline) as a line of `kind` at the Unix time `now`.
    pub(super) fn send(&mut self, kind: LogTypes, line: &str, now: i64) {
        let stamp = culex_compat::time::strftime_local(now, STAMP);
        let datagram = datagram(
            self.facility * 8 + severity(kind),
            &String::from_utf8_lossy(&stamp),
            std::process::id(),
            line,
        );
        let sent = self.socket.as_ref().is_some_and(|s| s.send(datagram.as_bytes()).is_ok());
        if !sent {
            // The logger may have restarted: one new connection per line at most.
            self.socket = connect();
            if let Some(socket) = &self.socket {
                let _ = socket.send(datagram.as_bytes());
            }
        }
    }
}

/// A non-blocking datagram socket connected to [`SOCKET`], if there is a logger.
fn connect() -> Option<UnixDatagram> {
    let socket = UnixDatagram::unbound().ok()?;
    socket.connect(SOCKET).ok()?;
    socket.set_nonblocking(true).ok()?;
    Some(socket)
}

/// Mosquitto's syslog severity of a log type: error 3, warning 4, notice, subscribe and
/// unsubscribe 5, information 6, debug and websockets 7.
fn severity(kind: LogTypes) -> u8 {
    const SEVERITIES: [(LogTypes, u8); 8] = [
        (LogTypes::ERROR, 3),
        (LogTypes::WARNING, 4),
        (LogTypes::NOTICE, 5),
        (LogTypes::SUBSCRIBE, 5),
        (LogTypes::UNSUBSCRIBE, 5),
        (LogTypes::INFORMATION, 6),
        (LogTypes::DEBUG, 7),
        (LogTypes::WEBSOCKETS, 7),
    ];
    SEVERITIES.iter().find(|(types, _)| kind.contains(*types)).map_or(3, |&(_, severity)| severity)
}

/// One datagram: `<priority>stamp ident[pid]: line`.
fn datagram(priority: u8, stamp: &str, pid: u32, line: &str) -> String {
    format!("<{priority}>{stamp} {IDENT}[{pid}]: {line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_have_the_c_librarys_shape_and_mosquittos_priorities() {
        assert_eq!(
            datagram(DAEMON * 8 + severity(LogTypes::INFORMATION), "Dec  5 20:30:47", 42, "x: y"),
            "<30>Dec  5 20:30:47 culex[42]: x: y"
        );
        let local3 = Syslog { facility: LOCAL0 + 3, socket: None };
        assert_eq!(local3.facility * 8 + severity(LogTypes::DEBUG), 159);
        assert_eq!(Syslog::new(Some(3)).facility, 19);
        assert_eq!(Syslog::new(None).facility, DAEMON);
        let severities: Vec<u8> = [
            LogTypes::ERROR,
            LogTypes::WARNING,
            LogTypes::NOTICE,
            LogTypes::SUBSCRIBE,
            LogTypes::UNSUBSCRIBE,
            LogTypes::INFORMATION,
            LogTypes::DEBUG,
            LogTypes::WEBSOCKETS,
            LogTypes::INTERNAL,
        ]
        .into_iter()
        .map(severity)
        .collect();
        assert_eq!(severities, [3, 4, 5, 5, 5, 6, 7, 7, 3]);
    }

    #[test]
    fn lines_reach_a_logger_socket() {
        let dir = std::env::temp_dir().join(format!("culex-syslog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let logger = UnixDatagram::bind(&path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.connect(&path).unwrap();
        let mut syslog = Syslog { facility: DAEMON, socket: Some(client) };
        syslog.send(LogTypes::NOTICE, "1: hello", 0);
        let mut buf = [0; 256];
        let n = logger.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("<29>"), "{text}");
        assert!(text.ends_with(&format!(" culex[{}]: 1: hello", std::process::id())), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
