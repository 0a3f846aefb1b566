//! Integration tests for `culex_passwd`: the real binary in temporary directories, compared
//! with Debian's `mosquitto_passwd` and checked against the real Mosquitto broker.

mod support;

mod acl_matrix;
mod batch;
mod interop;
mod messages;
mod prompts;
