//! Aborting a multipart upload and confirming that nothing is left.
//!
//! An abort that races part uploads still in flight may leave parts behind, so
//! the abort is repeated until ListParts reports the upload gone and
//! ListMultipartUploads no longer lists it.

use std::time::Duration;

use crate::error::PutError;
use crate::s3_error::{S3Error, Target};

const ATTEMPTS: u32 = 5;

/// Aborts `upload_id` and confirms it is gone. Returns `cause`, or `cause`
/// wrapped in [`PutError::CleanupFailed`] when the removal could not be confirmed.
pub async fn abort_upload(
    client: &aws_sdk_s3::Client,
    target: Target<'_>,
    upload_id: &str,
    cause: PutError,
) -> PutError {
    tracing::warn!(upload_id, error = %cause, "aborting multipart upload");

    let mut last_problem = String::new();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }

        let abort = client
            .abort_multipart_upload()
            .bucket(target.bucket)
            .key(target.key)
            .upload_id(upload_id)
            .send()
            .await;
        // A failed abort is still followed by the check, because s3s-fs rejects an
        // abort of an upload that is already gone with AccessDenied, not NoSuchUpload.
        let mut abort_problem = None;
        if let Err(err) = abort {
            let err = S3Error::from_sdk("AbortMultipartUpload", target, err);
            if !err.is_no_such_upload() {
                tracing::warn!(upload_id, attempt, error = %err, "abort failed");
                abort_problem = Some(err.to_string());
            }
        }

        match upload_gone(client, target, upload_id).await {
            Ok(true) => {
                tracing::info!(upload_id, "multipart upload aborted; no parts remain");
                return cause;
            }
            Ok(false) => {
                last_problem = "the upload is still listed after the abort".to_owned();
                tracing::warn!(upload_id, attempt, "{last_problem}; aborting again");
            }
            Err(err) => {
                tracing::warn!(upload_id, attempt, error = %err, "cannot confirm the abort");
                last_problem = abort_problem.unwrap_or_else(|| err.to_string());
            }
        }
    }

    PutError::CleanupFailed {
        cause: Box::new(cause),
        upload_id: upload_id.to_owned(),
        bucket: target.bucket.to_owned(),
        key: target.key.to_owned(),
        detail: last_problem,
    }
}

/// Returns whether the upload is gone: ListParts reports it unknown, or it has no
/// parts and ListMultipartUploads does not list it.
///
/// s3s-fs 0.14 returns an empty ListParts result for any upload id and does not
/// implement ListMultipartUploads. So an empty ListParts counts as proof only
/// when the server cannot list uploads.
async fn upload_gone(
    client: &aws_sdk_s3::Client,
    target: Target<'_>,
    upload_id: &str,
) -> Result<bool, S3Error> {
    match client
        .list_parts()
        .bucket(target.bucket)
        .key(target.key)
        .upload_id(upload_id)
        .send()
        .await
    {
        Ok(parts) if !parts.parts().is_empty() => return Ok(false),
        Ok(_) => {}
        Err(err) => {
            let err = S3Error::from_sdk("ListParts", target, err);
            if err.is_no_such_upload() {
                return Ok(true);
            }
            return Err(err);
        }
    }

    let mut key_marker: Option<String> = None;
    let mut upload_id_marker: Option<String> = None;
    loop {
        let page = match client
            .list_multipart_uploads()
            .bucket(target.bucket)
            .prefix(target.key)
            .set_key_marker(key_marker.take())
            .set_upload_id_marker(upload_id_marker.take())
            .send()
            .await
        {
            Ok(page) => page,
            Err(err) => {
                let err = S3Error::from_sdk("ListMultipartUploads", target, err);
                if err.code.as_deref() == Some("NotImplemented") || err.status == Some(501) {
                    tracing::debug!(
                        "the server cannot list multipart uploads; relying on ListParts"
                    );
                    return Ok(true);
                }
                return Err(err);
            }
        };

        let listed = page.uploads().iter().any(|upload| {
            upload.upload_id() == Some(upload_id) && upload.key() == Some(target.key)
        });
        if listed {
            return Ok(false);
        }
        if page.is_truncated() != Some(true) {
            return Ok(true);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        upload_id_marker = page.next_upload_id_marker().map(str::to_owned);
        if key_marker.is_none() && upload_id_marker.is_none() {
            return Ok(true);
        }
    }
}
