//! Engati: the API's wire format ([`api`]) and the client that speaks it.
//!
//! - [`api`]: request bodies, envelopes, status codes and paths, shared with the emulator;
//! - [`request`]: [`Request`], one call as plain data (what plan files store);
//! - [`config`]: [`ClientConfig`] from herald.yaml and the environment, and the [`Secret`] key;
//! - [`error`]: [`ApiError`], every failure sorted into the classes apply decides on, and
//!   [`classify`], which maps HTTP answers and transport failures to it;
//! - [`client`]: [`Client`], which sends requests and reads answers;
//! - [`rules`]: WhatsApp's rules for what a message may hold, shared by validate, render and
//!   the emulator;
//! - [`trace`]: what an accepted send leaves in its recipients' conversation histories, which
//!   the emulator records and reconciliation looks for.

pub mod api;
mod body;
pub mod classify;
pub mod client;
pub mod config;
pub mod error;
pub mod request;
pub mod rules;
pub mod trace;

pub use body::Body;
pub use client::{Accepted, Client};
pub use config::{ClientConfig, ConfigError, Secret};
pub use error::{ApiError, ReadError, Unusable};
pub use request::{Method, Request};

/// The async runtime the client runs on: `workers` threads, or one per core. Built by
/// whoever makes requests (apply, the reads of plan, the emulator command), never twice.
pub fn runtime(workers: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    builder.enable_all().build()
}
