//! `crlfile` on a TLS listener, in culex and Debian's Mosquitto 2.0.11: a client certificate
//! the list revokes is refused, one it does not revoke is served, and a list that cannot be
//! read stops the broker with Mosquitto's line and exit status 1.

use std::path::Path;
use std::process::Command;

use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, Certs, our_bin, reference_tool, run, unused_port,
};

/// Whether `mosquitto_pub` with the fixture's client certificate can publish through a TLS
/// listener of `program` that requires certificates and checks `crl`.
fn client_accepted(program: &Path, certs: &Certs, crl: &str) -> bool {
    let broker = BrokerProcess::start_with(
        program,
        2,
        |ports| {
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\nlistener {} 127.0.0.1\n\
                 cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\ncrlfile {}\n",
                ports[0],
                ports[1],
                certs.path("ca.crt"),
                certs.path("server.crt"),
                certs.path("server.key"),
                certs.path(crl),
            )
        },
        &[],
    );
    let done = run(
        Command::new(reference_tool("mosquitto_pub"))
            .args(["-h", "localhost", "-p", &broker.ports[1].to_string(), "-t", "t", "-m", "m"])
            .args(["--cafile", &certs.path("ca.crt"), "--cert", &certs.path("client.crt")])
            .args(["--key", &certs.path("client.key")]),
        COMMAND_DEADLINE,
    );
    done.code() == 0
}

#[test]
fn a_revoked_client_certificate_is_refused_like_mosquitto() {
    let certs = Certs::new();
    certs.revocation_lists();
    for program in [our_bin("culex"), reference_tool("mosquitto")] {
        assert!(client_accepted(&program, &certs, "empty.crl"), "{}", program.display());
        assert!(!client_accepted(&program, &certs, "revoked.crl"), "{}", program.display());
    }
}

#[test]
fn an_unreadable_crlfile_stops_the_broker_like_mosquitto() {
    let certs = Certs::new();
    let missing = certs.path("missing.crl");
    let config = certs.path("broker.conf");
    std::fs::write(
        &config,
        format!(
            "listener {} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\ncrlfile {missing}\n",
            unused_port(),
            certs.path("ca.crt"),
            certs.path("server.crt"),
            certs.path("server.key"),
        ),
    )
    .expect("config");
    let line =
        format!("Error: Unable to load certificate revocation file \"{missing}\". Check crlfile.");
    for program in [our_bin("culex"), reference_tool("mosquitto")] {
        let done = run(Command::new(&program).arg("-c").arg(&config), COMMAND_DEADLINE);
        assert_eq!(done.code(), 1, "{}: {}", program.display(), done.stderr);
        assert!(done.stderr.contains(&line), "{}: {}", program.display(), done.stderr);
    }
}
