//! The `--explain` report and warnings, both on stderr.

/// Collects what the chain consulted and did. Lines go to stderr as they happen,
/// so a run that hangs on a network source still shows how far it got.
#[derive(Debug)]
pub struct Report {
    explain: bool,
    step: usize,
}

impl Report {
    /// Creates a report that prints details only when `explain` is set.
    pub fn new(explain: bool) -> Self {
        Report { explain, step: 0 }
    }

    /// Prints a fact about the run (profile, home, files) under `--explain`.
    pub fn context(&mut self, line: impl AsRef<str>) {
        if self.explain {
            eprintln!("creds-resolve: {}", line.as_ref());
        }
    }

    /// Prints a warning. Warnings are shown with or without `--explain`.
    pub fn warn(&mut self, line: impl AsRef<str>) {
        eprintln!("creds-resolve: warning: {}", line.as_ref());
    }

    /// Prints the outcome of the next chain step under `--explain`.
    pub fn step(&mut self, source: &str, outcome: impl AsRef<str>) {
        self.step += 1;
        if self.explain {
            eprintln!(
                "creds-resolve: [{}] {source}: {}",
                self.step,
                outcome.as_ref()
            );
        }
    }
}
