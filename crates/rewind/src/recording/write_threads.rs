//! The threads that do all file writing of recordings: one per core, each draining a
//! FIFO of jobs. A file is pinned to one thread ("lane"), so its writes (and those of a
//! file that must trail it, like the MP4 side index) happen in the order they were
//! queued. Recorders hand buffers over and go on without waiting: no wake-up comes
//! back for a plain write, which is most of what a recorder used to spend its CPU on.
//!
//! Overflow policy: the job queues are unbounded, but each file has at most
//! `sink::MAX_QUEUED_WRITES` writes queued (its recorder waits past that) and at most
//! one awaited job (create, rotate, finish), so a queue holds at most three jobs per
//! open file. A stalled disk stalls the recorders on its lane, which then lag behind
//! their hub and lose frames there; publishers never wait.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::Sender;

type Job = Box<dyn FnOnce() + Send>;

struct WriteThreads {
    lanes: Vec<Sender<Job>>,
    next: AtomicUsize,
}

fn threads() -> &'static WriteThreads {
    static THREADS: OnceLock<WriteThreads> = OnceLock::new();
    THREADS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let lanes = (0..n)
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel::<Job>();
                std::thread::Builder::new()
                    .name(format!("rewind-write-{i}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            // A bug in one job must not take the lane down with it.
                            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                                tracing::error!("a file write job panicked");
                            }
                        }
                    })
                    .expect("spawn a write thread");
                tx
            })
            .collect();
        WriteThreads { lanes, next: AtomicUsize::new(0) }
    })
}

/// A lane for a new file (round robin).
pub fn pick_lane() -> usize {
    let t = threads();
    t.next.fetch_add(1, Relaxed) % t.lanes.len()
}

/// Queues `job` on `lane` without waiting for it.
pub fn submit(lane: usize, job: impl FnOnce() + Send + 'static) {
    let t = threads();
    // The threads never exit, so the send cannot fail.
    let _ = t.lanes[lane % t.lanes.len()].send(Box::new(job));
}

/// Runs `job` on `lane` after everything queued there before it, and waits for it.
pub async fn run<T: Send + 'static>(
    lane: usize,
    job: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    submit(lane, move || {
        let _ = tx.send(job());
    });
    rx.await.map_err(|_| std::io::Error::other("write thread dropped a job"))?
}
