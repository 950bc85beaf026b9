//! Protocol time: an integer count of microseconds since an arbitrary origin.
//!
//! Engines never read a clock; their driver passes the current [`Time`] into every call.
//! The node maps wall-clock instants onto it, the simulator advances it event by event.

use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in protocol time, in microseconds since the driver's origin.
///
/// Arithmetic saturates: a remote peer's huge duration can never wrap time around.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Time(u64);

impl Time {
    /// The driver's origin.
    pub const ZERO: Time = Time(0);
    /// The largest representable time; used as "never".
    pub const MAX: Time = Time(u64::MAX);

    /// A time from microseconds since the origin.
    pub const fn from_micros(us: u64) -> Self {
        Time(us)
    }

    /// A time from milliseconds since the origin (saturating).
    pub const fn from_millis(ms: u64) -> Self {
        Time(ms.saturating_mul(1000))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }

    /// The span from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, rhs: Duration) -> Time {
        Time(self.0.saturating_add(micros(rhs)))
    }
}

impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, rhs: Duration) -> Time {
        Time(self.0.saturating_sub(micros(rhs)))
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Time::MAX + Duration::from_secs(1), Time::MAX);
        assert_eq!(Time::ZERO - Duration::from_secs(1), Time::ZERO);
        assert_eq!(Time::ZERO + Duration::MAX, Time::MAX);
        let t = Time::from_millis(2500);
        assert_eq!(
            t.saturating_since(Time::from_millis(500)),
            Duration::from_secs(2)
        );
        assert_eq!(Time::ZERO.saturating_since(t), Duration::ZERO);
        assert_eq!(t.to_string(), "2.500000s");
    }
}
