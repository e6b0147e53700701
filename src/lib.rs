//! herald: campaigns as code for the Engati chatbot platform.
//!
//! The pipeline runs one way: [`load`] reads files, [`validate`] checks them and builds the typed
//! project, [`render`] turns campaigns into the exact requests, [`plan`] compares them with
//! [`state`], and the CLI ([`cli`]) drives it all and prints through [`output`].

pub mod apply;
pub mod cli;
pub mod diagnostic;
pub mod emulator;
pub mod engati;
pub mod fingerprint;
pub mod init;
pub mod jinja;
pub mod load;
pub mod model;
pub mod output;
pub mod plan;
pub mod reconcile;
pub mod render;
pub mod review;
pub mod schema;
pub mod state;
pub mod validate;
