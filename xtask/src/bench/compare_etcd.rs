//! `etcd-dump > FILE` against `etcdctl snapshot save FILE` on the same database.

use std::cell::Cell;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use e2e_tests::EtcdServer;

use super::results::Comparison;
use super::runner::{Contender, alternate};
use super::setup::Setup;
use super::stats::format_bytes;
use super::tools::{self, ETCD_ENDPOINT_PLACEHOLDER, label};

/// Runs etcd-dump (to stdout and with `--output`) and etcdctl alternately, or etcd-dump alone
/// when `with_peers` is false, and returns the comparison with the snapshot size as input size.
pub fn snapshot_comparison(
    setup: &Setup,
    etcd: &EtcdServer,
    keys: u64,
    id: &str,
    with_peers: bool,
) -> Result<Comparison> {
    let dump_file = setup.work.join("etcd-dump.snapshot");
    let output_file = setup.work.join("etcd-dump-output.snapshot");
    let save_file = setup.work.join("etcdctl.snapshot");
    let dump = tools::etcd_dump(&setup.ours, &etcd.endpoint, Some(&dump_file));
    let dump_output = tools::etcd_dump_output(&setup.ours, &etcd.endpoint, &output_file);
    let save = tools::etcdctl_save(&setup.etcdctl, &etcd.endpoint, &save_file);
    let substitutions = setup.substitutions(&[(&etcd.endpoint, ETCD_ENDPOINT_PLACEHOLDER)]);

    // Every run must write the same number of bytes; the first run sets the expectation.
    let snapshot_bytes = Cell::new(None);
    let mut contenders = vec![Contender::new(
        label::ETCD_DUMP,
        dump.display(&substitutions),
        |_: &()| {
            let run = setup.runner.run_single(&dump)?;
            check_snapshot(&dump_file, &snapshot_bytes)?;
            Ok(run)
        },
    )];
    let peers = vec![
        // Like etcdctl, `--output` writes FILE.part, syncs and renames; it is shown next to
        // etcdctl for the same durability, while the targets use the plain redirect.
        Contender::new(
            label::ETCD_DUMP_OUTPUT,
            dump_output.display(&substitutions),
            |_: &()| {
                let run = setup.runner.run_single(&dump_output)?;
                check_snapshot(&output_file, &snapshot_bytes)?;
                Ok(run)
            },
        ),
        Contender::new(
            label::ETCDCTL_SAVE,
            save.display(&substitutions),
            |_: &()| {
                let run = setup.runner.run_single(&save)?;
                check_snapshot(&save_file, &snapshot_bytes)?;
                Ok(run)
            },
        ),
    ];
    if with_peers {
        contenders.extend(peers);
    }
    let results = alternate(id, setup.rounds, |_| Ok(()), contenders)?;

    // Zero when every run failed; the page then shows the failures instead of numbers.
    let input_bytes = snapshot_bytes.get().unwrap_or(0);
    Ok(Comparison {
        id: id.to_string(),
        title: format!(
            "Snapshot of a {} etcd database to a file",
            format_bytes(input_bytes)
        ),
        input: format!(
            "etcd {} database holding {keys} keys of 1 MiB random values; the snapshot has \
             {input_bytes} bytes, the bbolt file plus its 32-byte SHA-256",
            etcd.version
        ),
        input_bytes,
        tools: results,
    })
}

/// Checks that the snapshot file is non-empty and as long as every earlier one, then deletes it
/// so the next run writes a new file as a backup job would.
fn check_snapshot(path: &Path, expected: &Cell<Option<u64>>) -> Result<()> {
    let size = fs::metadata(path)
        .with_context(|| format!("snapshot {} was not written", path.display()))?
        .len();
    fs::remove_file(path).with_context(|| format!("failed to remove {}", path.display()))?;

    if size == 0 {
        bail!("snapshot {} is empty", path.display());
    }
    match expected.get() {
        None => expected.set(Some(size)),
        Some(first) if first != size => {
            bail!(
                "snapshot {} has {size} bytes, an earlier run wrote {first}",
                path.display()
            )
        }
        Some(_) => {}
    }
    Ok(())
}
