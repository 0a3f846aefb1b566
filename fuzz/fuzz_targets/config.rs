//! Fuzz target for `mosquitto.conf` parsing (`culex_broker::config::parse`), the bytes taken as
//! a file's. Checked: no panic; an error names the file and a line the file has; a
//! configuration that parses answers the questions the broker asks of it at startup.
#![no_main]

use culex_broker::config::parse;
use libfuzzer_sys::fuzz_target;

const FILE: &str = "fuzz.conf";

fuzz_target!(|data: &[u8]| {
    match parse(data, FILE) {
        Ok(config) => {
            let _ = config.local_only();
            let _ = config.listen_specs(&[1883]);
            let _ = config.persistence_path();
            for listener in config.listeners_in_force() {
                let _ = config.security_for(listener);
            }
        }
        Err(err) => {
            assert_eq!(err.file, FILE);
            let lines = data.split(|&b| b == b'\n').count();
            assert!(err.line <= lines, "error on line {} of {lines}", err.line);
            assert!(!err.log_lines().is_empty());
        }
    }
});
