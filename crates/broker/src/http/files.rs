//! `http_dir` on an HTTP API listener, with Mosquitto 2.1's rules: a path ending in `/` gets
//! `index.html`; the file is `http_dir` + the path, resolved (`realpath`) and served only when
//! it lies under the canonical `http_dir` and is a regular file; anything else is 404. No
//! directory listing, no content type, no caching headers.

use std::path::{Path, PathBuf};

use bytes::Bytes;

/// What a static request gets.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The file's bytes.
    File(Bytes),
    /// No such file under the directory (or not a regular file, or not readable).
    NotFound,
}

/// The file `path` (the URL path, still percent-encoded) names under `root` (canonical).
pub(crate) async fn find(root: &Path, path: &str) -> Found {
    let Some(decoded) = crate::transport::ws::percent_decode(path) else {
        return Found::NotFound;
    };
    let Some(file) = resolve(root, &decoded) else {
        return Found::NotFound;
    };
    match tokio::fs::read(file).await {
        Ok(bytes) => Found::File(Bytes::from(bytes)),
        Err(_) => Found::NotFound,
    }
}

/// The regular file `decoded` names under `root`, if it is one and stays under it.
fn resolve(root: &Path, decoded: &str) -> Option<PathBuf> {
    let mut wanted = format!("{}/{decoded}", root.display());
    if wanted.ends_with('/') {
        wanted.push_str("index.html");
    }
    let resolved = std::fs::canonicalize(&wanted).ok()?;
    let is_file = std::fs::metadata(&resolved).ok()?.is_file();
    (is_file && resolved.starts_with(root)).then_some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_found_only_under_the_directory() {
        let dir = std::env::temp_dir().join(format!("culex-http-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "home").unwrap();
        std::fs::write(dir.join("sub/a.js"), "a").unwrap();
        let root = std::fs::canonicalize(&dir).unwrap();
        assert_eq!(resolve(&root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(&root, "/sub/a.js"), Some(root.join("sub/a.js")));
        assert_eq!(resolve(&root, "/sub/../sub/a.js"), Some(root.join("sub/a.js")));
        assert_eq!(resolve(&root, "/sub"), None, "a directory is not listed");
        assert_eq!(resolve(&root, "/sub/"), None, "no index.html there");
        assert_eq!(resolve(&root, "/../../../../etc/passwd"), None);
        assert_eq!(resolve(&root, "/missing"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
