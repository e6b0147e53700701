//! herald: campaigns as code for the Engati chatbot platform.
//!
//! The pipeline runs one way: [`load`] reads files, [`validate`] checks them and builds the typed
//! project, [`render`] turns campaigns into the exact requests, [`plan`] compares them with
//! [`state`], and the CLI ([`cli`]) drives it all and prints through [`output`].

/// Declares an error that is one message, said as it stands: `Display` prints it, and it is a
/// `std::error::Error`. For failures with nothing to add but what went wrong (a malformed
/// value, a file that could not be written); errors that carry help or data are enums.
macro_rules! message_error {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        $vis struct $name(pub String);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::error::Error for $name {}
    };
}

pub mod apply;
pub mod cli;
pub mod clock;
pub mod diagnostic;
pub(crate) mod diff;
pub mod emulator;
pub mod engati;
pub(crate) mod exit;
pub mod fingerprint;
pub(crate) mod init;
pub mod jinja;
pub(crate) mod leb128;
pub mod load;
pub mod model;
pub mod output;
pub mod plan;
pub mod pricing;
pub(crate) mod reads;
pub mod reconcile;
pub mod render;
pub mod schedule;
pub mod schema;
pub mod state;
pub mod tz;
pub mod validate;
pub mod window;
pub(crate) mod words;
