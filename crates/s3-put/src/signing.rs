//! Per-request choice of the SigV4 payload hash.
//!
//! By default the SDK hashes every body with SHA-256 for the signature. When
//! s3-put already sends a flexible checksum that the server verifies, that pass
//! can be skipped over HTTPS (TLS protects against tampering and the checksum
//! against corruption), and with `--checksum sha256` the part digest doubles as
//! the payload hash. Over plain HTTP with a CRC the payload stays signed, because
//! a CRC does not stop deliberate changes.

use aws_runtime::auth::PayloadSigningOverride;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Interceptor that sets the payload hash used by the SigV4 signer.
#[derive(Debug)]
pub struct PayloadSigning(PayloadSigningOverride);

impl PayloadSigning {
    /// Signs with `UNSIGNED-PAYLOAD`.
    pub fn unsigned() -> Self {
        Self(PayloadSigningOverride::unsigned_payload())
    }

    /// Signs with a SHA-256 of the body computed beforehand.
    pub fn precomputed(sha256: &[u8; 32]) -> Self {
        Self(PayloadSigningOverride::Precomputed(hex::encode(sha256)))
    }
}

impl Intercept for PayloadSigning {
    fn name(&self) -> &'static str {
        "PayloadSigning"
    }

    fn modify_before_signing(
        &self,
        _context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(self.0.clone());
        Ok(())
    }
}
