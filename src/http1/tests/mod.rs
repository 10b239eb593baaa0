//! Byte-level tests of the whole connection.
