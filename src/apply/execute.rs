//! [`Executor`]: sends requests on a tokio runtime with bounded concurrency, an even rate
//! limit and retries, and reports each one's [`Finished`] outcome through a channel.
//!
//! What is retried follows [`ApiError`]'s classification: a 429/503 or a connection that was
//! refused before any byte left (the request was certainly not acted on) is tried again with
//! exponential backoff and full jitter, honouring `Retry-After`. A timeout after the request
//! was written is never retried: it may have been delivered, so it becomes `unknown`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::engati::{ApiError, Client, Request};

/// Attempts per request for retryable answers (the first try included).
pub const MAX_ATTEMPTS: u32 = 6;
/// The first backoff; doubled for every further attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// No backoff waits longer than this (a `Retry-After` may, up to [`MAX_RETRY_AFTER`]).
const BACKOFF_CAP: Duration = Duration::from_secs(8);
/// Attempts in a row (over every request) that could not reach the server before the apply
/// stops: it is gone (refused, DNS, TLS), and trying every recipient six times would take
/// minutes and tell nothing more.
const UNREACHABLE_ATTEMPTS: u32 = 8;
/// Requests in a row whose outcome is unknown (no answer, a broken one) before the apply
/// stops: the server is not answering, and each further request only adds an unknown.
const UNKNOWN_IN_A_ROW: u32 = 16;
/// How often a backoff checks whether the apply was stopped.
const SLICE: Duration = Duration::from_millis(100);
/// A server asking for a longer pause than this is not waited for: the delivery fails and a
/// later apply retries it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// One request to send, with the index the caller knows it by.
#[derive(Debug)]
pub struct Job {
    /// The caller's index of the delivery.
    pub index: usize,
    /// What to send.
    pub request: Request,
}

/// How one job ended.
#[derive(Debug)]
pub struct Finished {
    /// [`Job::index`].
    pub index: usize,
    /// What came of it.
    pub result: Sent,
    /// Attempts made (0 when it never left).
    pub attempts: u32,
}

/// The outcome of a job.
#[derive(Debug)]
pub enum Sent {
    /// Engati accepted it; the envelope code.
    Accepted(i64),
    /// It was answered with an error, or it never left and retrying gave up.
    Failed(ApiError),
    /// It may or may not have been acted on (a timeout or dropped connection after sending).
    Unknown(ApiError),
    /// The apply stopped (a rejected key, Ctrl-C) before this request left.
    NotSent,
}

/// Why an apply stops launching requests.
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: AtomicBool,
    reason: std::sync::Mutex<Option<ApiError>>,
}

impl StopSignal {
    /// Stops, for an API error that makes every further request pointless.
    pub fn stop_for(&self, error: ApiError) {
        if let Ok(mut reason) = self.reason.lock()
            && reason.is_none()
        {
            *reason = Some(error);
        }
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Stops at the user's request.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Whether the apply is stopping.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// The API error that stopped it, if one did.
    pub fn reason(&self) -> Option<ApiError> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }
}

/// Sends jobs. Cheap to share: everything inside is behind `Arc`s.
pub struct Executor {
    runtime: tokio::runtime::Handle,
    client: Client,
    permits: Arc<Semaphore>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    stop: Arc<StopSignal>,
    /// Attempts in a row that did not reach the server, and requests in a row whose outcome
    /// is unknown.
    unreached: Arc<(AtomicU32, AtomicU32)>,
}

impl Executor {
    /// An executor on `runtime` sending at most `concurrency` requests at once and, with a
    /// rate, evenly spaced at most `rate` per second (no bursts).
    pub fn new(
        runtime: tokio::runtime::Handle,
        client: Client,
        concurrency: usize,
        rate: Option<f64>,
        stop: Arc<StopSignal>,
    ) -> Executor {
        let limiter = rate.and_then(|rate| {
            let period = Duration::from_secs_f64(1.0 / rate);
            let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::MIN);
            Some(Arc::new(RateLimiter::direct(quota)))
        });
        Executor {
            runtime,
            client,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            limiter,
            stop,
            unreached: Arc::new((AtomicU32::new(0), AtomicU32::new(0))),
        }
    }

    /// Starts a job; its [`Finished`] goes to `done`.
    pub fn launch(&self, job: Job, done: Sender<Finished>) {
        let client = self.client.clone();
        let permits = self.permits.clone();
        let limiter = self.limiter.clone();
        let stop = self.stop.clone();
        let unreached = self.unreached.clone();
        self.runtime.spawn(async move {
            let limiter = limiter.as_deref();
            let finished = send(job, &client, &permits, limiter, &stop, &unreached).await;
            // The receiver outlives every job (the apply waits for all of them).
            let _ = done.send(finished);
        });
    }
}

async fn send(
    job: Job,
    client: &Client,
    permits: &Semaphore,
    limiter: Option<&DefaultDirectRateLimiter>,
    stop: &StopSignal,
    (unreached, unknown): &(AtomicU32, AtomicU32),
) -> Finished {
    let finished = |result, attempts| Finished {
        index: job.index,
        result,
        attempts,
    };
    let Ok(_permit) = permits.acquire().await else {
        return finished(Sent::NotSent, 0);
    };
    let mut attempt = 0;
    loop {
        if let Some(limiter) = limiter {
            limiter.until_ready().await;
        }
        if stop.is_stopped() {
            return finished(Sent::NotSent, attempt);
        }
        attempt += 1;
        let error = match client.execute(&job.request).await {
            Ok(accepted) => {
                unreached.store(0, Ordering::SeqCst);
                unknown.store(0, Ordering::SeqCst);
                return finished(Sent::Accepted(accepted.code), attempt);
            }
            Err(error) => error,
        };
        if matches!(error, ApiError::NotSent { .. }) {
            if unreached.fetch_add(1, Ordering::SeqCst) + 1 >= UNREACHABLE_ATTEMPTS {
                stop.stop_for(error.clone());
                return finished(Sent::Failed(error), attempt);
            }
        } else {
            unreached.store(0, Ordering::SeqCst);
        }
        if error.stops_apply() {
            stop.stop_for(error.clone());
            return finished(Sent::Failed(error), attempt);
        }
        if error.outcome_unknown() {
            if unknown.fetch_add(1, Ordering::SeqCst) + 1 >= UNKNOWN_IN_A_ROW {
                stop.stop_for(error.clone());
            }
            return finished(Sent::Unknown(error), attempt);
        }
        unknown.store(0, Ordering::SeqCst);
        let wait = backoff(attempt, error.retry_after());
        match wait {
            Some(wait) if error.is_retryable() && attempt < MAX_ATTEMPTS => {
                // In slices, so a signal does not wait out a long Retry-After.
                let until = tokio::time::Instant::now() + wait;
                while tokio::time::Instant::now() < until && !stop.is_stopped() {
                    tokio::time::sleep_until(until.min(tokio::time::Instant::now() + SLICE)).await;
                }
            }
            _ => return finished(Sent::Failed(error), attempt),
        }
    }
}

/// How long to wait before attempt `attempt + 1`: the server's `Retry-After` if it gave one
/// (`None` when that is too long to wait), else a random time up to `BASE * 2^(attempt-1)`,
/// capped ("full jitter": many workers backing off at once spread out instead of retrying in
/// step).
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
    if let Some(after) = retry_after {
        return (after <= MAX_RETRY_AFTER).then_some(after);
    }
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    Some(ceiling.mul_f64(fastrand::f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        for attempt in 1..20 {
            let wait = backoff(attempt, None).unwrap();
            let ceiling = BACKOFF_BASE.saturating_mul(1 << (attempt - 1).min(16));
            assert!(
                wait <= ceiling.min(BACKOFF_CAP),
                "attempt {attempt}: {wait:?}"
            );
        }
        assert_eq!(
            backoff(1, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(backoff(1, Some(Duration::from_secs(3600))), None);
    }
}
