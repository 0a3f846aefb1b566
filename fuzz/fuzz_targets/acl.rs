//! Fuzz target for ACL files (`mqtt_core::acl::AclFile::parse`). The first input byte picks
//! the question asked of a file that parses; the rest is the file. Checked: no panic; an
//! error names a line the file has; checks against any client, user and topic answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_core::acl::{Access, AclFile, reserved_topic_allowed};

/// Topics the checks are asked about: plain, nested, `$SYS`, `$share`, and empty levels.
const TOPICS: [&str; 8] = ["a", "a/b/c", "$SYS/broker/uptime", "$share/g/t", "/", "", "+", "#"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(file);
    let acl = match AclFile::parse(&text) {
        Ok(acl) => acl,
        Err(err) => {
            assert!(err.line >= 1 && err.line <= text.lines().count().max(1), "{err:?}");
            let _ = err.mosquitto_log_line("fuzz.acl");
            return;
        }
    };
    let access = match selector & 3 {
        0 => Access::Read,
        1 => Access::Write,
        _ => Access::Subscribe,
    };
    let username = (selector & 4 != 0).then_some("user");
    // The names the file itself mentions are the interesting ones: take words from it.
    let words: Vec<&str> = text.split_whitespace().collect();
    let pick = |at: usize| words.get(at % words.len().max(1)).copied().unwrap_or("a");
    let user = username.or_else(|| (selector & 8 != 0).then(|| pick(1)));
    for topic in TOPICS.iter().copied().chain([pick(usize::from(selector >> 4))]) {
        let _ = acl.check("client", user, topic, access);
        let _ = acl.allowed(pick(2), user, topic, access);
        let _ = reserved_topic_allowed(topic, access);
    }
});
