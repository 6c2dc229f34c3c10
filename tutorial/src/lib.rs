//! `faultline-tutorial`: the tutorial's Greeter and RouteGuide as a [`System`], the first user
//! of `faultline-sim`, through its public API only. Its server is `faultline serve`'s
//! (`faultline_server::tutorial_routes`); its model is written again from `SEMANTICS.md`; its
//! catalogue is the fault catalogue and a canary.

pub mod check;
pub mod model;
pub mod workload;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use faultline_server::{ServerConfig, Services, tutorial_routes};
use faultline_services::{FeatureDb, Mutant};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tonic::Status;
use tonic::service::Routes;

pub use self::model::{Model, ModelFeature, ModelNote, Pt};
pub use self::workload::{CallInput, InputGen, METHODS, Reply};
use faultline_sim::check::Property;
use faultline_sim::runner::RunReport;
use faultline_sim::scenario::ScenarioError;
use faultline_sim::server::SimClock;
use faultline_sim::system::{Call, CallContext, CallRecord, ServerStart, System};

/// The tutorial's services, their workload and their model.
#[derive(Debug, Clone)]
pub struct Tutorial {
    model: Model,
    inputs: InputGen,
    db: Arc<FeatureDb>,
}

impl Default for Tutorial {
    fn default() -> Self {
        let model = Model::reference();
        Self { inputs: InputGen::new(&model), model, db: Arc::new(FeatureDb::reference()) }
    }
}

impl Tutorial {
    /// The one tutorial system, built once per process.
    pub fn shared() -> Arc<Self> {
        static SHARED: OnceLock<Arc<Tutorial>> = OnceLock::new();
        SHARED.get_or_init(|| Arc::new(Tutorial::default())).clone()
    }

    /// The model the oracle checks against.
    pub fn model(&self) -> &Model {
        &self.model
    }
}

/// The call of every method a client must get through after the last fault heals.
fn probes() -> Vec<CallInput> {
    const KNOWN: (i32, i32) = (409_146_138, -746_188_906);
    vec![
        CallInput::SayHello { name: "probe".to_owned() },
        CallInput::SayHelloAgain { name: "probe".to_owned() },
        CallInput::GetFeature { point: KNOWN },
        CallInput::ListFeatures { lo: KNOWN, hi: KNOWN },
        CallInput::RecordRoute { points: vec![KNOWN, (0, 0)] },
        CallInput::RouteChat {
            notes: vec![("probe a".to_owned(), (0, 0)), ("probe b".to_owned(), (0, 0))],
            lockstep: false,
        },
    ]
}

fn mutant(name: Option<&str>) -> Result<Option<Mutant>, String> {
    name.map(|m| m.parse::<Mutant>().map_err(|e| e.to_string())).transpose()
}

impl System for Tutorial {
    type Op = CallInput;
    type Reply = Reply;

    fn routes(&self, start: &ServerStart) -> Routes {
        let mutant = match mutant(start.mutant.as_deref()).unwrap_or_default() {
            // The service never knows it restarted; the system does.
            Some(Mutant::StuckAfterRestart) if start.incarnation > 0 => Some(Mutant::Unavailable),
            Some(Mutant::StuckAfterRestart) => None,
            other => other,
        };
        let config = ServerConfig::new(Services::All)
            .limits(start.limits)
            .db(self.db.clone())
            .clock(Arc::new(SimClock::new()))
            .mutant(mutant);
        tutorial_routes(&config)
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> CallInput {
        self.inputs.input(rng)
    }

    async fn perform(&self, op: CallInput, call: Call<Reply>) -> Result<(), Status> {
        workload::perform(op, call).await
    }

    fn name(&self, op: &CallInput) -> String {
        op.method().to_owned()
    }

    fn probes(&self) -> Vec<CallInput> {
        probes()
    }

    /// The tutorial client's pause after each RecordRoute point.
    fn pauses(&self, op: &CallInput, scenario: &Scenario, rng: &mut ChaCha8Rng) -> Vec<Duration> {
        let [min, max] = scenario.route_pause_ms;
        match op {
            CallInput::RecordRoute { points } => {
                points.iter().map(|_| Duration::from_millis(rng.random_range(min..=max))).collect()
            }
            _ => Vec::new(),
        }
    }

    fn check_call(
        &self,
        record: &CallRecord<CallInput, Reply>,
        context: &CallContext<'_>,
        fail: &mut dyn FnMut(Property, String),
    ) {
        check::check_payload(&self.model, record, context, fail);
    }

    fn catalogue(&self) -> Vec<Scenario> {
        catalogue()
    }

    fn validate(&self, scenario: &Scenario) -> Result<(), String> {
        mutant(scenario.mutant.as_deref()).map(|_| ())
    }
}

/// Runs one tutorial scenario under one seed (what `faultline run` and `replay` run).
pub fn run(scenario: &Scenario, seed: u64) -> RunReport {
    faultline_sim::runner::run(&Tutorial::shared(), scenario, seed)
}

/// Parses a tutorial scenario file and checks it, mutant name included.
pub fn scenario_from_toml(text: &str) -> Result<Scenario, ScenarioError> {
    let scenario = Scenario::from_toml(text)?;
    Tutorial::shared()
        .validate(&scenario)
        .map_err(|reason| ScenarioError::Invalid { name: scenario.name.clone(), reason })?;
    Ok(scenario)
}

/// A scenario of the tutorial: its operations are [`CallInput`]s.
pub type Scenario = faultline_sim::Scenario<CallInput>;

/// Every named scenario of the tutorial, in the order the table shows them: the fault
/// catalogue ([`faultline_sim::catalogue::faults`]) and the canary.
pub fn catalogue() -> Vec<Scenario> {
    let mut all = faultline_sim::catalogue::faults();
    all.push(
        Scenario::new("canary")
            .description("a service that truncates each route segment: the summary property must catch it")
            .mutant(Mutant::SegmentTruncation)
            .caught_by(check::SUMMARY),
    );
    all
}

/// The scenario of that name, if the catalogue has it.
pub fn find(name: &str) -> Option<Scenario> {
    catalogue().into_iter().find(|s| s.name == name)
}
