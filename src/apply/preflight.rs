//! Apply's preflight: everything that must hold before the first request leaves, so that what
//! is sent is exactly the reviewed plan, made against this very state.
//!
//! 1. [`open_plan`]: the plan file is whole, made from the files as they are now (its inputs
//!    hash) and for the API the settings name.
//! 2. [`prepare`], under the state's lock ([`Locked`], released on drop): the state is the
//!    one the plan was made against (its lineage) and has not moved since (its serial); the
//!    plan is made again from the project, as of the plan's time, and must equal the file
//!    byte for byte ([`verify`]); deliveries a dead apply left in flight become `unknown`; the
//!    apply is logged. The sends then come from herald's own copy, never from the file again.

mod refusal;
mod verify;

pub use refusal::Refusal;

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use crate::clock::Clock;
use crate::plan::engine::Input;
use crate::plan::file::{self, Outline};
use crate::plan::{ApiReads, Target, inputs};
use crate::reconcile::{self, History};
use crate::state::{ApplyRecord, Locked, StateError, Store};

/// How far a plan's time may be ahead of this machine's clock (two machines' clocks differ).
const CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

pub use crate::plan::Project;

/// A plan file read whole once and found to match the project.
pub struct PlanFile {
    /// The open file.
    pub file: File,
    /// What [`file::outline`] read of it.
    pub outline: Outline,
}

/// What an apply allows beyond a safe plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allow {
    /// `--force`: a plan that breaks a safety cap.
    pub unsafe_plan: bool,
    /// `--resend-unknown`: unknown deliveries are sent too (and count against the caps).
    pub resend_unknown: bool,
    /// `--max-age`: a plan made longer ago than this is refused as stale.
    pub max_age: Option<jiff::SignedDuration>,
}

/// Opens a plan file and checks it was made from these files for this target and within
/// the safety caps (unless `allow` says otherwise): what can be told before the state is
/// locked. The caps are read from the file; the verification under the lock proves the file
/// is the plan, caps and counts included.
pub fn open_plan(
    path: &Path,
    project: &Project<'_>,
    allow: Allow,
    clock: Clock,
) -> Result<PlanFile, Refusal> {
    let mut file = File::open(path).map_err(|e| {
        let e = file::error::cannot_read(path, &e);
        Refusal::Unreadable {
            message: e.message,
            help: e.help,
        }
    })?;
    // Read twice (checked whole, then compared): a pipe or a device cannot be.
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(Refusal::Unreadable {
            message: format!("{} is not a regular file", path.display()),
            help: "save the plan to a file (`herald plan --out plan.json`) and apply that"
                .to_owned(),
        });
    }
    let outline = file::outline(&mut file).map_err(|e| Refusal::Unreadable {
        message: format!("{}: {}", path.display(), e.message),
        help: e.help,
    })?;
    let header = &outline.header;
    // A plan's time decides what is due and how old an unknown delivery is: one from the
    // future would send scheduled campaigns early and resend what may still show up.
    let now = clock.now();
    if header.created_at > now + CLOCK_SKEW {
        return Err(Refusal::FromTheFuture {
            created_at: header.created_at,
            now: clock.now_in_seconds(),
        });
    }
    let age = now.duration_since(header.created_at);
    if let Some(max_age) = allow.max_age
        && age > max_age
    {
        return Err(Refusal::TooOld {
            created_at: header.created_at,
            age,
            max_age,
        });
    }
    let now_hash = inputs::hash(
        project.loaded,
        project.catalog,
        &inputs::Options {
            environment: project.environment,
            vars: project.vars,
            campaigns: &header.campaigns,
        },
    );
    if now_hash != header.inputs_hash {
        return Err(Refusal::ProjectChanged);
    }
    let settings = Target {
        base_url: project.api.base_url.clone(),
        customer_id: project.api.customer_id,
        bot_key: project.api.bot_key.clone(),
    };
    if header.target != settings {
        return Err(Refusal::OtherTarget {
            plan: header.target.clone(),
            settings,
        });
    }
    let breaches = outline.breaches(allow.resend_unknown);
    if !breaches.is_empty() && !allow.unsafe_plan {
        return Err(Refusal::Unsafe(breaches));
    }
    Ok(PlanFile { file, outline })
}

/// A plan ready to send: the state locked, the plan verified, the apply logged.
pub struct Ready {
    /// The state, under this apply's lock.
    pub state: Locked,
    /// herald's own copy of the plan, equal to the file, at its start: what is sent.
    pub plan: File,
    /// The plan's outline.
    pub outline: Outline,
    /// Deliveries a dead apply left in flight, now `unknown`.
    pub settled: u64,
    /// The apply's log record, finished by [`finish`].
    pub record: ApplyRecord,
    /// The plan's reconcile verdicts that could not be checked again (a history read failed
    /// just now): apply leaves their deliveries unknown ([`super::Options::withheld`]).
    pub withheld: reconcile::Decisions,
}

/// Locks the state and checks the plan against it and against the project made again; see
/// the module's doc. `reads` answers Users API audiences and conversation histories as they
/// are now.
pub fn prepare(
    plan: PlanFile,
    project: &Project<'_>,
    store: Box<dyn Store>,
    reads: &mut dyn ApiReads,
    holder: &str,
    clock: Clock,
) -> Result<Ready, Refusal> {
    let PlanFile {
        file,
        outline: first,
    } = plan;
    let mut state = Locked::take(store, holder)?;
    let header = &first.header;
    check_state(&*state, header)?;
    // Made again as the plan was: with the plan's verdicts on unknown deliveries, once the
    // histories, read again, still bear out every verdict that acts (records or sends).
    let mut withheld = reconcile::Decisions::new();
    let decisions = match header.reconciled {
        false => None,
        true => {
            let mut file = &file;
            file.seek(SeekFrom::Start(0)).map_err(Refusal::io)?;
            let planned = verify::decisions_in(file)?;
            let settings = project.catalog.settings.as_ref();
            let now = reconcile::for_plan(
                &*state,
                Some(&mut *reads as &mut dyn History),
                &settings.map(|s| s.apply.clone()).unwrap_or_default(),
                project.catalog,
                header.created_at,
                &header.campaigns,
            )?
            .unwrap_or_default();
            withheld = verify::decisions_hold(&planned, &now)?;
            Some(planned)
        }
    };
    let input = Input {
        loaded: project.loaded,
        catalog: project.catalog,
        api: project.api,
        now: header.created_at,
        environment: project.environment,
        selection: &header.campaigns,
        inputs_hash: header.inputs_hash.clone(),
        reconciled: decisions.as_ref(),
    };
    let lineage = header.state_lineage.as_deref();
    let mut plan = verify::made_again(
        &input,
        reads,
        &*state,
        lineage,
        &file,
        &header.herald_version,
    )?;
    // The outline again, of herald's copy: the file could have been rewritten in place
    // between its first reading and the comparison.
    plan.seek(SeekFrom::Start(0)).map_err(Refusal::io)?;
    let outline = file::outline(&mut plan).map_err(|e| Refusal::Io(e.message))?;
    plan.seek(SeekFrom::Start(0)).map_err(Refusal::io)?;
    let id = state.id().to_owned();
    let settled = super::settle_in_flight(&mut *state, &id)?;
    let record = ApplyRecord {
        id,
        who: holder.to_owned(),
        started_at: clock.now(),
        finished_at: None,
        plan_hash: outline.file_hash.to_string(),
        sent: 0,
        failed: 0,
        unknown: 0,
    };
    state.log_apply(&record)?;
    Ok(Ready {
        state,
        plan,
        outline,
        settled,
        record,
        withheld,
    })
}

/// Logs the apply's end with its totals and releases the lock.
pub fn finish(
    mut state: Locked,
    mut record: ApplyRecord,
    report: &super::Report,
    clock: Clock,
) -> Result<(), StateError> {
    // A state that failed under the apply (already reported) is not written again: the
    // guard lets go of what lock is left, and the next apply takes over the record.
    if report.state_failure.is_some() {
        return Ok(());
    }
    let totals = report.totals();
    record.finished_at = Some(clock.now());
    record.sent = totals.sent;
    record.failed = totals.failed;
    record.unknown = totals.unknown;
    state.log_apply(&record)?;
    state.release()
}

/// The state must be the one the plan was made against (its lineage; a plan made before the
/// state existed has none) and unwritten since (its serial).
fn check_state(state: &dyn Store, header: &crate::plan::Header) -> Result<(), Refusal> {
    let now = state.lineage()?;
    if let Some(planned) = &header.state_lineage
        && now.as_deref() != Some(planned.as_str())
    {
        return Err(Refusal::OtherLineage {
            planned: planned.clone(),
            now,
        });
    }
    let serial = state.serial()?;
    if serial != header.state_serial {
        return Err(Refusal::StateMoved {
            planned: header.state_serial,
            now: serial,
        });
    }
    Ok(())
}
