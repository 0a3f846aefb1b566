//! Tree-wide checks that run inside `cargo test`: architecture boundaries and file headers.
//!
//! They read files as text, so a plain `cargo test` catches a boundary crossed anywhere.
//! `layering` holds the module-cycle and crate-floor checks.

#[cfg(test)]
mod layering;

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use super::layering::{self, Edges, Manifest};
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

    /// The package directories of the workspace: `crates/*`, `xtask` and `tests`.
    fn packages() -> Vec<PathBuf> {
        let root = workspace_root();
        let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        dirs.extend([root.join("xtask"), root.join("tests")]);
        dirs.retain(|dir| dir.join("Cargo.toml").is_file());
        dirs.sort();
        dirs
    }

    #[test]
    fn no_import_cycle_between_the_modules_of_a_crate() {
        let root = workspace_root();
        let mut cycles = Vec::new();
        let mut roots = 0;
        for dir in packages() {
            for crate_root in layering::crate_roots(&dir) {
                roots += 1;
                let edges = layering::module_edges(&crate_root, &root);
                for cycle in layering::find_cycles(&edges) {
                    let shown = crate_root.strip_prefix(&root).unwrap_or(&crate_root).display();
                    cycles.push(format!("{shown}: {}", layering::describe(&cycle, &edges)));
                }
            }
        }
        assert!(roots > 10, "tidy found only {roots} crate roots");
        assert!(cycles.is_empty(), "import cycles between modules:\n{}", cycles.join("\n"));
    }

    #[test]
    fn no_crate_depends_on_one_above_it() {
        let manifests: Vec<Manifest> = packages()
            .iter()
            .map(|dir| {
                let text = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
                layering::manifest(&text, dir)
            })
            .collect();
        assert!(manifests.iter().any(|found| found.name == "culex-broker"));
        let errors = layering::layering_errors(&manifests);
        assert!(errors.is_empty(), "crate layering broken:\n{}", errors.join("\n"));
    }

    fn graph(arrows: &[(&str, &str)]) -> Edges {
        let mut edges = Edges::new();
        for (from, to) in arrows {
            edges.entry((*from).to_owned()).or_default().insert((*to).to_owned(), "x.rs:1".into());
        }
        edges
    }

    #[test]
    fn the_cycle_finder_names_each_cycle() {
        let layered = graph(&[("a", "b"), ("b", "c"), ("a", "c"), ("d", "a")]);
        assert!(layering::find_cycles(&layered).is_empty());
        let circled = graph(&[
            ("conn", "driver"),
            ("driver", "listener"),
            ("listener", "conn"),
            ("driver", "log"),
            ("log", "config"),
            ("tls", "ws"),
            ("ws", "tls"),
        ]);
        let cycles = layering::find_cycles(&circled);
        assert_eq!(cycles, [vec!["conn", "driver", "listener"], vec!["tls", "ws"]]);
        assert_eq!(
            layering::describe(&cycles[0], &circled),
            "conn, driver, listener: conn → driver (x.rs:1), driver → listener (x.rs:1), \
             listener → conn (x.rs:1)"
        );
        assert_eq!(
            layering::describe(&cycles[1], &circled),
            "tls, ws: tls → ws (x.rs:1), ws → tls (x.rs:1)"
        );
    }

    #[test]
    fn module_edges_come_from_crate_paths() {
        let dir = std::env::temp_dir().join(format!("culex-tidy-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("src/a")).unwrap();
        let files = [
            (
                "src/lib.rs",
                "//! root\nmod a;\npub mod b;\nmod c;\n#[cfg(test)]\nmod d;\npub use crate::c::Thing;\n",
            ),
            ("src/a.rs", "//! a\nmod inner;\nuse crate::{b::X, Thing};\n// crate::nothing\n"),
            ("src/a/inner.rs", "//! inner\nuse super::super::b;\nuse super::sibling;\n"),
            (
                "src/b.rs",
                "//! b\nfn f() { $crate::a::g() }\n#[cfg(test)]\nmod tests {\n    use crate::c;\n}\n",
            ),
            ("src/d.rs", "//! test helpers\nuse crate::a;\n"),
            ("src/c.rs", "//! c\npub struct Thing;\n"),
        ];
        for (path, text) in files {
            fs::write(dir.join(path), text).unwrap();
        }
        let edges = layering::module_edges(&dir.join("src/lib.rs"), &dir);
        let arrows: Vec<(&str, &str, &str)> = edges
            .iter()
            .flat_map(|(from, to)| to.iter().map(move |(to, at)| (&**from, &**to, &**at)))
            .collect();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            arrows,
            [("a", "b", "src/a.rs:3"), ("a", "c", "src/a.rs:3"), ("b", "a", "src/b.rs:2")]
        );
        assert_eq!(layering::find_cycles(&edges), [vec!["a", "b"]]);
    }

    #[test]
    fn crates_may_not_depend_upwards_or_on_binaries() {
        let package = |name: &str, has_bin: bool, dependencies: &[(&str, bool)]| Manifest {
            name: name.to_owned(),
            has_lib: !has_bin,
            has_bin,
            dependencies: dependencies.iter().map(|&(dep, dev)| (dep.to_owned(), dev)).collect(),
        };
        let manifests = [
            package("mqtt-codec", false, &[("bytes", false), ("mqtt-core", true)]),
            package("mqtt-core", false, &[("mqtt-codec", false), ("culex-client", false)]),
            package("culex-client", false, &[("culex-pub", false)]),
            package("culex-pub", true, &[("culex-client", false)]),
            package("culex-bench", true, &[("culex-pub", true)]),
            package("newcomer", false, &[]),
        ];
        assert_eq!(
            layering::layering_errors(&manifests),
            [
                "mqtt-codec (floor 0) depends on mqtt-core (floor 1), which is not below it",
                "mqtt-core (floor 1) depends on culex-client (floor 1), which is not below it",
                "culex-client (floor 1) depends on culex-pub (floor 3), which is not below it",
                "library culex-client depends on culex-pub, which is a binary crate",
                "newcomer has no floor: add it to FLOORS in tidy",
            ]
        );
    }
}
