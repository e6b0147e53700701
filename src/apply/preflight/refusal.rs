//! [`Refusal`]: why a plan is not applied, with what to do about it. Nothing has been sent
//! when one is returned.

use std::fmt;

use crate::plan::Target;
use crate::plan::engine::Failure;
use crate::state::StateError;

/// Why apply refused to start. Every refusal is before the first request.
#[derive(Debug)]
pub enum Refusal {
    /// The plan file cannot be opened or is not a whole plan.
    Unreadable {
        /// What is wrong.
        message: String,
        /// How to fix it.
        help: String,
    },
    /// The files, a CSV, `--env` or `--var` changed since the plan was made.
    ProjectChanged,
    /// The plan was made for another API target than the settings name.
    OtherTarget {
        /// The plan's.
        plan: Target,
        /// The settings'.
        settings: Target,
    },
    /// The plan was made against another state (a fresh one, a copy, a restored backup).
    OtherLineage {
        /// The plan's lineage.
        planned: String,
        /// The state's (`None`: it does not exist).
        now: Option<String>,
    },
    /// The state was written since the plan was made.
    StateMoved {
        /// The plan's serial.
        planned: u64,
        /// The state's.
        now: u64,
    },
    /// The plan's time is ahead of this machine's clock.
    FromTheFuture {
        /// The plan's time.
        created_at: jiff::Timestamp,
        /// This machine's.
        now: jiff::Timestamp,
    },
    /// The plan was made longer ago than `--max-age` allows.
    TooOld {
        /// The plan's time.
        created_at: jiff::Timestamp,
        /// How long ago that is.
        age: jiff::SignedDuration,
        /// `--max-age`.
        max_age: jiff::SignedDuration,
    },
    /// The plan was made by another herald, which may render differently.
    OtherVersion {
        /// The version that made it.
        planned: String,
    },
    /// The plan file differs from the plan the project makes: it was edited.
    Tampered {
        /// The campaign of the first difference, when it is in one.
        campaign: Option<String>,
        /// The recipient of the first difference, when it is an action.
        recipient: Option<String>,
        /// The plan file's line.
        line: u64,
    },
    /// What reconciling found changed since the plan was made: a history now shows a message
    /// it did not (or the other way round).
    HistoriesMoved {
        /// The campaign.
        campaign: Option<String>,
        /// The recipient.
        recipient: String,
    },
    /// The plan breaks a safety cap and `--force` was not given.
    Unsafe(Vec<crate::plan::safety::Breach>),
    /// The plan could not be made again (a Users API audience unreachable, say).
    NotMadeAgain(String),
    /// The state failed.
    State(StateError),
    /// A temporary file failed.
    Io(String),
}

impl Refusal {
    pub(super) fn io(e: std::io::Error) -> Refusal {
        Refusal::Io(format!("cannot keep a copy of the plan: {e}"))
    }

    /// Whether the plan is stale: it is not the plan the project makes now, because something
    /// it was made from moved since (the project's files, the state, its lineage, a
    /// conversation history, herald itself) or it is older than `--max-age`. Planning again,
    /// and reviewing the new plan, is the fix; for every other refusal (a broken file, another
    /// target, a clock ahead, a safety cap, a server or state that failed) it is not. An edited
    /// file counts as stale: its difference cannot be told from a Users API audience that
    /// answers differently now, and either way a new, reviewed plan is the fix.
    pub fn is_stale(&self) -> bool {
        match self {
            Refusal::ProjectChanged
            | Refusal::OtherLineage { .. }
            | Refusal::StateMoved { .. }
            | Refusal::TooOld { .. }
            | Refusal::OtherVersion { .. }
            | Refusal::Tampered { .. }
            | Refusal::HistoriesMoved { .. } => true,
            Refusal::Unreadable { .. }
            | Refusal::OtherTarget { .. }
            | Refusal::FromTheFuture { .. }
            | Refusal::Unsafe(_)
            | Refusal::NotMadeAgain(_)
            | Refusal::State(_)
            | Refusal::Io(_) => false,
        }
    }

    /// How to fix it.
    pub fn help(&self) -> String {
        let plan_again = "plan again and review the new plan; a plan is applied only as it was \
                          reviewed";
        match self {
            Refusal::Unreadable { help, .. } => help.clone(),
            Refusal::Unsafe(_) => "check the plan's audiences and changes (`herald show \
                 PLANFILE`); if it is right, apply it with --force, or raise the cap in the file \
                 named and plan again"
                .to_owned(),
            Refusal::HistoriesMoved { .. } => "a conversation history changed since the plan \
                 was made (a message that was pending showed up, or time ran out for one): plan \
                 again; nothing is lost, and nobody is messaged twice"
                .to_owned(),
            Refusal::ProjectChanged | Refusal::OtherVersion { .. } | Refusal::NotMadeAgain(_) => {
                plan_again.to_owned()
            }
            Refusal::TooOld { .. } => "plan again and review the new plan: --max-age refuses a \
                 plan reviewed longer ago than that, when what it says may no longer be wanted"
                .to_owned(),
            Refusal::FromTheFuture { .. } => "a plan is applied as of its own time, which must \
                 not be ahead of this machine's clock (by more than 5 minutes): check both \
                 machines' clocks, then plan again"
                .to_owned(),
            Refusal::OtherTarget { .. } => {
                "apply with the --env the plan was made with, or plan again".to_owned()
            }
            Refusal::OtherLineage { .. } => "this state is not the one the plan was made \
                 against (another state file or database, a fresh copy, a restored backup): \
                 check state.path / state.url_env, then plan again against this state"
                .to_owned(),
            Refusal::StateMoved { .. } => {
                "another apply ran in between: plan again so that nobody is messaged twice"
                    .to_owned()
            }
            Refusal::Tampered { .. } => "either the plan file was edited after `herald plan \
                 --out` wrote it, or what Engati answered for it changed since (a Users API \
                 audience, a conversation history read to reconcile): plan again and review \
                 the new plan"
                .to_owned(),
            Refusal::State(e) => e.help(),
            Refusal::Io(_) => "check that the temporary directory ($TMPDIR) is writable and \
                 has room for a copy of the plan"
                .to_owned(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unreadable { message, .. } => f.write_str(message),
            Refusal::Unsafe(breaches) => {
                write!(
                    f,
                    "the plan breaks {}, so nothing was sent: ",
                    crate::words::count(breaches.len(), "safety cap")
                )?;
                let sentences: Vec<String> = breaches.iter().map(ToString::to_string).collect();
                f.write_str(&sentences.join("; and "))
            }
            Refusal::ProjectChanged => f.write_str(
                "the project changed since this plan was made (its files, a CSV, --env or --var)",
            ),
            Refusal::OtherTarget { plan, settings } => write!(
                f,
                "the plan was made for {} (customer {}, bot {}), the settings name {} \
                 (customer {}, bot {})",
                plan.base_url,
                plan.customer_id,
                plan.bot_key,
                settings.base_url,
                settings.customer_id,
                settings.bot_key
            ),
            Refusal::OtherLineage { planned, now } => write!(
                f,
                "the plan was made against state {planned}, and this is {}",
                match now {
                    Some(now) => format!("state {now}"),
                    None => "an empty state (it did not exist)".to_owned(),
                }
            ),
            Refusal::FromTheFuture { created_at, now } => write!(
                f,
                "the plan was made as of {created_at}, later than now ({now})"
            ),
            Refusal::TooOld {
                created_at,
                age,
                max_age,
            } => write!(
                f,
                "the plan was made {} ago (as of {created_at}), longer ago than --max-age {}",
                crate::words::duration(*age),
                crate::words::duration(*max_age)
            ),
            Refusal::StateMoved { planned, now } => write!(
                f,
                "the state changed since this plan was made (serial {planned} then, {now} now)"
            ),
            Refusal::OtherVersion { planned } => write!(
                f,
                "the plan was made by herald {planned}, and this is herald {}",
                env!("CARGO_PKG_VERSION")
            ),
            Refusal::Tampered {
                campaign,
                recipient,
                line,
            } => {
                write!(
                    f,
                    "the plan file is not the plan this project makes: it differs at line {line}"
                )?;
                match (campaign, recipient) {
                    (Some(c), Some(r)) => write!(f, ", the action of campaign {c} for {r}"),
                    (Some(c), None) => write!(f, ", in campaign {c}"),
                    (None, _) => write!(f, ", in the plan's header"),
                }?;
                f.write_str("; nothing was sent")
            }
            Refusal::HistoriesMoved {
                campaign,
                recipient,
            } => write!(
                f,
                "what reconciling found for {recipient}{} changed since the plan was made; \
                 nothing was sent",
                campaign
                    .as_deref()
                    .map(|c| format!(" in campaign {c}"))
                    .unwrap_or_default()
            ),
            Refusal::NotMadeAgain(why) => {
                write!(
                    f,
                    "the plan could not be checked against the project: {why}"
                )
            }
            Refusal::State(e) => write!(f, "{e}"),
            Refusal::Io(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Refusal {}

impl From<StateError> for Refusal {
    fn from(e: StateError) -> Refusal {
        Refusal::State(e)
    }
}

impl From<Failure> for Refusal {
    fn from(e: Failure) -> Refusal {
        match e {
            Failure::State(e) => Refusal::State(e),
            Failure::Output(e) => Refusal::io(e),
            Failure::Problems(problems) => Refusal::NotMadeAgain(
                problems
                    .first()
                    .map_or_else(|| "it has problems".to_owned(), |p| p.message.clone()),
            ),
        }
    }
}
