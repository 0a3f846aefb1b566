//! The C-library conventions that Mosquitto's tools follow and that culex's binaries must
//! reproduce byte for byte, each written once:
//!
//! - [`strerror`]: the text of an I/O error as C's `strerror(errno)` prints it.
//! - [`time`]: the C library's `strftime` on the local time (the crate's only FFI).
//! - [`number`]: C's `atoi`, `atol`, `atof` and `strtol(…, 0)` rules for numbers in text.
//! - [`file`](mod@file): replacing a file atomically (temporary file, fsync, rename, directory fsync).
//!
//! It sits at the bottom of the workspace next to `mqtt-codec` and depends on nothing of
//! culex; the client, the broker, `culex_sub` and `culex_passwd` use it.
#![warn(missing_docs)]

pub mod file;
pub mod number;
mod strerror;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;

pub use strerror::strerror;
