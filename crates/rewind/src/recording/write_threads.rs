//! The threads that do all file writing of recordings: one per core, each draining a
//! FIFO of jobs. A file is pinned to one thread ("lane"), so its writes (and those of a
//! file that must trail it, like the MP4 side index) happen in the order they were
//! queued. Recorders hand buffers over and go on without waiting.
//!
//! Wake-ups are what a hand-off costs (on a virtual machine a cross-CPU wake-up is far
//! dearer than the write itself), so a plain write does not wake its lane: a busy lane
//! drains its queue every `DRAIN_EVERY`; a job someone awaits (create, rotate, finish)
//! wakes it at once, and so does the first job after the lane went idle.
//!
//! Overflow policy: the job queues are unbounded, but each file has at most
//! `sink::MAX_QUEUED_WRITES` writes queued (its recorder wakes the lane and waits past
//! that) and at most one awaited job, so a queue holds at most seven jobs per open file.
//! A stalled disk stalls the recorders on its lane, which then lag behind their hub and
//! lose frames there; publishers never wait.

use crate::lock::lock;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// How long a plain write may wait in a busy lane's queue. Far below the sink's flush
/// interval, so it adds little to what a crash can lose.
const DRAIN_EVERY: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// The lane found nothing to do on its last round and sleeps until woken.
    idle: bool,
}

#[derive(Default)]
struct Lane {
    queue: Mutex<Queue>,
    wake: Condvar,
}

struct WriteThreads {
    lanes: Vec<&'static Lane>,
    next: AtomicUsize,
}

fn drain(lane: &Lane) {
    let mut worked = true;
    loop {
        let jobs = {
            let mut q = lock(&lane.queue);
            if q.jobs.is_empty() {
                // Two empty rounds in a row: sleep until a job wakes us.
                q.idle = !worked;
                q = if q.idle {
                    lane.wake.wait_while(q, |q| q.jobs.is_empty()).unwrap_or_else(|p| p.into_inner())
                } else {
                    lane.wake.wait_timeout(q, DRAIN_EVERY).unwrap_or_else(|p| p.into_inner()).0
                };
                q.idle = false;
            }
            std::mem::take(&mut q.jobs)
        };
        worked = !jobs.is_empty();
        for job in jobs {
            // A bug in one job must not take the lane down with it.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                tracing::error!("a file write job panicked");
            }
        }
    }
}

fn threads() -> &'static WriteThreads {
    static THREADS: OnceLock<WriteThreads> = OnceLock::new();
    THREADS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let lanes = (0..n)
            .map(|i| {
                let lane: &'static Lane = Box::leak(Box::default());
                std::thread::Builder::new()
                    .name(format!("rewind-write-{i}"))
                    .spawn(move || drain(lane))
                    .expect("spawn a write thread");
                lane
            })
            .collect();
        WriteThreads { lanes, next: AtomicUsize::new(0) }
    })
}

fn lane(i: usize) -> &'static Lane {
    let t = threads();
    t.lanes[i % t.lanes.len()]
}

/// A lane for a new file (round robin).
pub fn pick_lane() -> usize {
    let t = threads();
    t.next.fetch_add(1, Relaxed) % t.lanes.len()
}

/// Queues `job` on `lane` without waiting for it; it runs within `DRAIN_EVERY`.
pub fn submit(lane_no: usize, job: impl FnOnce() + Send + 'static) {
    let lane = lane(lane_no);
    let mut q = lock(&lane.queue);
    q.jobs.push_back(Box::new(job));
    if q.idle {
        lane.wake.notify_one();
    }
}

/// Makes `lane` run what is queued now (someone waits for it).
pub fn wake(lane_no: usize) {
    lane(lane_no).wake.notify_one();
}

/// Runs `job` on `lane` after everything queued there before it, and waits for it.
pub async fn run<T: Send + 'static>(
    lane_no: usize,
    job: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    submit(lane_no, move || {
        let _ = tx.send(job());
    });
    wake(lane_no);
    rx.await.map_err(|_| std::io::Error::other("write thread dropped a job"))?
}
