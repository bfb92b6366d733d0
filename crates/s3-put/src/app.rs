//! Turns parsed arguments into a client and an upload job, and runs it.

use std::io::IsTerminal;
use std::sync::Arc;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{ObjectLockMode, ServerSideEncryption, StorageClass};

use crate::checksum::ChecksumAlgorithm;
use crate::cli::Args;
use crate::client::{ClientSettings, Endpoint, build_client, resolve_endpoint_url, resolve_region};
use crate::credentials::{CredentialSource, provider};
use crate::error::PutError;
use crate::metadata::{build_metadata, encode_tags, read_metadata_json};
use crate::part_size::PartSizer;
use crate::producer::Producer;
use crate::progress::Progress;
use crate::reader::PartReader;
use crate::upload::{InterruptReceiver, ObjectOptions, UploadJob, UploadOutcome, run};

/// Runs s3-put with `args`; `progress` receives byte counts for the progress line.
pub async fn execute(
    args: Args,
    progress: Arc<Progress>,
    interrupt: InterruptReceiver,
) -> Result<UploadOutcome, PutError> {
    let endpoint = resolve_endpoint_url(args.endpoint_url.as_deref(), |name| {
        std::env::var(name).ok()
    })?
    .map(|(url, source_name)| Endpoint::parse(&url, source_name))
    .transpose()?;
    let region = resolve_region(
        args.region.as_deref(),
        |name| std::env::var(name).ok(),
        endpoint.is_some(),
    )?;
    let https = endpoint.as_ref().is_none_or(|endpoint| endpoint.https);

    let source = match (&args.credentials, &args.credential_process) {
        (Some(path), _) => CredentialSource::File(path.clone()),
        (None, Some(command)) => CredentialSource::Process(command.clone()),
        (None, None) => CredentialSource::Environment,
    };
    let credentials = provider(&source)?;

    let object = object_options(&args)?;
    if object.object_lock_mode.is_some() && args.checksum == ChecksumAlgorithm::None {
        return Err(PutError::Usage(
            "Object Lock needs a checksum on every request; drop --checksum none".to_owned(),
        ));
    }

    let client = build_client(ClientSettings {
        region: region.clone(),
        endpoint,
        force_path_style: args.force_path_style,
        ca_bundle: args.ca_bundle.clone(),
        insecure_skip_tls_verify: args.insecure_skip_tls_verify,
        max_attempts: args.max_attempts,
        credentials,
    })?;

    let (producer, input): (Option<Producer>, Box<dyn std::io::Read + Send>) =
        if args.command.is_empty() {
            if std::io::stdin().is_terminal() {
                return Err(PutError::Usage(
                    "stdin is a terminal; s3-put uploads what it reads from stdin, so pipe \
                     the data in (etcd-dump ... | s3-put ...), redirect a file (< snapshot.db), \
                     or name a producer after -- (s3-put ... -- COMMAND)"
                        .to_owned(),
                ));
            }
            (None, Box::new(std::io::stdin()))
        } else {
            let (producer, stdout) = Producer::spawn(&args.command)?;
            (Some(producer), stdout)
        };

    // One buffer per part in flight and one for the part being read.
    let reader = PartReader::new(input, usize::from(args.concurrency) + 1);
    let job = Arc::new(UploadJob {
        bucket: args.bucket,
        key: args.key,
        region,
        sizer: PartSizer::new(args.part_size, args.max_parts),
        concurrency: usize::from(args.concurrency),
        checksum: args.checksum,
        https,
        object,
        allow_empty: args.allow_empty,
        expected_size: args.expected_size,
        verify: args.verify,
        progress,
    });
    run(&client, job, reader, producer, interrupt).await
}

fn object_options(args: &Args) -> Result<ObjectOptions, PutError> {
    let summary = args
        .metadata_json
        .as_deref()
        .map(read_metadata_json)
        .transpose()?;
    let metadata = build_metadata(&args.metadata, summary.as_ref())?;

    let object_lock_retain_until = args
        .object_lock_retain_until
        .as_deref()
        .map(|text| {
            DateTime::from_str(text, DateTimeFormat::DateTime).map_err(|err| {
                PutError::Usage(format!(
                    "invalid --object-lock-retain-until {text:?}: {err}; use RFC 3339 such as 2027-01-01T00:00:00Z"
                ))
            })
        })
        .transpose()?;

    Ok(ObjectOptions {
        content_type: args.content_type.clone(),
        metadata,
        tagging: encode_tags(&args.tag)?,
        storage_class: args.storage_class.as_deref().map(StorageClass::from),
        sse: args.sse.as_deref().map(ServerSideEncryption::from),
        sse_kms_key_id: args.sse_kms_key_id.clone(),
        object_lock_mode: args.object_lock_mode.as_deref().map(ObjectLockMode::from),
        object_lock_retain_until,
        if_none_match: args.if_none_match,
    })
}
