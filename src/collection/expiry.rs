//! The background sweep that removes expired records. Expired records are invisible at once
//! (every read checks the clock); the sweep then deletes them through the write path, so the
//! removal is logged like any delete. One thread serves the whole process: collections join
//! its watch list when they first hold a record that expires, and leave it when they are
//! dropped.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::{Collection, Shared};

/// How often the sweep looks for expired records.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

static WATCHED: OnceLock<Mutex<Vec<Weak<Shared>>>> = OnceLock::new();

/// Adds `c` to the sweep's watch list (once), starting the sweep thread on first use.
pub(super) fn watch(c: &Collection) {
    if c.inner.watched.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
    }
    let mut start = false;
    let list = WATCHED.get_or_init(|| {
        start = true;
        Mutex::new(Vec::new())
    });
    list.lock().push(Arc::downgrade(&c.inner));
    if start {
        let spawned = std::thread::Builder::new().name("vectorlite-expiry".into()).spawn(sweep_forever);
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the expiry sweep; expired records stay hidden until deleted");
        }
    }
}

fn sweep_forever() {
    loop {
        std::thread::sleep(SWEEP_EVERY);
        let Some(list) = WATCHED.get() else { return };
        let alive: Vec<Collection> = {
            let mut list = list.lock();
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).map(|inner| Collection { inner }).collect()
        };
        for c in alive {
            if c.next_expiry().is_some_and(|at| at <= c.now_ms())
                && let Err(e) = c.sweep_expired()
            {
                tracing::warn!(collection = c.name(), error = %e, "expiry sweep failed; will retry");
            }
        }
    }
}
