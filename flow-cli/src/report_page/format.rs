//! Short human forms of durations and time offsets for the page: `850 ms`, `12.3 s`,
//! `4 min 05 s`, `2 h 03 min`.

/// A duration in milliseconds, in the largest unit that keeps it short.
pub fn duration(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "?".into();
    }
    if ms < 1000.0 {
        return format!("{ms:.0} ms");
    }
    let s = ms / 1000.0;
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let total_s = s.round() as u64;
    if total_s < 3600 {
        return format!("{} min {:02} s", total_s / 60, total_s % 60);
    }
    let total_min = total_s / 60;
    format!("{} h {:02} min", total_min / 60, total_min % 60)
}

/// A step for a time axis over `span_ms`: a round number (1, 2 or 5 times a power of ten
/// milliseconds) that gives about `ticks` ticks.
pub fn tick_step(span_ms: f64, ticks: u32) -> f64 {
    let raw = (span_ms / f64::from(ticks.max(1))).max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&step| step >= raw)
        .unwrap_or(10.0 * magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        for (ms, text) in [
            (0.4, "0 ms"),
            (850.0, "850 ms"),
            (12_345.0, "12.3 s"),
            (245_000.0, "4 min 05 s"),
            (7_380_000.0, "2 h 03 min"),
            (-1.0, "?"),
            (f64::NAN, "?"),
        ] {
            assert_eq!(duration(ms), text, "{ms}");
        }
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(1000.0, 10), 100.0);
        assert_eq!(tick_step(1300.0, 10), 200.0);
        assert_eq!(tick_step(4000.0, 10), 500.0);
        assert_eq!(tick_step(0.0, 10), 1.0);
        assert_eq!(tick_step(95_000.0, 8), 20_000.0);
    }
}
