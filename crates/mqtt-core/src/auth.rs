//! Password files: Mosquitto's `$6$`/`$7$` and argon2id lines, parsed, verified and formatted.
