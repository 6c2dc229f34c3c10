//! The tutorial's Greeter and RouteGuide services with the reference semantics.
//!
//! The Python tutorial server is the truth (`SEMANTICS.md`, at the repository
//! root). Everything here is transport-agnostic: the service values are plain
//! tonic services, served over real TCP and over turmoil streams alike by the
//! server assembly (`faultline-server`). Time enters only through [`Clock`],
//! randomness only through explicit seeds (the mutants that time out or detach
//! work use tokio directly: they are deliberate bugs).

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
