//! Deterministic simulation harness (see ARCHITECTURE.md); filled in by the simulation issue.
