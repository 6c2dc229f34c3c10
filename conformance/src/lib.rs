//! Conformance against recorded grpcio transcripts (see ARCHITECTURE.md); filled in by the conformance issue.
