//! Tree-wide checks that run inside `cargo test`: architecture boundaries and file headers.
//!
//! They read files as text, so a plain `cargo test` catches a boundary crossed anywhere.

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use crate::workspace_root;

    /// Every `.rs` file the project wrote, skipping build output.
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !(name.starts_with("target") || name.starts_with('.') || name == "fixtures") {
                    rust_files(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }

    fn all_rust_files() -> Vec<PathBuf> {
        let root = workspace_root();
        let mut files = Vec::new();
        for dir in ["crates", "xtask", "tests", "fuzz"] {
            rust_files(&root.join(dir), &mut files);
        }
        assert!(!files.is_empty(), "tidy found no Rust files under {}", root.display());
        files
    }

    #[test]
    fn every_rust_file_opens_with_a_module_doc() {
        let missing: Vec<_> = all_rust_files()
            .into_iter()
            .filter(|path| {
                let text = fs::read_to_string(path).unwrap_or_default();
                !text.trim_start().starts_with("//!")
            })
            .collect();
        assert!(
            missing.is_empty(),
            "files without a `//!` header saying what they own: {missing:#?}"
        );
    }

    #[test]
    fn codec_and_core_have_no_io_runtime() {
        let root = workspace_root();
        for krate in ["mqtt-codec", "mqtt-core"] {
            let manifest = root.join("crates").join(krate).join("Cargo.toml");
            let Ok(text) = fs::read_to_string(&manifest) else { continue };
            let deps = text.split("[dev-dependencies]").next().unwrap_or_default();
            assert!(!deps.contains("tokio"), "{krate} must not depend on tokio");
        }
    }

    #[test]
    fn core_never_reads_the_clock() {
        let root = workspace_root().join("crates/mqtt-core");
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        for path in files {
            let text = fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for (index, line) in lines.iter().enumerate() {
                // The one sanctioned exception is visible to reviewers and clippy alike: an
                // `#[expect(clippy::disallowed_methods, reason = "…")]` right above the call
                // (the test harness needs a single real `Instant` as its fake clock's epoch).
                let sanctioned = lines[index.saturating_sub(3)..index]
                    .iter()
                    .any(|above| above.contains("expect(clippy::disallowed_methods"));
                for forbidden in
                    ["Instant::now", "SystemTime::now", "thread::sleep", "std::net", "std::fs"]
                {
                    assert!(
                        sanctioned || !line.contains(forbidden),
                        "{}:{} uses {forbidden}: mqtt-core takes time and I/O as inputs",
                        path.display(),
                        index + 1
                    );
                }
            }
        }
    }

    #[test]
    fn no_debug_macros_left_behind() {
        for path in all_rust_files() {
            let text = fs::read_to_string(&path).unwrap_or_default();
            assert!(!text.contains(concat!("dbg", "!(")), "{} has a dbg! call", path.display());
        }
    }
}
