//! The time every rule reads: [`Clock`] (injectable for tests) and the conversions
//! between `SystemTime` and the whole seconds tokens carry.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time, injectable for tests. Every rule that reads the time
/// (token `exp`/`iat`/`nbf`, session lifetimes, pending-login age, DPoP proofs) reads
/// it here, to the second.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(SystemTime::now))
    }

    /// A clock driven by a function (tests).
    pub fn from_fn(f: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Now.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }

    /// Now, in whole seconds since the Unix epoch (what tokens carry).
    pub(crate) fn now_secs(&self) -> i64 {
        epoch_secs(self.now())
    }

    /// A clock that reads seconds since the epoch from `f` (the crate's tests).
    #[cfg(test)]
    pub(crate) fn from_secs(f: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self::from_fn(move || at_epoch_secs(f()))
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Seconds since the Unix epoch (as tokens carry times) as a `SystemTime`.
pub(crate) fn at_epoch_secs(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        // Beyond what this platform's `SystemTime` holds (a far expiry saturated to
        // `i64::MAX`): the last second of year 9999, not 1970.
        UNIX_EPOCH
            .checked_add(magnitude)
            .unwrap_or_else(|| UNIX_EPOCH + Duration::from_secs(253_402_300_799))
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

/// A `SystemTime` in whole seconds since the Unix epoch (negative before it).
pub(crate) fn epoch_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
