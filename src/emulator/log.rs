//! Buffered stderr for the emulator's one-line-per-request log.
//!
//! tracing's stderr writer makes one `write` system call per line; at 20,000 requests a second
//! that is a measurable share of a 2-core machine. Here lines go into a buffer that a thread
//! writes out every 20 ms (sooner past 64 KiB), and [`LogFlush::flush`] writes what is left at
//! exit. A crash loses at most the last 20 ms of log lines, never a request record (those are
//! written by the store before each answer).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How long a line may wait in the buffer.
const INTERVAL: Duration = Duration::from_millis(20);
/// Past this many buffered bytes the thread is woken at once.
const HIGH_WATER: usize = 64 * 1024;

#[derive(Default)]
struct Shared {
    buffer: Mutex<Vec<u8>>,
    wake: Condvar,
}

/// A `tracing_subscriber` writer: `fmt().with_writer(BufferedStderr)`.
#[derive(Clone)]
pub struct BufferedStderr {
    shared: Arc<Shared>,
}

/// Writes out what is buffered; call it before the process exits.
pub struct LogFlush {
    shared: Arc<Shared>,
}

/// The writer and its flush handle; starts the thread that writes the buffer out.
pub fn buffered_stderr() -> (BufferedStderr, LogFlush) {
    let shared = Arc::new(Shared::default());
    let flusher = Arc::clone(&shared);
    // If the thread cannot start, lines still reach stderr at the final flush.
    let _ = std::thread::Builder::new()
        .name("emulator-log".to_owned())
        .spawn(move || {
            loop {
                {
                    let buffer = flusher
                        .buffer
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    let _ = flusher
                        .wake
                        .wait_timeout(buffer, INTERVAL)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                write_out(&flusher);
            }
        });
    (
        BufferedStderr {
            shared: Arc::clone(&shared),
        },
        LogFlush { shared },
    )
}

/// Takes the buffer and writes it, both under stderr's lock: a final [`LogFlush::flush`] then
/// waits for a write the thread has begun, instead of finding the buffer empty and letting the
/// process exit under it (which lost lines).
fn write_out(shared: &Shared) {
    let mut stderr = std::io::stderr().lock();
    let taken = std::mem::take(&mut *shared.buffer.lock().unwrap_or_else(PoisonError::into_inner));
    if !taken.is_empty() {
        // Nowhere to report a failing stderr.
        let _ = stderr.write_all(&taken);
    }
}

impl LogFlush {
    /// Writes everything buffered so far.
    pub fn flush(&self) {
        write_out(&self.shared);
    }
}

impl Write for BufferedStderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self
            .shared
            .buffer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        buffer.extend_from_slice(bytes);
        if buffer.len() > HIGH_WATER {
            self.shared.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedStderr {
    type Writer = BufferedStderr;

    fn make_writer(&'a self) -> BufferedStderr {
        self.clone()
    }
}
