//! The C library calls of the `culex` binary that std does not wrap, in one place (this
//! file belongs to the binary, `main.rs`, not to the library): `-d`'s fork, setsid and dup2,
//! the mask that holds the handled signals until their handlers exist, and glibc's
//! `mallopt`. The library's own calls are in `os.rs`.

/// Bytes of free memory an allocator heap may keep before it gives some back to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 64 * 1024 * 1024;

/// Lets glibc keep freed memory for reuse instead of returning it to the kernel after every
/// burst. Read and write buffers of up to 64 KiB come and go with the traffic; with glibc's
/// default (give back whatever is free above 128 KiB at the top of a heap) the kernel unmapped
/// them and faulted them in again, 15–20% of the broker's CPU per 4 KiB message.
/// Memory that was freed is still reused; at most [`TRIM_THRESHOLD`] per heap stays mapped
/// beyond what is in use.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "mallopt(3) has no safe wrapper")]
pub(crate) fn keep_freed_memory() {
    // SAFETY: mallopt takes no pointers and only changes allocator parameters; it is called
    // before the runtime's threads exist.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Other allocators keep their own policy.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn keep_freed_memory() {}

/// `-d`: Mosquitto's daemonising: fork, the parent exits 0, the child starts a new session
/// and points stdin, stdout and stderr at /dev/null.
pub(crate) mod daemon {
    use std::os::fd::AsRawFd as _;

    /// Detaches from the terminal. Must run before any thread is started (the tokio runtime is
    /// built afterwards), because only the calling thread survives a fork.
    pub(crate) fn detach() -> anyhow::Result<()> {
        let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
        match fork()? {
            Forked::Parent => std::process::exit(0),
            Forked::Child => {}
        }
        setsid_and_redirect(null.as_raw_fd())
    }

    enum Forked {
        Parent,
        Child,
    }

    #[expect(unsafe_code, reason = "fork(2) has no safe wrapper in std")]
    fn fork() -> anyhow::Result<Forked> {
        // SAFETY: called while the process has a single thread (before the tokio runtime is
        // built), so the child inherits a consistent copy of all memory and locks.
        match unsafe { libc::fork() } {
            -1 => Err(std::io::Error::last_os_error().into()),
            0 => Ok(Forked::Child),
            _ => Ok(Forked::Parent),
        }
    }

    #[expect(unsafe_code, reason = "setsid(2) and dup2(2) have no safe wrappers in std")]
    fn setsid_and_redirect(null: i32) -> anyhow::Result<()> {
        // SAFETY: setsid takes no pointers; dup2 only duplicates `null`, an open descriptor we
        // own, onto the standard descriptors.
        unsafe {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error().into());
            }
            for fd in [0, 1, 2] {
                if libc::dup2(null, fd) == -1 {
                    return Err(std::io::Error::last_os_error().into());
                }
            }
        }
        Ok(())
    }
}

/// The signals culex handles (SIGINT, SIGTERM, SIGHUP, SIGUSR1) are blocked from the start of
/// `main` until `serve` has installed its handlers: a blocked signal stays pending, so one sent
/// as soon as the port accepts (or the pid file exists) is handled, not fatal. Threads started
/// in between (the tokio workers) inherit the block and never take them.
pub(crate) mod signals {
    #[expect(unsafe_code, reason = "sigprocmask has no safe wrapper in std")]
    fn mask(how: libc::c_int) -> std::io::Result<()> {
        // SAFETY: `set` is a local sigset_t initialised by sigemptyset before use; the old mask
        // is not asked for (null).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1] {
                libc::sigaddset(&raw mut set, signal);
            }
            match libc::pthread_sigmask(how, &raw const set, std::ptr::null_mut()) {
                0 => Ok(()),
                error => Err(std::io::Error::from_raw_os_error(error)),
            }
        }
    }

    /// Blocks the handled signals for this thread and the threads it starts.
    pub(crate) fn hold() -> std::io::Result<()> {
        mask(libc::SIG_BLOCK)
    }

    /// Unblocks them for this thread, which then takes the pending ones.
    pub(crate) fn release() -> std::io::Result<()> {
        mask(libc::SIG_UNBLOCK)
    }
}
