//! The network model: how long a message takes between two nodes and whether it arrives.
//!
//! Every draw comes from the simulation's seeded RNG, in event order, so a seed fixes every
//! latency and every loss.

use std::time::Duration;

use rand::Rng;

/// How one-way latencies are distributed.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum Latency {
    /// Every message takes the same time.
    Constant {
        /// The one-way delay in milliseconds.
        ms: f64,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Smallest delay in milliseconds.
        min_ms: f64,
        /// Largest delay in milliseconds.
        max_ms: f64,
    },
    /// Uniform over whole milliseconds, both bounds included (the engine tests' model).
    UniformMs {
        /// Smallest delay in milliseconds.
        min_ms: u64,
        /// Largest delay in milliseconds.
        max_ms: u64,
    },
    /// Log-normal: `median_ms · e^(sigma·Z)` with `Z` standard normal. Wide-area RTT studies
    /// (King, PlanetLab) fit this shape well; the default median is 50 ms with `sigma` 0.5.
    LogNormal {
        /// The median delay in milliseconds.
        median_ms: f64,
        /// Standard deviation of the log of the delay.
        sigma: f64,
    },
}

impl Latency {
    /// Draws one delay.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let ms = match *self {
            Latency::UniformMs { min_ms, max_ms } => {
                return Duration::from_millis(rng.random_range(min_ms..=max_ms.max(min_ms)));
            }
            Latency::Constant { ms } => ms,
            Latency::Uniform { min_ms, max_ms } => {
                if max_ms > min_ms {
                    rng.random_range(min_ms..max_ms)
                } else {
                    min_ms
                }
            }
            Latency::LogNormal { median_ms, sigma } => {
                median_ms * (sigma * standard_normal(rng)).exp()
            }
        };
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    }

    /// The mean one-way delay in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        match *self {
            Latency::Constant { ms } => ms,
            Latency::Uniform { min_ms, max_ms } => (min_ms + max_ms) / 2.0,
            Latency::UniformMs { min_ms, max_ms } => (min_ms + max_ms.max(min_ms)) as f64 / 2.0,
            Latency::LogNormal { median_ms, sigma } => median_ms * (sigma * sigma / 2.0).exp(),
        }
    }
}

/// A standard normal draw (Box–Muller).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    // 1 - u in (0, 1] keeps the logarithm finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Latency and loss applied to every message.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct NetworkModel {
    /// One-way delay distribution.
    pub latency: Latency,
    /// Probability in `[0, 1]` that a message is lost.
    pub loss: f64,
}

impl Default for NetworkModel {
    fn default() -> Self {
        NetworkModel {
            latency: Latency::LogNormal {
                median_ms: 50.0,
                sigma: 0.5,
            },
            loss: 0.0,
        }
    }
}

impl NetworkModel {
    /// The delay of one message, or `None` when it is lost.
    pub fn transit(&self, rng: &mut impl Rng) -> Option<Duration> {
        self.deliver(rng).then(|| self.latency.sample(rng))
    }

    /// Whether one message arrives (the loss draw alone; none when `loss` is 0).
    pub fn deliver(&self, rng: &mut impl Rng) -> bool {
        !(self.loss > 0.0 && rng.random::<f64>() < self.loss)
    }

    /// No loss, and a delay uniform over whole milliseconds in `min_ms..=max_ms`.
    pub fn uniform_ms(min_ms: u64, max_ms: u64) -> Self {
        NetworkModel {
            latency: Latency::UniformMs { min_ms, max_ms },
            loss: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn lognormal_median_and_loss_rate_match_parameters() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let model = NetworkModel {
            latency: Latency::LogNormal {
                median_ms: 40.0,
                sigma: 0.6,
            },
            loss: 0.1,
        };
        let mut delays = Vec::new();
        let mut lost = 0;
        for _ in 0..20_000 {
            match model.transit(&mut rng) {
                Some(d) => delays.push(d.as_secs_f64() * 1000.0),
                None => lost += 1,
            }
        }
        delays.sort_by(f64::total_cmp);
        let median = delays[delays.len() / 2];
        assert!((median - 40.0).abs() < 2.0, "median {median}");
        let loss = f64::from(lost) / 20_000.0;
        assert!((loss - 0.1).abs() < 0.01, "loss {loss}");
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let l = Latency::Uniform {
            min_ms: 10.0,
            max_ms: 20.0,
        };
        for _ in 0..1000 {
            let ms = l.sample(&mut rng).as_secs_f64() * 1000.0;
            assert!((10.0..20.0).contains(&ms), "{ms}");
        }
    }
}
