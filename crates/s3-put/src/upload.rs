//! The upload: a single PutObject for input that fits in one part, a multipart
//! upload otherwise, with every check done before the object becomes visible.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectLockMode, ServerSideEncryption, StorageClass,
};
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::checksum::{ChecksumAlgorithm, ObjectChecksum, PartChecksum};
use crate::cleanup::abort_upload;
use crate::cli::VerifyMode;
use crate::digest::{StreamDigest, StreamSummary};
use crate::error::{Interrupt, PutError};
use crate::part_size::PartSizer;
use crate::producer::Producer;
use crate::progress::Progress;
use crate::reader::{Chunk, PartReader};
use crate::s3_error::{S3Error, Target};
use crate::signing::PayloadSigning;

/// Slowest transfer rate at which a request attempt still counts as alive.
const MIN_RATE_BYTES_PER_SEC: u64 = 256 * 1024;

/// Time allowed per attempt on top of the transfer at the minimum rate.
const ATTEMPT_BASE_TIMEOUT: Duration = Duration::from_secs(60);

/// Object settings applied on PutObject or CreateMultipartUpload.
#[derive(Clone, Debug, Default)]
pub struct ObjectOptions {
    pub content_type: String,
    pub metadata: BTreeMap<String, String>,
    pub tagging: Option<String>,
    pub storage_class: Option<StorageClass>,
    pub sse: Option<ServerSideEncryption>,
    pub sse_kms_key_id: Option<String>,
    pub object_lock_mode: Option<ObjectLockMode>,
    pub object_lock_retain_until: Option<DateTime>,
    pub if_none_match: bool,
}

/// Everything the upload needs besides the client and the input.
#[derive(Debug)]
pub struct UploadJob {
    pub bucket: String,
    pub key: String,
    pub region: String,
    pub sizer: PartSizer,
    pub concurrency: usize,
    pub checksum: ChecksumAlgorithm,
    /// Whether the endpoint is HTTPS, which allows unsigned payloads with a checksum.
    pub https: bool,
    pub object: ObjectOptions,
    pub allow_empty: bool,
    pub expected_size: Option<u64>,
    pub verify: Option<VerifyMode>,
    pub progress: Arc<Progress>,
}

/// A stored object, reported as JSON on stdout.
#[derive(Debug, serde::Serialize)]
pub struct UploadOutcome {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub etag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub checksum: Option<ObjectChecksum>,
    pub multipart: bool,
    pub parts: u32,
    pub part_size: u64,
    pub duration_seconds: f64,
}

/// Receiver of the first SIGINT or SIGTERM.
pub type InterruptReceiver = watch::Receiver<Option<Interrupt>>;

impl UploadJob {
    fn target(&self) -> Target<'_> {
        Target {
            bucket: &self.bucket,
            key: &self.key,
            region: &self.region,
        }
    }
}

/// Uploads the input read by `reader`; on failure nothing is left at the key
/// that this upload created.
pub async fn run(
    client: &aws_sdk_s3::Client,
    job: Arc<UploadJob>,
    mut reader: PartReader,
    producer: Option<Producer>,
    mut interrupt: InterruptReceiver,
) -> Result<UploadOutcome, PutError> {
    let started = Instant::now();
    if job.object.if_none_match {
        reject_existing(client, &job).await?;
    }
    let digest = DigestThread::spawn();

    let first_size = part_len(&job, 1)?;
    let first = tokio::select! {
        chunk = reader.next_chunk(first_size) => chunk.map_err(PutError::Read)?,
        signal = interrupted(&mut interrupt) => return Err(PutError::Interrupted(signal)),
    };
    job.progress.add_read(first.data.len() as u64);

    if first.last {
        digest.send(first.data.clone(), None);
        let summary = finish_input(&job, digest, producer).await?;
        // The PUT is not interrupted: once sent, the server may store the object
        // anyway, so its result is waited for and reported.
        let outcome = put_single(client, &job, first.data, &summary).await?;
        return Ok(finish_outcome(outcome, &summary, &job, started));
    }

    let upload_id = create_upload(client, &job).await?;
    tracing::info!(upload_id, bucket = %job.bucket, key = %job.key, "multipart upload started");

    let context = PartContext {
        client: client.clone(),
        job: job.clone(),
        upload_id: upload_id.clone(),
    };
    let uploaded = tokio::select! {
        result = upload_parts(context.clone(), reader, first, digest, producer) => result,
        signal = interrupted(&mut interrupt) => Err(PutError::Interrupted(signal)),
    };
    let (parts, summary) = match uploaded {
        Ok(uploaded) => uploaded,
        Err(err) => return Err(abort_upload(client, job.target(), &upload_id, err).await),
    };

    // Complete is not interrupted: once sent, the server may assemble the object
    // anyway, and an abort afterwards could not remove it.
    match complete_upload(&context, &parts, &summary).await {
        Ok(outcome) => Ok(finish_outcome(outcome, &summary, &job, started)),
        Err(err) => {
            if let Some(outcome) = recover_completed(client, &job, &parts, &summary, &err).await {
                let _ = abort_upload(client, job.target(), &upload_id, err).await;
                return Ok(finish_outcome(outcome, &summary, &job, started));
            }
            Err(abort_upload(client, job.target(), &upload_id, err).await)
        }
    }
}

/// Checks whether a Complete that failed on the client side took effect anyway.
///
/// When the response to CompleteMultipartUpload is lost, the SDK's retry finds
/// the upload gone (`NoSuchUpload`, or `AccessDenied` on some servers) although
/// the object was stored. The upload counts as done only if HeadObject reports
/// the size and the full checksum that were sent, so the object at the key has
/// exactly this content. Servers that report no checksum on HeadObject get no
/// recovery, and neither does a rejected `--if-none-match`.
async fn recover_completed(
    client: &aws_sdk_s3::Client,
    job: &UploadJob,
    parts: &[UploadedPart],
    summary: &StreamSummary,
    err: &PutError,
) -> Option<UploadOutcome> {
    let PutError::S3(s3_error) = err else {
        return None;
    };
    if matches!(
        s3_error.code.as_deref(),
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    ) {
        return None;
    }
    let part_checksums: Vec<PartChecksum> = parts
        .iter()
        .filter_map(|part| part.checksum.clone())
        .collect();
    let expected = job.checksum.object_checksum(&part_checksums)?;

    let head = client
        .head_object()
        .bucket(&job.bucket)
        .key(&job.key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .ok()?;
    if head.content_length() != Some(summary.len as i64) {
        return None;
    }
    let reported = reported_checksum(
        job.checksum,
        head.checksum_crc32_c(),
        head.checksum_crc64_nvme(),
        head.checksum_sha256(),
    )?;
    if !checksums_match(&reported, &expected.value) {
        return None;
    }

    tracing::warn!(
        error = %err,
        "CompleteMultipartUpload failed, but the object at the key has the size and checksum \
         that were sent; the upload is complete"
    );
    Some(UploadOutcome {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        size: summary.len,
        sha256: String::new(),
        etag: head.e_tag().unwrap_or_default().to_owned(),
        version_id: head.version_id().map(str::to_owned),
        checksum: Some(expected),
        multipart: true,
        parts: parts.len() as u32,
        part_size: 0,
        duration_seconds: 0.0,
    })
}

/// Fails early when an object already exists and `--if-none-match` is set, so a
/// long stream is not uploaded only to be rejected on Complete. The conditional
/// PutObject or Complete still decides, because an object can appear meanwhile.
async fn reject_existing(client: &aws_sdk_s3::Client, job: &UploadJob) -> Result<(), PutError> {
    let head = client
        .head_object()
        .bucket(&job.bucket)
        .key(&job.key)
        .send()
        .await;
    match head {
        Ok(_) => Err(PutError::S3(S3Error {
            operation: "HeadObject",
            bucket: job.bucket.clone(),
            key: job.key.clone(),
            code: Some("PreconditionFailed".to_owned()),
            status: None,
            detail:
                "an object already exists at this key and --if-none-match forbids overwriting it"
                    .to_owned(),
        })),
        Err(err) => {
            // 404 is the expected status. Anything else (such as 403 without
            // s3:GetObject) leaves the decision to the conditional write.
            let err = S3Error::from_sdk("HeadObject", job.target(), err);
            if err.status != Some(404) {
                tracing::debug!(error = %err, "cannot check for an existing object");
            }
            Ok(())
        }
    }
}

async fn interrupted(interrupt: &mut InterruptReceiver) -> Interrupt {
    loop {
        if let Some(signal) = *interrupt.borrow_and_update() {
            return signal;
        }
        if interrupt.changed().await.is_err() {
            // The signal handler is gone, so no interrupt can arrive any more.
            std::future::pending::<()>().await;
        }
    }
}

fn part_len(job: &UploadJob, part_number: u32) -> Result<usize, PutError> {
    usize::try_from(job.sizer.part_size(part_number))
        .map_err(|_| PutError::Internal("part size does not fit in memory".to_owned()))
}

fn finish_outcome(
    mut outcome: UploadOutcome,
    summary: &StreamSummary,
    job: &UploadJob,
    started: Instant,
) -> UploadOutcome {
    outcome.sha256 = hex::encode(summary.sha256);
    outcome.part_size = job.sizer.part_size(1);
    outcome.duration_seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    outcome
}

/// Applies [`ObjectOptions`] to a PutObject or CreateMultipartUpload builder,
/// which have the same setters but no common trait.
macro_rules! apply_object_options {
    ($request:expr, $options:expr) => {{
        let options: &ObjectOptions = $options;
        let metadata: HashMap<String, String> = options.metadata.clone().into_iter().collect();
        $request
            .content_type(options.content_type.clone())
            .set_metadata((!metadata.is_empty()).then_some(metadata))
            .set_tagging(options.tagging.clone())
            .set_storage_class(options.storage_class.clone())
            .set_server_side_encryption(options.sse.clone())
            .set_ssekms_key_id(options.sse_kms_key_id.clone())
            .set_object_lock_mode(options.object_lock_mode.clone())
            .set_object_lock_retain_until_date(options.object_lock_retain_until)
    }};
}

/// Sets the `x-amz-checksum-*` value for `algorithm` on a request builder.
macro_rules! apply_checksum {
    ($request:expr, $algorithm:expr, $value:expr) => {{
        let value: Option<String> = $value;
        match $algorithm {
            ChecksumAlgorithm::Crc32c => $request.set_checksum_crc32_c(value),
            ChecksumAlgorithm::Crc64nvme => $request.set_checksum_crc64_nvme(value),
            ChecksumAlgorithm::Sha256 => $request.set_checksum_sha256(value),
            ChecksumAlgorithm::None => $request,
        }
    }};
}

fn payload_signing(job: &UploadJob, checksum: Option<&PartChecksum>) -> Option<PayloadSigning> {
    match checksum {
        Some(PartChecksum {
            sha256: Some(digest),
            ..
        }) => Some(PayloadSigning::precomputed(digest)),
        Some(_) if job.https => Some(PayloadSigning::unsigned()),
        _ => None,
    }
}

fn attempt_timeout(len: usize) -> aws_sdk_s3::config::timeout::TimeoutConfig {
    let transfer = Duration::from_secs(len as u64 / MIN_RATE_BYTES_PER_SEC);
    aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .operation_attempt_timeout(ATTEMPT_BASE_TIMEOUT + transfer)
        .build()
}

async fn compute_checksum(
    algorithm: ChecksumAlgorithm,
    data: &Bytes,
) -> Result<Option<PartChecksum>, PutError> {
    if algorithm == ChecksumAlgorithm::None {
        return Ok(None);
    }
    let data = data.clone();
    tokio::task::spawn_blocking(move || algorithm.part_checksum(&data))
        .await
        .map_err(|err| PutError::Internal(err.to_string()))
}

/// Checks the complete input: producer status, size and `--verify`.
async fn finish_input(
    job: &UploadJob,
    digest: DigestThread,
    producer: Option<Producer>,
) -> Result<StreamSummary, PutError> {
    let summary = digest.finish().await?;

    if let Some(producer) = producer {
        producer.wait().await?;
    }
    if summary.len == 0 && !job.allow_empty {
        return Err(PutError::EmptyInput);
    }
    if let Some(expected) = job.expected_size
        && expected != summary.len
    {
        return Err(PutError::SizeMismatch {
            expected,
            actual: summary.len,
        });
    }
    match job.verify {
        Some(VerifyMode::EtcdSnapshot) => {
            summary.verify_etcd_snapshot()?;
            tracing::info!("etcd snapshot trailer verified");
        }
        None => {}
    }
    Ok(summary)
}

async fn put_single(
    client: &aws_sdk_s3::Client,
    job: &UploadJob,
    data: Bytes,
    summary: &StreamSummary,
) -> Result<UploadOutcome, PutError> {
    let len = data.len();
    let checksum = compute_checksum(job.checksum, &data).await?;

    let request = client
        .put_object()
        .bucket(&job.bucket)
        .key(&job.key)
        .content_length(len as i64)
        .body(ByteStream::from(data))
        .set_if_none_match(job.object.if_none_match.then(|| "*".to_owned()));
    let request = apply_object_options!(request, &job.object);
    let request = apply_checksum!(
        request,
        job.checksum,
        checksum.as_ref().map(|c| c.base64.clone())
    );

    let mut request = request.customize().config_override(
        aws_sdk_s3::config::Builder::default().timeout_config(attempt_timeout(len)),
    );
    if let Some(signing) = payload_signing(job, checksum.as_ref()) {
        request = request.interceptor(signing);
    }
    let output = request
        .send()
        .await
        .map_err(|err| S3Error::from_sdk("PutObject", job.target(), err))?;
    job.progress.add_uploaded(len as u64);

    let object_checksum = job.checksum.object_checksum(checksum.as_slice());
    let stored = StoredObject {
        etag: output.e_tag().map(str::to_owned),
        version_id: output.version_id().map(str::to_owned),
        reported_checksum: reported_checksum(
            job.checksum,
            output.checksum_crc32_c(),
            output.checksum_crc64_nvme(),
            output.checksum_sha256(),
        ),
    };
    check_stored(client, job, &stored, summary.len, object_checksum.as_ref()).await?;

    Ok(UploadOutcome {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        size: summary.len,
        sha256: String::new(),
        etag: stored.etag.unwrap_or_default(),
        version_id: stored.version_id,
        checksum: object_checksum,
        multipart: false,
        parts: 1,
        part_size: 0,
        duration_seconds: 0.0,
    })
}

async fn create_upload(client: &aws_sdk_s3::Client, job: &UploadJob) -> Result<String, PutError> {
    let request = client
        .create_multipart_upload()
        .bucket(&job.bucket)
        .key(&job.key)
        .set_checksum_algorithm(job.checksum.sdk_algorithm())
        .set_checksum_type(job.checksum.multipart_type());
    let output = apply_object_options!(request, &job.object)
        .send()
        .await
        .map_err(|err| S3Error::from_sdk("CreateMultipartUpload", job.target(), err))?;
    output
        .upload_id()
        .map(str::to_owned)
        .ok_or_else(|| PutError::Internal("CreateMultipartUpload returned no upload id".to_owned()))
}

/// Shared state of the part uploads.
#[derive(Clone)]
struct PartContext {
    client: aws_sdk_s3::Client,
    job: Arc<UploadJob>,
    upload_id: String,
}

struct UploadedPart {
    part_number: u32,
    etag: String,
    checksum: Option<PartChecksum>,
}

/// Uploads all parts and returns them in order. The last part is sent only after
/// the whole input has been read and checked, so a failed check never leaves a
/// completable upload behind.
async fn upload_parts(
    context: PartContext,
    mut reader: PartReader,
    first: Chunk,
    digest: DigestThread,
    producer: Option<Producer>,
) -> Result<(Vec<UploadedPart>, StreamSummary), PutError> {
    let job = context.job.clone();
    let permits = Arc::new(Semaphore::new(job.concurrency + 1));
    let mut tasks: JoinSet<Result<UploadedPart, PutError>> = JoinSet::new();
    let mut uploaded: Vec<UploadedPart> = Vec::new();

    let mut chunk = first;
    let mut permit = acquire(&permits).await?;
    let mut part_number: u32 = 1;
    let mut total: u64 = 0;
    let summary = loop {
        let Chunk { data, last } = chunk;
        total += data.len() as u64;
        if let Some(expected) = job.expected_size
            && total > expected
        {
            return Err(PutError::SizeExceeded { expected });
        }

        let permit_shared = Arc::new(permit);
        digest.send(data.clone(), Some(permit_shared.clone()));

        if last {
            let summary = finish_input(&job, digest, producer).await?;
            tasks.spawn(upload_part(
                context.clone(),
                part_number,
                data,
                permit_shared,
            ));
            break summary;
        }
        if part_number >= job.sizer.max_parts() {
            return Err(PutError::TooManyParts {
                max_parts: job.sizer.max_parts(),
                capacity: job.sizer.capacity(),
                part_size: job.sizer.part_size(1),
            });
        }
        tasks.spawn(upload_part(
            context.clone(),
            part_number,
            data,
            permit_shared,
        ));
        part_number += 1;

        permit = loop {
            tokio::select! {
                permit = acquire(&permits) => break permit?,
                Some(joined) = tasks.join_next() => uploaded.push(joined_part(joined)?),
            }
        };

        let next = reader.next_chunk(part_len(&job, part_number)?);
        tokio::pin!(next);
        chunk = loop {
            tokio::select! {
                chunk = &mut next => break chunk.map_err(PutError::Read)?,
                Some(joined) = tasks.join_next() => uploaded.push(joined_part(joined)?),
            }
        };
        job.progress.add_read(chunk.data.len() as u64);
    };

    while let Some(joined) = tasks.join_next().await {
        uploaded.push(joined_part(joined)?);
    }
    uploaded.sort_by_key(|part| part.part_number);
    Ok((uploaded, summary))
}

async fn acquire(permits: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, PutError> {
    permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|err| PutError::Internal(err.to_string()))
}

fn joined_part(
    joined: Result<Result<UploadedPart, PutError>, tokio::task::JoinError>,
) -> Result<UploadedPart, PutError> {
    joined.map_err(|err| PutError::Internal(format!("part upload task failed: {err}")))?
}

async fn upload_part(
    context: PartContext,
    part_number: u32,
    data: Bytes,
    permit: Arc<OwnedSemaphorePermit>,
) -> Result<UploadedPart, PutError> {
    let job = &context.job;
    let len = data.len();
    let checksum = compute_checksum(job.checksum, &data).await?;

    let request = context
        .client
        .upload_part()
        .bucket(&job.bucket)
        .key(&job.key)
        .upload_id(&context.upload_id)
        .part_number(part_number as i32)
        .content_length(len as i64)
        .body(ByteStream::from(data));
    let request = apply_checksum!(
        request,
        job.checksum,
        checksum.as_ref().map(|c| c.base64.clone())
    );

    let mut request = request.customize().config_override(
        aws_sdk_s3::config::Builder::default().timeout_config(attempt_timeout(len)),
    );
    if let Some(signing) = payload_signing(job, checksum.as_ref()) {
        request = request.interceptor(signing);
    }
    let output = request.send().await.map_err(|err| {
        let err = S3Error::from_sdk("UploadPart", job.target(), err);
        tracing::warn!(part_number, error = %err, "part upload failed after retries");
        err
    })?;
    job.progress.add_uploaded(len as u64);
    tracing::debug!(part_number, bytes = len, "part uploaded");

    drop(permit);

    let etag = output.e_tag().map(str::to_owned).ok_or_else(|| {
        PutError::Internal(format!(
            "UploadPart returned no ETag for part {part_number}"
        ))
    })?;
    Ok(UploadedPart {
        part_number,
        etag,
        checksum,
    })
}

async fn complete_upload(
    context: &PartContext,
    parts: &[UploadedPart],
    summary: &StreamSummary,
) -> Result<UploadOutcome, PutError> {
    let job = &context.job;
    let algorithm = job.checksum;

    let completed: Vec<CompletedPart> = parts
        .iter()
        .map(|part| {
            let builder = CompletedPart::builder()
                .part_number(part.part_number as i32)
                .e_tag(&part.etag);
            apply_checksum!(
                builder,
                algorithm,
                part.checksum.as_ref().map(|c| c.base64.clone())
            )
            .build()
        })
        .collect();
    let part_checksums: Vec<PartChecksum> = parts
        .iter()
        .filter_map(|part| part.checksum.clone())
        .collect();
    let object_checksum = algorithm.object_checksum(&part_checksums);

    let full_object_value = object_checksum
        .as_ref()
        .filter(|checksum| checksum.kind == "FULL_OBJECT")
        .map(|checksum| checksum.value.clone());
    let request = context
        .client
        .complete_multipart_upload()
        .bucket(&job.bucket)
        .key(&job.key)
        .upload_id(&context.upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .mpu_object_size(summary.len as i64)
        .set_checksum_type(job.checksum.multipart_type())
        .set_if_none_match(job.object.if_none_match.then(|| "*".to_owned()));
    let request = if algorithm == ChecksumAlgorithm::Sha256 {
        request
    } else {
        apply_checksum!(request, algorithm, full_object_value)
    };

    let output = request
        .send()
        .await
        .map_err(|err| S3Error::from_sdk("CompleteMultipartUpload", job.target(), err))?;

    let stored = StoredObject {
        etag: output.e_tag().map(str::to_owned),
        version_id: output.version_id().map(str::to_owned),
        reported_checksum: reported_checksum(
            algorithm,
            output.checksum_crc32_c(),
            output.checksum_crc64_nvme(),
            output.checksum_sha256(),
        ),
    };
    check_stored(
        &context.client,
        job,
        &stored,
        summary.len,
        object_checksum.as_ref(),
    )
    .await?;

    Ok(UploadOutcome {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        size: summary.len,
        sha256: String::new(),
        etag: stored.etag.unwrap_or_default(),
        version_id: stored.version_id,
        checksum: object_checksum,
        multipart: true,
        parts: parts.len() as u32,
        part_size: 0,
        duration_seconds: 0.0,
    })
}

struct StoredObject {
    etag: Option<String>,
    version_id: Option<String>,
    reported_checksum: Option<String>,
}

fn reported_checksum(
    algorithm: ChecksumAlgorithm,
    crc32c: Option<&str>,
    crc64nvme: Option<&str>,
    sha256: Option<&str>,
) -> Option<String> {
    match algorithm {
        ChecksumAlgorithm::Crc32c => crc32c,
        ChecksumAlgorithm::Crc64nvme => crc64nvme,
        ChecksumAlgorithm::Sha256 => sha256,
        ChecksumAlgorithm::None => None,
    }
    .map(str::to_owned)
}

/// Confirms that the stored object has the size (and, when the server reports
/// one, the checksum) that was sent; otherwise deletes it.
async fn check_stored(
    client: &aws_sdk_s3::Client,
    job: &UploadJob,
    stored: &StoredObject,
    size: u64,
    checksum: Option<&ObjectChecksum>,
) -> Result<(), PutError> {
    let mut problem = None;

    if let (Some(reported), Some(expected)) = (&stored.reported_checksum, checksum)
        && !checksums_match(reported, &expected.value)
    {
        problem = Some(format!(
            "the server reports {} {reported}, expected {}",
            expected.algorithm, expected.value
        ));
    }

    if problem.is_none() {
        let head = client
            .head_object()
            .bucket(&job.bucket)
            .key(&job.key)
            .set_version_id(stored.version_id.clone())
            .send()
            .await
            .map_err(|err| S3Error::from_sdk("HeadObject", job.target(), err))?;
        let stored_size = head.content_length().unwrap_or(-1);
        if stored_size != size as i64 {
            problem = Some(format!(
                "the stored object is {stored_size} bytes, {size} were sent"
            ));
        }
    }

    let Some(reason) = problem else {
        return Ok(());
    };
    tracing::error!(
        reason,
        "stored object does not match the input; deleting it"
    );
    let deleted = client
        .delete_object()
        .bucket(&job.bucket)
        .key(&job.key)
        .set_version_id(stored.version_id.clone())
        .send()
        .await;
    match deleted {
        Ok(_) => Err(PutError::ObjectMismatch { reason }),
        Err(err) => Err(PutError::ObjectMismatchNotDeleted {
            reason,
            delete_error: S3Error::from_sdk("DeleteObject", job.target(), err).to_string(),
            bucket: job.bucket.clone(),
            key: job.key.clone(),
        }),
    }
}

/// Compares checksums ignoring a `-N` part-count suffix, which some servers
/// omit from composite checksums.
fn checksums_match(reported: &str, expected: &str) -> bool {
    let strip = |value: &str| value.split('-').next().unwrap_or_default().to_owned();
    strip(reported) == strip(expected)
}

/// Hashes the stream on a blocking thread, in order, while parts upload.
struct DigestThread {
    sender: mpsc::Sender<(Bytes, Option<Arc<OwnedSemaphorePermit>>)>,
    handle: tokio::task::JoinHandle<StreamSummary>,
}

impl DigestThread {
    fn spawn() -> Self {
        let (sender, receiver) = mpsc::channel::<(Bytes, Option<Arc<OwnedSemaphorePermit>>)>();
        let handle = tokio::task::spawn_blocking(move || {
            let mut digest = StreamDigest::new();
            // The permit is released only after hashing, so buffers waiting here
            // count against the memory bound.
            for (data, _permit) in receiver {
                digest.update(&data);
            }
            digest.finish()
        });
        Self { sender, handle }
    }

    fn send(&self, data: Bytes, permit: Option<Arc<OwnedSemaphorePermit>>) {
        // A send fails only when the hashing thread has panicked, and finish()
        // then returns that failure.
        let _ = self.sender.send((data, permit));
    }

    async fn finish(self) -> Result<StreamSummary, PutError> {
        drop(self.sender);
        self.handle
            .await
            .map_err(|err| PutError::Internal(format!("hashing thread failed: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_comparison_ignores_part_suffix() {
        assert!(checksums_match("abc=-3", "abc="));
        assert!(checksums_match("abc=", "abc=-3"));
        assert!(!checksums_match("abd=", "abc="));
    }

    #[test]
    fn attempt_timeout_grows_with_part() {
        let small = attempt_timeout(5 << 20)
            .operation_attempt_timeout()
            .unwrap();
        let large = attempt_timeout(1 << 30)
            .operation_attempt_timeout()
            .unwrap();
        assert_eq!(small, Duration::from_secs(60 + 20));
        assert_eq!(large, Duration::from_secs(60 + 4096));
    }
}
