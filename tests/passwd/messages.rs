//! Error messages and exit codes, checked side by side with Debian's `mosquitto_passwd`.

use super::{mosquittos, ours};
use crate::support::{Finished, TempDir};

/// Runs the same arguments through both tools, each in a fresh directory holding `setup`
/// files, and returns both outputs with the directory path replaced by `<dir>`.
fn both(args: &[&str], setup: &[(&str, &str)]) -> (Finished, Finished) {
    let run = |tool: fn(&TempDir, &[&str]) -> Finished| {
        let dir = TempDir::new("messages");
        for (name, text) in setup {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let mut out = tool(&dir, args);
        let shown = dir.path().to_string_lossy().into_owned();
        out.stderr = out.stderr.replace(&shown, "<dir>");
        out
    };
    (run(ours), run(mosquittos))
}

#[test]
fn argument_errors_match_mosquitto_passwd() {
    let long_user = "u".repeat(65_536);
    let long_password = "p".repeat(65_536);
    let cases: Vec<Vec<&str>> = vec![
        vec!["-H"],
        vec!["-H", "md5", "f", "u"],
        vec!["-I"],
        vec!["-I", "0", "f", "u"],
        vec!["-c", "-D", "f", "u"],
        vec!["-c", "-U", "f"],
        vec!["-D", "-U", "f"],
        vec!["-b", "-D", "f", "u"],
        vec!["-c", "f"],
        vec!["-c", "-b", "f", "u"],
        vec!["-D", "f"],
        vec!["-U"],
        vec!["-U", "f", "extra"],
        vec!["-b", "f", "a:b", "p"],
        vec!["-b", "f", "a\tb", "p"],
        vec!["f", &long_user],
        vec!["-b", "f", "u", &long_password],
    ];
    for args in &cases {
        let (culex, mosquitto) = both(args, &[]);
        assert_eq!(
            (culex.code(), &culex.stderr),
            (mosquitto.code(), &mosquitto.stderr),
            "{args:?}"
        );
        assert_eq!(culex.stdout, "", "{args:?}");
    }
}

#[test]
fn file_errors_match_mosquitto_passwd() {
    let setup = [("pw", "u1:plain1\n")];
    let cases: &[&[&str]] = &[
        &["-b", "nonexist.txt", "u", "p"],
        &["-D", "nonexist.txt", "u"],
        &["-U", "nonexist.txt"],
        &["nonexist.txt", "u"],
        &["-c", "-b", "nodir/x", "u", "p"],
        &["-D", "pw", "nobody"],
    ];
    for args in cases {
        let (culex, mosquitto) = both(args, &setup);
        assert_eq!(
            (culex.code(), &culex.stderr),
            (mosquitto.code(), &mosquitto.stderr),
            "{args:?}"
        );
    }
}

#[test]
fn usage_goes_to_stdout_with_exit_1_like_mosquitto_passwd() {
    let cases: &[&[&str]] = &[&[], &["f"], &["--help"], &["-b", "f", "u"], &["f", "u", "x"]];
    for args in cases {
        let (culex, mosquitto) = both(args, &[]);
        assert_eq!((culex.code(), mosquitto.code()), (1, 1), "{args:?}");
        assert_eq!((culex.stderr.as_str(), mosquitto.stderr.as_str()), ("", ""), "{args:?}");
        assert!(
            culex.stdout.starts_with("culex_passwd is a tool for managing password files"),
            "{args:?}"
        );
        assert!(culex.stdout.ends_with("information.\n\n"), "{args:?}");
        // Same structure: the same number of lines, usage lines and flag lines.
        let shape = |text: &str| {
            (
                text.lines().filter(|l| l.trim_start().starts_with('-')).count(),
                text.lines().any(|l| l.starts_with("Usage: ")),
            )
        };
        let (our_flags, _) = shape(&culex.stdout);
        let (their_flags, _) = shape(&mosquitto.stdout);
        assert_eq!(
            our_flags,
            their_flags + 1,
            "one more flag line: -I, which Mosquitto leaves undocumented"
        );
    }
}
