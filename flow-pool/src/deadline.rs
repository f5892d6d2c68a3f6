//! Deadlines for timeouts: a limit too far in the future to represent means "no deadline",
//! never a panic (`Instant + Duration::MAX` overflows).

use std::time::Duration;

use tokio::time::Instant;

/// The instant `after` from now; `None` without a limit, or when it lies beyond what an
/// `Instant` can hold (such a limit is never reached).
pub(crate) fn deadline_after(after: Option<Duration>) -> Option<Instant> {
    after.and_then(|after| Instant::now().checked_add(after))
}

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_limit_beyond_any_instant_is_no_deadline() {
        assert_eq!(deadline_after(None), None);
        assert_eq!(deadline_after(Some(Duration::MAX)), None);
        let soon = deadline_after(Some(Duration::from_secs(1))).unwrap();
        assert!(soon > Instant::now());
    }
}
