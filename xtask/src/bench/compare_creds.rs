//! creds-resolve against botocore resolving the same profile from a shared credentials file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::command::ToolCommand;
use super::results::{Comparison, Run};
use super::runner::{Contender, alternate};
use super::setup::Setup;
use super::tools::label;

const PROFILE: &str = "bench";
/// A made-up key pair in the documented AWS example format; it grants nothing anywhere.
const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Python one-liner that reads credentials through botocore, the way boto3 and aws-cli do.
const BOTOCORE_SCRIPT: &str = "import botocore.session; \
     c = botocore.session.Session(profile=\"bench\").get_credentials().get_frozen_credentials(); \
     print(c.access_key)";

/// Runs creds-resolve, the botocore one-liner, a bare `python -c pass` and `true` alternately,
/// `setup.sizes.creds_runs` times each.
pub fn creds_comparison(setup: &Setup) -> Result<Comparison> {
    let dir = setup.work.join("creds");
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let credentials = dir.join("credentials");
    let config = dir.join("config");
    fs::write(
        &credentials,
        format!(
            "[{PROFILE}]\naws_access_key_id = {ACCESS_KEY_ID}\n\
             aws_secret_access_key = {SECRET_ACCESS_KEY}\n"
        ),
    )
    .with_context(|| format!("failed to write {}", credentials.display()))?;
    fs::write(
        &config,
        format!("[profile {PROFILE}]\nregion = us-east-1\n"),
    )
    .with_context(|| format!("failed to write {}", config.display()))?;
    // Mode 0600 as a real credentials file has; creds-resolve warns about looser modes.
    for file in [&credentials, &config] {
        fs::set_permissions(file, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("failed to restrict {}", file.display()))?;
    }

    let output = dir.join("stdout");
    let with_files = |command: ToolCommand| {
        command
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials.display().to_string(),
            )
            .env("AWS_CONFIG_FILE", config.display().to_string())
            .env("AWS_PROFILE", PROFILE)
            .stdout(&output)
    };
    let resolve = with_files(ToolCommand::new(&setup.ours.creds_resolve, &[]));
    let botocore = with_files(ToolCommand::new(
        &setup.peers.python,
        &["-c", BOTOCORE_SCRIPT],
    ));
    let python = ToolCommand::new(&setup.peers.python, &["-c", "pass"]);
    // A process that does nothing shows the floor of the measurement itself: the cost of
    // spawning through the launcher and the peak RSS of a minimal program.
    let empty = ToolCommand::new("true", &[]);
    let substitutions = setup.substitutions(&[]);

    let contenders = vec![
        Contender::new(
            label::CREDS_RESOLVE,
            resolve.display(&substitutions),
            |_: &()| run_checked(setup, &resolve, &output),
        ),
        Contender::new(
            label::BOTOCORE,
            botocore.display(&substitutions),
            |_: &()| run_checked(setup, &botocore, &output),
        ),
        Contender::new(
            label::PYTHON_STARTUP,
            python.display(&substitutions),
            |_: &()| setup.runner.run_single(&python),
        ),
        Contender::new(
            label::EMPTY_PROCESS,
            empty.display(&substitutions),
            |_: &()| setup.runner.run_single(&empty),
        ),
    ];
    let results = alternate(
        "credentials",
        setup.sizes.creds_runs,
        |_| Ok(()),
        contenders,
    )?;

    Ok(Comparison {
        id: "credentials".to_string(),
        title: "Resolving a profile from a shared credentials file".to_string(),
        input: format!(
            "profile [{PROFILE}] with static keys in a credentials file, region in a config file"
        ),
        input_bytes: 0,
        tools: results,
    })
}

/// Runs `command` and fails unless it printed the profile's access key id.
fn run_checked(setup: &Setup, command: &ToolCommand, output: &Path) -> Result<Run> {
    let run = setup.runner.run_single(command)?;
    let printed = fs::read_to_string(output)
        .with_context(|| format!("failed to read {}", output.display()))?;
    if !printed.contains(ACCESS_KEY_ID) {
        bail!(
            "{} did not print the profile's access key id",
            command.program.display()
        );
    }
    Ok(run)
}
