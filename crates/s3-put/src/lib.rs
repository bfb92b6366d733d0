//! Streams stdin into one S3 object, leaving nothing behind when it fails.
//!
//! The binary is a thin wrapper around [`app::execute`]; see docs/s3-put.md.

pub mod app;
pub mod checksum;
pub mod cleanup;
pub mod cli;
pub mod client;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod error_chain;
pub mod insecure;
pub mod metadata;
pub mod part_size;
pub mod producer;
pub mod progress;
pub mod reader;
pub mod s3_error;
pub mod signing;
pub mod tls_failure;
pub mod upload;
