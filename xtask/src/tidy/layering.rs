//! The layering checks of tidy: no import cycle between the top-level modules of a crate, and
//! no crate depending on one above it. Both read source and manifests as text.
//!
//! Modules: each crate root (`src/lib.rs`, `src/main.rs`, an integration test) has top-level
//! modules, its `mod x;` lines; every file below `x` counts as `x`. A file of `a` that names
//! `crate::b…` (directly, in a `crate::{…}` group, through a name the root re-exports from
//! `b`, or with enough `super::` to climb to the root) is an edge `a → b`. A parent using its
//! own child is no edge; the root uses everything and is no node. Comments are skipped, and so
//! is test code (`#[cfg(test)]` modules, inline or in files): it may use any module, and no
//! other code can use it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module edges of one crate: `from → to → where` (the first `file:line` that made it).
pub(super) type Edges = BTreeMap<String, BTreeMap<String, String>>;

/// Every import cycle among the nodes of `edges`: the strongly connected components of more
/// than one node (modules that reach each other both ways), each as its sorted nodes.
pub(super) fn find_cycles(edges: &Edges) -> Vec<Vec<String>> {
    let mut nodes: BTreeSet<&str> = edges.keys().map(String::as_str).collect();
    nodes.extend(edges.values().flat_map(|to| to.keys().map(String::as_str)));
    let mut reach: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for &node in &nodes {
        let mut seen = BTreeSet::new();
        let mut stack = successors(edges, node);
        while let Some(next) = stack.pop() {
            if seen.insert(next) {
                stack.extend(successors(edges, next));
            }
        }
        reach.insert(node, seen);
    }
    let mut done = BTreeSet::new();
    let mut cycles = Vec::new();
    for &start in &nodes {
        if done.contains(start) || !reach[start].contains(start) {
            continue;
        }
        let component: Vec<&str> =
            reach[start].iter().copied().filter(|other| reach[other].contains(start)).collect();
        done.extend(component.iter().copied());
        if component.len() > 1 {
            cycles.push(component.into_iter().map(str::to_owned).collect());
        }
    }
    cycles
}

fn successors<'a>(edges: &'a Edges, node: &str) -> Vec<&'a str> {
    edges.get(node).map(|to| to.keys().map(String::as_str).collect()).unwrap_or_default()
}

/// The modules of `component` (from [`find_cycles`]) and one shortest loop through its first
/// module, each arrow with the `file:line` that made it: `a, b, c: a → b (…), b → a (…)`.
pub(super) fn describe(component: &[String], edges: &Edges) -> String {
    let Some(start) = component.first() else { return String::new() };
    let inside = |node: &str| component.iter().any(|member| member == node);
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.as_str()]);
    let mut path = vec![start.as_str()];
    'search: while let Some(node) = queue.pop_front() {
        for next in successors(edges, node) {
            if next == start {
                path = vec![node];
                while let Some(&before) = path.last().and_then(|last| previous.get(last)) {
                    path.push(before);
                }
                path.reverse();
                break 'search;
            }
            if inside(next) && !previous.contains_key(next) {
                previous.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    path.push(start);
    let arrows: Vec<String> = path
        .windows(2)
        .map(|pair| {
            let at = edges.get(pair[0]).and_then(|to| to.get(pair[1]));
            format!("{} → {} ({})", pair[0], pair[1], at.map_or("?", String::as_str))
        })
        .collect();
    format!("{}: {}", component.join(", "), arrows.join(", "))
}

/// The crate roots of the package in `dir`: library, binary and integration-test roots.
pub(super) fn crate_roots(dir: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs", "lib.rs", "main.rs"]
        .iter()
        .map(|file| dir.join(file))
        .filter(|path| path.is_file())
        .collect();
    for sub in ["src/bin", "tests", "benches"] {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else { continue };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .map(|path| if path.is_dir() { path.join("main.rs") } else { path })
            .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "rs"))
            .collect();
        found.sort();
        roots.extend(found);
    }
    roots
}

/// One file of a crate: its top-level module, how deep its module path is (1 for `x.rs`),
/// and whether it is test code.
struct ModuleFile {
    path: PathBuf,
    top: String,
    depth: usize,
    test: bool,
}

/// The module edges of the crate rooted at `root`; `where` texts are relative to `base`.
pub(super) fn module_edges(root: &Path, base: &Path) -> Edges {
    let root_text = read_code(root);
    let tops = declared_modules(&root_text);
    let mut files = Vec::new();
    for top in &tops {
        let dir = root.parent().unwrap_or(Path::new("."));
        if let Some(file) = module_file(dir, &top.name) {
            collect_files(&file, &top.name, 1, top.test, &mut files);
        }
    }
    let top_set: BTreeSet<&str> = tops.iter().map(|top| top.name.as_str()).collect();
    let reexports = root_reexports(&root_text, &top_set);
    let mut edges = Edges::new();
    for file in files.iter().filter(|file| !file.test) {
        let text = read_code(&file.path);
        let shown = file.path.strip_prefix(base).unwrap_or(&file.path).display().to_string();
        for (line, name) in references(&text, file.depth) {
            let target = if top_set.contains(name.as_str()) {
                Some(name)
            } else {
                reexports.get(&name).cloned()
            };
            if let Some(target) = target.filter(|target| *target != file.top) {
                edges
                    .entry(file.top.clone())
                    .or_default()
                    .entry(target)
                    .or_insert_with(|| format!("{shown}:{line}"));
            }
        }
    }
    edges
}

/// `file` and the files of its submodules, recursively.
fn collect_files(file: &Path, top: &str, depth: usize, test: bool, out: &mut Vec<ModuleFile>) {
    let text = read_code(file);
    out.push(ModuleFile { path: file.to_owned(), top: top.to_owned(), depth, test });
    let dir = if file.file_name().is_some_and(|name| name == "mod.rs") {
        file.parent().map(Path::to_owned)
    } else {
        file.parent().zip(file.file_stem()).map(|(parent, stem)| parent.join(stem))
    };
    let Some(dir) = dir else { return };
    for child in declared_modules(&text) {
        if let Some(child_file) = module_file(&dir, &child.name) {
            collect_files(&child_file, top, depth + 1, test || child.test, out);
        }
    }
}

/// `dir/name.rs` or `dir/name/mod.rs`, whichever exists.
fn module_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(format!("{name}.rs")), dir.join(name).join("mod.rs")]
        .into_iter()
        .find(|path| path.is_file())
}

/// The source of `path` with `//` comments (and doc comments) blanked, lines kept.
fn read_code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A module declared with a file (`mod x;`); `test` when `#[cfg(test)]` is right above it.
struct Declared {
    name: String,
    test: bool,
}

/// The modules declared with a file (`mod x;`, any visibility) at the top level of `text`.
fn declared_modules(text: &str) -> Vec<Declared> {
    let mut found = Vec::new();
    let mut test = false;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let under_cfg_test = std::mem::replace(&mut test, line.trim() == "#[cfg(test)]");
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let Some(rest) = line.trim_end().strip_suffix(';') else { continue };
        let rest = rest.strip_prefix("pub").map_or(rest, |after| {
            after
                .trim_start()
                .strip_prefix('(')
                .map_or(after, |vis| vis.split_once(')').map_or(vis, |(_, after)| after))
        });
        let Some(name) = rest.trim_start().strip_prefix("mod ") else { continue };
        let name = name.trim();
        if is_ident(name) {
            found.push(Declared { name: name.to_owned(), test: under_cfg_test });
        }
    }
    found
}

/// Names the crate root imports from its top-level modules (`use` and `pub use`), so that
/// `crate::Name` can be traced to the module that defines `Name`.
fn root_reexports(text: &str, tops: &BTreeSet<&str>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in text.split(';') {
        let statement = statement.trim_start();
        let Some(at) = statement.find("use ") else { continue };
        let head = &statement[..at];
        if !head.split_whitespace().all(|word| word.starts_with("pub")) {
            continue;
        }
        let path = statement[at + 4..].trim_start();
        let path = path.strip_prefix("crate::").unwrap_or(path);
        let module: String = path.chars().take_while(|&c| is_ident_char(c)).collect();
        if !tops.contains(module.as_str()) {
            continue;
        }
        for word in path[module.len()..].split(|c: char| !is_ident_char(c)) {
            if is_ident(word) && !["as", "self", "super", "crate"].contains(&word) {
                names.insert(word.to_owned(), module.clone());
            }
        }
    }
    names
}

/// The names used right after the crate root in `text` (a file at module depth `depth`),
/// with their line numbers: `crate::x`, each item of `crate::{x, y::z}`, and `super::x` when
/// enough `super::` climb to the root. Past the first inline `mod … {` of a file one more
/// `super::` is needed; past a `#[cfg(test)]` one (its tests, by habit at the end) nothing
/// counts.
fn references(text: &str, depth: usize) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut inline_mod = false;
    let mut cfg_test = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let declaration = trimmed.strip_prefix("pub ").unwrap_or(trimmed);
        if declaration.starts_with("mod ") && trimmed.ends_with('{') {
            if cfg_test {
                break;
            }
            inline_mod = true;
        }
        if !trimmed.is_empty() {
            cfg_test = trimmed == "#[cfg(test)]";
        }
        let depth = depth + usize::from(inline_mod);
        let mut rest = line;
        while let Some(at) = next_path_start(rest) {
            let before_ok = !rest[..at].ends_with(is_ident_char);
            let tail = &rest[at..];
            let (climb, after) = if let Some(after) = tail.strip_prefix("crate::") {
                (None, after)
            } else {
                let mut after = tail;
                let mut supers = 0;
                while let Some(next) = after.strip_prefix("super::") {
                    supers += 1;
                    after = next;
                }
                (Some(supers), after)
            };
            rest = after;
            if !before_ok || climb.is_some_and(|supers| supers < depth) {
                continue;
            }
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                for item in inner.split(',') {
                    let name: String =
                        item.trim_start().chars().take_while(|&c| is_ident_char(c)).collect();
                    if is_ident(&name) && name != "self" {
                        found.push((index + 1, name));
                    }
                }
            } else {
                let name: String = after.chars().take_while(|&c| is_ident_char(c)).collect();
                if is_ident(&name) {
                    found.push((index + 1, name));
                }
            }
        }
    }
    found
}

/// Where the next `crate::` or `super::` starts in `text`.
fn next_path_start(text: &str) -> Option<usize> {
    match (text.find("crate::"), text.find("super::")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_ident(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && word.chars().all(is_ident_char)
}

/// The workspace's crate floors, from the bottom: a crate may depend (normally or to build)
/// only on crates of a lower floor; a dev-dependency may also be on its own floor (the
/// benchmark's smoke test starts the broker). A new crate must be given a floor here.
pub(super) const FLOORS: &[(&str, u8)] = &[
    ("mqtt-codec", 0),
    ("culex-compat", 0),
    ("mqtt-core", 1),
    ("culex-client", 1),
    ("culex-store", 2),
    ("culex-broker", 3),
    ("culex-pub", 3),
    ("culex-sub", 3),
    ("culex-rr", 3),
    ("culex-passwd", 3),
    ("culex-bench", 3),
    ("e2e", 4),
    ("xtask", 4),
];

/// What tidy reads from one `Cargo.toml`.
#[derive(Debug, Default)]
pub(super) struct Manifest {
    pub(super) name: String,
    pub(super) has_lib: bool,
    pub(super) has_bin: bool,
    /// `(dependency, is a dev-dependency)`.
    pub(super) dependencies: Vec<(String, bool)>,
}

/// Reads the package name, targets and dependency names of a manifest (`dir` is its package
/// directory, for the default `src/lib.rs` and `src/main.rs` targets).
pub(super) fn manifest(text: &str, dir: &Path) -> Manifest {
    let mut found = Manifest {
        has_lib: dir.join("src/lib.rs").is_file(),
        has_bin: dir.join("src/main.rs").is_file(),
        ..Manifest::default()
    };
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            section = header.trim_matches(|c| c == '[' || c == ']').to_owned();
            found.has_lib |= section == "lib";
            found.has_bin |= section == "bin";
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let key = key.trim();
        if section == "package" && key == "name" {
            found.name = value.trim().trim_matches('"').to_owned();
        }
        let kind = section.rsplit('.').next().unwrap_or_default();
        if ["dependencies", "dev-dependencies", "build-dependencies"].contains(&kind) {
            let name = key.split('.').next().unwrap_or_default().trim();
            found.dependencies.push((name.to_owned(), kind == "dev-dependencies"));
        }
    }
    found
}

/// What is wrong with the dependencies between `manifests` (the workspace's packages).
pub(super) fn layering_errors(manifests: &[Manifest]) -> Vec<String> {
    let floor = |name: &str| FLOORS.iter().find(|(known, _)| *known == name).map(|&(_, f)| f);
    let mut errors = Vec::new();
    for package in manifests {
        let Some(own) = floor(&package.name) else {
            errors.push(format!("{} has no floor: add it to FLOORS in tidy", package.name));
            continue;
        };
        for (dependency, dev) in &package.dependencies {
            let Some(other) = manifests.iter().find(|known| known.name == *dependency) else {
                continue; // not a workspace crate
            };
            let Some(theirs) = floor(&other.name) else { continue };
            if theirs > own || (theirs == own && !dev) {
                errors.push(format!(
                    "{} (floor {own}) depends on {dependency} (floor {theirs}), which is not below it",
                    package.name
                ));
            }
            if package.has_lib && !package.has_bin && other.has_bin && !dev {
                errors.push(format!(
                    "library {} depends on {dependency}, which is a binary crate",
                    package.name
                ));
            }
        }
    }
    errors
}
