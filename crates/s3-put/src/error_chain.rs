//! The chain of errors behind a failed request.

use std::error::Error;

/// Returns `err` and the errors behind it, outermost first. Unlike
/// `Error::source`, it steps into the error an `io::Error` wraps, because
/// hyper and rustls put the cause of a failed connection there.
pub fn sources<'a>(
    err: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&err: &&'a (dyn Error + 'static)| match err
        .downcast_ref::<std::io::Error>()
    {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
        None => err.source(),
    })
}

/// Joins the messages of the chain, skipping any message that an earlier one
/// already contains, because hyper's errors repeat their source's message.
pub fn text(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for err in sources(err) {
        let message = err.to_string();
        if !parts.iter().any(|part| part.contains(&message)) {
            parts.push(message);
        }
    }
    parts.join(": ")
}

/// Returns whether an I/O error of `kind` is anywhere in the chain.
pub fn has_io_kind(err: &(dyn Error + 'static), kind: std::io::ErrorKind) -> bool {
    sources(err).any(|err| {
        err.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connect failed: {0}")]
    struct Outer(#[source] std::io::Error);

    fn connection_refused_inside_io() -> std::io::Error {
        let connection_refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        std::io::Error::other(Outer(connection_refused))
    }

    #[test]
    fn steps_into_wrapped_io_error() {
        let err = connection_refused_inside_io();

        let count = sources(&err).count();

        assert_eq!(count, 3);
        assert!(has_io_kind(&err, std::io::ErrorKind::ConnectionRefused));
    }

    #[test]
    fn text_skips_repeated_messages() {
        let err = connection_refused_inside_io();

        let text = text(&err);

        assert_eq!(text, "connect failed: connection refused");
    }
}
