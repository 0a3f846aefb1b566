//! Access control lists: Mosquitto's `acl_file` model and pure permission checks.
