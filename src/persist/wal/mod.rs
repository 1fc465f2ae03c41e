//! The write-ahead log: numbered segment files of checksummed frames (`segment`), appended
//! with group commit (`commit`). It knows bytes and sequence numbers only; what an operation
//! means is `oplog`'s business.

mod commit;
pub(crate) mod segment;

use std::time::Duration;

pub(crate) use self::commit::{CheckpointThresholds, Wal};

/// When an acknowledged write is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync before every acknowledgement (concurrent writers still share one fsync).
    Always,
    /// Group commit: the first writer to wait holds the door open, then one fsync covers
    /// every write that arrived meanwhile, and all of them are acknowledged. The door opens
    /// only when the last group had company (a lone writer gains nothing from waiting) and
    /// stays open as long as the last fsync took (longer costs more latency than it saves),
    /// never longer than `max_delay`. Writers that arrive during an fsync form the next group
    /// under every policy.
    Batch {
        /// Longest a group stays open.
        max_delay: Duration,
    },
    /// No fsync: writes reach the operating system before they are acknowledged, so a crash
    /// of the process loses nothing, but a power cut or kernel crash loses recent writes.
    Never,
}

impl Default for SyncPolicy {
    /// `Batch` with a 2 ms window.
    fn default() -> Self {
        SyncPolicy::Batch { max_delay: Duration::from_millis(2) }
    }
}

impl std::str::FromStr for SyncPolicy {
    type Err = crate::Error;

    /// `always`, `never`, `batch` (2 ms window) or `batch:<ms>`, in any case.
    fn from_str(s: &str) -> Result<Self, crate::Error> {
        let lower = s.to_ascii_lowercase();
        match lower.split_once(':') {
            None if lower == "always" => Ok(SyncPolicy::Always),
            None if lower == "never" => Ok(SyncPolicy::Never),
            None if lower == "batch" => Ok(SyncPolicy::default()),
            Some(("batch", ms)) if ms.parse::<u64>().is_ok() => {
                Ok(SyncPolicy::Batch { max_delay: Duration::from_millis(ms.parse().unwrap_or(2)) })
            }
            _ => Err(crate::config::invalid(
                "sync",
                format!("'{s}' is not a sync policy; use always, batch, batch:<ms> or never"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_policies_parse() {
        assert_eq!("Always".parse::<SyncPolicy>().unwrap(), SyncPolicy::Always);
        assert_eq!("never".parse::<SyncPolicy>().unwrap(), SyncPolicy::Never);
        assert_eq!("batch".parse::<SyncPolicy>().unwrap(), SyncPolicy::default());
        assert_eq!(
            "batch:5".parse::<SyncPolicy>().unwrap(),
            SyncPolicy::Batch { max_delay: Duration::from_millis(5) }
        );
        assert!("sometimes".parse::<SyncPolicy>().is_err());
        assert!("batch:x".parse::<SyncPolicy>().is_err());
    }
}
