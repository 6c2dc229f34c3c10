//! The tutorial's Greeter and RouteGuide services with the reference semantics.
//!
//! The Python tutorial server is the truth (see `DESIGN.md`, "Reference
//! semantics"). Everything here is transport-agnostic: the service values are
//! plain tonic services, served over real TCP by the CLI and over turmoil
//! streams by the simulator. Time enters only through [`Clock`], randomness
//! only through explicit seeds.

pub mod clock;
pub mod db;
pub mod geo;
pub mod greeter;
pub mod mutant;
pub mod route_guide;
pub mod text_format;
pub mod tutorial;

pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{DbError, FeatureDb};
pub use greeter::Greeter;
pub use mutant::Mutant;
pub use route_guide::RouteGuide;
