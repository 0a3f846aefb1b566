//! rustls client configuration from the TLS options: trust roots (`--cafile`, `--capath`, OS
//! certificates), client certificate, `--insecure`, `--tls-version`, `--ciphers`, `--tls-alpn`,
//! `--tls-keylog`.
//! Built only when TLS is used, so plain connections pay nothing for it.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, CipherSuite, ClientConfig, DigitallySignedStruct, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::options::{TlsSettings, TlsVersions};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A certificate or key file could not be read or parsed.
    #[error("Error: Problem setting TLS options: {0}.")]
    File(String),
    /// No usable trust anchor was found.
    #[error("Error: Problem setting TLS options: no CA certificates could be loaded.")]
    NoRoots,
    /// `--ciphers` selected no TLS 1.2 suite that rustls implements.
    #[error("Error: Unable to set TLS ciphers. Check cipher list \"{0}\".")]
    UnknownCipher(String),
    /// rustls refused the combination.
    #[error("Error: Problem setting TLS options, check the options are valid.")]
    Rustls(#[from] rustls::Error),
}

/// OpenSSL's names for the TLS 1.2 suites rustls implements.
const OPENSSL_NAMES: &[(&str, CipherSuite)] = &[
    ("ECDHE-ECDSA-AES256-GCM-SHA384", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ("ECDHE-RSA-AES256-GCM-SHA384", CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-RSA-AES128-GCM-SHA256", CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-RSA-CHACHA20-POLY1305", CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ("TLS_AES_256_GCM_SHA384", CipherSuite::TLS13_AES_256_GCM_SHA384),
    ("TLS_AES_128_GCM_SHA256", CipherSuite::TLS13_AES_128_GCM_SHA256),
    ("TLS_CHACHA20_POLY1305_SHA256", CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
];

/// Whether an OpenSSL cipher-string word selects `name` (an OpenSSL suite name). Besides exact
/// names, the words that describe sets are understood: every suite rustls offers is "HIGH".
fn word_selects(word: &str, name: &str) -> bool {
    match word.to_ascii_uppercase().as_str() {
        "HIGH" | "DEFAULT" | "ALL" | "COMPLEMENTOFDEFAULT" | "SECURE" => true,
        "ECDHE" | "EECDH" | "KEECDH" | "AECDHE" => name.starts_with("ECDHE-"),
        "AECDSA" | "ECDSA" => name.contains("-ECDSA-"),
        "ARSA" | "RSA" => name.contains("-RSA-"),
        "AESGCM" | "AES" => name.contains("AES"),
        "AES128" => name.contains("AES128"),
        "AES256" => name.contains("AES256"),
        "CHACHA20" => name.contains("CHACHA20"),
        upper => name.eq_ignore_ascii_case(upper),
    }
}

/// The crypto provider with `--ciphers` applied. Like OpenSSL's cipher list it restricts the
/// TLS 1.2 suites (TLS 1.3 suites stay); `!word` / `-word` remove, `@…` directives are
/// ignored, words naming nothing rustls has are skipped, and a list that selects no TLS 1.2
/// suite at all is an error, as OpenSSL's "no cipher match".
fn provider(ciphers: Option<&str>) -> Result<CryptoProvider, TlsSetupError> {
    let mut provider = rustls::crypto::ring::default_provider();
    let Some(list) = ciphers else { return Ok(provider) };
    let mut wanted: Vec<CipherSuite> = Vec::new();
    for word in list.split([':', ',', ' ']).filter(|word| !word.is_empty()) {
        let (remove, word) = match word.strip_prefix(['!', '-']) {
            Some(rest) => (true, rest),
            None => (false, word.trim_start_matches('+')),
        };
        if word.starts_with('@') {
            continue;
        }
        for (name, suite) in OPENSSL_NAMES {
            if word_selects(word, name) {
                if remove {
                    wanted.retain(|kept| kept != suite);
                } else if !wanted.contains(suite) {
                    wanted.push(*suite);
                }
            }
        }
    }
    provider
        .cipher_suites
        .retain(|suite| suite.tls13().is_some() || wanted.contains(&suite.suite()));
    if !provider.cipher_suites.iter().any(|suite| suite.tls13().is_none()) {
        return Err(TlsSetupError::UnknownCipher(list.to_owned()));
    }
    Ok(provider)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let describe = |err: &dyn std::fmt::Display| format!("{}: {err}", path.display());
    CertificateDer::pem_file_iter(path)
        .map_err(|err| TlsSetupError::File(describe(&err)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsSetupError::File(describe(&err)))
}

fn root_store(settings: &TlsSettings) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    if let Some(cafile) = &settings.cafile {
        roots.add_parsable_certificates(load_certs(cafile)?);
    }
    if let Some(capath) = &settings.capath {
        let entries = std::fs::read_dir(capath)
            .map_err(|err| TlsSetupError::File(format!("{}: {err}", capath.display())))?;
        for entry in entries.flatten() {
            // Like OpenSSL's hashed directory, files that are not certificates are skipped.
            if let Ok(certs) = load_certs(&entry.path()) {
                roots.add_parsable_certificates(certs);
            }
        }
    }
    if settings.use_os_certs {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    if roots.is_empty() {
        return Err(TlsSetupError::NoRoots);
    }
    Ok(roots)
}

/// Builds the rustls configuration for `settings`.
///
/// # Errors
/// Unreadable files, no trust anchors, unknown cipher names.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut provider = provider(settings.ciphers.as_deref())?;
    if let Some(suites) = &settings.suites {
        provider.cipher_suites.retain(|suite| suites.contains(&suite.suite()));
    }
    let provider = Arc::new(provider);
    let versions: &[&rustls::SupportedProtocolVersion] = match settings.versions {
        TlsVersions::Tls12AndUp => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersions::Tls13Only => &[&rustls::version::TLS13],
    };
    let roots = Arc::new(root_store(settings)?);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|err| TlsSetupError::File(err.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> =
        if settings.insecure { Arc::new(IgnoreHostName(webpki)) } else { webpki };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &settings.client_auth {
        Some((cert, key)) => {
            let chain = load_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|err| TlsSetupError::File(format!("{}: {err}", key.display())))?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    if let Some(alpn) = &settings.alpn {
        config.alpn_protocols = vec![alpn.as_bytes().to_vec()];
    }
    if let Some(path) = &settings.keylog {
        config.key_log = Arc::new(KeyLogFile(path.clone()));
    }
    Ok(Arc::new(config))
}

/// `--tls-keylog`: each secret is appended to the file as one NSS key-log line
/// (`<label> <client random hex> <secret hex>`), the file opened for each line as Mosquitto
/// does, so that a reader sees every line as soon as it is written. A file that cannot be
/// written loses the line; the connection goes on.
#[derive(Debug)]
struct KeyLogFile(std::path::PathBuf);

impl rustls::KeyLog for KeyLogFile {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        use std::fmt::Write as _;
        use std::io::Write as _;
        let mut line = format!("{label} ");
        for byte in client_random {
            let _ = write!(line, "{byte:02x}");
        }
        line.push(' ');
        for byte in secret {
            let _ = write!(line, "{byte:02x}");
        }
        line.push('\n');
        let file = std::fs::OpenOptions::new().append(true).create(true).open(&self.0);
        if let Ok(mut file) = file {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// The name to verify the server certificate against (and send as SNI).
///
/// # Errors
/// `host` is neither an IP address nor a valid DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsSetupError> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| TlsSetupError::File(format!("invalid host name for TLS '{host}'")))
}

/// `--insecure`: the chain must still lead to a trusted CA, but the host name is not checked
/// (Mosquitto 2.0's meaning of the flag).
#[derive(Debug)]
struct IgnoreHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphers_restrict_tls12_suites_and_keep_tls13() {
        let provider = provider(Some("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
        let tls12: Vec<_> = provider.cipher_suites.iter().filter(|s| s.tls13().is_none()).collect();
        assert_eq!(tls12.len(), 1);
        assert!(provider.cipher_suites.iter().any(|s| s.tls13().is_some()));
        assert!(matches!(provider_err("FOO"), TlsSetupError::UnknownCipher(name) if name == "FOO"));
        let high = super::provider(Some("HIGH:!aNULL:!MD5:@STRENGTH")).unwrap();
        let all = rustls::crypto::ring::default_provider().cipher_suites.len();
        assert_eq!(high.cipher_suites.len(), all);
        let no_rsa = super::provider(Some("HIGH:!aRSA")).unwrap();
        assert!(no_rsa.cipher_suites.iter().all(|s| !format!("{:?}", s.suite()).contains("_RSA_")));
    }

    fn provider_err(list: &str) -> TlsSetupError {
        provider(Some(list)).err().unwrap()
    }

    #[test]
    fn server_names_accept_hosts_and_addresses() {
        assert!(server_name("localhost").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("bad name").is_err());
    }
}
