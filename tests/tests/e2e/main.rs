//! End-to-end suite against real etcd and S3 servers on loopback.

// clippy's allow-unwrap-in-tests covers only #[test] functions, not the helpers they share.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod etcd_dump;
mod harness;
mod pipeline;
mod s3_put;
mod smoke;
