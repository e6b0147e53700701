//! Making a plan: the use case `herald plan` runs (and `herald apply` without a plan file):
//! the inputs hashed, unknown deliveries reconciled when the histories can be read, and every
//! campaign rendered and compared with state ([`super::engine`]), streamed to a sink.

use jiff::Timestamp;

use super::engine::{self, Failure, Input, Made};
use super::{ApiReads, Sink, inputs};
use crate::load::LoadedProject;
use crate::model::Api;
use crate::reconcile::{self, History};
use crate::state::Store;
use crate::validate::Catalog;

/// A project as the settings resolve it: what a plan is made from and applied with.
pub struct Project<'a> {
    /// The loaded files.
    pub loaded: &'a LoadedProject,
    /// The validated project (without errors).
    pub catalog: &'a Catalog,
    /// `api` after the environment overlay.
    pub api: &'a Api,
    /// `--env`.
    pub environment: Option<&'a str>,
    /// `HERALD_VAR_*` then `--var`.
    pub vars: &'a [(String, String)],
}

/// What to plan.
pub struct Options<'a> {
    /// The plan's time.
    pub now: Timestamp,
    /// `--campaign` names; empty plans every campaign.
    pub campaigns: &'a [String],
    /// Whether unknown deliveries are reconciled with the histories (`apply.reconcile`
    /// permitting): only when this run can read them.
    pub reconcile: bool,
}

/// Makes the plan of `project` against `store`, streaming it to `sink`. `reads` answers
/// Users API audiences and, when `options.reconcile`, conversation histories.
pub fn make(
    project: &Project<'_>,
    options: &Options<'_>,
    reads: &mut dyn ApiReads,
    store: &dyn Store,
    sink: &mut dyn Sink,
) -> Result<Made, Failure> {
    let settings = project.catalog.settings.as_ref();
    let decisions = match (options.reconcile, settings) {
        (true, Some(settings)) => reconcile::for_plan(
            store,
            Some(&mut *reads as &mut dyn History),
            &settings.apply,
            project.catalog,
            options.now,
            options.campaigns,
        )?,
        _ => None,
    };
    let input = Input {
        loaded: project.loaded,
        catalog: project.catalog,
        api: project.api,
        now: options.now,
        environment: project.environment,
        selection: options.campaigns,
        // Made while the campaigns are prepared ([`engine::run_hashing`]).
        inputs_hash: String::new(),
        reconciled: decisions.as_ref(),
    };
    let inputs_hash = || {
        inputs::hash(
            project.loaded,
            project.catalog,
            &inputs::Options {
                environment: project.environment,
                vars: project.vars,
                campaigns: options.campaigns,
            },
        )
    };
    engine::run_hashing(&input, inputs_hash, reads, store, sink)
}
