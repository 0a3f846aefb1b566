//! TLS listeners with rustls: the server configuration built from a listener's `certfile`,
//! `keyfile`, `cafile`, `capath`, `crlfile`, `ciphers`, `ciphers_tls1.3` (OpenSSL's suite
//! names mapped to rustls's suites), `require_certificate` and `tls_version` when it opens
//! (with Mosquitto's error lines), the stream a connection task serves, and the username a
//! client certificate gives (`use_identity_as_username`, `use_subject_as_username`).

mod subject;

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use mqtt_core::CertificateUsername;
use rustls::RootCertStore;
use rustls::SupportedCipherSuite;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::Transport;
use crate::config::TlsOptions;

/// A listener's TLS settings, ready to accept.
pub(crate) struct TlsListener {
    acceptor: TlsAcceptor,
    /// Whether (and how) the username comes from the client certificate.
    username_from: Option<UsernameFrom>,
}

/// Which part of the client certificate becomes the username.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UsernameFrom {
    /// `use_identity_as_username`: the subject's first common name.
    CommonName,
    /// `use_subject_as_username`: the whole subject, RFC 2253.
    Subject,
}

/// A listener's TLS files or options that cannot be used. The lines are Mosquitto's (without
/// the OpenSSL detail lines, which name rustls's reason instead).
#[derive(Debug, thiserror::Error)]
#[error("{}", .lines.join(" "))]
pub struct TlsError {
    /// The lines to log, each starting with `Error: `.
    pub lines: Vec<String>,
}

impl TlsError {
    fn new(line: String, detail: impl std::fmt::Display) -> Self {
        Self { lines: vec![format!("Error: {line}"), format!("Error: {detail}")] }
    }
}

impl TlsListener {
    /// Builds the TLS settings of a listener whose `certfile` is set, reading its files.
    ///
    /// # Errors
    /// A file that cannot be read or holds no usable certificate or key, a key that does not
    /// match the certificate, or an unsupported `tls_version`.
    pub(crate) fn new(options: &TlsOptions) -> Result<Self, TlsError> {
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites = cipher_suites(options)?;
        let provider = Arc::new(provider);
        let versions: &[&rustls::SupportedProtocolVersion] = match options.tls_version.as_deref() {
            None | Some("tlsv1.2") => &[&rustls::version::TLS13, &rustls::version::TLS12],
            Some("tlsv1.3") => &[&rustls::version::TLS13],
            Some(other) => {
                let mut lines = vec![format!("Error: Unsupported tls_version \"{other}\".")];
                if other == "tlsv1.1" {
                    lines.push(
                        "Error: culex's TLS (rustls) offers TLS 1.2 and 1.3 only; use tlsv1.2."
                            .to_owned(),
                    );
                }
                return Err(TlsError { lines });
            }
        };
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(|err| TlsError::new("Unable to set up TLS.".to_owned(), err))?;
        let builder = match ca_roots(options)? {
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if options.require_certificate {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                // As OpenSSL's CRL check: the client's own certificate, which its issuer's
                // list must cover.
                let verifier = match &options.crlfile {
                    Some(file) => {
                        verifier.with_crls(read_crls(file)?).only_check_end_entity_revocation()
                    }
                    None => verifier,
                };
                let verifier = verifier.build().map_err(|err| {
                    TlsError::new("Unable to load CA certificates.".to_owned(), err)
                })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let certfile = options.certfile.as_deref().unwrap_or_default();
        let keyfile = options.keyfile.as_deref().unwrap_or_default();
        let chain = read_certificates(Path::new(certfile)).map_err(|detail| {
            TlsError::new(
                format!("Unable to load server certificate \"{certfile}\". Check certfile."),
                detail,
            )
        })?;
        let key = PrivateKeyDer::from_pem_file(keyfile).map_err(|err| {
            TlsError::new(
                format!("Unable to load server key file \"{keyfile}\". Check keyfile."),
                err,
            )
        })?;
        let config = builder.with_single_cert(chain, key).map_err(|err| {
            TlsError::new("Server certificate/key are inconsistent.".to_owned(), err)
        })?;
        let username_from = if options.use_identity_as_username {
            Some(UsernameFrom::CommonName)
        } else if options.use_subject_as_username {
            Some(UsernameFrom::Subject)
        } else {
            None
        };
        Ok(Self { acceptor: TlsAcceptor::from(Arc::new(config)), username_from })
    }

    /// Runs the TLS handshake on an accepted socket. Returns the stream and, when the
    /// listener takes usernames from certificates, the one this client's certificate gives.
    ///
    /// # Errors
    /// When the handshake fails (bad or missing client certificate, protocol error, socket).
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
    ) -> std::io::Result<(TlsStream, Option<CertificateUsername>)> {
        // A client that sends nothing costs no TLS state: rustls's is made when the
        // ClientHello is there (or the stream ends), and lives in a box only while the
        // handshake runs. (`readable` alone would not do: a new socket is reported readable
        // once whatever it holds.)
        stream.peek(&mut [0]).await?;
        let handshake = self.acceptor.accept(stream);
        let stream = Box::pin(handshake).await?;
        let username = self.username_from.map(|from| {
            let certificate =
                stream.get_ref().1.peer_certificates().and_then(|chain| chain.first());
            let name = certificate.and_then(|der| match from {
                UsernameFrom::CommonName => subject::common_name(der),
                UsernameFrom::Subject => subject::rfc2253(der),
            });
            name.map_or(CertificateUsername::Missing, CertificateUsername::Name)
        });
        Ok((TlsStream(stream), username))
    }
}

/// The suites a listener offers: `ciphers_tls1.3` (else every TLS 1.3 suite), then `ciphers`
/// (else every TLS 1.2 suite), with Mosquitto's lines for a list it cannot use.
fn cipher_suites(options: &TlsOptions) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    crate::ciphers::suites_of(options.ciphers.as_deref(), options.ciphers_tls13.as_deref())
        .map_err(|err| TlsError { lines: err.lines })
}

/// The CA certificates of `cafile` and `capath`, if either is set.
fn ca_roots(options: &TlsOptions) -> Result<Option<RootCertStore>, TlsError> {
    if options.cafile.is_none() && options.capath.is_none() {
        return Ok(None);
    }
    let check = match (&options.cafile, &options.capath) {
        (Some(file), Some(path)) => format!("cafile \"{file}\" and capath \"{path}\""),
        (Some(file), None) => format!("cafile \"{file}\""),
        (None, path) => format!("capath \"{}\"", path.as_deref().unwrap_or_default()),
    };
    let fail = |detail: String| {
        TlsError::new(format!("Unable to load CA certificates. Check {check}."), detail)
    };
    let mut roots = RootCertStore::empty();
    let mut add = |certificates: Vec<CertificateDer<'static>>| -> Result<(), String> {
        for certificate in certificates {
            roots.add(certificate).map_err(|err| err.to_string())?;
        }
        Ok(())
    };
    if let Some(file) = &options.cafile {
        add(read_certificates(Path::new(file)).map_err(&fail)?).map_err(&fail)?;
    }
    if let Some(dir) = &options.capath {
        let entries = std::fs::read_dir(dir).map_err(|err| fail(err.to_string()))?;
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| !kind.is_dir()))
            .map(|entry| entry.path())
            .collect();
        files.sort();
        // Like OpenSSL's hashed directories, files that hold no certificate are skipped.
        for file in files {
            if let Ok(certificates) = read_certificates(&file) {
                add(certificates).map_err(&fail)?;
            }
        }
        if roots.is_empty() {
            return Err(fail(format!("no PEM certificate in {dir}")));
        }
    }
    Ok(Some(roots))
}

/// Every PEM certificate revocation list in `file` (`crlfile`); none is an error.
fn read_crls(file: &str) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let fail = |detail: String| {
        TlsError::new(
            format!("Unable to load certificate revocation file \"{file}\". Check crlfile."),
            detail,
        )
    };
    let crls = CertificateRevocationListDer::pem_file_iter(file)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|err| fail(err.to_string()))?;
    if crls.is_empty() {
        return Err(fail(format!("no PEM certificate revocation list in {file}")));
    }
    Ok(crls)
}

/// Every PEM certificate in `path`; none is an error.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|err| err.to_string())?;
    if certificates.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certificates)
}

/// A TLS connection as a connection task serves it.
///
/// rustls keeps what does not fit the socket at once; the connection task never flushes
/// (plain TCP needs no flush), so this stream drives those bytes out itself: before a write
/// accepts more, and whenever the task comes back to read.
pub(crate) struct TlsStream(tokio_rustls::server::TlsStream<TcpStream>);

impl TlsStream {
    /// Moves what rustls holds towards the socket; errors show on the next read or write.
    fn push_queued(&mut self, cx: &mut Context<'_>) {
        let _ = Pin::new(&mut self.0).poll_flush(cx);
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        this.push_queued(cx);
        Pin::new(&mut this.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.0).poll_flush(cx))?;
        let written = ready!(Pin::new(&mut this.0).poll_write(cx, buf))?;
        this.push_queued(cx);
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.0).poll_flush(cx))?;
        let written = ready!(Pin::new(&mut this.0).poll_write_vectored(cx, bufs))?;
        this.push_queued(cx);
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    /// Sends TLS close_notify, flushes and shuts the socket down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl Transport for TlsStream {
    /// rustls may hold decrypted bytes the socket no longer shows: always ready, and the
    /// connection task drops its read buffer again when the read finds nothing.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn reset_on_drop(&self) -> std::io::Result<()> {
        self.0.get_ref().0.reset_on_drop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_offers_the_suites_its_lists_select() {
        let all = cipher_suites(&TlsOptions::default()).ok().map(|suites| suites.len());
        assert_eq!(all, Some(rustls::crypto::ring::ALL_CIPHER_SUITES.len()));
        let options = TlsOptions {
            ciphers: Some("ECDHE-RSA-AES128-GCM-SHA256".into()),
            ..TlsOptions::default()
        };
        assert_eq!(cipher_suites(&options).ok().map(|suites| suites.len()), Some(4));
    }
}
