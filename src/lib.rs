//! herald: campaigns as code for the Engati chatbot platform.
//!
//! The pipeline runs one way: [`load`] reads files, [`validate`] checks them and builds the typed
//! project, and the CLI ([`cli`]) drives it and prints through [`output`].

pub mod cli;
pub mod diagnostic;
pub mod emulator;
pub mod engati;
pub mod init;
pub mod load;
pub mod model;
pub mod output;
pub mod schema;
pub mod validate;
