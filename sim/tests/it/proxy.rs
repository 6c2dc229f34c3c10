//! Tests of the HTTP/2 fault proxy (in progress).
