//! The churn model: how long nodes stay, and how soon a departed node is replaced.
//!
//! With churn on, every node draws a session length when it starts; when the session ends the
//! node crashes (it disappears without a word, the hardest case for repair protocols; or,
//! with [`Departure::Graceful`], runs its engine's leave protocol first), and a
//! fresh node with a new identity joins through a random live node after a short replacement
//! delay, so the population stays close to `N`. Addresses are never reused: a joining node gets
//! a new index, so a message still addressed to the departed node is simply lost.

use std::time::Duration;

use rand::Rng;

use crate::network::standard_normal;

/// How session lengths are distributed.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum SessionLength {
    /// Exponential: memoryless, median `ln 2 / rate`.
    Exponential {
        /// Median session in seconds.
        median_s: f64,
    },
    /// Pareto (heavy tail, as measured for Gnutella and Kad peers): `scale · U^(-1/shape)`,
    /// median `scale · 2^(1/shape)`.
    Pareto {
        /// Median session in seconds.
        median_s: f64,
        /// Tail index (> 1 for a finite mean).
        shape: f64,
    },
    /// Log-normal around a median.
    LogNormal {
        /// Median session in seconds.
        median_s: f64,
        /// Standard deviation of the log.
        sigma: f64,
    },
}

impl SessionLength {
    /// Draws one session length.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        // 1 - u in (0, 1]: logarithms and negative powers stay finite.
        let u: f64 = 1.0 - rng.random::<f64>();
        let secs = match *self {
            SessionLength::Exponential { median_s } => -u.ln() * median_s / std::f64::consts::LN_2,
            SessionLength::Pareto { median_s, shape } => {
                let scale = median_s / 2f64.powf(1.0 / shape);
                scale * u.powf(-1.0 / shape)
            }
            SessionLength::LogNormal { median_s, sigma } => {
                median_s * (sigma * standard_normal(rng)).exp()
            }
        };
        // Cap at 30 days so a pathological draw cannot overflow the clock.
        Duration::from_secs_f64(secs.clamp(0.001, 30.0 * 86_400.0))
    }

    /// The median session in seconds.
    pub fn median_s(&self) -> f64 {
        match *self {
            SessionLength::Exponential { median_s }
            | SessionLength::Pareto { median_s, .. }
            | SessionLength::LogNormal { median_s, .. } => median_s,
        }
    }
}

/// How a node whose session ends goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Departure {
    /// It vanishes without a word: the hardest case, what repair protocols are for.
    #[default]
    Crash,
    /// It runs the engine's leave protocol first (where the engine has one; a crash
    /// otherwise).
    Graceful,
}

impl Departure {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Departure::Crash => "crash",
            Departure::Graceful => "graceful",
        }
    }
}

/// Session lengths and replacement delay.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ChurnModel {
    /// How long a node stays.
    pub session: SessionLength,
    /// Mean delay (exponential) between a departure and the join of its replacement.
    pub replace_mean: Duration,
    /// Crash or leave.
    pub departure: Departure,
}

impl ChurnModel {
    /// Churn at `rate` departures per node per hour (exponential sessions of mean `1/rate` h;
    /// `rate = ln 2 ≈ 0.693` gives the median session of one hour that measurement studies
    /// report). `None` when `rate` is not positive.
    pub fn from_rate(rate_per_hour: f64) -> Option<Self> {
        (rate_per_hour > 0.0 && rate_per_hour.is_finite()).then(|| ChurnModel {
            session: SessionLength::Exponential {
                median_s: 3600.0 * std::f64::consts::LN_2 / rate_per_hour,
            },
            replace_mean: Duration::from_secs(10),
            departure: Departure::Crash,
        })
    }

    /// Draws the delay before a departed node's replacement joins.
    pub fn replace_delay(&self, rng: &mut impl Rng) -> Duration {
        let u: f64 = 1.0 - rng.random::<f64>();
        Duration::from_secs_f64(-u.ln() * self.replace_mean.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn median(dist: SessionLength) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut v: Vec<f64> = (0..20_001)
            .map(|_| dist.sample(&mut rng).as_secs_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    #[test]
    fn sampled_medians_match_the_parameter() {
        for dist in [
            SessionLength::Exponential { median_s: 3600.0 },
            SessionLength::Pareto {
                median_s: 3600.0,
                shape: 1.5,
            },
            SessionLength::LogNormal {
                median_s: 3600.0,
                sigma: 1.0,
            },
        ] {
            let m = median(dist);
            assert!((m / 3600.0 - 1.0).abs() < 0.05, "{dist:?}: median {m}");
        }
    }

    #[test]
    fn rate_maps_to_median() {
        let c = ChurnModel::from_rate(std::f64::consts::LN_2).unwrap();
        assert!((c.session.median_s() - 3600.0).abs() < 1e-6);
        assert!(ChurnModel::from_rate(0.0).is_none());
    }
}
