//! Everything herald prints: diagnostics for people (with snippets) and for tools (JSON).

pub mod ci;
pub mod diagnostics;
pub mod plan;
