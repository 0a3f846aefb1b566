//! Differential tests: scripted raw-packet sessions run against Debian's `mosquitto` and
//! against `culex` with the same configuration; every byte each broker sends back, and whether
//! and when it closes each connection, must be equal (see `differential/harness.rs`).
//!
//! One module per area; each `#[test]` builds one [`Scenario`](harness::Scenario) and runs
//! it. A scenario that must differ says why with `.differs(reason)`, and the difference is
//! listed in docs/mosquitto-differences.md.

/// One `#[test]` per `name: scenario;` entry, which runs the scenario: a file's scenarios
/// read as a table.
macro_rules! scenarios {
    ($($name:ident: $scenario:expr;)*) => {
        $(
            #[test]
            fn $name() {
                $scenario.run();
            }
        )*
    };
}

mod harness;
mod wire;

mod alias;
mod connect;
mod malformed;
mod publish;
mod size;
mod subs;
mod subscribe;
