//! Measured runs grouped per tool and per comparison, as written to docs/benchmarks.json.

use serde::Serialize;

use super::measure::ProcessUsage;
use super::stats::median;

/// One run of one tool: a single process, a pipeline, or commands chained with `&&`.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub wall_s: f64,
    /// User plus system time of every process of the run.
    pub cpu_s: f64,
    /// Peak RSS comparable across runs: the largest process for sequential commands, the sum of
    /// all processes for a pipeline, whose processes are alive at the same time.
    pub max_rss_kib: u64,
    pub processes: Vec<ProcessUsage>,
}

impl Run {
    /// Builds a run from processes that ran one after another (`a && b`).
    pub fn sequential(processes: Vec<ProcessUsage>) -> Run {
        Run {
            wall_s: processes.iter().map(|p| p.wall_s).sum(),
            cpu_s: processes.iter().map(ProcessUsage::cpu_s).sum(),
            max_rss_kib: processes.iter().map(|p| p.max_rss_kib).max().unwrap_or(0),
            processes,
        }
    }

    /// Builds a run from processes that ran at the same time, `wall_s` covering all of them.
    ///
    /// The RSS sum is an upper bound of the pipeline's joint peak, since the two peaks need not
    /// coincide.
    pub fn concurrent(wall_s: f64, processes: Vec<ProcessUsage>) -> Run {
        Run {
            wall_s,
            cpu_s: processes.iter().map(ProcessUsage::cpu_s).sum(),
            max_rss_kib: processes.iter().map(|p| p.max_rss_kib).sum(),
            processes,
        }
    }
}

/// Medians over the runs of one tool.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Medians {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub max_rss_kib: u64,
}

impl Medians {
    pub fn of(runs: &[Run]) -> Option<Medians> {
        let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
        let cpus: Vec<f64> = runs.iter().map(|r| r.cpu_s).collect();
        let rss: Vec<f64> = runs.iter().map(|r| r.max_rss_kib as f64).collect();
        Some(Medians {
            wall_s: median(&walls)?,
            cpu_s: median(&cpus)?,
            max_rss_kib: median(&rss)?.round() as u64,
        })
    }
}

/// All runs of one tool within a comparison.
#[derive(Clone, Debug, Serialize)]
pub struct ToolResult {
    pub tool: String,
    /// The command as documented, with endpoints shown as variables and secrets left out.
    pub command: String,
    pub runs: Vec<Run>,
    pub median: Option<Medians>,
    /// Error messages of failed runs; a failed run is not counted in `runs`.
    pub failures: Vec<String>,
}

impl ToolResult {
    pub fn new(tool: &str, command: String) -> ToolResult {
        ToolResult {
            tool: tool.to_string(),
            command,
            runs: Vec::new(),
            median: None,
            failures: Vec::new(),
        }
    }

    pub fn push(&mut self, run: Run) {
        self.runs.push(run);
        self.median = Medians::of(&self.runs);
    }
}

/// Tools run alternately on the same input.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub id: String,
    pub title: String,
    pub input: String,
    pub input_bytes: u64,
    /// Our tool first, then the peers.
    pub tools: Vec<ToolResult>,
}

impl Comparison {
    pub fn tool(&self, name: &str) -> Option<&ToolResult> {
        self.tools.iter().find(|t| t.tool == name)
    }

    pub fn median(&self, name: &str) -> Option<&Medians> {
        self.tool(name)?.median.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(wall_s: f64, cpu_s: f64, max_rss_kib: u64) -> ProcessUsage {
        ProcessUsage {
            program: "p".to_string(),
            wall_s,
            user_s: cpu_s / 2.0,
            system_s: cpu_s / 2.0,
            max_rss_kib,
        }
    }

    #[test]
    fn sequential_takes_largest_rss() {
        let run = Run::sequential(vec![process(1.0, 0.5, 100), process(2.0, 1.0, 300)]);

        assert_eq!(run.wall_s, 3.0);
        assert_eq!(run.cpu_s, 1.5);
        assert_eq!(run.max_rss_kib, 300);
    }

    #[test]
    fn concurrent_sums_rss() {
        let run = Run::concurrent(2.5, vec![process(2.0, 0.5, 100), process(2.4, 1.0, 300)]);

        assert_eq!(run.wall_s, 2.5);
        assert_eq!(run.cpu_s, 1.5);
        assert_eq!(run.max_rss_kib, 400);
    }

    #[test]
    fn medians_per_metric() {
        let mut result = ToolResult::new("t", "t".to_string());
        assert_eq!(result.median, None);

        result.push(Run::sequential(vec![process(3.0, 1.0, 10)]));
        result.push(Run::sequential(vec![process(1.0, 3.0, 30)]));
        result.push(Run::sequential(vec![process(2.0, 2.0, 20)]));

        let median = result.median.unwrap();
        assert_eq!(median.wall_s, 2.0);
        assert_eq!(median.cpu_s, 2.0);
        assert_eq!(median.max_rss_kib, 20);
    }
}
