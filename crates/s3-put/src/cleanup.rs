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
    // Whether some abort got a response that means the upload is gone. On servers
    // that cannot list uploads, this is the only proof left.
    let mut abort_answered = false;
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
        // A failed abort is still followed by the check, because the upload may be
        // gone all the same.
        let mut abort_problem = None;
        match abort {
            Ok(_) => abort_answered = true,
            Err(err) => {
                let err = S3Error::from_sdk("AbortMultipartUpload", target, err);
                // s3s-fs responds to any request for an upload it no longer has with
                // AccessDenied. That response counts only when the server cannot list
                // uploads (UploadState::Unlisted). Servers that can list, AWS among them,
                // are judged by the listing, so a real permission error there is never
                // taken for success.
                if err.is_no_such_upload() || err.code.as_deref() == Some("AccessDenied") {
                    abort_answered = true;
                }
                if !err.is_no_such_upload() {
                    tracing::warn!(upload_id, attempt, error = %err, "abort failed");
                    abort_problem = Some(err.to_string());
                }
            }
        }

        match upload_gone(client, target, upload_id).await {
            Ok(UploadState::Gone) => {
                tracing::info!(upload_id, "multipart upload aborted; no parts remain");
                return cause;
            }
            Ok(UploadState::Unlisted) if abort_answered => {
                tracing::info!(
                    upload_id,
                    "multipart upload aborted; the server cannot list uploads, so the \
                     abort's response is the confirmation"
                );
                return cause;
            }
            Ok(UploadState::Unlisted) => {
                last_problem = "the abort was not answered and the server cannot list \
                                uploads to show the upload is gone"
                    .to_owned();
                tracing::warn!(upload_id, attempt, "{last_problem}; aborting again");
            }
            Ok(UploadState::Listed) => {
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

/// State of an upload after an abort, as ListParts and ListMultipartUploads report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UploadState {
    /// ListParts reports the upload unknown, or ListMultipartUploads does not list it.
    Gone,
    /// ListParts shows parts, or ListMultipartUploads still lists the upload.
    Listed,
    /// ListParts is empty and the server does not implement ListMultipartUploads.
    /// s3s-fs 0.14 returns an empty ListParts result for any upload id, so this
    /// proves nothing on its own.
    Unlisted,
}

/// Checks whether the upload is gone with ListParts and ListMultipartUploads.
async fn upload_gone(
    client: &aws_sdk_s3::Client,
    target: Target<'_>,
    upload_id: &str,
) -> Result<UploadState, S3Error> {
    match client
        .list_parts()
        .bucket(target.bucket)
        .key(target.key)
        .upload_id(upload_id)
        .send()
        .await
    {
        Ok(parts) if !parts.parts().is_empty() => return Ok(UploadState::Listed),
        Ok(_) => {}
        Err(err) => {
            let err = S3Error::from_sdk("ListParts", target, err);
            if err.is_no_such_upload() {
                return Ok(UploadState::Gone);
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
                    tracing::debug!("the server cannot list multipart uploads");
                    return Ok(UploadState::Unlisted);
                }
                return Err(err);
            }
        };

        let listed = page.uploads().iter().any(|upload| {
            upload.upload_id() == Some(upload_id) && upload.key() == Some(target.key)
        });
        if listed {
            return Ok(UploadState::Listed);
        }
        if page.is_truncated() != Some(true) {
            return Ok(UploadState::Gone);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        upload_id_marker = page.next_upload_id_marker().map(str::to_owned);
        if key_marker.is_none() && upload_id_marker.is_none() {
            return Ok(UploadState::Gone);
        }
    }
}
