//! Rejected server certificates: found in error chains and never retried.
//!
//! The SDK's standard retry strategy counts every I/O error of a connection
//! attempt as transient, and rustls reports a rejected certificate as one. A
//! retry cannot make an untrusted certificate trusted, so without this check an
//! upload to a server with the wrong certificate failed only after every
//! attempt and its backoff.

use std::error::Error;

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};

/// Returns the rustls certificate error in the source chain of `err`, if any.
pub fn certificate_error<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    crate::error_chain::sources(err)
        .filter_map(|err| err.downcast_ref::<rustls::Error>())
        .find(|tls| is_certificate_error(tls))
}

fn is_certificate_error(err: &rustls::Error) -> bool {
    matches!(
        err,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_)
    )
}

/// Retry classifier that forbids retrying a rejected server certificate.
#[derive(Debug)]
pub struct NoRetryOnCertificateError;

impl ClassifyRetry for NoRetryOnCertificateError {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let Some(connector) = err.as_connector_error() else {
            return RetryAction::NoActionIndicated;
        };
        match certificate_error(connector) {
            Some(_) => RetryAction::RetryForbidden,
            None => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "NoRetryOnCertificateError"
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::interceptors::context::Input;
    use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use rustls::CertificateError;

    use super::*;

    fn wrapped(tls: rustls::Error) -> ConnectorError {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        ConnectorError::io(Box::new(io))
    }

    #[test]
    fn finds_certificate_error_inside_io_error() {
        let err = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));

        let found = certificate_error(&err);

        assert_eq!(
            found,
            Some(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        );
    }

    #[test]
    fn ignores_other_tls_errors() {
        let err = wrapped(rustls::Error::DecryptError);

        assert_eq!(certificate_error(&err), None);
    }

    #[test]
    fn classifier_forbids_certificate_retry() {
        let mut ctx = InterceptorContext::new(Input::doesnt_matter());
        let err = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        ctx.set_output_or_error(Err(OrchestratorError::connector(err)));

        let action = NoRetryOnCertificateError.classify_retry(&ctx);

        assert_eq!(action, RetryAction::RetryForbidden);
    }

    #[test]
    fn classifier_ignores_refused_connection() {
        let mut ctx = InterceptorContext::new(Input::doesnt_matter());
        let connection_refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = ConnectorError::io(Box::new(connection_refused));
        ctx.set_output_or_error(Err(OrchestratorError::connector(err)));

        let action = NoRetryOnCertificateError.classify_retry(&ctx);

        assert_eq!(action, RetryAction::NoActionIndicated);
    }

    #[test]
    fn ignores_plain_connection_errors() {
        let connection_refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = ConnectorError::io(Box::new(connection_refused));

        assert_eq!(certificate_error(&err), None);
    }
}
