//! The last resort against a rendering fuel does not see: a watchdog thread that ends herald,
//! with an error naming what was being rendered, when one rendering runs longer than
//! [`RENDER_TIME`] or grows the process's memory by more than [`RENDER_MEMORY`].
//!
//! minijinja's fuel counts instructions and most data made, but not everything: comparing or
//! printing nested lists that `*` repeats lazily (`[[['a'] * 1000] * 1000] * 1000`) costs a few
//! units and runs for minutes or fills gigabytes. A running rendering cannot be interrupted, so
//! the watchdog stops the process. Real renderings take microseconds; only a hostile template
//! comes near these limits, and nothing has been sent by then (validate, plan and diff render
//! before anything is applied).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// How long one rendering may run.
pub const RENDER_TIME: Duration = Duration::from_secs(2);
/// How much one rendering may grow the process's memory (resident set), measured from when the
/// watchdog first sees it running (a rendering makes at most 64 KiB of text).
pub const RENDER_MEMORY: u64 = 128 * 1024 * 1024;
/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(20);

/// One thread's rendering in progress.
#[derive(Default)]
struct Slot {
    /// When it started, in nanoseconds since [`epoch`] plus one; 0 when idle.
    started: AtomicU64,
    /// The resident set when the watchdog first saw it, plus one; 0 before.
    baseline: AtomicU64,
    /// What is being rendered, for the message.
    what: Mutex<String>,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn slots() -> &'static Mutex<Vec<Arc<Slot>>> {
    static SLOTS: OnceLock<Mutex<Vec<Arc<Slot>>>> = OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(Vec::new()))
}

thread_local! {
    static SLOT: Arc<Slot> = {
        let slot = Arc::new(Slot::default());
        slots()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(slot.clone());
        slot
    };
}

/// Says what this thread renders from now on (a campaign, a string's place), for the message
/// should the watchdog stop it.
pub fn rendering(what: impl Into<String>) {
    SLOT.with(|slot| {
        *slot
            .what
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = what.into();
    });
}

/// Runs one rendering under the watchdog.
pub(super) fn watch<T>(render: impl FnOnce() -> T) -> T {
    static START: Once = Once::new();
    START.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("herald-watchdog".to_owned())
            .spawn(patrol);
    });
    SLOT.with(|slot| {
        let now = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        slot.baseline.store(0, Ordering::Relaxed);
        slot.started.store(now + 1, Ordering::Release);
        let result = render();
        slot.started.store(0, Ordering::Release);
        result
    })
}

/// The watchdog's loop.
fn patrol() {
    loop {
        std::thread::sleep(TICK);
        let now = epoch().elapsed();
        let slots = slots()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for slot in slots {
            let started = slot.started.load(Ordering::Acquire);
            if started == 0 {
                continue;
            }
            let running = now.saturating_sub(Duration::from_nanos(started - 1));
            if running > RENDER_TIME {
                stop(&slot, &too_long());
            }
            let Some(rss) = resident_bytes() else {
                continue;
            };
            // Real renderings last microseconds: one seen at all is measured from then on.
            let baseline = slot.baseline.load(Ordering::Relaxed);
            if baseline == 0 {
                slot.baseline.store(rss + 1, Ordering::Relaxed);
                continue;
            }
            // Only while the same rendering runs: it may have ended since it was seen.
            if slot.started.load(Ordering::Acquire) == started
                && rss.saturating_sub(baseline - 1) > RENDER_MEMORY
            {
                let mib = RENDER_MEMORY / 1024 / 1024;
                stop(&slot, &format!("took more than {mib} MiB of memory"));
            }
        }
    }
}

fn too_long() -> String {
    format!("ran for more than {} seconds", RENDER_TIME.as_secs())
}

/// Ends herald with an error: a rendering cannot be interrupted.
fn stop(slot: &Slot, what_happened: &str) -> ! {
    let what = slot.what.lock().map(|w| w.clone()).unwrap_or_default();
    let what = if what.is_empty() {
        "a template".to_owned()
    } else {
        what
    };
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "error: herald stopped: rendering {what} {what_happened}\n  help: a template in this \
         project does work herald cannot bound as it goes (comparing or printing long repeated \
         lists, say); campaign strings fill in a few values: simplify it"
    );
    let _ = stderr.flush();
    std::process::exit(1)
}

/// The process's resident memory, where the system tells it (Linux).
#[cfg(target_os = "linux")]
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(not(target_os = "linux"))]
fn resident_bytes() -> Option<u64> {
    None
}
