//! The e2e package has no library code; its tests live in `main.rs` and the modules it lists.
#![forbid(unsafe_code)]
