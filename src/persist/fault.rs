//! Fault injection for tests: every file write, fsync and rename of the log and of snapshots
//! passes a check, which fails it on purpose when a test has armed a [`FaultPlan`] for the
//! directory the file is in. Costs one relaxed atomic load when nothing is armed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

/// The kind of operation a plan fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writing bytes (log appends, snapshot files).
    Write,
    /// `fsync` / `fdatasync` of a file or a directory.
    Sync,
    /// Renaming a finished file into place.
    Rename,
}

/// Fails operations of one kind under one directory: the first `skip` pass, the next `fail`
/// fail with an I/O error, later ones pass again.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// Only files at or below this path are affected.
    pub dir: PathBuf,
    /// Which operation fails.
    pub fault: Fault,
    /// Matching operations let through before the first failure.
    pub skip: usize,
    /// Matching operations that fail.
    pub fail: usize,
}

static ARMED: AtomicBool = AtomicBool::new(false);
static PLANS: Mutex<Vec<FaultPlan>> = Mutex::new(Vec::new());

/// Arms `plan` until the returned guard is dropped.
pub fn inject(plan: FaultPlan) -> FaultGuard {
    let dir = plan.dir.clone();
    PLANS.lock().push(plan);
    ARMED.store(true, Ordering::SeqCst);
    FaultGuard { dir }
}

/// Disarms the plans for its directory when dropped.
#[must_use = "the plan is disarmed when the guard is dropped"]
pub struct FaultGuard {
    dir: PathBuf,
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let mut plans = PLANS.lock();
        plans.retain(|p| p.dir != self.dir);
        ARMED.store(!plans.is_empty(), Ordering::SeqCst);
    }
}

/// Fails with an injected I/O error when an armed plan says so for `path` and `fault`.
pub(crate) fn check(path: &Path, fault: Fault) -> io::Result<()> {
    if !ARMED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut plans = PLANS.lock();
    for plan in plans.iter_mut().filter(|p| p.fault == fault && path.starts_with(&p.dir)) {
        if plan.skip > 0 {
            plan.skip -= 1;
        } else if plan.fail > 0 {
            plan.fail -= 1;
            return Err(io::Error::other(format!("injected {fault:?} fault")));
        }
    }
    Ok(())
}
