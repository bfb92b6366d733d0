//! Resolves AWS credentials for a backup pipeline and prints them in the
//! `credential_process` JSON shape or as shell `export` lines.
//!
//! The chain follows the order K3s uses for etcd snapshots to S3 (flags,
//! environment, shared credentials file), then the rest of the standard AWS
//! chain through aws-config's providers. Unlike the SDK chains, a
//! half-configured source is an error instead of a silent skip; see
//! `docs/creds-resolve.md` for every rule.

pub mod chain;
pub mod cli;
pub mod env;
pub mod error;
pub mod explain;
pub mod files;
pub mod home;
pub mod output;
pub mod profiles;
pub mod providers;
pub mod recursion;
pub mod secret;
pub mod statics;

pub use chain::{Plan, resolve};
pub use cli::{Args, Format};
pub use error::{Error, exit_code};
pub use secret::{ResolvedCredentials, Secret};
