//! MQTT 3.1, 3.1.1 and 5.0 control packets: bytes to typed packets and back, with no I/O.
#![warn(missing_docs)]
