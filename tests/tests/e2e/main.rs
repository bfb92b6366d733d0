//! End-to-end suite against real etcd and S3 servers on loopback.
