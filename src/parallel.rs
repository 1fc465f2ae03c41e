//! Parallel loops that are safe to run while a collection lock is held.
//!
//! Rayon's work stealing lets a thread that waits for its own tasks pick up *any* queued job,
//! including a user's job that then blocks on the very lock this thread holds: a deadlock. So
//! work done under a lock (HNSW builds, large exact scans) runs on scoped threads that steal
//! nothing, and rayon is used only outside locks (batch validation, batch search).

use std::cell::Cell;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// 0 = no limit; otherwise the most threads one call may use.
static MAX_THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set while this thread runs one task of an already-parallel batch.
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

/// Limits how many threads a single call (an insert batch, an exact scan) may use; `None`
/// lifts the limit. Batch search still spreads queries over rayon's pool.
pub fn set_max_threads(limit: Option<usize>) {
    MAX_THREADS.store(limit.unwrap_or(0), Ordering::Relaxed);
}

/// Threads to use for one parallel loop: the machine's parallelism, within the limit, and 1
/// inside a task that is already one of many.
pub(crate) fn threads() -> usize {
    if SERIAL.get() {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match MAX_THREADS.load(Ordering::Relaxed) {
        0 => cores,
        limit => cores.min(limit),
    }
}

/// Runs `f` with intra-call parallelism off on this thread (the caller parallelises already).
pub(crate) fn serial<R>(f: impl FnOnce() -> R) -> R {
    let was = SERIAL.replace(true);
    let out = f();
    SERIAL.set(was);
    out
}

/// Calls `f` on consecutive chunks of `0..n`, handed out dynamically to all cores. Runs inline
/// when `n < 2 * chunk` or there is one core.
pub(crate) fn for_each_chunk(n: usize, chunk: usize, f: impl Fn(Range<usize>) + Sync) {
    let workers = threads().min(n.div_ceil(chunk.max(1)));
    if workers <= 1 {
        if n > 0 {
            f(0..n);
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let worker = || {
        loop {
            let start = next.fetch_add(chunk, Ordering::Relaxed);
            if start >= n {
                break;
            }
            f(start..(start + chunk).min(n));
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..workers {
            scope.spawn(worker);
        }
        worker();
    });
}

/// Every core, ignoring the per-call limit (but 1 inside an already-parallel task): batches of
/// independent queries spread over all of them, as the limit's docs promise.
pub(crate) fn all_cores() -> usize {
    if SERIAL.get() { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()) }
}

/// Splits `0..n` into one range per core, maps each with `f` and returns the results in order.
pub(crate) fn map_split<T: Send>(
    n: usize,
    min_per_thread: usize,
    f: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    map_split_on(threads(), n, min_per_thread, f)
}

/// [`map_split`] over at most `workers` threads.
pub(crate) fn map_split_on<T: Send>(
    workers: usize,
    n: usize,
    min_per_thread: usize,
    f: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    let parts = workers.min(n / min_per_thread.max(1)).max(1);
    if parts == 1 {
        return vec![f(0..n)];
    }
    let per = n.div_ceil(parts);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> =
            (1..parts).map(|p| scope.spawn(move || f(p * per..((p + 1) * per).min(n)))).collect();
        let mut out = vec![f(0..per.min(n))];
        // A panic in a worker is a bug in our own code; re-raise it on the caller's thread.
        out.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn chunks_cover_every_index_exactly_once() {
        for n in [0, 1, 5, 100, 1001] {
            let seen = Mutex::new(vec![0u8; n]);
            for_each_chunk(n, 7, |r| {
                let mut s = seen.lock().unwrap();
                r.for_each(|i| s[i] += 1);
            });
            assert!(seen.into_inner().unwrap().iter().all(|&c| c == 1), "n={n}");
        }
    }

    #[test]
    fn map_split_keeps_order() {
        for n in [0, 1, 10, 1000] {
            let parts = map_split(n, 3, |r| r.collect::<Vec<_>>());
            assert_eq!(parts.concat(), (0..n).collect::<Vec<_>>());
        }
    }
}
