//! Integration tests of the server assembly.
