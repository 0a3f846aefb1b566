//! Connection and run-time errors of the async client, and how Mosquitto's tools report each
//! one: the lines on stderr, the extra `-d` lines, and the exit status.

use std::io;

use culex_compat::strerror;

use crate::text::{MosqError, connack_refusal};
use crate::tls::TlsSetupError;

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The socket could not be opened or connected (`Error: Connection refused`).
    #[error("Error: {}", strerror(.0))]
    Io(io::Error),
    /// Name lookup failed.
    #[error("Unable to connect (Lookup error.).")]
    Lookup,
    /// The TLS configuration could not be built (bad files, unknown cipher names).
    #[error("{0}")]
    TlsSetup(TlsSetupError),
    /// The TLS handshake failed (untrusted or expired certificate, wrong host name …).
    #[error("TLS Error: {0}")]
    TlsHandshake(io::Error),
    /// The SOCKS5 proxy failed.
    #[error("Error: Proxy error: {0}.")]
    Proxy(String),
    /// The broker refused the connection in CONNACK.
    #[error("Connection error: {}", connack_refusal(*.code, *.v5))]
    Refused {
        /// CONNACK return / reason code.
        code: u8,
        /// Whether the connection used MQTT 5.
        v5: bool,
    },
    /// The connection closed before CONNACK.
    #[error("Error: The connection was lost.")]
    Lost,
    /// The broker broke the protocol before CONNACK.
    #[error("Error: {}", MosqError::Protocol.text())]
    Protocol(String),
}

impl ConnectError {
    /// Lines Mosquitto prints only with `-d` (on stdout) for this error, after the debug lines
    /// already printed.
    pub fn debug_lines(&self) -> Vec<String> {
        match self {
            Self::TlsSetup(err) => vec![err.to_string()],
            Self::TlsHandshake(_) => vec![self.to_string()],
            _ => Vec::new(),
        }
    }

    /// What `mosquitto_pub` prints on stderr (each line with its newline).
    pub fn pub_stderr(&self) -> String {
        match self {
            Self::TlsSetup(_) => "Unable to connect (A TLS error occurred.).\n".to_owned(),
            Self::TlsHandshake(_) => format!("Error: {}\n", MosqError::Tls.text()),
            Self::Refused { v5, .. } => {
                let follow = if *v5 { MosqError::Protocol } else { MosqError::ConnRefused };
                format!("{self}\nError: {}\n", follow.text())
            }
            other => format!("{other}\n"),
        }
    }

    /// What `mosquitto_sub` prints on stderr.
    pub fn sub_stderr(&self) -> String {
        match self {
            Self::Refused { .. } => format!("{self}\n"),
            _ => self.pub_stderr(),
        }
    }

    /// The exit status Mosquitto's tools use for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Refused { code, .. } => *code,
            Self::TlsHandshake(_) => MosqError::Tls.code(),
            Self::Lost => MosqError::ConnLost.code(),
            Self::Protocol(_) => MosqError::Protocol.code(),
            Self::Proxy(_) => MosqError::Proxy.code(),
            Self::Io(_) | Self::Lookup | Self::TlsSetup(_) => 1,
        }
    }
}

/// Why an established connection ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker closed the connection (or it broke) without a DISCONNECT.
    #[error("Error: The connection was lost.")]
    ConnectionLost,
    /// The broker sent something malformed or illegal.
    #[error("Error: {}", MosqError::Protocol.text())]
    Protocol(String),
    /// No PINGRESP in time.
    #[error("Error: The connection was lost.")]
    KeepaliveTimeout,
    /// A packet could not be encoded (e.g. larger than the broker's maximum packet size).
    #[error("Error: {}", MosqError::OversizePacket.text())]
    Encode(String),
    /// Writing to the socket failed.
    #[error("Error: {}", strerror(.0))]
    Io(io::Error),
}

impl ClientError {
    /// The libmosquitto error number, which the tools use as exit status.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::ConnectionLost | Self::KeepaliveTimeout | Self::Io(_) => {
                MosqError::ConnLost.code()
            }
            Self::Protocol(_) => MosqError::Protocol.code(),
            Self::Encode(_) => MosqError::OversizePacket.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_print_like_mosquitto_pub() {
        let v3 = ConnectError::Refused { code: 5, v5: false };
        assert_eq!(
            v3.pub_stderr(),
            "Connection error: Connection Refused: not authorised.\nError: The connection was refused.\n"
        );
        assert_eq!(v3.sub_stderr(), "Connection error: Connection Refused: not authorised.\n");
        assert_eq!(v3.exit_code(), 5);
        let v5 = ConnectError::Refused { code: 135, v5: true };
        assert_eq!(
            v5.pub_stderr(),
            "Connection error: Not authorized\nError: A network protocol error occurred when communicating with the broker.\n"
        );
        assert_eq!(v5.exit_code(), 135);
    }

    #[test]
    fn io_errors_print_strerror() {
        let refused = ConnectError::Io(io::Error::from_raw_os_error(111));
        assert_eq!(refused.pub_stderr(), "Error: Connection refused\n");
        assert_eq!(refused.exit_code(), 1);
    }
}
