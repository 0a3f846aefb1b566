//! OpenSSL cipher suite names and the rustls suites that are the same suites: the one table
//! behind a listener's `ciphers`/`ciphers_tls1.3` and a bridge's `bridge_ciphers`/
//! `bridge_ciphers_tls1.3`, read by the configuration (to refuse a list with its file and line)
//! and by the TLS setups of listeners and bridges.

use rustls::SupportedCipherSuite;

/// A cipher list culex cannot use: Mosquitto's lines for it, each starting with `Error: `.
#[derive(Debug)]
pub(crate) struct CipherListError {
    /// The lines to log.
    pub(crate) lines: Vec<String>,
}

impl CipherListError {
    fn new(line: String, detail: impl std::fmt::Display) -> Self {
        Self { lines: vec![format!("Error: {line}"), format!("Error: {detail}")] }
    }
}

/// The suites rustls offers, by the names OpenSSL gives them, TLS 1.3 then TLS 1.2.
fn known_suites() -> [(&'static str, SupportedCipherSuite); 9] {
    use rustls::crypto::ring::cipher_suite as suite;
    [
        ("TLS_AES_256_GCM_SHA384", suite::TLS13_AES_256_GCM_SHA384),
        ("TLS_AES_128_GCM_SHA256", suite::TLS13_AES_128_GCM_SHA256),
        ("TLS_CHACHA20_POLY1305_SHA256", suite::TLS13_CHACHA20_POLY1305_SHA256),
        ("ECDHE-ECDSA-AES256-GCM-SHA384", suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
        ("ECDHE-ECDSA-AES128-GCM-SHA256", suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        ("ECDHE-RSA-AES256-GCM-SHA384", suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
        ("ECDHE-RSA-AES128-GCM-SHA256", suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
        ("ECDHE-RSA-CHACHA20-POLY1305", suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ]
}

/// The suites that a `ciphers` (TLS 1.2) and a `ciphers_tls1.3` list select, an unset list
/// meaning every suite of its version; shared by listeners and bridges (`bridge_ciphers`,
/// `bridge_ciphers_tls1.3`), with Mosquitto's lines for a list it cannot use.
///
/// # Errors
/// A name rustls has no suite for, or a list that names none.
pub(crate) fn suites_of(
    ciphers: Option<&str>,
    ciphers_tls13: Option<&str>,
) -> Result<Vec<SupportedCipherSuite>, CipherListError> {
    let tls13 = ciphers_tls13.map(|list| {
        chosen(list, true).map_err(|detail| {
            let line =
                format!("Unable to set TLS 1.3 ciphersuites. Check cipher_tls13 list \"{list}\".");
            CipherListError::new(line, detail)
        })
    });
    let tls12 = ciphers.map(|list| {
        chosen(list, false).map_err(|detail| {
            CipherListError::new(
                format!("Unable to set TLS ciphers. Check cipher list \"{list}\"."),
                detail,
            )
        })
    });
    let all = |tls13: bool| -> Vec<SupportedCipherSuite> {
        known_suites()
            .into_iter()
            .filter(|(_, suite)| suite.tls13().is_some() == tls13)
            .map(|(_, suite)| suite)
            .collect()
    };
    let mut suites = tls13.unwrap_or_else(|| Ok(all(true)))?;
    suites.extend(tls12.unwrap_or_else(|| Ok(all(false)))?);
    Ok(suites)
}

/// The suites an OpenSSL-style list names (separated by `:`, `,` or spaces), all of one TLS
/// version. A name rustls has no suite for is refused, saying which ones it has.
fn chosen(list: &str, tls13: bool) -> Result<Vec<SupportedCipherSuite>, String> {
    let known: Vec<(&str, SupportedCipherSuite)> =
        known_suites().into_iter().filter(|(_, suite)| suite.tls13().is_some() == tls13).collect();
    let suites = list
        .split([':', ',', ' '])
        .filter(|name| !name.is_empty())
        .map(|name| {
            known.iter().find(|(known, _)| *known == name).map(|&(_, suite)| suite).ok_or_else(
                || {
                    let names: Vec<&str> = known.iter().map(|(name, _)| *name).collect();
                    format!(
                        "\"{name}\" is not a {} suite of culex's TLS (rustls), which has only {} \
                     (OpenSSL keywords such as HIGH or !aNULL are not understood).",
                        if tls13 { "TLS 1.3" } else { "TLS 1.2" },
                        names.join(", ")
                    )
                },
            )
        })
        .collect::<Result<Vec<_>, String>>()?;
    if suites.is_empty() {
        return Err("the list names no cipher suite.".to_owned());
    }
    Ok(suites)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_suite_names_map_to_the_same_rustls_suites() {
        let names = |suites: Vec<SupportedCipherSuite>| -> Vec<String> {
            suites.iter().map(|suite| format!("{:?}", suite.suite())).collect()
        };
        let list = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";
        assert_eq!(
            names(chosen(list, false).unwrap()),
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            ]
        );
        assert_eq!(
            names(chosen("TLS_AES_128_GCM_SHA256", true).unwrap()),
            ["TLS13_AES_128_GCM_SHA256"]
        );
        // A TLS 1.3 name in the TLS 1.2 list, an OpenSSL keyword, a suite rustls lacks.
        for (list, tls13) in
            [("TLS_AES_128_GCM_SHA256", false), ("HIGH", false), ("TLS_AES_128_CCM_SHA256", true)]
        {
            let refusal = chosen(list, tls13).unwrap_err();
            assert!(refusal.starts_with(&format!("\"{list}\" is not a TLS 1.")), "{refusal}");
        }
        assert_eq!(chosen(":", false).unwrap_err(), "the list names no cipher suite.");
    }
}
