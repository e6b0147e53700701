//! The last resort against a rendering fuel does not see: a watchdog thread that ends herald,
//! with an error naming what was being rendered, when one rendering uses more than
//! [`RENDER_TIME`] of processor time or grows the process's memory by more than
//! [`RENDER_MEMORY`].
//!
//! minijinja's fuel counts instructions and most data made, but not everything: comparing or
//! printing nested lists that `*` repeats lazily (`[[['a'] * 1000] * 1000] * 1000`) costs a few
//! units and runs for minutes or fills gigabytes. A running rendering cannot be interrupted, so
//! the watchdog stops the process. Real renderings take microseconds; only a hostile template
//! comes near these limits, and nothing has been sent by then (validate, plan and diff render
//! before anything is applied).
//!
//! Time is the rendering thread's own processor time (where Linux tells it), so a machine that
//! is overloaded, a process that is suspended (Ctrl-Z) or a runner that is paused never looks
//! like a runaway rendering; memory is only looked at once a rendering has used some of it.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

/// How much processor time one rendering may use.
pub(super) const RENDER_TIME: Duration = Duration::from_secs(2);
/// How much one rendering may grow the process's memory (resident set), measured from when the
/// watchdog first sees it running (a rendering makes at most 64 KiB of text).
pub(super) const RENDER_MEMORY: u64 = 128 * 1024 * 1024;
/// Processor time a rendering uses before its memory is looked at: real ones never use this
/// much, and a thread that is not running cannot be blamed for what others allocate.
const NOTICE: Duration = Duration::from_millis(50);
/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(20);

/// One thread's renderings.
struct Slot {
    /// Tells slots apart for as long as the process runs.
    id: u64,
    /// Counts the thread's renderings, so the watchdog can tell one from the next.
    generation: AtomicU64,
    /// Whether one is running.
    active: AtomicBool,
    /// The thread's id where Linux tells it, for its processor time.
    tid: Option<u32>,
    /// What is being rendered, for the message.
    what: Mutex<String>,
}

/// What the watchdog saw when it first saw a rendering.
struct Seen {
    generation: u64,
    at: Instant,
    cpu: Option<Duration>,
    rss: Option<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn slots() -> &'static Mutex<Vec<Arc<Slot>>> {
    static SLOTS: OnceLock<Mutex<Vec<Arc<Slot>>>> = OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(Vec::new()))
}

/// A thread's slot, taken off the list when the thread ends.
struct Registered(Arc<Slot>);

impl Drop for Registered {
    fn drop(&mut self) {
        lock(slots()).retain(|slot| !Arc::ptr_eq(slot, &self.0));
    }
}

thread_local! {
    static SLOT: Registered = {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let slot = Arc::new(Slot {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            active: AtomicBool::new(false),
            tid: thread_id(),
            what: Mutex::new(String::new()),
        });
        lock(slots()).push(slot.clone());
        Registered(slot)
    };
}

/// Says what this thread renders from now on (a campaign, a string's place), for the message
/// should the watchdog stop it.
pub fn rendering(what: impl Into<String>) {
    SLOT.with(|slot| *lock(&slot.0.what) = what.into());
}

/// Files to remove should the watchdog end herald (a plan half written beside `--out`): the
/// process ends without running destructors.
fn pending() -> &'static Mutex<Vec<PathBuf>> {
    static PENDING: OnceLock<Mutex<Vec<PathBuf>>> = OnceLock::new();
    PENDING.get_or_init(|| Mutex::new(Vec::new()))
}

/// Removes `path` should the watchdog end herald before [`keep`] is called for it.
pub fn remove_on_stop(path: PathBuf) {
    lock(pending()).push(path);
}

/// No longer removes `path` should the watchdog end herald.
pub fn keep(path: &std::path::Path) {
    lock(pending()).retain(|p| p != path);
}

/// Marks the slot idle when a rendering ends, however it ends.
struct Running<'s>(&'s Slot);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.active.store(false, Ordering::Release);
    }
}

/// Runs one rendering under the watchdog.
pub(super) fn watch<T>(render: impl FnOnce() -> T) -> T {
    static START: Once = Once::new();
    START.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("herald-watchdog".to_owned())
            .spawn(patrol);
    });
    SLOT.with(|registered| {
        let slot = &registered.0;
        slot.generation.fetch_add(1, Ordering::Relaxed);
        slot.active.store(true, Ordering::Release);
        let _running = Running(slot);
        render()
    })
}

/// The watchdog's loop.
fn patrol() {
    let mut seen: HashMap<u64, Seen> = HashMap::new();
    loop {
        std::thread::sleep(TICK);
        let slots = lock(slots()).clone();
        seen.retain(|id, _| slots.iter().any(|s| s.id == *id));
        for slot in &slots {
            let key = slot.id;
            if !slot.active.load(Ordering::Acquire) {
                seen.remove(&key);
                continue;
            }
            let generation = slot.generation.load(Ordering::Relaxed);
            let cpu = slot.tid.and_then(thread_cpu);
            match seen.get(&key) {
                Some(first) if first.generation == generation => {
                    if let Some(problem) = judge(first, cpu) {
                        stop(slot, &problem);
                    }
                }
                _ => {
                    // Real renderings last microseconds: one seen at all is measured from
                    // then on.
                    let rss = resident_bytes();
                    let first = Seen {
                        generation,
                        at: Instant::now(),
                        cpu,
                        rss,
                    };
                    seen.insert(key, first);
                }
            }
        }
    }
}

/// What is wrong with a rendering first seen as `first`, now that its thread has used `cpu`.
fn judge(first: &Seen, cpu: Option<Duration>) -> Option<String> {
    let used = match (first.cpu, cpu) {
        (Some(then), Some(now)) => now.saturating_sub(then),
        // Without the thread's processor time, the time since it was seen.
        _ => first.at.elapsed(),
    };
    if used > RENDER_TIME {
        return Some(format!(
            "used more than {} seconds of processor time",
            RENDER_TIME.as_secs()
        ));
    }
    if used < NOTICE {
        return None;
    }
    let grown = resident_bytes()?.saturating_sub(first.rss?);
    (grown > RENDER_MEMORY).then(|| {
        format!(
            "took more than {} MiB of memory",
            RENDER_MEMORY / 1024 / 1024
        )
    })
}

/// Ends herald with an error: a rendering cannot be interrupted.
fn stop(slot: &Slot, what_happened: &str) -> ! {
    let what = lock(&slot.what).clone();
    let what = if what.is_empty() {
        "a template".to_owned()
    } else {
        what
    };
    for path in lock(pending()).iter() {
        let _ = std::fs::remove_file(path);
    }
    let mut stderr = std::io::stderr();
    let _ = writeln!(
        stderr,
        "error: herald stopped: rendering {what} {what_happened}\n  help: a template in this \
         project does work herald cannot bound as it goes (comparing or printing long repeated \
         lists, say); campaign strings fill in a few values: simplify it"
    );
    let _ = stderr.flush();
    std::process::exit(crate::exit::ExitStatus::Problems.code().into())
}

/// This thread's id, where Linux tells it (`/proc/thread-self` is `PID/task/TID`).
#[cfg(target_os = "linux")]
fn thread_id() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn thread_id() -> Option<u32> {
    None
}

/// A thread's processor time (user and system), from `/proc/self/task/TID/stat`.
#[cfg(target_os = "linux")]
fn thread_cpu(tid: u32) -> Option<Duration> {
    // Linux reports these in USER_HZ, which is 100 on every architecture it runs on.
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: count fields after it. The state is
    // field 3, utime 14 and stime 15.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu(_: u32) -> Option<Duration> {
    None
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

#[cfg(all(test, target_os = "linux"))]
mod tests;
