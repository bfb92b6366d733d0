//! s3-put against aws-cli, s5cmd and rclone, all reading the same file on stdin.

use std::path::Path;

use anyhow::{Result, bail};
use e2e_tests::{S3Kind, S3Server};

use super::command::ToolCommand;
use super::results::{Comparison, Run};
use super::runner::{Contender, alternate};
use super::setup::Setup;
use super::stats::format_bytes;
use super::tools::{self, S3Access, label};

/// Starts a new SeaweedFS server for a round.
///
/// The harness caps SeaweedFS at 32 volumes of 256 MiB, and deleted objects free no space until
/// a vacuum, so a server that outlived several rounds of 1 GiB uploads would run out of volumes.
/// Each round gets a fresh, empty server; the previous one is stopped and removed when the
/// round's context is dropped.
pub fn fresh_s3_server(round: u32) -> Result<S3Server> {
    eprintln!("bench: starting SeaweedFS for round {round}");
    Ok(S3Server::start(S3Kind::SeaweedFs))
}

/// Uploads `input` with every client, alternately, each round on a fresh server.
pub fn upload_comparison(setup: &Setup, input: &Path, input_bytes: u64) -> Result<Comparison> {
    let home = &setup.runner.home;
    let placeholder = S3Access::placeholder("BUCKET");
    let substitutions = setup.substitutions(&[]);

    let key = |tool: &str| format!("bench/stream/{tool}");
    let s3_put =
        |access: &S3Access| tools::s3_put(&setup.ours, access, &key("s3-put")).stdin(input);
    let aws =
        |access: &S3Access| tools::aws_cp(&setup.peers, access, "-", &key("aws")).stdin(input);
    let s5cmd =
        |access: &S3Access| tools::s5cmd_pipe(&setup.peers, access, &key("s5cmd")).stdin(input);
    let rclone = |access: &S3Access| {
        tools::rclone_rcat(&setup.peers, access, home, &key("rclone")).stdin(input)
    };

    let contenders = vec![
        Contender::new(
            label::S3_PUT,
            s3_put(&placeholder).display(&substitutions),
            |server| {
                upload_once(
                    setup,
                    server,
                    &s3_put(&S3Access::of(server)),
                    &key("s3-put"),
                    input_bytes,
                )
            },
        ),
        Contender::new(
            label::AWS_CP,
            aws(&placeholder).display(&substitutions),
            |server| {
                upload_once(
                    setup,
                    server,
                    &aws(&S3Access::of(server)),
                    &key("aws"),
                    input_bytes,
                )
            },
        ),
        Contender::new(
            label::S5CMD_PIPE,
            s5cmd(&placeholder).display(&substitutions),
            |server| {
                upload_once(
                    setup,
                    server,
                    &s5cmd(&S3Access::of(server)),
                    &key("s5cmd"),
                    input_bytes,
                )
            },
        ),
        Contender::new(
            label::RCLONE_RCAT,
            rclone(&placeholder).display(&substitutions),
            |server| {
                upload_once(
                    setup,
                    server,
                    &rclone(&S3Access::of(server)),
                    &key("rclone"),
                    input_bytes,
                )
            },
        ),
    ];
    let results = alternate("S3 upload", setup.rounds, fresh_s3_server, contenders)?;

    Ok(Comparison {
        id: "s3-upload".to_string(),
        title: format!(
            "Upload of a {} stream from stdin",
            format_bytes(input_bytes)
        ),
        input: format!("{input_bytes} random bytes read from a file on stdin, to SeaweedFS"),
        input_bytes,
        tools: results,
    })
}

/// Uploads two inputs of different size with s3-put, to compare its peak RSS.
pub fn memory_comparison(
    setup: &Setup,
    small: (&Path, u64),
    large: (&Path, u64),
) -> Result<Comparison> {
    let placeholder = S3Access::placeholder("BUCKET");
    let substitutions = setup.substitutions(&[]);
    let command = |access: &S3Access, input: &Path, key: &str| {
        tools::s3_put(&setup.ours, access, key).stdin(input)
    };
    let (small_input, small_bytes) = small;
    let (large_input, large_bytes) = large;

    let contenders = vec![
        Contender::new(
            label::S3_PUT_SMALL_INPUT,
            command(&placeholder, small_input, "bench/memory/small").display(&substitutions),
            |server: &S3Server| {
                let access = S3Access::of(server);
                let upload = command(&access, small_input, "bench/memory/small");
                upload_once(setup, server, &upload, "bench/memory/small", small_bytes)
            },
        ),
        Contender::new(
            label::S3_PUT_LARGE_INPUT,
            command(&placeholder, large_input, "bench/memory/large").display(&substitutions),
            |server: &S3Server| {
                let access = S3Access::of(server);
                let upload = command(&access, large_input, "bench/memory/large");
                upload_once(setup, server, &upload, "bench/memory/large", large_bytes)
            },
        ),
    ];
    let results = alternate("s3-put memory", setup.rounds, fresh_s3_server, contenders)?;

    Ok(Comparison {
        id: "s3-put-memory".to_string(),
        title: format!(
            "s3-put peak RSS at {} and {} inputs",
            format_bytes(small_bytes),
            format_bytes(large_bytes)
        ),
        input: format!("{small_bytes} and {large_bytes} random bytes on stdin, to SeaweedFS"),
        input_bytes: large_bytes,
        tools: results,
    })
}

fn upload_once(
    setup: &Setup,
    server: &S3Server,
    command: &ToolCommand,
    key: &str,
    expected_bytes: u64,
) -> Result<Run> {
    let run = setup.runner.run_single(command)?;
    check_object(server, key, expected_bytes)?;
    Ok(run)
}

/// Fails unless the object exists with exactly `expected_bytes`, so a client that exited 0
/// without storing everything is not counted as a result.
pub fn check_object(server: &S3Server, key: &str, expected_bytes: u64) -> Result<()> {
    match server.head_object(key) {
        Some(head) if head.size == expected_bytes => Ok(()),
        Some(head) => bail!(
            "object {key} has {} bytes, expected {expected_bytes}",
            head.size
        ),
        None => bail!("object {key} is missing after the upload"),
    }
}
