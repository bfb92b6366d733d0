//! Medians and the number formats used in the benchmark page.

/// Returns the median, the mean of the two middle values for an even count, or `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);

    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        Some(sorted[middle])
    } else {
        Some((sorted[middle - 1] + sorted[middle]) / 2.0)
    }
}

/// Returns `ours / theirs`, or `None` when the reference is zero or missing.
pub fn ratio(ours: f64, theirs: f64) -> Option<f64> {
    if theirs > 0.0 && ours.is_finite() && theirs.is_finite() {
        Some(ours / theirs)
    } else {
        None
    }
}

/// Formats seconds with a unit that keeps three significant digits readable: "1.23 s", "4.56 ms".
pub fn format_seconds(seconds: f64) -> String {
    if seconds >= 100.0 {
        format!("{seconds:.0} s")
    } else if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 0.001 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.0} µs", seconds * 1e6)
    }
}

/// Formats a size given in KiB as MiB with one decimal, as `ru_maxrss` values are shown.
pub fn format_kib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Formats a byte count in binary units ("256 MiB", "1.00 GiB").
pub fn format_bytes(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    const GIB: f64 = MIB * 1024.0;
    let value = bytes as f64;
    if value >= GIB {
        format!("{:.2} GiB", value / GIB)
    } else if value >= MIB {
        format!("{:.0} MiB", value / MIB)
    } else {
        format!("{bytes} B")
    }
}

/// Formats a ratio as "0.52×", or "n/a" when it could not be computed.
pub fn format_ratio(value: Option<f64>) -> String {
    match value {
        Some(value) => format!("{value:.2}×"),
        None => "n/a".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.5]), Some(7.5));
    }

    #[test]
    fn median_empty_and_nan() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN]), None);
        assert_eq!(median(&[f64::NAN, 1.0, 5.0, 3.0]), Some(3.0));
    }

    #[test]
    fn ratio_rejects_zero_reference() {
        assert_eq!(ratio(1.0, 2.0), Some(0.5));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::INFINITY, 1.0), None);
    }

    #[test]
    fn seconds_pick_unit() {
        assert_eq!(format_seconds(123.4), "123 s");
        assert_eq!(format_seconds(1.234), "1.23 s");
        assert_eq!(format_seconds(0.004_56), "4.56 ms");
        assert_eq!(format_seconds(0.000_25), "250 µs");
    }

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(format_kib(2048), "2.0 MiB");
        assert_eq!(format_kib(1536), "1.5 MiB");
        assert_eq!(format_bytes(256 * 1024 * 1024), "256 MiB");
        assert_eq!(format_bytes(2 * 1024 * 1024 * 1024), "2.00 GiB");
        assert_eq!(format_bytes(100), "100 B");
    }

    #[test]
    fn ratio_format() {
        assert_eq!(format_ratio(Some(0.5)), "0.50×");
        assert_eq!(format_ratio(None), "n/a");
    }
}
