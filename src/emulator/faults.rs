//! Fault injection: which fraction of requests fail and how, set by flags or at run time.
//!
//! Every Engati request draws one [`Plan`] when it arrives, under one lock, so a run with a
//! fixed `seed` and the same request order makes the same choices. Errors (429, 500, 1002) are
//! mutually exclusive slices of one draw; hang and drop are slices of a second draw, since they
//! happen after the request was accepted. A lost trace is a third draw, from a random source of
//! its own: setting `trace_lost` leaves every other draw of a seeded run as it was.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What goes wrong, and how often. Fractions are in 0..=1; all zero (the default) is a healthy
/// server. The JSON form (`GET`/`PUT /_emulator/faults`) has exactly these field names.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fraction answered HTTP 429 with a `Retry-After` header (`--fault-429`).
    pub rate_limit: f64,
    /// Fraction answered HTTP 500 (`--fault-500`).
    pub server_error: f64,
    /// Fraction of message sends answered HTTP 200 with envelope code 1002,
    /// USER_IS_OUTSIDE_CONVERSATION_WINDOW (`--fault-1002`).
    pub outside_window: f64,
    /// Milliseconds added before every Engati request is handled (`--latency-ms`).
    pub latency_ms: u64,
    /// Fraction accepted and recorded whose response never comes (`--hang`).
    pub hang: f64,
    /// Fraction accepted and recorded whose connection is then dropped (`--drop`).
    pub drop_after_processing: f64,
    /// Milliseconds after acceptance before a send's messages show in conversation history;
    /// their timestamp stays the acceptance time (`--trace-delay-ms`).
    pub trace_delay_ms: u64,
    /// Fraction of accepted sends whose messages never show in conversation history
    /// (`--trace-lost`).
    pub trace_lost: f64,
    /// The `Retry-After` value of 429 answers, in seconds (`--retry-after`).
    pub retry_after_secs: u64,
    /// Seeds the random draws, for reproducible runs (`--fault-seed`).
    pub seed: Option<u64>,
    /// Reads (Users, Conversations) are answered as by a healthy server, draw nothing and
    /// wait no latency: faults hit only sends (`--faults-spare-reads`). Apply reads the
    /// Users API to check its plan; a test of what sends meet leaves reads alone.
    pub spare_reads: bool,
    /// Conversation history reads answer HTTP 500, whatever else is set, while sends and
    /// Users reads go on (`--fault-history-down`): reconciling meets a history outage.
    pub history_down: bool,
}

impl Faults {
    /// Why these faults cannot be used: a fraction outside 0..=1 (or NaN), or slices that add up
    /// to more than the whole.
    pub fn check(&self) -> Result<(), BadFaults> {
        let fractions = [
            ("rate_limit", self.rate_limit),
            ("server_error", self.server_error),
            ("outside_window", self.outside_window),
            ("hang", self.hang),
            ("drop_after_processing", self.drop_after_processing),
            ("trace_lost", self.trace_lost),
        ];
        for (name, value) in fractions {
            if !(0.0..=1.0).contains(&value) {
                return Err(BadFaults(format!(
                    "{name} must be a fraction from 0 to 1, got {value}"
                )));
            }
        }
        if self.rate_limit + self.server_error + self.outside_window > 1.0 {
            return Err(BadFaults(
                "rate_limit + server_error + outside_window must not exceed 1: they are slices \
                 of one draw"
                    .to_owned(),
            ));
        }
        if self.hang + self.drop_after_processing > 1.0 {
            return Err(BadFaults(
                "hang + drop_after_processing must not exceed 1".to_owned(),
            ));
        }
        Ok(())
    }

    /// The same faults with every fraction forced into 0..=1 (NaN becomes 0), for callers that
    /// cannot report an error ([`super::Running::set_faults`]).
    fn clamped(mut self) -> Faults {
        for value in [
            &mut self.rate_limit,
            &mut self.server_error,
            &mut self.outside_window,
            &mut self.hang,
            &mut self.drop_after_processing,
            &mut self.trace_lost,
        ] {
            *value = if value.is_nan() {
                0.0
            } else {
                value.clamp(0.0, 1.0)
            };
        }
        self
    }
}

message_error! {
    /// Why faults cannot be used: a fraction out of range, or slices over the whole.
    pub struct BadFaults;
}

/// A failure answered instead of processing the request; none of them is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// HTTP 429 with `Retry-After: secs`.
    RateLimit {
        /// The header's value.
        retry_after_secs: u64,
    },
    /// HTTP 500.
    ServerError,
    /// HTTP 200, envelope 1002 (message sends only).
    OutsideWindow,
}

/// What happens after a request was accepted and recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aftermath {
    /// The response is sent.
    Respond,
    /// The response never comes (until the emulator shuts down).
    Hang,
    /// The connection breaks instead of the response.
    Drop,
}

/// The fate of one request, drawn when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Added before anything else.
    pub latency: Duration,
    /// Refuse it instead of processing it. `OutsideWindow` applies only to message sends; the
    /// handler ignores it elsewhere.
    pub refusal: Option<Refusal>,
    /// What happens once it is recorded.
    pub aftermath: Aftermath,
    /// How long after acceptance a send's messages show in history.
    pub trace_delay: Duration,
    /// Whether a send's messages never show in history.
    pub trace_lost: bool,
}

impl Plan {
    /// A healthy request.
    pub const CLEAN: Plan = Plan {
        latency: Duration::ZERO,
        refusal: None,
        aftermath: Aftermath::Respond,
        trace_delay: Duration::ZERO,
        trace_lost: false,
    };
}

/// The faults in force and the random sources, shared by every request.
#[derive(Debug)]
pub struct FaultState {
    inner: Mutex<Draws>,
}

/// The faults and their random sources.
#[derive(Debug)]
struct Draws {
    faults: Faults,
    /// Refusals, then hang or drop.
    rng: fastrand::Rng,
    /// Lost traces.
    trace_rng: fastrand::Rng,
}

impl FaultState {
    /// Starts with these faults.
    pub fn new(faults: Faults) -> FaultState {
        let faults = faults.clamped();
        let (rng, trace_rng) = rngs_for(&faults);
        FaultState {
            inner: Mutex::new(Draws {
                faults,
                rng,
                trace_rng,
            }),
        }
    }

    /// The faults in force.
    pub fn get(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Replaces the faults; a `seed` restarts the random sequence from it.
    pub fn set(&self, faults: Faults) {
        let faults = faults.clamped();
        let mut inner = self.lock();
        if faults.seed.is_some() {
            (inner.rng, inner.trace_rng) = rngs_for(&faults);
        }
        inner.faults = faults;
    }

    /// Draws the fate of one request (`read`: a GET).
    pub fn plan(&self, read: bool) -> Plan {
        let mut guard = self.lock();
        let Draws {
            faults,
            rng,
            trace_rng,
        } = &mut *guard;
        if read && faults.spare_reads {
            return Plan::CLEAN;
        }
        let mut plan = Plan {
            latency: Duration::from_millis(faults.latency_ms),
            trace_delay: Duration::from_millis(faults.trace_delay_ms),
            ..Plan::CLEAN
        };
        let refuse = faults.rate_limit + faults.server_error + faults.outside_window;
        if refuse > 0.0 {
            let draw = rng.f64();
            plan.refusal = if draw < faults.rate_limit {
                Some(Refusal::RateLimit {
                    retry_after_secs: faults.retry_after_secs,
                })
            } else if draw < faults.rate_limit + faults.server_error {
                Some(Refusal::ServerError)
            } else if draw < refuse {
                Some(Refusal::OutsideWindow)
            } else {
                None
            };
        }
        if faults.hang + faults.drop_after_processing > 0.0 {
            let draw = rng.f64();
            plan.aftermath = if draw < faults.hang {
                Aftermath::Hang
            } else if draw < faults.hang + faults.drop_after_processing {
                Aftermath::Drop
            } else {
                Aftermath::Respond
            };
        }
        if faults.trace_lost > 0.0 {
            plan.trace_lost = trace_rng.f64() < faults.trace_lost;
        }
        plan
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Draws> {
        // A panic while holding this lock cannot leave the draws inconsistent (every update is a
        // plain assignment), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The two random sources, from the seed when there is one. The traces' source gets a seed of
/// its own derived from it (any fixed change would do), so its draws do not mirror the others'.
fn rngs_for(faults: &Faults) -> (fastrand::Rng, fastrand::Rng) {
    match faults.seed {
        Some(seed) => (
            fastrand::Rng::with_seed(seed),
            fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15),
        ),
        None => (fastrand::Rng::new(), fastrand::Rng::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_by_default() {
        let state = FaultState::new(Faults::default());
        for _ in 0..100 {
            assert_eq!(state.plan(false), Plan::CLEAN);
        }
    }

    #[test]
    fn seeded_draws_repeat() {
        let faults = Faults {
            rate_limit: 0.3,
            server_error: 0.3,
            hang: 0.5,
            seed: Some(7),
            ..Faults::default()
        };
        let a = FaultState::new(faults.clone());
        let b = FaultState::new(faults);
        let plans_a: Vec<Plan> = (0..50).map(|_| a.plan(false)).collect();
        let plans_b: Vec<Plan> = (0..50).map(|_| b.plan(false)).collect();
        assert_eq!(plans_a, plans_b);
        assert!(plans_a.iter().any(|p| p.refusal.is_some()));
        assert!(plans_a.iter().any(|p| p.refusal.is_none()));
    }

    #[test]
    fn trace_faults_leave_the_earlier_draws_as_they_were() {
        let faults = Faults {
            rate_limit: 0.3,
            hang: 0.3,
            seed: Some(11),
            ..Faults::default()
        };
        let plain = FaultState::new(faults.clone());
        let traced = FaultState::new(Faults {
            trace_lost: 0.5,
            trace_delay_ms: 250,
            ..faults
        });
        let mut lost = 0;
        for _ in 0..200 {
            let (a, b) = (plain.plan(false), traced.plan(false));
            assert_eq!((a.refusal, a.aftermath), (b.refusal, b.aftermath));
            assert_eq!(b.trace_delay, Duration::from_millis(250));
            lost += usize::from(b.trace_lost);
        }
        assert!((50..150).contains(&lost), "{lost} of 200 lost");
    }

    #[test]
    fn certain_faults_always_fire() {
        let state = FaultState::new(Faults {
            server_error: 1.0,
            drop_after_processing: 1.0,
            trace_lost: 1.0,
            ..Faults::default()
        });
        let plan = state.plan(false);
        assert_eq!(plan.refusal, Some(Refusal::ServerError));
        assert_eq!(plan.aftermath, Aftermath::Drop);
        assert!(plan.trace_lost);
    }

    #[test]
    fn check_rejects_bad_fractions() {
        let bad = Faults {
            rate_limit: 1.5,
            ..Faults::default()
        };
        assert!(bad.check().is_err());
        let overfull = Faults {
            rate_limit: 0.6,
            server_error: 0.6,
            ..Faults::default()
        };
        assert!(overfull.check().is_err());
        let nan = Faults {
            hang: f64::NAN,
            ..Faults::default()
        };
        assert!(nan.check().is_err());
        assert_eq!(nan.clamped().hang, 0.0);
        let lost = Faults {
            trace_lost: -0.1,
            ..Faults::default()
        };
        assert!(lost.check().is_err());
        assert_eq!(lost.clamped().trace_lost, 0.0);
    }
}
