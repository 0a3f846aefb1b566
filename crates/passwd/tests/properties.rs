//! Property tests for the file models `culex_passwd` and the broker share: arbitrary text never
//! makes them panic, an untouched file is written back as it was read, and edits touch only
//! the lines they must.

use mqtt_core::acl::{Access, AclFile};
use mqtt_core::auth::{HashAlgorithm, PasswordFile};
use proptest::prelude::*;

/// Lines that look like password-file lines, broken ones included.
fn password_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "#[ -~]{0,20}",
        "[ \t]{0,3}",
        "[a-z ]{1,8}:[a-zA-Z0-9]{1,12}",
        "[a-z]{1,8}:\\$7\\$[0-9]{1,3}\\$[A-Za-z0-9+/=]{0,20}\\$[A-Za-z0-9+/=]{0,30}",
        "[a-z]{1,8}:\\$6\\$[A-Za-z0-9+/=]{0,20}\\$[A-Za-z0-9+/=]{0,90}",
        "[a-z]{1,8}:\\$argon2id\\$[a-z0-9=,$]{0,40}",
        "[ -~]{0,40}",
        "\\PC{0,20}",
    ]
}

fn acl_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "(topic|pattern) (read|write|readwrite|deny|[a-z]{1,5}) [a-z/+#%cu$]{1,12}",
        "(topic|pattern) [a-z/+#]{0,8}",
        "user ?[a-z ]{0,8}",
        "#[ -~]{0,20}",
        "[ -~]{0,30}",
        "\\PC{0,20}",
    ]
}

proptest! {
    #[test]
    fn password_files_never_panic_and_round_trip(lines in prop::collection::vec(password_line(), 0..12)) {
        let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let (lenient, _) = PasswordFile::parse_lenient(&text);
        let _ = lenient.verify("alice", b"pw");
        if let Ok(file) = PasswordFile::parse(&text) {
            prop_assert_eq!(file.to_string(), text);
        }
    }

    #[test]
    fn an_edit_changes_only_its_own_line(lines in prop::collection::vec(password_line(), 0..10)) {
        let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let Ok(mut file) = PasswordFile::parse(&text) else { return Ok(()) };
        let hash = HashAlgorithm::Sha512.hash(b"new", &[1; 12]).expect("hashing");
        file.set("zz-new-user", hash).expect("valid username");
        let after = file.to_string();
        prop_assert!(after.starts_with(&text));
        prop_assert!(file.verify("zz-new-user", b"new"));
        prop_assert!(file.remove("zz-new-user"));
        prop_assert_eq!(file.to_string(), text);
    }

    #[test]
    fn acl_files_never_panic(
        lines in prop::collection::vec(acl_line(), 0..12),
        client_id in "[a-z+#/]{0,6}",
        username in prop::option::of("[a-z+#/ ]{0,6}"),
        topic in "[a-z/$]{1,12}",
    ) {
        let text = lines.join("\n");
        if let Ok(acl) = AclFile::parse(&text) {
            for access in [Access::Read, Access::Write, Access::Subscribe] {
                let _ = acl.allowed(&client_id, username.as_deref(), &topic, access);
            }
        }
    }
}
