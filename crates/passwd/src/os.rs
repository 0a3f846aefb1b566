//! The C library calls of `culex_passwd` that std does not wrap, in one place: ignoring
//! SIGINT while the terminal's echo is off, so that Ctrl-C reaches the prompt as an
//! interrupted read and the terminal is restored before exiting.

/// Ignores SIGINT while it lives, then restores the previous disposition.
pub(crate) struct SigintIgnored {
    previous: libc::sighandler_t,
}

impl SigintIgnored {
    #[expect(unsafe_code, reason = "std has no API to change a signal's disposition")]
    pub(crate) fn new() -> Self {
        // SAFETY: `signal` with SIG_IGN installs no handler code; it only changes the
        // disposition of SIGINT for this single-threaded program.
        let previous = unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
        Self { previous }
    }
}

impl Drop for SigintIgnored {
    #[expect(unsafe_code, reason = "std has no API to change a signal's disposition")]
    fn drop(&mut self) {
        if self.previous != libc::SIG_ERR {
            // SAFETY: restores the disposition `signal` returned earlier (SIG_DFL in practice).
            unsafe { libc::signal(libc::SIGINT, self.previous) };
        }
    }
}
