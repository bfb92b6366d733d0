//! The `--explain` report and warnings, both on stderr.

use std::io::Write;

/// Writes one line to stderr. A closed stderr is ignored, because `eprintln!`
/// would panic and the credentials on stdout may still be wanted.
pub fn print_stderr(line: std::fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_fmt(line);
    let _ = stderr.write_all(b"\n");
}

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
            print_stderr(format_args!("creds-resolve: {}", line.as_ref()));
        }
    }

    /// Prints a warning. Warnings are shown with or without `--explain`.
    pub fn warn(&mut self, line: impl AsRef<str>) {
        print_stderr(format_args!("creds-resolve: warning: {}", line.as_ref()));
    }

    /// Prints the outcome of the next chain step under `--explain`.
    pub fn step(&mut self, source: &str, outcome: impl AsRef<str>) {
        self.step += 1;
        if self.explain {
            print_stderr(format_args!(
                "creds-resolve: [{}] {source}: {}",
                self.step,
                outcome.as_ref()
            ));
        }
    }
}
