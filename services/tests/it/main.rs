//! Integration tests of the reference semantics. Expected values are computed
//! here, independently of the service code, from SEMANTICS.md's rules.

mod db;
mod e2e;
mod get_feature;
mod greeter;
mod list_features;
mod model;
mod mutants;
mod record_route;
mod route_chat;
