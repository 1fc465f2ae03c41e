//! Time: the [`Clock`] collections read (the system's, or a [`ManualClock`] that tests move by
//! hand), and RFC 3339 parsing and formatting of millisecond timestamps. Record times are Unix
//! milliseconds everywhere inside the library.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Result;

/// A source of the current time, in Unix milliseconds. Collections read it to stamp writes and
/// to decide which records have expired.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock that moves only when told to: for tests of expiry and recency without sleeps.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use vectorlite::{Clock, ManualClock};
/// let clock = Arc::new(ManualClock::new(1_000));
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now_ms(), 3_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicU64,
}

impl ManualClock {
    /// A clock showing `ms` milliseconds since the epoch.
    pub fn new(ms: u64) -> Self {
        Self { ms: AtomicU64::new(ms) }
    }

    /// Sets the time.
    pub fn set(&self, ms: u64) {
        self.ms.store(ms, Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        self.ms.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::SeqCst)
    }
}

/// Parses an RFC 3339 time (`2026-11-28T15:00:00Z`, `2026-11-28T16:00:00.5+01:00`) into Unix
/// milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Result<u64> {
    let bad =
        || crate::config::invalid("time", format!("'{s}' is not an RFC 3339 time like 2026-11-28T15:00:00Z"));
    let s = s.trim();
    // humantime reads UTC ("Z") times; an offset is taken off by hand.
    let (base, offset_s): (&str, i64) = if let Some(stripped) = s.strip_suffix(['Z', 'z']) {
        (stripped, 0)
    } else {
        let at = s.len().checked_sub(6).filter(|&i| s.is_char_boundary(i)).ok_or_else(bad)?;
        let (base, off) = s.split_at(at);
        let sign = match off.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(bad()),
        };
        let (h, m) = off[1..].split_once(':').ok_or_else(bad)?;
        let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        (base, sign * (h * 3600 + m * 60))
    };
    let utc = humantime::parse_rfc3339(&format!("{base}Z")).map_err(|_| bad())?;
    let ms = utc.duration_since(UNIX_EPOCH).map_err(|_| bad())?.as_millis() as i64 - offset_s * 1000;
    u64::try_from(ms).map_err(|_| bad())
}

/// Formats Unix milliseconds as RFC 3339 in UTC, to the millisecond.
pub fn format_rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_with_and_without_offsets() {
        let z = parse_rfc3339_ms("2026-11-28T15:00:00Z").unwrap();
        assert_eq!(parse_rfc3339_ms("2026-11-28T16:00:00+01:00").unwrap(), z);
        assert_eq!(parse_rfc3339_ms("2026-11-28T10:30:00-04:30").unwrap(), z);
        assert_eq!(parse_rfc3339_ms("2026-11-28T15:00:00.250Z").unwrap(), z + 250);
        assert_eq!(format_rfc3339_ms(z + 250), "2026-11-28T15:00:00.250Z");
        for bad in ["yesterday", "2026-11-28", "2026-11-28T15:00:00+25:00", "", "1969-12-31T23:59:59Z", "é"]
        {
            assert!(parse_rfc3339_ms(bad).is_err(), "{bad}");
        }
    }
}
