//! `strerror(errno)` text of an I/O error.

use std::io;

/// The text C's `strerror` prints for `err`: Rust's message without its ` (os error N)`
/// suffix (`Connection refused`, `No such file or directory`). An error that is not an OS
/// error keeps its own message; one whose message embeds an OS error loses everything from
/// the first ` (os error ` on.
pub fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_lose_the_number() {
        assert_eq!(
            strerror(&io::Error::from_raw_os_error(libc::EADDRINUSE)),
            "Address already in use"
        );
        assert_eq!(
            strerror(&io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            "Connection refused"
        );
        assert_eq!(
            strerror(&io::Error::from_raw_os_error(libc::ENOENT)),
            "No such file or directory"
        );
    }

    #[test]
    fn other_errors_keep_their_message() {
        assert_eq!(strerror(&io::Error::other("custom")), "custom");
        let wrapped = io::Error::other(format!("IO error: {}", io::Error::from_raw_os_error(104)));
        assert_eq!(strerror(&wrapped), "IO error: Connection reset by peer");
    }
}
