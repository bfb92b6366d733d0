//! The whole backup: `etcd-dump | s3-put` against the usual script
//! `etcdctl snapshot save FILE && aws s3 cp FILE s3://...`.

use std::fs;

use anyhow::{Context, Result};
use e2e_tests::{EtcdServer, S3Server};

use super::compare_s3::{check_object, fresh_s3_server};
use super::results::Comparison;
use super::runner::{Contender, alternate};
use super::setup::Setup;
use super::stats::format_bytes;
use super::tools::{self, ETCD_ENDPOINT_PLACEHOLDER, S3Access, label};

const OURS_KEY: &str = "bench/pipeline/etcd-dump";
const SCRIPT_KEY: &str = "bench/pipeline/etcdctl";

/// Backs up the database in `etcd` both ways, alternately, each round on a fresh S3 server.
/// `snapshot_bytes` is the snapshot size measured by the file comparison on the same database.
pub fn pipeline_comparison(
    setup: &Setup,
    etcd: &EtcdServer,
    snapshot_bytes: u64,
) -> Result<Comparison> {
    let snapshot_file = setup.work.join("script.snapshot");
    let placeholder = S3Access::placeholder("BUCKET");
    let substitutions = setup.substitutions(&[(&etcd.endpoint, ETCD_ENDPOINT_PLACEHOLDER)]);

    let dump = tools::etcd_dump(&setup.ours, &etcd.endpoint, None);
    let put = |access: &S3Access| tools::s3_put(&setup.ours, access, OURS_KEY);
    let save = tools::etcdctl_save(&setup.etcdctl, &etcd.endpoint, &snapshot_file);
    let snapshot_path = snapshot_file.display().to_string();
    let copy = |access: &S3Access| tools::aws_cp(&setup.peers, access, &snapshot_path, SCRIPT_KEY);

    let ours_display = format!(
        "{} | {}",
        dump.display(&substitutions),
        put(&placeholder).display(&substitutions)
    );
    let script_display = format!(
        "{} && {}",
        save.display(&substitutions),
        copy(&placeholder).display(&substitutions)
    );

    let contenders = vec![
        Contender::new(label::PIPELINE_OURS, ours_display, |server: &S3Server| {
            let run = setup
                .runner
                .run_pipeline(&dump, &put(&S3Access::of(server)))?;
            check_object(server, OURS_KEY, snapshot_bytes)?;
            Ok(run)
        }),
        Contender::new(
            label::PIPELINE_SCRIPT,
            script_display,
            |server: &S3Server| {
                let commands = [save.clone(), copy(&S3Access::of(server))];
                let run = setup.runner.run_sequence(&commands);
                // The script leaves its file behind; the bench removes it so that every round starts
                // alike. Removing it is not part of the measured time.
                let _ = fs::remove_file(&snapshot_file);
                let run = run?;
                check_object(server, SCRIPT_KEY, snapshot_bytes)
                    .context("the script's upload is incomplete")?;
                Ok(run)
            },
        ),
    ];
    let results = alternate("backup pipeline", setup.rounds, fresh_s3_server, contenders)?;

    Ok(Comparison {
        id: "pipeline".to_string(),
        title: format!(
            "Backup of a {} etcd database to S3",
            format_bytes(snapshot_bytes)
        ),
        input: format!(
            "the larger etcd {} database, snapshot of {snapshot_bytes} bytes, to SeaweedFS",
            etcd.version
        ),
        input_bytes: snapshot_bytes,
        tools: results,
    })
}
