//! The `bridge_*` TLS options as culex-client's rustls settings, built once per connection
//! attempt so that a file that cannot be used gives Mosquitto's log line. `bridge_ciphers` and
//! `bridge_ciphers_tls1.3` are mapped onto rustls suites by the listener's table.

use std::path::PathBuf;

use culex_client::options::{TlsSettings, TlsVersions};

use crate::config::BridgeTls;

/// The rustls settings of the `bridge_*` TLS options (`None`: plain TCP), checked by building
/// them once: an error is Mosquitto's log line for it, then rustls's reason.
pub(super) fn tls_settings(tls: &BridgeTls) -> Result<Option<TlsSettings>, Vec<String>> {
    if !tls.enabled() {
        return Ok(None);
    }
    let versions = match tls.version.as_deref() {
        None | Some("tlsv1.2" | "tlsv1.1") => TlsVersions::Tls12AndUp,
        Some("tlsv1.3") => TlsVersions::Tls13Only,
        Some(other) => return Err(vec![format!("Error: Protocol {other} not supported.")]),
    };
    let mut settings = TlsSettings {
        cafile: tls.cafile.as_ref().map(PathBuf::from),
        capath: tls.capath.as_ref().map(PathBuf::from),
        use_os_certs: tls.use_os_certs,
        client_auth: None,
        insecure: tls.insecure,
        alpn: tls.alpn.clone(),
        versions,
        ciphers: None,
        suites: None,
        keylog: None,
    };
    if tls.ciphers.is_some() || tls.ciphers_tls13.is_some() {
        let suites =
            crate::ciphers::suites_of(tls.ciphers.as_deref(), tls.ciphers_tls13.as_deref())
                .map_err(|err| err.lines)?;
        settings.suites = Some(suites.iter().map(|suite| suite.suite()).collect());
    }
    if let Err(err) = culex_client::tls::client_config(&settings) {
        let check = match (&tls.cafile, &tls.capath) {
            (Some(file), Some(path)) => {
                format!("bridge_cafile \"{file}\" and bridge_capath \"{path}\"")
            }
            (Some(file), None) => format!("bridge_cafile \"{file}\""),
            (None, Some(path)) => format!("bridge_capath \"{path}\""),
            // Only bridge_tls_use_os_certs: the system's store (SSL_CERT_FILE, SSL_CERT_DIR).
            (None, None) => "the system's CA certificates (bridge_tls_use_os_certs)".to_owned(),
        };
        return Err(vec![
            format!("Error: Unable to load CA certificates, check {check}."),
            err.to_string(),
        ]);
    }
    if let (Some(cert), Some(key)) = (&tls.certfile, &tls.keyfile) {
        settings.client_auth = Some((PathBuf::from(cert), PathBuf::from(key)));
        if let Err(err) = culex_client::tls::client_config(&settings) {
            return Err(vec![
                format!("Error: Unable to load client certificate \"{cert}\" or key \"{key}\"."),
                err.to_string(),
            ]);
        }
    }
    Ok(Some(settings))
}
