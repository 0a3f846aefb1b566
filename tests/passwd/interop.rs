//! Interoperability: files written by Debian's `mosquitto_passwd` verify here, lines written
//! by `culex_passwd` log in to Debian's `mosquitto` broker, and argon2id lines verify with
//! libargon2 (the library Mosquitto 2.1 uses).

use std::process::Command;

use mqtt_core::auth::{Credential, HashKind, PasswordFile};

use super::{mosquittos, ours, read};
use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, TempDir, make_readable, reference_client, reference_tool, run,
    run_in,
};

fn parse(text: &str) -> PasswordFile {
    PasswordFile::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn every_hash_mosquitto_passwd_writes_verifies_here() {
    let dir = TempDir::new("from-mosquitto");
    assert_eq!(mosquittos(&dir, &["-c", "-b", "f", "pbkdf2", "pässwörd"]).code(), 0);
    assert_eq!(mosquittos(&dir, &["-H", "sha512", "-b", "f", "sha", "pass"]).code(), 0);
    assert_eq!(
        mosquittos(&dir, &["-H", "sha512-pbkdf2", "-I", "1000", "-b", "f", "iter", "pass"]).code(),
        0
    );
    assert_eq!(mosquittos(&dir, &["-b", "f", "user name", "pass word"]).code(), 0);
    let piped = run_in(
        dir.path(),
        &reference_tool("mosquitto_passwd"),
        &["f", "piper"],
        b"pipepw\npipepw\n",
    );
    assert_eq!(piped.code(), 0);
    std::fs::write(dir.join("plain"), "u1:plain1\nu2:plain2\n").unwrap();
    assert_eq!(mosquittos(&dir, &["-U", "plain"]).code(), 0);

    let file = parse(&read(&dir.join("f")));
    let expected = [
        ("pbkdf2", "pässwörd", HashKind::Sha512Pbkdf2),
        ("sha", "pass", HashKind::Sha512),
        ("iter", "pass", HashKind::Sha512Pbkdf2),
        ("user name", "pass word", HashKind::Sha512Pbkdf2),
        ("piper", "pipepw", HashKind::Sha512Pbkdf2),
    ];
    for (user, password, kind) in expected {
        assert!(
            matches!(file.get(user), Some(Credential::Hashed(h)) if h.kind() == kind),
            "{user}"
        );
        assert!(file.verify(user, password.as_bytes()), "{user}");
        assert!(!file.verify(user, b"wrong"), "{user}");
    }
    let upgraded = parse(&read(&dir.join("plain")));
    assert!(upgraded.verify("u1", b"plain1") && upgraded.verify("u2", b"plain2"));
}

#[test]
fn files_go_back_and_forth_between_the_two_tools() {
    let dir = TempDir::new("back-and-forth");
    assert_eq!(mosquittos(&dir, &["-c", "-b", "f", "m1", "p1"]).code(), 0);
    assert_eq!(ours(&dir, &["-H", "sha512-pbkdf2", "-b", "f", "c1", "p2"]).code(), 0);
    assert_eq!(mosquittos(&dir, &["-b", "f", "m2", "p3"]).code(), 0);
    assert_eq!(ours(&dir, &["-D", "f", "m1"]).code(), 0);
    let file = parse(&read(&dir.join("f")));
    assert_eq!(file.entries().map(|(u, _)| u).collect::<Vec<_>>(), ["c1", "m2"]);
    assert!(file.verify("c1", b"p2") && file.verify("m2", b"p3"));
}

/// Debian's broker on a free loopback port with `allow_anonymous false` and `password_file`.
struct Mosquitto(BrokerProcess);

impl Mosquitto {
    fn start(dir: &TempDir, password_file: &str) -> Self {
        // When started as root the broker drops to the `mosquitto` user before it reads the
        // password file, so the test files must be readable by others.
        make_readable(dir.path());
        make_readable(&dir.join(password_file));
        let broker = BrokerProcess::start_with(
            &reference_tool("mosquitto"),
            1,
            |ports| {
                format!(
                    "listener {} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
                    ports[0],
                    dir.join(password_file).display()
                )
            },
            &[],
        );
        Self(broker)
    }

    /// Publishes once with `mosquitto_pub -u user -P password`; returns exit status and stderr.
    fn publish_as(&self, user: &str, password: &str) -> (i32, String) {
        let mut command = reference_client("mosquitto_pub", self.0.port);
        command.args(["-t", "t", "-m", "m", "-u", user, "-P", password]);
        let out = run(&mut command, COMMAND_DEADLINE);
        (out.code(), out.stderr)
    }
}

#[test]
fn mosquitto_accepts_our_pbkdf2_and_sha512_lines() {
    let dir = TempDir::new("to-mosquitto");
    assert_eq!(ours(&dir, &["-H", "sha512-pbkdf2", "-c", "-b", "pw", "leo", "leopass"]).code(), 0);
    assert_eq!(
        ours(&dir, &["-H", "sha512-pbkdf2", "-I", "1000", "-b", "pw", "iter", "iterpass"]).code(),
        0
    );
    assert_eq!(ours(&dir, &["-H", "sha512", "-b", "pw", "old", "oldpass"]).code(), 0);
    let text = read(&dir.join("pw"));
    std::fs::write(dir.join("pw"), format!("# made by culex_passwd\n{text}")).unwrap();

    let broker = Mosquitto::start(&dir, "pw");
    for (user, password) in [("leo", "leopass"), ("iter", "iterpass"), ("old", "oldpass")] {
        assert_eq!(broker.publish_as(user, password), (0, String::new()), "{user}");
    }
    for (user, password) in [("leo", "wrong"), ("nobody", "leopass"), ("old", "")] {
        let (code, stderr) = broker.publish_as(user, password);
        assert_eq!(code, 5, "{user}: {stderr}");
        assert!(
            stderr.starts_with("Connection error: Connection Refused: not authorised.\n"),
            "{user}: {stderr}"
        );
    }
}

#[test]
fn libargon2_verifies_our_argon2id_lines() {
    let dir = TempDir::new("libargon2");
    assert_eq!(ours(&dir, &["-c", "-b", "pw", "a", "argon pässword"]).code(), 0);
    let line = read(&dir.join("pw"));
    let encoded = line.trim_end().split_once(':').unwrap().1;
    let script = "import ctypes, sys\n\
                  try:\n    lib = ctypes.CDLL('libargon2.so.1')\n\
                  except OSError:\n    sys.exit('libargon2 is missing: apt-get install libargon2-1')\n\
                  enc = sys.argv[1].encode()\n\
                  print(lib.argon2id_verify(enc, sys.argv[2].encode(), len(sys.argv[2].encode())),\n\
                        lib.argon2id_verify(enc, b'wrong', 5))\n";
    let mut command = Command::new("python3");
    command.args(["-c", script, encoded, "argon pässword"]);
    let out = run(&mut command, COMMAND_DEADLINE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    // 0 is ARGON2_OK, -35 is ARGON2_VERIFY_MISMATCH.
    assert_eq!(out.stdout.trim(), "0 -35");
}
