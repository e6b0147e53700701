//! A local Engati emulator: the same endpoints, auth rule and answers as the platform, seeded
//! with keys, bots, templates and users, recording every accepted request, with injectable
//! faults. `herald emulator` runs it; tests start it in-process with [`start`].
//!
//! This file owns the public interface (what tests and the CLI call), the router and the
//! server's start and shutdown. The rest: [`seed`] (the seed format), `world` (the seed indexed,
//! keys), `handlers` (the Engati endpoints), `validate` (strict request checks), `store` (the
//! durable record), `history` (what sends leave in conversation history), [`faults`], `inspect`
//! (the `/_emulator/` endpoints) and [`log`] (buffered stderr for the request log).
//! docs/emulator.md is the user's guide.

mod checks;
pub mod faults;
mod handlers;
mod history;
mod inspect;
pub mod log;
mod project_seed;
mod respond;
pub mod seed;
mod store;
mod world;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::Faults;
pub use seed::{Seed, SeedError};
pub use store::{LOG_FILE, RecordedRequest};

use handlers::{AppState, Shared};

/// The API key of the built-in seed.
pub const BUILTIN_API_KEY: &str = "emulator-key";

/// The largest request body accepted: a v2 broadcast to 100,000 users fits.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How long shutdown waits for busy connections before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How to run an emulator.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen; port 0 picks a free port (see [`Running::addr`]).
    pub addr: SocketAddr,
    /// Where to keep `requests.jsonl`; in memory only when `None`.
    pub data_dir: Option<PathBuf>,
    /// Keys, customers, bots and users.
    pub seed: Seed,
    /// Faults from the start.
    pub faults: Faults,
}

impl Config {
    /// 127.0.0.1 on a free port, records in memory, no faults: what tests want.
    pub fn local(seed: Seed) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            seed,
            faults: Faults::default(),
        }
    }
}

/// Why an emulator could not start.
#[derive(Debug)]
pub enum EmulatorError {
    /// The seed is inconsistent.
    Seed(SeedError),
    /// A fault fraction is out of range.
    Faults(faults::BadFaults),
    /// The data directory or its log cannot be used.
    Data(store::LogError),
    /// The address cannot be listened on.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

impl fmt::Display for EmulatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmulatorError::Seed(e) => write!(f, "{e}"),
            EmulatorError::Faults(e) => write!(f, "invalid faults: {e}"),
            EmulatorError::Data(e) => write!(f, "{e}"),
            EmulatorError::Bind { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
        }
    }
}

impl std::error::Error for EmulatorError {}

/// A running emulator. Dropping it stops the server without waiting; [`Running::shutdown`]
/// waits for in-flight requests and syncs the log.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    shared: AppState,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

/// Starts an emulator: binds, reads back the log of `data_dir`, and serves in the background
/// of the current tokio runtime.
pub async fn start(config: Config) -> Result<Running, EmulatorError> {
    let world = world::World::build(&config.seed).map_err(EmulatorError::Seed)?;
    config.faults.check().map_err(EmulatorError::Faults)?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|error| EmulatorError::Bind {
            addr: config.addr,
            error,
        })?;
    let addr = listener.local_addr().map_err(|error| EmulatorError::Bind {
        addr: config.addr,
        error,
    })?;
    // Opened after binding, so a taken port does not leave a writer thread behind.
    let mut replay = |path: &str, body: &[u8], received_at: &str| {
        history::replay(&world, path, body, received_at);
    };
    let store =
        store::Store::open(config.data_dir.as_deref(), &mut replay).map_err(EmulatorError::Data)?;
    let (stop, stopped) = watch::channel(false);
    let shared = Arc::new(Shared {
        world,
        faults: faults::FaultState::new(config.faults),
        store,
        shutdown: stopped.clone(),
    });
    let app = router(Arc::clone(&shared));
    // Answers are one write each; without NODELAY a client's next request can wait on Nagle.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let mut signal = stopped;
    let server = tokio::spawn(async move {
        let graceful = async move {
            let _ = signal.wait_for(|&stop| stop).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(graceful)
            .await
        {
            tracing::error!("the emulator's server failed: {e}");
        }
    });
    Ok(Running {
        addr,
        shared,
        stop,
        server: Some(server),
    })
}

fn router(state: AppState) -> Router {
    let scope = "customer/{customer}/bot/{bot}";
    Router::new()
        .route(
            &format!("/bot-api/v1.0/{scope}/users"),
            get(handlers::users),
        )
        .route(
            &format!("/bot-api/v1.0/{scope}/channel-user/{{user}}/conversations"),
            get(handlers::conversations),
        )
        .route(
            &format!("/whatsapp-api/v1.0/{scope}/template"),
            post(handlers::template),
        )
        .route(
            &format!("/bot-api/v1.0/{scope}/broadcast"),
            post(handlers::broadcast_v1),
        )
        .route(
            &format!("/bot-api/v2.0/{scope}/broadcast"),
            post(handlers::broadcast_v2),
        )
        .route(
            &format!("/bot-api/v1.0/{scope}/flow/{{flow}}"),
            post(handlers::trigger_v1),
        )
        .route(
            &format!("/bot-api/v2.0/{scope}/flow/{{flow}}"),
            post(handlers::trigger_v2),
        )
        .route(
            "/_emulator/requests",
            get(inspect::requests).delete(inspect::reset),
        )
        .route("/_emulator/counts", get(inspect::counts))
        .route(
            "/_emulator/faults",
            get(inspect::get_faults).put(inspect::put_faults),
        )
        .route("/_emulator/keys/{key}/revoke", post(inspect::revoke))
        .fallback(inspect::not_found)
        .method_not_allowed_fallback(inspect::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(respond::access_log))
        .with_state(state)
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the `api.base_url` for herald.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the faults in force. Fractions are clamped to 0..=1 (NaN counts as 0); the
    /// HTTP endpoint refuses them instead.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults.set(faults);
    }

    /// Revokes an API key: later calls with it get 403. Unknown keys are ignored.
    pub fn revoke_key(&self, key: &str) {
        self.shared.world.revoke(key);
    }

    /// Every accepted request, in acceptance order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.store.requests()
    }

    /// Phone number to the number of accepted requests that message it, sorted by phone.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.store.counts()
    }

    /// Stops accepting connections, lets in-flight requests finish (hanging ones are released;
    /// connections still busy after 5 s are cut off), then writes and syncs the log.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                tracing::warn!("connections still busy after {SHUTDOWN_GRACE:?}; cutting them off");
                abort.abort();
            }
        }
        self.shared.store.stop().await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // After `shutdown` both are no-ops; otherwise they stop the server and the writer.
        let _ = self.stop.send(true);
        self.shared.store.stop_soon();
    }
}

/// Runs an emulator until Ctrl-C (or SIGTERM), printing its URL on stdout first: what
/// `herald emulator` does.
pub async fn run_until_signal(config: Config) -> Result<(), EmulatorError> {
    let data = config
        .data_dir
        .as_ref()
        .map_or("in memory".to_owned(), |d| {
            d.join(LOG_FILE).display().to_string()
        });
    let running = start(config).await?;
    let reloaded = running.shared.store.len();
    tracing::info!(
        target: "herald::emulator",
        "recording accepted requests {data} ({reloaded} reloaded)"
    );
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        // The first line is the contract for scripts: the base URL to use.
        let _ = writeln!(
            stdout,
            "herald emulator listening on {}",
            running.base_url()
        );
        let _ = stdout.flush();
    }
    wait_for_signal().await;
    tracing::info!(target: "herald::emulator", "shutting down");
    running.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
