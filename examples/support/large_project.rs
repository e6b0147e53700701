//! A generated project: the invoice reminder campaign (tests/fixtures/large) to a CSV of N
//! distinct recipients, for the plan and apply benchmarks.
#![allow(dead_code)] // each benchmark uses part of it

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write as _};
use std::path::Path;

/// Engati's own API, for projects that are only planned.
pub const ENGATI: &str = "https://api.engati.ai";

const CAMPAIGN_YAML: &str = include_str!("../../tests/fixtures/large/invoice-campaign.yaml");

const FIRST_NAMES: [&str; 24] = [
    "john", "jahnavi", "aarav", "priya", "rohan", "ananya", "vikram", "meera", "arjun", "kavya",
    "rahul", "sneha", "aditya", "pooja", "karthik", "divya", "suresh", "lakshmi", "imran",
    "fatima", "gurpreet", "neha", "thomas", "deepa",
];

/// Writes the project for `n` recipients, sending to `base_url`, into `dir`; returns the CSV's
/// size in bytes.
///
/// Phones are `+919` and 9 digits, a bijection of the row index (7919 is prime to 10^9), so
/// they are distinct but not in order; names cycle through a list with a stride; invoice
/// numbers are distinct.
pub fn generate(dir: &Path, n: usize, base_url: &str) -> io::Result<u64> {
    assert!(n <= 1_000_000_000, "phones are distinct up to 10^9 rows");
    for sub in ["campaigns", "audiences"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let settings = format!(
        "api: {{base_url: \"{base_url}\", customer_id: 61179, bot_key: bb67e0773bed4c7e, \
         api_key_env: ENGATI_API_KEY}}\nvars: {{brand: Renuka Sugars}}\n"
    );
    std::fs::write(dir.join("herald.yaml"), settings)?;
    std::fs::write(dir.join("campaigns").join("c.yaml"), CAMPAIGN_YAML)?;
    let path = dir.join("audiences").join("big.csv");
    let mut csv = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    csv.write_all(b"phone,first_name,invoice_no\n")?;
    let mut line = String::with_capacity(64);
    for i in 0..n as u64 {
        let phone = (i * 7_919 + 12_345) % 1_000_000_000;
        let name = FIRST_NAMES[(i as usize * 7 + i as usize / 24) % FIRST_NAMES.len()];
        line.clear();
        let _ = writeln!(line, "+919{phone:09},{name},{}", 10_000_000 + i);
        csv.write_all(line.as_bytes())?;
    }
    csv.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(path.metadata()?.len())
}
