//! Everything herald prints: diagnostics for people (with snippets) and for tools (JSON),
//! plans, the diff review, and the summaries of apply and the state commands. Views take
//! values and return text; the CLI chooses which and where it goes.

pub mod apply;
pub mod ci;
pub mod diagnostics;
pub mod diff;
pub mod plan;
pub mod reconcile;
pub mod state;
