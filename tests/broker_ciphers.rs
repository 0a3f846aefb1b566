//! `ciphers` and `ciphers_tls1.3` on a TLS listener, in culex and Debian's Mosquitto 2.0.11:
//! a client offering only other suites fails the handshake, one offering the listener's suite
//! is served, and a suite name the TLS library lacks stops the broker with Mosquitto's line.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, Certs, our_bin, reference_tool, run, unused_port,
};

/// `program` with a TLS listener offering `suites` (an option line); returns it and the port.
fn tls_broker(program: &Path, certs: &Certs, suites: &str) -> (BrokerProcess, u16) {
    let broker = BrokerProcess::start_with(
        program,
        2,
        |ports| {
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\nlistener {} 127.0.0.1\n\
                 certfile {}\nkeyfile {}\n{suites}\n",
                ports[0],
                ports[1],
                certs.path("server.crt"),
                certs.path("server.key"),
            )
        },
        &[],
    );
    let port = broker.ports[1];
    (broker, port)
}

/// Whether `openssl s_client` completes a handshake on `port` with `flags` (its version and
/// suite choice).
fn handshake(certs: &Certs, port: u16, flags: &[&str]) -> bool {
    let done = run(
        Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-CAfile"])
            .arg(certs.path("ca.crt"))
            .args(flags)
            .stdin(Stdio::null()),
        COMMAND_DEADLINE,
    );
    done.code() == 0
}

#[test]
fn listeners_offer_only_the_suites_named_like_mosquitto() {
    let certs = Certs::new();
    // The listener's option, the client's flags, a suite it offers and one it does not.
    let rows = [
        (
            "ciphers ECDHE-RSA-AES256-GCM-SHA384",
            ["-tls1_2", "-cipher"],
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ),
        (
            "ciphers_tls1.3 TLS_CHACHA20_POLY1305_SHA256",
            ["-tls1_3", "-ciphersuites"],
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_AES_128_GCM_SHA256",
        ),
    ];
    for program in [our_bin("culex"), reference_tool("mosquitto")] {
        for (option, [version, choice], offered, other) in rows {
            let (_broker, port) = tls_broker(&program, &certs, option);
            let outcomes =
                [offered, other].map(|suite| handshake(&certs, port, &[version, choice, suite]));
            assert_eq!(outcomes, [true, false], "{} with {option}", program.display());
        }
    }
}

#[test]
fn an_unknown_suite_stops_the_broker_like_mosquitto() {
    let certs = Certs::new();
    let config = certs.path("broker.conf");
    for (option, line) in [
        ("ciphers FOO", "Error: Unable to set TLS ciphers. Check cipher list \"FOO\"."),
        (
            "ciphers_tls1.3 FOO",
            "Error: Unable to set TLS 1.3 ciphersuites. Check cipher_tls13 list \"FOO\".",
        ),
    ] {
        std::fs::write(
            &config,
            format!(
                "listener {} 127.0.0.1\ncertfile {}\nkeyfile {}\n{option}\n",
                unused_port(),
                certs.path("server.crt"),
                certs.path("server.key"),
            ),
        )
        .expect("config");
        for program in [our_bin("culex"), reference_tool("mosquitto")] {
            let done = run(Command::new(&program).arg("-c").arg(&config), COMMAND_DEADLINE);
            assert_eq!(done.code(), 1, "{}: {}", program.display(), done.stderr);
            assert!(done.stderr.contains(line), "{}: {}", program.display(), done.stderr);
        }
    }
}
