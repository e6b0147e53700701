//! The views of a plan: [`human`] for terminals, [`markdown`] for pull-request comments, the
//! [`preview`] of one request as its recipient would read it, and `--redact` ([`redact_action`],
//! [`mask_phone`], the [`Redacting`] sink) for plans shown in public logs.

mod describe;
#[cfg(test)]
mod fixtures;
mod human;
mod markdown;
mod preview;
mod redact;
mod review;

pub use human::human;
pub use markdown::markdown;
pub use preview::preview;
pub use redact::{Redacting, mask_phone, redact_action, redact_text};
pub use review::{Labels, redact_review, review_human, review_markdown};
