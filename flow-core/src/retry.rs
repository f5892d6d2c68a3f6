//! `RetryPolicy` and `Backoff`: how often a failed attempt is retried and how long to wait.

use std::time::Duration;

use rand::Rng;

/// How long to wait before retry number `n` (the first retry is `n = 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// `initial`, then twice the previous delay, never more than `max`.
    Exponential {
        /// The delay before the first retry.
        initial: Duration,
        /// The longest delay.
        max: Duration,
    },
}

impl Backoff {
    /// The delay before retry `n` (1-based), before jitter.
    pub fn delay(&self, n: u32) -> Duration {
        match *self {
            Backoff::Fixed(delay) => delay,
            Backoff::Exponential { initial, max } => {
                let shift = n.saturating_sub(1).min(31);
                initial.saturating_mul(1u32 << shift).min(max)
            }
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::Fixed(Duration::ZERO)
    }
}

/// How a flow's failed attempts are retried: at most `retries` more attempts, with a
/// [`Backoff`] between them and an optional random jitter.
///
/// A timed-out or failed attempt is retried; a cancelled one never is, and neither is a flow
/// failed by [`FlowContext::fail_flow`](crate::FlowContext::fail_flow).
///
/// ```
/// use std::time::Duration;
/// use flow_core::{Backoff, RetryPolicy};
///
/// let policy = RetryPolicy::exponential(5, Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(policy.retries(), 5);
/// assert_eq!(policy.backoff().delay(1), Duration::from_millis(100));
/// assert_eq!(policy.backoff().delay(3), Duration::from_millis(400));
/// assert_eq!(policy.backoff().delay(9), Duration::from_secs(1));
/// assert_eq!(RetryPolicy::none().retries(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RetryPolicy {
    retries: u32,
    backoff: Backoff,
    /// Jitter as thousandths of the delay (0 to 1000).
    jitter_permille: u16,
}

impl RetryPolicy {
    /// No retry: the first failure is final.
    pub fn none() -> Self {
        Self::default()
    }

    /// Up to `retries` retries, `delay` apart.
    pub fn fixed(retries: u32, delay: Duration) -> Self {
        RetryPolicy {
            retries,
            backoff: Backoff::Fixed(delay),
            jitter_permille: 0,
        }
    }

    /// Up to `retries` retries, the first after `initial`, each next one after twice the
    /// previous delay, capped at `max`.
    pub fn exponential(retries: u32, initial: Duration, max: Duration) -> Self {
        RetryPolicy {
            retries,
            backoff: Backoff::Exponential { initial, max },
            jitter_permille: 0,
        }
    }

    /// Shortens each delay by a random part of up to `fraction` of it (clamped to `0.0..=1.0`),
    /// so that many flows failing together do not retry in lockstep.
    #[must_use]
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self.jitter_permille = (fraction * 1000.0).round() as u16;
        self
    }

    /// The maximum number of retries (attempts minus one).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The backoff between attempts.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The jitter, as a fraction of the delay.
    pub fn jitter(&self) -> f64 {
        f64::from(self.jitter_permille) / 1000.0
    }

    /// The delay before retry `n` (1-based), jitter included.
    pub fn delay(&self, n: u32) -> Duration {
        self.jittered(self.backoff.delay(n))
    }

    /// `delay` shortened by this policy's random jitter (the run state machine decides the
    /// delay before jitter, so that it stays deterministic; its driver draws the jitter).
    pub(crate) fn jittered(&self, delay: Duration) -> Duration {
        if self.jitter_permille == 0 || delay.is_zero() {
            return delay;
        }
        let cut = rand::thread_rng().gen_range(0..=u32::from(self.jitter_permille));
        // In whole thousandths, with no float: any delay, up to `Duration::MAX`, is safe.
        delay.saturating_sub((delay / 1000).saturating_mul(cut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_up_to_the_cap_and_never_overflows() {
        let b = Backoff::Exponential {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        let delays: Vec<_> = (1..=6).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn jitter_only_shortens_within_the_fraction() {
        let p = RetryPolicy::fixed(3, Duration::from_secs(10)).with_jitter(0.5);
        for _ in 0..100 {
            let d = p.delay(1);
            assert!(
                d <= Duration::from_secs(10) && d >= Duration::from_secs(5),
                "{d:?}"
            );
        }
        assert_eq!(
            RetryPolicy::fixed(1, Duration::ZERO)
                .with_jitter(f64::NAN)
                .jitter(),
            0.0
        );
    }

    #[test]
    fn jitter_on_the_longest_delay_does_not_overflow() {
        let p = RetryPolicy::fixed(1, Duration::MAX).with_jitter(0.5);
        for _ in 0..200 {
            assert!(p.delay(1) >= Duration::MAX / 2, "{:?}", p.delay(1));
        }
        let p = RetryPolicy::exponential(1, Duration::MAX, Duration::MAX).with_jitter(0.001);
        assert!(p.delay(40) >= Duration::MAX - Duration::MAX / 1000);
    }
}
