//! HTTP/2-aware fault proxy (in progress).
