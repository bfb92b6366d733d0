//! `cargo xtask bench [--quick] [--rounds N]`: measures each tool against the tools people use
//! today, on the same machine, servers and inputs, and writes docs/benchmarks.md and .json.

mod command;
mod compare_creds;
mod compare_etcd;
mod compare_pipeline;
mod compare_s3;
mod inputs;
mod machine;
mod measure;
mod peers;
mod reap;
mod report;
mod results;
mod runner;
mod setup;
mod stats;
mod targets;
mod tools;
mod versions;

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use e2e_tests::{EtcdOptions, EtcdServer, EtcdVersion};

use self::results::Comparison;
use self::runner::Runner;
use self::setup::{Setup, Sizes};
use self::tools::{OurTools, label};

const FULL_ROUNDS: u32 = 3;

/// Comparison ids of the three etcd database sizes.
const ETCD_SMALL: &str = "etcd-snapshot-small";
const ETCD_LARGE: &str = "etcd-snapshot-large";
const ETCD_LARGEST: &str = "etcd-dump-largest";

/// The hand-written part of docs/benchmarks.md, used when the page does not exist yet.
const PAGE_TEMPLATE: &str = include_str!("bench/page_template.md");

#[derive(Debug, PartialEq)]
struct Options {
    quick: bool,
    rounds: u32,
}

const USAGE: &str = "usage: cargo xtask bench [--quick] [--rounds N]";

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut quick = false;
        let mut rounds = None;
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--quick" => quick = true,
                "-h" | "--help" => crate::run::exit_with_usage(USAGE),
                "--rounds" => {
                    let value = rest
                        .next()
                        .context("--rounds needs a number, e.g. --rounds 3")?;
                    rounds = Some(parse_rounds(value)?);
                }
                other => match other.strip_prefix("--rounds=") {
                    Some(value) => rounds = Some(parse_rounds(value)?),
                    None => bail!(
                        "unknown option {other:?} for `cargo xtask bench`; \
                         expected --quick or --rounds N"
                    ),
                },
            }
        }
        let default_rounds = if quick { 1 } else { FULL_ROUNDS };
        Ok(Options {
            quick,
            rounds: rounds.unwrap_or(default_rounds),
        })
    }
}

fn parse_rounds(value: &str) -> Result<u32> {
    match value.parse::<u32>() {
        Ok(rounds) if rounds >= 1 => Ok(rounds),
        _ => bail!("invalid --rounds {value:?}: expected a whole number of at least 1"),
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    // A termination signal stops the bench between runs, so the servers are dropped and their
    // scratch directories removed instead of being left to PR_SET_PDEATHSIG.
    crate::signals::install();
    let sizes = if options.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    let root = e2e_tests::workspace_root();
    let target = e2e_tests::target_dir();

    let mut build = crate::run::cargo();
    build
        .current_dir(&root)
        .args(["build", "--release", "--bins"]);
    crate::run::run_checked(build)?;
    let manifest = crate::install::run(&[])?;

    let work = if options.quick {
        target.join("bench/quick")
    } else {
        target.join("bench")
    };
    let launcher = target.join("release/bench-exec");
    let home = work.join("home");
    if home.exists() {
        fs::remove_dir_all(&home).with_context(|| format!("failed to clear {}", home.display()))?;
    }
    fs::create_dir_all(&home).with_context(|| format!("failed to create {}", home.display()))?;
    let peers = peers::ensure_installed(&e2e_tests::tools_dir().join("bench-peers"))?;

    let setup = Setup {
        rounds: options.rounds,
        sizes: sizes.clone(),
        runner: Runner::new(&home, &work.join("logs"), Some(&launcher))?,
        ours: OurTools::in_dir(&target.join("release")),
        peers,
        etcdctl: manifest.etcd_3_5.etcdctl.clone(),
        work: work.clone(),
        root_prefix: format!("{}/", root.display()),
    };
    let load_average_start = machine::load_average();
    eprintln!("bench: load average at start: {load_average_start}");

    let comparisons = run_comparisons(&setup)?;

    let (markdown, json) = if options.quick {
        (work.join("benchmarks.md"), work.join("benchmarks.json"))
    } else {
        (
            root.join("docs/benchmarks.md"),
            root.join("docs/benchmarks.json"),
        )
    };
    let report = report::Report {
        generated_at: versions::utc_now(),
        mode: if options.quick { "quick" } else { "full" }.to_string(),
        rounds: options.rounds,
        creds_runs: sizes.creds_runs,
        machine: machine::Machine::describe(),
        load_average_start,
        load_average_end: machine::load_average(),
        versions: versions::collect(&setup, &manifest),
        targets: check_targets(&comparisons, &sizes),
        notes: notes(&sizes),
        comparisons,
    };
    report::write(&report, &markdown, &json, PAGE_TEMPLATE)?;
    eprintln!("bench: wrote {} and {}", markdown.display(), json.display());
    print_targets(&report.targets);
    Ok(())
}

/// Quota for the bench's etcd: the largest database is 2 GiB of values, above etcd's default
/// quota of 2 GiB, and bbolt needs some room on top.
const ETCD_QUOTA_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// Runs every comparison in an order that reuses inputs: credentials first (no servers), then
/// the etcd database growing through three sizes with the backup pipeline on the middle one,
/// then the S3 uploads.
fn run_comparisons(setup: &Setup) -> Result<Vec<Comparison>> {
    let sizes = &setup.sizes;
    let mut comparisons = vec![compare_creds::creds_comparison(setup)?];

    let etcd = EtcdServer::start_with_quota(
        EtcdVersion::V3_5,
        EtcdOptions::default(),
        Some(ETCD_QUOTA_BYTES),
    );
    grow_etcd(&etcd, 0, sizes.etcd_small_values)?;
    comparisons.push(compare_etcd::snapshot_comparison(
        setup,
        &etcd,
        sizes.etcd_small_values,
        ETCD_SMALL,
        true,
    )?);

    grow_etcd(&etcd, sizes.etcd_small_values, sizes.etcd_large_values)?;
    let large =
        compare_etcd::snapshot_comparison(setup, &etcd, sizes.etcd_large_values, ETCD_LARGE, true)?;
    let snapshot_bytes = large.input_bytes;
    comparisons.push(large);
    comparisons.push(compare_pipeline::pipeline_comparison(
        setup,
        &etcd,
        snapshot_bytes,
    )?);

    grow_etcd(&etcd, sizes.etcd_large_values, sizes.etcd_largest_values)?;
    comparisons.push(compare_etcd::snapshot_comparison(
        setup,
        &etcd,
        sizes.etcd_largest_values,
        ETCD_LARGEST,
        false,
    )?);
    drop(etcd);

    let stream = random_input(setup, sizes.stream_bytes)?;
    comparisons.push(compare_s3::upload_comparison(
        setup,
        &stream,
        sizes.stream_bytes,
    )?);
    let small = random_input(setup, sizes.memory_small_bytes)?;
    let large = random_input(setup, sizes.memory_large_bytes)?;
    comparisons.push(compare_s3::memory_comparison(
        setup,
        (&small, sizes.memory_small_bytes),
        (&large, sizes.memory_large_bytes),
    )?);
    Ok(comparisons)
}

/// Adds 1 MiB values until the database contains `to` of them, `from` being the current count.
fn grow_etcd(etcd: &EtcdServer, from: u64, to: u64) -> Result<()> {
    eprintln!("bench: loading etcd to {to} values of 1 MiB");
    let started = std::time::Instant::now();
    inputs::load_etcd(&etcd.endpoint, from, to - from)?;
    eprintln!(
        "bench: loaded {} MiB in {:.1} s",
        to - from,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn random_input(setup: &Setup, bytes: u64) -> Result<PathBuf> {
    let path = setup.work.join(format!("random-{bytes}.bin"));
    inputs::random_file(&path, bytes)?;
    Ok(path)
}

fn check_targets(comparisons: &[Comparison], sizes: &Sizes) -> Vec<targets::TargetCheck> {
    let find = |id: &str| comparisons.iter().find(|c| c.id == id);
    let mut checks = Vec::new();

    for id in [ETCD_SMALL, ETCD_LARGE] {
        if let Some(comparison) = find(id) {
            checks.extend(targets::etcd_dump_targets(comparison));
        }
    }
    if let Some(comparison) = find("s3-upload") {
        checks.extend(targets::s3_put_targets(comparison));
    }
    if let Some(comparison) = find("credentials") {
        checks.push(targets::creds_target(comparison));
    }
    if let Some(memory) = find("s3-put-memory") {
        checks.push(targets::flat_memory_target(
            format!(
                "s3-put peak RSS independent of input size ({} and {} inputs)",
                stats::format_bytes(sizes.memory_small_bytes),
                stats::format_bytes(sizes.memory_large_bytes)
            ),
            memory.median(label::S3_PUT_SMALL_INPUT),
            memory.median(label::S3_PUT_LARGE_INPUT),
        ));
    }
    if let (Some(small), Some(largest)) = (find(ETCD_SMALL), find(ETCD_LARGEST)) {
        checks.push(targets::flat_memory_target(
            format!(
                "etcd-dump peak RSS independent of database size ({} and {} snapshots)",
                stats::format_bytes(small.input_bytes),
                stats::format_bytes(largest.input_bytes)
            ),
            small.median(label::ETCD_DUMP),
            largest.median(label::ETCD_DUMP),
        ));
    }
    checks
}

fn notes(sizes: &Sizes) -> Vec<String> {
    vec![
        format!(
            "etcd-dump's peak RSS against input size compares the databases of {} and {} keys \
             of 1 MiB rather than 256 MiB and 2 GiB, so that one growing etcd database serves \
             every etcd comparison.",
            sizes.etcd_small_values, sizes.etcd_largest_values
        ),
        "Each round of an S3 comparison runs against a freshly started SeaweedFS, because the \
         harness limits SeaweedFS to 32 volumes of 256 MiB and deleted objects free no space \
         until a vacuum."
            .to_string(),
        "Snapshot files go to target/bench on the same disk for every tool. `etcd-dump > FILE` \
         leaves flushing to the kernel, while `etcdctl snapshot save` and `etcd-dump --output` \
         sync the file before renaming it."
            .to_string(),
    ]
}

fn print_targets(checks: &[targets::TargetCheck]) {
    for check in checks {
        let verdict = match check.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "NOT MEASURED",
        };
        eprintln!(
            "bench: {verdict}: {} ({}; required {})",
            check.target, check.measured, check.requirement
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn options_defaults_per_mode() {
        assert_eq!(
            Options::parse(&args(&[])).unwrap(),
            Options {
                quick: false,
                rounds: 3
            }
        );
        assert_eq!(
            Options::parse(&args(&["--quick"])).unwrap(),
            Options {
                quick: true,
                rounds: 1
            }
        );
    }

    #[test]
    fn options_rounds_forms() {
        assert_eq!(Options::parse(&args(&["--rounds", "5"])).unwrap().rounds, 5);
        assert_eq!(
            Options::parse(&args(&["--rounds=2", "--quick"]))
                .unwrap()
                .rounds,
            2
        );
    }

    #[test]
    fn options_reject_bad_values() {
        assert!(Options::parse(&args(&["--rounds", "0"])).is_err());
        assert!(Options::parse(&args(&["--rounds"])).is_err());
        let error = Options::parse(&args(&["--fast"])).unwrap_err();
        assert!(error.to_string().contains("--fast"), "{error}");
    }
}
