//! How apply shows its progress on stderr: a bar per campaign on a terminal (sent, failed,
//! unknown, rate, time left), and in CI a log line when a campaign starts and ends and every
//! few seconds in between.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::apply::{CampaignOutcome, Progress};

/// Seconds between log lines when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Apply's progress display.
pub(super) struct Reporter {
    terminal: bool,
    bar: Option<ProgressBar>,
    name: String,
    started: Instant,
    last_line: Instant,
}

impl Reporter {
    /// A bar when stderr is a terminal, log lines otherwise.
    pub(super) fn detect() -> Reporter {
        Reporter {
            terminal: std::io::stderr().is_terminal(),
            bar: None,
            name: String::new(),
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }
}

fn done(o: &CampaignOutcome) -> u64 {
    o.sent + o.failed + o.unknown + o.not_sent
}

fn counts(o: &CampaignOutcome) -> String {
    format!(
        "{} sent, {} failed, {} unknown",
        o.sent, o.failed, o.unknown
    )
}

impl Progress for Reporter {
    fn campaign(&mut self, name: &str, planned: u64) {
        self.name = name.to_owned();
        self.started = Instant::now();
        self.last_line = Instant::now();
        if self.terminal {
            let bar = ProgressBar::new(planned);
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {msg} {per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(name.to_owned());
            self.bar = Some(bar);
        } else {
            eprintln!("apply: {name}: {planned} to send");
        }
    }

    fn update(&mut self, outcome: &CampaignOutcome) {
        if let Some(bar) = &self.bar {
            bar.set_position(done(outcome));
            bar.set_message(counts(outcome));
        } else if self.last_line.elapsed() >= LOG_EVERY {
            self.last_line = Instant::now();
            let rate = done(outcome) as f64 / self.started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "apply: {}: {}/{} ({}), {rate:.0}/s",
                self.name,
                done(outcome),
                outcome.planned,
                counts(outcome)
            );
        }
    }

    fn campaign_done(&mut self, outcome: &CampaignOutcome) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.terminal {
            eprintln!(
                "apply: {}: done ({}, {} not sent)",
                self.name,
                counts(outcome),
                outcome.not_sent
            );
        }
    }
}
