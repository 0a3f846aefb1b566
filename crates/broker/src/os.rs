//! The C library calls of the broker library that std does not wrap: today the interface
//! list behind `bind_interface` (getifaddrs(3)). The `unsafe` of the library lives here and
//! nowhere else; the `culex` binary's own calls (fork, the signal mask, mallopt) are in
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
