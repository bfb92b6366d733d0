//! Project tasks: `cargo xtask test | servers | install | demo | bench`.

mod bench;
mod demo;
mod install;
mod orphans;
mod run;
mod servers;
mod signals;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test      formatting, clippy, unit tests, then the end-to-end suite against real servers
            options: --e2e-only (skip formatting, clippy and unit tests),
                     -- ARGS (passed to the e2e test binary, for example a test name filter)
  servers   start etcd and an S3 server on loopback and keep them up until Ctrl-C
            options: --etcd 3.4|3.5 (default 3.5), --s3 seaweedfs|s3s-fs|minio
                     (default seaweedfs), --tls, --auth
  install   provision etcd 3.4, etcd 3.5, SeaweedFS, s3s-fs (and find MinIO) under
            target/tools, or ETCD_S3_PIPES_TOOLS when set
  demo      back up etcd to S3 with the pipeline, against local servers
  bench     measure the tools against etcdctl, aws-cli, s5cmd, rclone and botocore on local
            servers; writes docs/benchmarks.md and docs/benchmarks.json
            options: --quick (small inputs, 1 round, output under target/bench/quick),
                     --rounds N (default 3)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };

    let result = match command.as_str() {
        "test" => test::run(rest),
        "servers" => servers::run(rest),
        "install" => install::run(rest).map(|_| ()),
        "demo" => demo::run(rest),
        "bench" => bench::run(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("xtask: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask {command}: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
