//! The calls of `culex_sub` with an OS contract the compiler cannot check, in one place:
//! registering stdout with tokio's reactor to learn when a pipe's reader has gone.

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Stdout registered with the reactor for its error condition (the one a pipe's write end
/// gets when its reader has gone); `None` for files that cannot be watched (a regular file,
/// `/dev/null`).
#[expect(unsafe_code, reason = "tokio's AsyncFd registration has an I/O-safety contract")]
pub(crate) fn watch_stdout_errors() -> Option<AsyncFd<std::io::Stdout>> {
    // SAFETY: fd 1 is open for the whole life of the process (nothing here closes stdout)
    // and `Stdout::as_raw_fd` always returns 1, so it refers to the same open file
    // description for as long as the AsyncFd lives.
    unsafe { AsyncFd::register_with_interest(std::io::stdout(), Interest::ERROR) }.ok()
}
