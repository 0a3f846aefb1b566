//! Tests for argument parsing: each `mosquitto_passwd` rule and message.

use super::*;

fn parse_strs(args: &[&str]) -> Result<Command, ArgsError> {
    parse(args.iter().map(OsString::from).collect())
}

fn err(args: &[&str]) -> String {
    match parse_strs(args) {
        Err(ArgsError::Message(text)) => text,
        other => panic!("{args:?}: expected an error message, got {other:?}"),
    }
}

#[test]
fn modes_and_positionals() {
    let cmd = parse_strs(&["-c", "f", "alice"]).unwrap();
    assert_eq!(cmd.action, Action::Create { username: "alice".into(), password: None });
    assert_eq!(cmd.algorithm, HashAlgorithm::DEFAULT);
    let cmd = parse_strs(&["-b", "-c", "f", "alice", "pw", "extra"]).unwrap();
    assert_eq!(
        cmd.action,
        Action::Create { username: "alice".into(), password: Some(b"pw".to_vec()) }
    );
    let cmd = parse_strs(&["-b", "f", "alice", "pw"]).unwrap();
    assert_eq!(
        cmd.action,
        Action::Set { username: "alice".into(), password: Some(b"pw".to_vec()) }
    );
    assert_eq!(
        parse_strs(&["f", "alice"]).unwrap().action,
        Action::Set { username: "alice".into(), password: None }
    );
    assert_eq!(
        parse_strs(&["-D", "f", "alice", "x"]).unwrap().action,
        Action::Delete { username: "alice".into() }
    );
    let cmd = parse_strs(&["-U", "f"]).unwrap();
    assert_eq!((cmd.action, cmd.file), (Action::Upgrade, PathBuf::from("f")));
}

#[test]
fn wrong_positional_counts() {
    for args in [
        &[][..],
        &["f"],
        &["f", "u", "x"],
        &["-b", "f", "u"],
        &["-b", "f", "u", "p", "x"],
        &["--help"],
    ] {
        assert_eq!(parse_strs(args), Err(ArgsError::Usage), "{args:?}");
    }
    assert_eq!(
        err(&["-c", "f"]),
        "Error: -c argument given but password file or username missing."
    );
    assert_eq!(
        err(&["-c", "-b", "f", "u"]),
        "Error: -c argument given but password file, username, or password missing."
    );
    assert_eq!(
        err(&["-D", "f"]),
        "Error: -D argument given but password file or username missing."
    );
    assert_eq!(err(&["-U"]), "Error: -U argument given but password file missing.");
    assert_eq!(err(&["-U", "f", "u"]), "Error: -U argument given but password file missing.");
}

#[test]
fn hash_and_iteration_flags() {
    assert_eq!(
        parse_strs(&["-H", "sha512", "-c", "f", "u"]).unwrap().algorithm,
        HashAlgorithm::Sha512
    );
    assert_eq!(
        parse_strs(&["-H", "sha512-pbkdf2", "f", "u"]).unwrap().algorithm,
        HashAlgorithm::MOSQUITTO_2_0
    );
    assert_eq!(
        parse_strs(&["-I", "1000", "-H", "sha512-pbkdf2", "f", "u"]).unwrap().algorithm,
        HashAlgorithm::Sha512Pbkdf2 { iterations: 1000 }
    );
    assert_eq!(
        parse_strs(&["-I", "3", "f", "u"]).unwrap().algorithm,
        HashAlgorithm::Argon2id { memory_kib: 47_104, time_cost: 3, parallelism: 1 }
    );
    assert_eq!(err(&["-H"]), "Error: -H argument given but not enough other arguments.");
    assert_eq!(err(&["-H", "md5", "f", "u"]), "Error: Unknown hash type 'md5'");
    assert_eq!(err(&["-I"]), "Error: -I argument given but not enough other arguments.");
    assert_eq!(err(&["-I", "0", "f", "u"]), "Error: Number of iterations must be > 0.");
    assert_eq!(err(&["-I", "abc", "f", "u"]), "Error: Number of iterations must be > 0.");
    assert_eq!(
        err(&["-H", "sha512", "-I", "5", "f", "u"]),
        "Error: -I cannot be used with -H sha512, which has no iterations."
    );
    assert_eq!(
        err(&["-H", "sha512-pbkdf2", "-I", "10000001", "f", "u"]),
        "Error: Number of iterations must be at most 10000000."
    );
    assert_eq!(
        err(&["-I", "1001", "f", "u"]),
        "Error: Number of iterations must be at most 1000 for argon2id."
    );
}

#[test]
fn conflicting_flags() {
    assert_eq!(err(&["-c", "-D", "f", "u"]), "Error: -c and -D cannot be used together.");
    assert_eq!(err(&["-c", "-U", "f"]), "Error: -c and -U cannot be used together.");
    assert_eq!(err(&["-D", "-U", "f"]), "Error: -D and -U cannot be used together.");
    assert_eq!(err(&["-b", "-D", "f", "u"]), "Error: -b and -D cannot be used together.");
}

#[test]
fn an_unknown_flag_is_the_file_name_and_options_stop_at_the_first_positional() {
    let cmd = parse_strs(&["-x", "u"]).unwrap();
    assert_eq!(cmd.file, PathBuf::from("-x"));
    assert_eq!(parse_strs(&["f", "-c", "u"]), Err(ArgsError::Usage));
}

#[test]
fn username_and_password_checks() {
    assert_eq!(
        err(&["-b", "f", "a:b", "p"]),
        "Error: Username must not contain the ':' character."
    );
    assert_eq!(
        err(&["-b", "f", "a\tb", "p"]),
        "Error: Username must not contain control characters."
    );
    assert_eq!(err(&["-b", "f", "", "p"]), "Error: Username must not be empty.");
    assert_eq!(
        err(&["-b", "f", " bob", "p"]),
        "Error: Username must not begin or end with a space."
    );
    let long_user = "u".repeat(65_536);
    assert_eq!(err(&["f", &long_user]), "Error: Username must be less than 65536 characters long.");
    let long_password = "p".repeat(65_536);
    assert_eq!(
        err(&["-b", "f", "u", &long_password]),
        "Error: Password must be less than 65536 characters long."
    );
    assert!(parse_strs(&["-b", "f", "user name", "pässword"]).is_ok());
}
