//! Blocking bridge to async clients.

use std::future::Future;

/// Runs `future` to completion on a private single-threaded runtime in a scoped thread, so the
/// blocking harness API also works when a test calls it from inside its own tokio runtime.
pub(crate) fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build a tokio runtime")
                    .block_on(future)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
