//! The C library calls of the broker library that std does not wrap: the interface list
//! behind `bind_interface` (getifaddrs(3)), and the account lookup and identity switch behind
//! `user` (getpwnam_r(3), initgroups(3), setgid(2), setuid(2)), and the monotonic clock's
//! reading since boot that `log_dest dlt` stamps lines with (clock_gettime(2)), and the units
//! of `/proc`'s process statistics that `/metrics` reports (sysconf(3)). The `unsafe` of the library
//! lives here and nowhere else; the `culex` binary's own calls (fork, the signal mask, mallopt) are in
//! `process.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address of a network interface: `(name, address, IPv6 scope id)`.
pub(crate) type InterfaceAddress = (String, IpAddr, u32);

/// The machine's interface addresses (IPv4 and IPv6), from getifaddrs(3).
#[expect(unsafe_code, reason = "getifaddrs(3) has no safe wrapper in std")]
pub(crate) fn interface_addresses() -> std::io::Result<Vec<InterfaceAddress>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list that stays valid until freeifaddrs.
    if unsafe { libc::getifaddrs(&raw mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut found = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list, which is freed only after the loop; its
        // name is a NUL-terminated string, and its address (when not null) is a sockaddr
        // whose family says which larger struct it is.
        unsafe {
            let entry = &*cursor;
            cursor = entry.ifa_next;
            if entry.ifa_addr.is_null() {
                continue;
            }
            let name = std::ffi::CStr::from_ptr(entry.ifa_name).to_string_lossy().into_owned();
            match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let v4 = &*entry.ifa_addr.cast::<libc::sockaddr_in>();
                    let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                    found.push((name, IpAddr::V4(ip), 0));
                }
                libc::AF_INET6 => {
                    let v6 = &*entry.ifa_addr.cast::<libc::sockaddr_in6>();
                    let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
                    found.push((name, IpAddr::V6(ip), v6.sin6_scope_id));
                }
                _ => {}
            }
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

/// A local account, as the password database gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// The login name.
    pub(crate) name: std::ffi::CString,
    /// The user id.
    pub(crate) uid: libc::uid_t,
    /// The primary group id.
    pub(crate) gid: libc::gid_t,
}

/// The step of [`switch_to`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwitchStep {
    /// initgroups(3): the supplementary groups.
    Groups,
    /// setgid(2).
    Gid,
    /// setuid(2).
    Uid,
}

/// The time since boot on the monotonic clock (clock_gettime(2) with `CLOCK_MONOTONIC`, the
/// clock libdlt stamps DLT messages with); zero if it cannot be read.
#[expect(unsafe_code, reason = "std::time::Instant does not expose the clock's origin")]
pub(crate) fn monotonic_since_boot() -> std::time::Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec the call writes to; CLOCK_MONOTONIC always exists.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut now) } != 0 {
        return std::time::Duration::ZERO;
    }
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
    std::time::Duration::new(seconds, nanos)
}

/// The clock ticks per second that `/proc/<pid>/stat` counts CPU time in, and the page size its
/// resident set is counted in (sysconf(3) `_SC_CLK_TCK`, `_SC_PAGESIZE`); `None` for a value
/// the system does not report.
#[expect(unsafe_code, reason = "sysconf(3) has no safe wrapper in std")]
pub(crate) fn ticks_and_page_size() -> (Option<u64>, Option<u64>) {
    // SAFETY: sysconf only reads a system constant; an unknown name returns -1.
    let (ticks, page) =
        unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    let positive = |value: libc::c_long| u64::try_from(value).ok().filter(|&value| value > 0);
    (positive(ticks), positive(page))
}

/// Whether the process runs with the effective user id 0.
#[expect(unsafe_code, reason = "geteuid(2) has no safe wrapper in std")]
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Looks `name` up in the password database (getpwnam_r(3)); `Ok(None)` when there is no such
/// account (or the name holds a NUL byte, which no account has).
#[expect(unsafe_code, reason = "getpwnam_r(3) has no safe wrapper in std")]
pub(crate) fn lookup_account(name: &str) -> std::io::Result<Option<Account>> {
    let Ok(c_name) = std::ffi::CString::new(name) else { return Ok(None) };
    let mut buffer = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: an all-zero passwd is a valid value (null pointers, zero ids); getpwnam_r
        // only writes into it and into `buffer`, whose true length it is given.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call, `c_name` is NUL-terminated.
        let status = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &raw mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &raw mut found,
            )
        };
        match status {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some(Account { name: c_name, uid: entry.pw_uid, gid: entry.pw_gid })),
            libc::ERANGE if buffer.len() < 1 << 20 => buffer.resize(buffer.len() * 2, 0),
            // "Not found" is reported as one of these by some C libraries.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            code => return Err(std::io::Error::from_raw_os_error(code)),
        }
    }
}

/// Becomes `account` for good: its groups, then its group id, then its user id (in that
/// order, since only root may change the groups). Threads started earlier keep the old
/// identity, so call this before any.
#[expect(unsafe_code, reason = "initgroups(3), setgid(2) and setuid(2) have no safe wrapper")]
pub(crate) fn switch_to(account: &Account) -> Result<(), (SwitchStep, std::io::Error)> {
    let failed = |step| (step, std::io::Error::last_os_error());
    // SAFETY: the name is NUL-terminated; the calls take no other pointers.
    if unsafe { libc::initgroups(account.name.as_ptr(), account.gid) } != 0 {
        return Err(failed(SwitchStep::Groups));
    }
    // SAFETY: plain system calls on integers.
    if unsafe { libc::setgid(account.gid) } != 0 {
        return Err(failed(SwitchStep::Gid));
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(account.uid) } != 0 {
        return Err(failed(SwitchStep::Uid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_a_made_up_name_does_not() {
        let root = lookup_account("root").unwrap().expect("every system has root");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(lookup_account("culex-no-such-account-x").unwrap(), None);
        assert_eq!(lookup_account("nul\0byte").unwrap(), None);
    }
}
