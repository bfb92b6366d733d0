//! The project's speed and memory targets, checked against the medians of one bench run.

use serde::Serialize;

use super::results::{Comparison, Medians};
use super::stats::{format_bytes, format_kib, format_ratio, format_seconds, ratio};
use super::tools::label;

/// Peak RSS of the larger input may exceed that of the smaller one by this factor and still
/// count as "about equal". The margin is a judgment call that leaves room for allocator noise
/// while still catching memory that grows with the input.
pub const FLAT_MEMORY_LIMIT: f64 = 1.2;
/// creds-resolve must finish within this many seconds (median wall time).
pub const CREDS_LIMIT_S: f64 = 0.005;

/// The outcome of one target.
#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    pub target: String,
    /// The condition on the measured ratio or value, such as "≤ 0.50×".
    pub requirement: String,
    /// Ratio or value with the medians it came from.
    pub measured: String,
    pub value: Option<f64>,
    /// `None` when a tool failed and the target could not be checked.
    pub met: Option<bool>,
}

impl TargetCheck {
    fn at_most(target: String, value: Option<f64>, limit: f64, detail: String) -> TargetCheck {
        TargetCheck {
            target,
            requirement: format!("≤ {limit:.2}×"),
            measured: match value {
                Some(_) => format!("{} ({detail})", format_ratio(value)),
                None => "not measured: a run failed".to_string(),
            },
            value,
            met: value.map(|v| v <= limit),
        }
    }
}

/// etcd-dump against etcdctl on one database: wall time ratio ≤ 1 and peak RSS ratio ≤ 0.5.
pub fn etcd_dump_targets(comparison: &Comparison) -> Vec<TargetCheck> {
    let ours = comparison.median(label::ETCD_DUMP);
    let peer = comparison.median(label::ETCDCTL_SAVE);
    let size = format!("{} snapshot", format_bytes(comparison.input_bytes));

    let wall = pair(ours, peer, |m| m.wall_s);
    let rss = pair(ours, peer, |m| m.max_rss_kib as f64);
    vec![
        TargetCheck::at_most(
            format!("etcd-dump at least as fast as etcdctl snapshot save ({size})"),
            wall.and_then(|(o, p)| ratio(o, p)),
            1.0,
            wall.map(|(o, p)| format!("{} vs {}", format_seconds(o), format_seconds(p)))
                .unwrap_or_default(),
        ),
        TargetCheck::at_most(
            format!("etcd-dump peak RSS at most half of etcdctl's ({size})"),
            rss.and_then(|(o, p)| ratio(o, p)),
            0.5,
            rss.map(|(o, p)| format!("{} vs {}", format_kib(o as u64), format_kib(p as u64)))
                .unwrap_or_default(),
        ),
    ]
}

/// s3-put against the best peer per metric: wall time, CPU time and half the smallest peak RSS.
pub fn s3_put_targets(comparison: &Comparison) -> Vec<TargetCheck> {
    let ours = comparison.median(label::S3_PUT);
    let peers: Vec<(&str, &Medians)> = [label::AWS_CP, label::S5CMD_PIPE, label::RCLONE_RCAT]
        .iter()
        .filter_map(|name| comparison.median(name).map(|m| (*name, m)))
        .collect();
    let gib = comparison.input_bytes as f64 / (1024.0 * 1024.0 * 1024.0);

    let best = |metric: fn(&Medians) -> f64| {
        peers
            .iter()
            .map(|(name, m)| (*name, metric(m)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    let check =
        |target: &str, metric: fn(&Medians) -> f64, limit: f64, show: &dyn Fn(f64) -> String| {
            let ours_value = ours.map(metric);
            let best_peer = best(metric);
            let value = match (ours_value, best_peer) {
                (Some(o), Some((_, p))) => ratio(o, p),
                _ => None,
            };
            let detail = match (ours_value, best_peer) {
                (Some(o), Some((name, p))) => format!("{} vs {} for {name}", show(o), show(p)),
                _ => String::new(),
            };
            TargetCheck::at_most(target.to_string(), value, limit, detail)
        };

    vec![
        check(
            "s3-put no slower than the fastest peer",
            |m| m.wall_s,
            1.0,
            &|s| format_seconds(s),
        ),
        check(
            "s3-put CPU time per GiB no worse than the best peer",
            |m| m.cpu_s,
            1.0,
            &|s| format!("{:.2} s/GiB", s / gib),
        ),
        check(
            "s3-put peak RSS at most half of the smallest peer's",
            |m| m.max_rss_kib as f64,
            0.5,
            &|kib| format_kib(kib as u64),
        ),
    ]
}

/// creds-resolve's median wall time below `CREDS_LIMIT_S`.
pub fn creds_target(comparison: &Comparison) -> TargetCheck {
    let wall = comparison.median(label::CREDS_RESOLVE).map(|m| m.wall_s);
    TargetCheck {
        target: "creds-resolve resolves a profile in under 5 ms".to_string(),
        requirement: format!("< {}", format_seconds(CREDS_LIMIT_S)),
        measured: match wall {
            Some(s) => format!("{} median wall time", format_seconds(s)),
            None => "not measured: a run failed".to_string(),
        },
        value: wall,
        met: wall.map(|s| s < CREDS_LIMIT_S),
    }
}

/// Peak RSS of `larger` over `smaller` at most `FLAT_MEMORY_LIMIT`, for one tool at two input
/// sizes taken from the given comparisons.
pub fn flat_memory_target(
    target: String,
    smaller: Option<&Medians>,
    larger: Option<&Medians>,
) -> TargetCheck {
    let rss = pair(smaller, larger, |m| m.max_rss_kib as f64);
    TargetCheck::at_most(
        target,
        rss.and_then(|(small, large)| ratio(large, small)),
        FLAT_MEMORY_LIMIT,
        rss.map(|(small, large)| {
            format!(
                "{} vs {}",
                format_kib(large as u64),
                format_kib(small as u64)
            )
        })
        .unwrap_or_default(),
    )
}

fn pair(
    a: Option<&Medians>,
    b: Option<&Medians>,
    metric: fn(&Medians) -> f64,
) -> Option<(f64, f64)> {
    Some((metric(a?), metric(b?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::results::{Run, ToolResult};

    fn tool(name: &str, wall_s: f64, cpu_s: f64, max_rss_kib: u64) -> ToolResult {
        let mut result = ToolResult::new(name, name.to_string());
        result.push(Run {
            wall_s,
            cpu_s,
            max_rss_kib,
            processes: Vec::new(),
        });
        result
    }

    fn comparison(tools: Vec<ToolResult>) -> Comparison {
        Comparison {
            id: "c".to_string(),
            title: "t".to_string(),
            input: "i".to_string(),
            input_bytes: 2 * 1024 * 1024 * 1024,
            tools,
        }
    }

    #[test]
    fn s3_put_compared_with_best_peer_per_metric() {
        let comparison = comparison(vec![
            tool(label::S3_PUT, 2.0, 1.0, 40_000),
            tool(label::AWS_CP, 4.0, 6.0, 100_000),
            tool(label::S5CMD_PIPE, 1.6, 2.0, 300_000),
            tool(label::RCLONE_RCAT, 3.0, 0.8, 90_000),
        ]);

        let checks = s3_put_targets(&comparison);

        assert_eq!(checks[0].value, Some(2.0 / 1.6));
        assert_eq!(checks[0].met, Some(false));
        assert!(
            checks[0].measured.contains("s5cmd pipe"),
            "{}",
            checks[0].measured
        );
        assert_eq!(checks[1].value, Some(1.0 / 0.8));
        assert!(
            checks[1].measured.contains("0.50 s/GiB"),
            "{}",
            checks[1].measured
        );
        assert_eq!(checks[2].value, Some(40_000.0 / 90_000.0));
        assert_eq!(checks[2].met, Some(true));
    }

    #[test]
    fn failed_tool_leaves_target_unchecked() {
        let mut failed = ToolResult::new(label::ETCD_DUMP, String::new());
        failed.failures.push("exit status 1".to_string());
        let comparison = comparison(vec![failed, tool(label::ETCDCTL_SAVE, 1.0, 1.0, 1000)]);

        let checks = etcd_dump_targets(&comparison);

        assert_eq!(checks.len(), 2);
        assert!(checks.iter().all(|c| c.met.is_none()));
        assert!(checks[0].measured.starts_with("not measured"));
    }

    #[test]
    fn etcd_dump_ratios() {
        let comparison = comparison(vec![
            tool(label::ETCD_DUMP, 1.0, 0.5, 10_000),
            tool(label::ETCDCTL_SAVE, 1.25, 0.9, 40_000),
        ]);

        let checks = etcd_dump_targets(&comparison);

        assert_eq!(checks[0].value, Some(0.8));
        assert_eq!(checks[0].met, Some(true));
        assert_eq!(checks[1].value, Some(0.25));
        assert_eq!(checks[1].requirement, "≤ 0.50×");
    }

    #[test]
    fn creds_limit_is_strict() {
        let under = comparison(vec![tool(label::CREDS_RESOLVE, 0.004, 0.002, 5000)]);
        let over = comparison(vec![tool(label::CREDS_RESOLVE, 0.005, 0.002, 5000)]);

        assert_eq!(creds_target(&under).met, Some(true));
        assert_eq!(creds_target(&over).met, Some(false));
        assert_eq!(creds_target(&under).measured, "4.00 ms median wall time");
    }

    #[test]
    fn flat_memory_ratio_is_large_over_small() {
        let small = Medians {
            wall_s: 1.0,
            cpu_s: 1.0,
            max_rss_kib: 50_000,
        };
        let large = Medians {
            wall_s: 8.0,
            cpu_s: 8.0,
            max_rss_kib: 55_000,
        };

        let check = flat_memory_target("flat".to_string(), Some(&small), Some(&large));

        assert_eq!(check.value, Some(1.1));
        assert_eq!(check.met, Some(true));
    }
}
