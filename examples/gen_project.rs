//! Writes a synthetic, valid herald project for benchmarks and manual testing.
//!
//! ```text
//! cargo run --release --example gen_project -- --files 1000 --recipients 10000 --out /tmp/big
//! target/release/herald validate --project /tmp/big
//! ```
//!
//! The output is deterministic: the same arguments always write the same files.

#[path = "support/project_gen.rs"]
mod project_gen;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Write a synthetic herald project: herald.yaml and N campaign files.
#[derive(Debug, Parser)]
#[command(name = "gen_project")]
struct Args {
    /// Number of resource files to write under DIR/campaigns/.
    #[arg(long, default_value_t = 1000)]
    files: usize,
    /// Inline recipients in total, spread evenly over the files (at least one per file).
    #[arg(long, default_value_t = 10_000)]
    recipients: usize,
    /// The project directory to create; it must not exist or be empty.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let spec = project_gen::Spec {
        files: args.files,
        recipients: args.recipients,
    };
    match project_gen::generate(spec, &args.out) {
        Ok(summary) => {
            println!(
                "wrote {}: herald.yaml + {} campaign files, {} recipients, {:.1} MiB",
                args.out.display(),
                summary.files,
                summary.recipients,
                summary.bytes as f64 / 1024.0 / 1024.0
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_project: {e}");
            ExitCode::from(2)
        }
    }
}
