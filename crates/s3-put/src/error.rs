//! Top-level error type and exit codes.

use crate::client::ClientError;
use crate::credentials::CredentialsError;
use crate::digest::SnapshotError;
use crate::metadata::MetadataError;
use crate::s3_error::S3Error;

/// Exit code when the upload failed and was cleaned up.
pub const EXIT_FAILED: i32 = 1;
/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the input was rejected (empty, wrong size, failed check, too long).
pub const EXIT_INPUT: i32 = 3;
/// Exit code when the producer command failed.
pub const EXIT_PRODUCER: i32 = 4;
/// Exit code when the cleanup of a multipart upload could not be confirmed.
pub const EXIT_CLEANUP: i32 = 5;

/// Signal that interrupted the upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    Sigint,
    Sigterm,
}

impl std::fmt::Display for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sigint => "SIGINT",
            Self::Sigterm => "SIGTERM",
        })
    }
}

impl From<SnapshotError> for PutError {
    fn from(error: SnapshotError) -> Self {
        Self::Verify(error)
    }
}

/// Failure that stopped an upload before it stored an object.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),

    #[error(transparent)]
    Client(#[from] ClientError),

    #[error(transparent)]
    Metadata(#[from] MetadataError),

    #[error("{0}")]
    Usage(String),

    #[error("the input is empty; pass --allow-empty to store an empty object")]
    EmptyInput,

    #[error("the input is {actual} bytes but --expected-size is {expected}")]
    SizeMismatch { expected: u64, actual: u64 },

    #[error("the input is larger than --expected-size {expected}")]
    SizeExceeded { expected: u64 },

    #[error(
        "the input does not fit in {max_parts} parts ({capacity} bytes with a starting part \
         size of {part_size}); raise --part-size"
    )]
    TooManyParts {
        max_parts: u32,
        capacity: u64,
        part_size: u64,
    },

    // The inner errors of Verify, Read and ProducerSpawn are part of the message and not
    // marked as the source, so `{:#}` in main does not print them twice.
    #[error("--verify etcd-snapshot failed: {0}")]
    Verify(SnapshotError),

    #[error("cannot read the input: {0}")]
    Read(std::io::Error),

    #[error("the producer command {command} {status}")]
    Producer { command: String, status: String },

    #[error("cannot start the producer command {command}: {error}")]
    ProducerSpawn {
        command: String,
        error: std::io::Error,
    },

    #[error(transparent)]
    S3(#[from] S3Error),

    #[error(
        "the server stored a different object than was sent ({reason}); the object was deleted"
    )]
    ObjectMismatch { reason: String },

    #[error(
        "the server stored a different object than was sent ({reason}), and deleting it failed: \
         {delete_error}; delete s3://{bucket}/{key} by hand"
    )]
    ObjectMismatchNotDeleted {
        reason: String,
        delete_error: String,
        bucket: String,
        key: String,
    },

    #[error("interrupted by {0}")]
    Interrupted(Interrupt),

    #[error("internal error: {0}")]
    Internal(String),

    #[error(
        "{cause}; in addition, aborting multipart upload {upload_id} could not be confirmed \
         ({detail}); remove it with: aws s3api abort-multipart-upload --bucket {bucket} \
         --key '{key}' --upload-id {upload_id}"
    )]
    CleanupFailed {
        cause: Box<PutError>,
        upload_id: String,
        bucket: String,
        key: String,
        detail: String,
    },
}

impl PutError {
    /// Returns the process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Interrupted(Interrupt::Sigint) => 130,
            Self::Interrupted(Interrupt::Sigterm) => 143,
            Self::CleanupFailed { cause, .. } => match cause.as_ref() {
                Self::Interrupted(_) => cause.exit_code(),
                _ => EXIT_CLEANUP,
            },
            Self::Credentials(_) | Self::Client(_) | Self::Metadata(_) | Self::Usage(_) => {
                EXIT_USAGE
            }
            Self::EmptyInput
            | Self::SizeMismatch { .. }
            | Self::SizeExceeded { .. }
            | Self::TooManyParts { .. }
            | Self::Verify(_) => EXIT_INPUT,
            Self::Producer { .. } | Self::ProducerSpawn { .. } => EXIT_PRODUCER,
            Self::Read(_)
            | Self::S3(_)
            | Self::ObjectMismatch { .. }
            | Self::ObjectMismatchNotDeleted { .. }
            | Self::Internal(_) => EXIT_FAILED,
        }
    }
}
