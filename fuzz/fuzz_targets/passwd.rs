//! Fuzz target for password files (`mqtt_core::auth::PasswordFile`), as the broker loads them
//! (`parse_lenient`) and as `culex_passwd` edits them (`parse`). Checked: no panic; a file
//! that parses is written back to text that parses to the same entries; the lenient reading
//! keeps every hashed entry of a strict one; errors name a line the file has. No password is
//! verified: the costs come from the file, and a check may take a second by design.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_core::auth::{Credential, PasswordFile};

/// The entries of `file`, in order, with their credentials' debug text.
fn entries(file: &PasswordFile) -> Vec<(String, String)> {
    file.entries().map(|(user, credential)| (user.to_owned(), format!("{credential:?}"))).collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').count();
    let (lenient, problems) = PasswordFile::parse_lenient(&text);
    for problem in &problems {
        assert!(problem.line >= 1 && problem.line <= lines, "{problem:?}");
        let _ = problem.mosquitto_log_line("fuzz.passwd");
    }
    match PasswordFile::parse(&text) {
        Ok(strict) => {
            let again = PasswordFile::parse(&strict.to_string()).expect("written text parses");
            assert_eq!(entries(&again), entries(&strict));
            let hashed: Vec<_> = strict
                .entries()
                .filter(|(_, credential)| matches!(credential, Credential::Hashed(_)))
                .map(|(user, credential)| (user.to_owned(), format!("{credential:?}")))
                .collect();
            assert_eq!(entries(&lenient), hashed);
            for (user, _) in strict.entries() {
                let _ = strict.credentials(user);
            }
        }
        Err(err) => assert!(err.line >= 1 && err.line <= lines, "{err:?}"),
    }
});
