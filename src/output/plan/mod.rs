//! The views of a plan: [`human`] for terminals, [`markdown`] for pull-request comments, the
//! [`preview`] of one request as its recipient would read it, and `--redact` ([`redact_action`],
//! [`mask_phone`], the [`Redacting`] sink) for plans shown in public logs.

mod cost;
pub(super) mod describe;
#[cfg(test)]
mod fixtures;
pub(super) mod human;
pub(super) mod markdown;
mod pacing;
pub(super) mod preview;
mod rails;
pub(super) mod redact;
mod window;

pub use human::human;
pub use markdown::markdown;
pub use preview::preview;
pub use redact::{Redacting, mask_phone, redact_action, redact_text};
