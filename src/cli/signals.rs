//! Signals during apply: SIGTERM (CI cancellation, `timeout`, docker, systemd), SIGHUP (a
//! closed terminal) and SIGINT (Ctrl-C) all stop launching requests; those in flight finish
//! (bounded by the request timeout) and are recorded, the lock is released, and apply exits 1.
//! A second signal exits at once: intents are committed before their requests leave, so the
//! journal stays consistent, and the next apply settles what was in flight.

use std::sync::{Arc, OnceLock};

use tokio::signal::unix::{SignalKind, signal};

use crate::apply::execute::StopSignal;

/// The first signal received, once one is.
#[derive(Debug, Clone, Default)]
pub(super) struct Received(Arc<OnceLock<&'static str>>);

impl Received {
    /// `SIGTERM`, `SIGHUP` or `SIGINT`, once one arrived.
    pub(super) fn received(&self) -> Option<&'static str> {
        self.0.get().copied()
    }
}

/// Watches for the three signals on `runtime` from now on, stopping `stop` at the first.
pub(super) fn watch(runtime: &tokio::runtime::Runtime, stop: Arc<StopSignal>) -> Received {
    let received = Received::default();
    let kinds = [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::interrupt(), "SIGINT"),
    ];
    // Registered here, before returning, so a signal that comes at once is not missed.
    let streams: Vec<_> = runtime.block_on(async {
        kinds
            .into_iter()
            .filter_map(|(kind, name)| signal(kind).ok().map(|s| (s, name)))
            .collect()
    });
    for (mut stream, name) in streams {
        let (stop, received) = (stop.clone(), received.clone());
        runtime.spawn(async move {
            while stream.recv().await.is_some() {
                if received.0.set(name).is_err() {
                    eprintln!(
                        "\n{name} again: exiting now; the next apply settles what was in flight"
                    );
                    std::process::exit(super::ExitStatus::Incomplete.code().into());
                }
                eprintln!("\n{name}: stopping: no new requests; waiting for those in flight");
                stop.stop();
            }
        });
    }
    received
}
