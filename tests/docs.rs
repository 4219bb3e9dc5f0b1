//! The docs cannot drift from the code: every source path named in `README.md` and `docs/*.md`
//! must exist, and every item named with its file must be defined in that file.
//!
//! What counts as a reference, line by line (fenced code blocks included):
//!
//! * a markdown link target, `[text](target)` or `![alt](target)`: resolved against the doc's own
//!   folder, as a renderer resolves it (web addresses and `#anchors` are not checked);
//! * any other word that names a file with a source extension (`.rs`, `.md`, `.toml`, `.sh`,
//!   `.py`), or a data extension (`.png`, `.gz`, `.ttf`) when it contains a `/`; or a folder
//!   (ending in `/`) under one of the repository's top folders (`autograd/`, `src/`, `docs/`, ...).
//!   A path with a `/` must exist from the repository root or from one of the crate roots
//!   (`autograd/`, `autograd/src/`, `autograd/src/kernels/`, `src/`), so `kernels/pack.rs` names
//!   `autograd/src/kernels/pack.rs`. A bare file name (`pack.rs`) must exist somewhere in the
//!   repository. A `*` matches within one folder (`ops/*.rs` must match at least one file).
//!   Paths starting with `../` lie outside the checkout and are not checked;
//! * an item named with its file: `file.rs::item`, `file.rs:item` (`file.rs:12` is a line number,
//!   which must exist), or a run of backticked names followed by "in `file.rs`"
//!   (`` `a`, `b` and `c` in `autograd/tests/kernels.rs` ``), or a file and a name alone in
//!   parentheses (`` (`tests/alloc.rs`, `no_allocation_after_warm_up`) ``). The item must be defined in one of
//!   the files the path resolves to: `fn`, `struct`, `enum`, `const`, `static`, `trait`, `type`,
//!   `mod` or `macro_rules!` followed by its name (`a::b`: `a` so, `b` so or as an enum variant).
//!
//! * an item named with its module: `kernels::gemm`, `parallel::for_each_row_piece`,
//!   `autograd::kernels::with_hot_workers`: when the first name is a module of ours (a file
//!   `name.rs` or `name/mod.rs` under `autograd/src/` or `src/`, or the crate `autograd` itself),
//!   the path is followed through sub-module files and the next name must be defined in the
//!   module's file or imported there by a `use`; a path whose first name is not ours
//!   (`rayon::join`, `f32::MAX`) is not checked. `Type::member` of a type of ours
//!   (`Tape::backward`): `member` must be defined in a file that defines or `impl`s the type.
//!
//! `docs/KERNELS-LOG.md` records history (files and functions that were since renamed or
//! removed) and is exempt.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Extensions that always mark a word as a path to check.
const SOURCE_EXTENSIONS: [&str; 5] = ["rs", "md", "toml", "sh", "py"];
/// Extensions that mark a word as a path only when it contains a `/` (`loss.png` alone is the
/// name of a file a training run writes, not a file of the repository).
const DATA_EXTENSIONS: [&str; 3] = ["png", "gz", "ttf"];
/// Where a relative path with a `/` may start: the repository root and the crate roots.
const ROOTS: [&str; 5] = [
    "",
    "autograd/",
    "autograd/src/",
    "autograd/src/kernels/",
    "src/",
];
/// Top folders whose sub-folders (`data/mnist/`) are checked when named with a trailing `/`.
const TOP_FOLDERS: [&str; 8] = [
    "autograd/",
    "src/",
    "docs/",
    "tests/",
    "examples/",
    "benches/",
    "data/",
    "fuzz/",
];
/// Item kinds whose definition `kind name` the check accepts.
const DEFINERS: [&str; 9] = [
    "fn",
    "struct",
    "enum",
    "const",
    "static",
    "trait",
    "type",
    "mod",
    "macro_rules!",
];

/// The repository's files by path relative to its root (`/`-separated), with the text of the
/// Rust sources (other files are stored empty: only their existence is checked).
struct Tree {
    files: BTreeMap<String, String>,
}

impl Tree {
    /// A tree from `(path, contents)` pairs, for the unit tests.
    fn from_pairs(pairs: &[(&str, &str)]) -> Tree {
        let files = pairs
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        Tree { files }
    }

    /// The repository on disk, without `target/`, `.git/` and other hidden folders.
    fn load(root: &Path) -> Tree {
        let mut files = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).expect("read a folder of the repository") {
                let path = entry.expect("read a folder entry").path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if name.starts_with('.') || name == "target" {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(root).unwrap();
                let rel = rel.to_string_lossy().replace('\\', "/");
                let text = if name.ends_with(".rs") {
                    fs::read_to_string(&path).unwrap_or_default()
                } else {
                    String::new()
                };
                files.insert(rel, text);
            }
        }
        Tree { files }
    }

    fn is_file(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    fn is_dir(&self, path: &str) -> bool {
        let dir = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        self.files.keys().any(|f| f.starts_with(&dir))
    }

    /// The files a path names: itself from the root or a crate root (`kernels/pack.rs`), or, for
    /// a bare file name, every file of that name.
    fn resolve(&self, path: &str) -> Vec<String> {
        let path = path.strip_prefix("./").unwrap_or(path);
        if let Some((head, tail)) = path.split_once('*') {
            // `ops/*.rs`: the files that match, from the root or a crate root.
            return ROOTS
                .iter()
                .flat_map(|root| {
                    let (head, tail) = (format!("{root}{head}"), tail.to_string());
                    self.files.keys().filter(move |f| {
                        f.len() >= head.len() + tail.len()
                            && f.starts_with(&head)
                            && f.ends_with(&tail)
                            && !f[head.len()..f.len() - tail.len()].contains('/')
                    })
                })
                .cloned()
                .collect();
        }
        if !path.contains('/') {
            let suffix = format!("/{path}");
            return self
                .files
                .keys()
                .filter(|f| *f == path || f.ends_with(&suffix))
                .cloned()
                .collect();
        }
        ROOTS
            .iter()
            .map(|root| format!("{root}{path}"))
            .filter(|p| self.is_file(p))
            .collect()
    }
}

/// One broken reference: the doc, its line (1-based), and what is wrong.
#[derive(Debug, PartialEq)]
struct Broken {
    doc: String,
    line: usize,
    what: String,
}

/// Every broken reference in `text`, the contents of the doc at `doc` (a path from the root).
fn check_doc(tree: &Tree, doc: &str, text: &str) -> Vec<Broken> {
    let doc_dir = match doc.rfind('/') {
        Some(i) => &doc[..=i],
        None => "",
    };
    let mut broken = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut report = |what: String| {
            broken.push(Broken {
                doc: doc.to_string(),
                line: i + 1,
                what,
            })
        };
        let (rest, links) = take_links(line);
        for target in links {
            if let Some(what) = check_link(tree, doc_dir, &target) {
                report(what);
            }
        }
        for word in words(&rest) {
            let what = match split_path(word) {
                None if word.contains("::") => check_module_path(tree, word),
                _ => check_word(tree, word),
            };
            if let Some(what) = what {
                report(what);
            }
        }
        for (path, item) in items_in_prose(&rest) {
            if let Some(what) = check_item(tree, &path, &item) {
                report(what);
            }
        }
    }
    broken
}

/// The line with its link targets cut out, and the targets (`[x](target)` -> `target`).
fn take_links(line: &str) -> (String, Vec<String>) {
    let mut rest = String::new();
    let mut links = Vec::new();
    let mut s = line;
    while let Some(at) = s.find("](") {
        let after = &s[at + 2..];
        let Some(close) = after.find(')') else { break };
        rest.push_str(&s[..at + 1]);
        links.push(after[..close].trim().to_string());
        s = &after[close + 1..];
    }
    rest.push_str(s);
    (rest, links)
}

/// What is wrong with a link target, if anything.
fn check_link(tree: &Tree, doc_dir: &str, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
        return None;
    }
    let path = target.split('#').next().unwrap_or("");
    let path = path.split_whitespace().next().unwrap_or(""); // [x](path "title")
    let joined = normalize(&format!("{doc_dir}{path}"))?;
    if joined.starts_with("../") {
        return None;
    }
    if tree.is_file(&joined) || tree.is_dir(&joined) {
        None
    } else {
        Some(format!("link target `{target}` ({joined}) does not exist"))
    }
}

/// `a/b/../c` -> `a/c`; `None` for an empty path.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let trailing = if path.ends_with('/') { "/" } else { "" };
    (!parts.is_empty()).then(|| format!("{}{trailing}", parts.join("/")))
}

/// The words of a line that may be paths: runs of path characters (so backticks, brackets,
/// commas and spaces separate them), without trailing sentence punctuation.
fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_alphanumeric() || "_./:!-*".contains(c)))
        .map(|w| w.trim_end_matches(['.', ',', ':', '!', '-']))
        .filter(|w| !w.is_empty())
}

/// Splits `word` into a path and the item after it (`a.rs::f` -> (`a.rs`, `f`)), when the word
/// names a file with one of the checked extensions.
fn split_path(word: &str) -> Option<(&str, &str)> {
    for ext in SOURCE_EXTENSIONS.iter().chain(DATA_EXTENSIONS.iter()) {
        let dotted = format!(".{ext}");
        let mut from = 0;
        while let Some(at) = word[from..].find(&dotted) {
            let end = from + at + dotted.len();
            let next = word[end..].chars().next();
            if next.is_none() || next == Some(':') {
                let path = &word[..end];
                if DATA_EXTENSIONS.contains(ext) && !path.contains('/') {
                    return None;
                }
                return Some((path, word[end..].trim_start_matches(':')));
            }
            from = end;
        }
    }
    None
}

/// What is wrong with a word of the text, if it names a path or an item.
fn check_word(tree: &Tree, word: &str) -> Option<String> {
    // A run's outputs (under `runs/`, git-ignored, or after a placeholder folder such as
    // `<out>/`, which leaves a word starting with `/`) are not files of the repository.
    if word.contains("://")
        || word.starts_with("../")
        || word.starts_with("runs/")
        || word.starts_with('/')
    {
        return None;
    }
    if let Some((path, item)) = split_path(word) {
        if item.is_empty() {
            return tree
                .resolve(path)
                .is_empty()
                .then(|| format!("`{path}` does not exist"));
        }
        return check_item(tree, path, item);
    }
    if word.ends_with('/') && TOP_FOLDERS.iter().any(|top| word.starts_with(top)) {
        return (!tree.is_dir(word)).then(|| format!("folder `{word}` does not exist"));
    }
    None
}

/// What is wrong with `item` named as defined in `path`, if anything.
fn check_item(tree: &Tree, path: &str, item: &str) -> Option<String> {
    let files = tree.resolve(path);
    if files.is_empty() {
        return Some(format!("`{path}` does not exist"));
    }
    if let Ok(line) = item.parse::<usize>() {
        let ok = files
            .iter()
            .any(|f| line >= 1 && tree.files[f].lines().count() >= line);
        return (!ok).then(|| format!("`{path}` has no line {line}"));
    }
    let ok = files.iter().any(|f| defines(&tree.files[f], item));
    (!ok).then(|| format!("`{item}` is not defined in `{path}` ({})", files.join(", ")))
}

/// Whether `source` defines `item` (`name`, `name!` for a macro, or `Type::member`).
fn defines(source: &str, item: &str) -> bool {
    let item = item.trim_end_matches("()");
    let mut segments = item.split("::");
    let first = segments.next().unwrap_or("").trim_end_matches('!');
    if !defines_name(source, first) {
        return false;
    }
    segments.all(|s| defines_name(source, s) || has_variant(source, s))
}

/// Whether `source` has `kind name` for one of the [`DEFINERS`], as whole words.
fn defines_name(source: &str, name: &str) -> bool {
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return false;
    }
    DEFINERS.iter().any(|kind| {
        let needle = format!("{kind} {name}");
        source.match_indices(&needle).any(|(at, _)| {
            let before = source[..at].chars().next_back();
            let after = source[at + needle.len()..].chars().next();
            !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
        })
    })
}

/// Whether some line of `source` starts with `name` followed by `,`, `(` or `{`: an enum variant.
fn has_variant(source: &str, name: &str) -> bool {
    source.lines().any(|l| {
        l.trim_start()
            .strip_prefix(name)
            .is_some_and(|r| r.starts_with([',', '(', '{', ' ']))
    })
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Folders of the crates' sources, where modules and types of ours are looked for.
const SOURCE_ROOTS: [&str; 2] = ["autograd/src/", "src/"];

/// What is wrong with `a::b::c` (a module path or `Type::member`), if it is ours and broken.
fn check_module_path(tree: &Tree, word: &str) -> Option<String> {
    let segments: Vec<&str> = word.split("::").collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || !s.chars().all(is_ident_char))
    {
        return None;
    }
    let first = segments[0];
    if first.starts_with(char::is_uppercase) {
        return check_type_member(tree, word, first, segments.get(1)?);
    }
    let (mut module, mut rest) = match first {
        "autograd" => ("autograd/src/lib.rs".to_string(), &segments[1..]),
        _ => {
            let files: Vec<String> = SOURCE_ROOTS
                .iter()
                .flat_map(|root| {
                    let (file, dir) = (format!("/{first}.rs"), format!("/{first}/mod.rs"));
                    tree.files.keys().filter(move |f| {
                        f.starts_with(root) && (f.ends_with(&file) || f.ends_with(&dir))
                    })
                })
                .cloned()
                .collect();
            // Not one of ours (`rayon::join`), or ambiguous: not checked.
            let [file] = files.as_slice() else {
                return None;
            };
            (file.clone(), &segments[1..])
        }
    };
    while rest.len() > 1 {
        match submodule(tree, &module, rest[0]) {
            Some(file) => module = file,
            None => break,
        }
        rest = &rest[1..];
    }
    let item = rest.first()?;
    let source = &tree.files[&module];
    (!defines_name(source, item) && !imports(source, item))
        .then(|| format!("`{word}`: `{item}` is not defined or imported in `{module}`"))
}

/// The file of module `name` declared in the module file `module`, if it exists.
fn submodule(tree: &Tree, module: &str, name: &str) -> Option<String> {
    let dir = match module
        .strip_suffix("mod.rs")
        .or(module.strip_suffix("lib.rs"))
    {
        Some(dir) => dir.to_string(),
        None => format!("{}/", module.strip_suffix(".rs")?),
    };
    [format!("{dir}{name}.rs"), format!("{dir}{name}/mod.rs")]
        .into_iter()
        .find(|f| tree.is_file(f))
}

/// Whether some `use ...;` of `source` names `item` (as a whole word).
fn imports(source: &str, item: &str) -> bool {
    source.match_indices("use ").any(|(at, _)| {
        let before = source[..at].chars().next_back();
        if before.is_some_and(|c| !(c.is_whitespace() || c == ')')) {
            return false;
        }
        let stmt = &source[at..];
        let stmt = &stmt[..stmt.find(';').unwrap_or(stmt.len())];
        stmt.split(|c: char| !is_ident_char(c)).any(|w| w == item)
    })
}

/// What is wrong with `Type::member`, if `Type` is ours.
fn check_type_member(tree: &Tree, word: &str, ty: &str, member: &str) -> Option<String> {
    let ours = |f: &&String| SOURCE_ROOTS.iter().any(|r| f.starts_with(r));
    let type_kinds = ["struct", "enum", "trait", "type"];
    let defining: Vec<&String> = tree
        .files
        .keys()
        .filter(ours)
        .filter(|f| {
            type_kinds.iter().any(|k| {
                let src = &tree.files[*f];
                src.contains(&format!("{k} {ty} "))
                    || src.contains(&format!("{k} {ty}<"))
                    || src.contains(&format!("{k} {ty};"))
                    || src.contains(&format!("{k} {ty}("))
            })
        })
        .collect();
    if defining.is_empty() {
        return None; // `Vec::new`, `Instant::now`: not ours.
    }
    let found = tree.files.keys().filter(ours).any(|f| {
        let src = &tree.files[f];
        let impls = src.lines().any(|l| {
            l.trim_start().starts_with("impl")
                && l.split(|c: char| !is_ident_char(c)).any(|w| w == ty)
        });
        (impls || defining.contains(&f)) && (defines_name(src, member) || has_variant(src, member))
    });
    (!found).then(|| format!("`{word}`: `{member}` is not defined for `{ty}`"))
}

/// Items named in prose with their file: a run of backticked identifiers joined by `,`, `and`
/// or `or`, then "in `file.rs`" (`` `a`, `b` and `c` in `tests/x.rs` `` -> (x, a), (x, b), ...).
fn items_in_prose(line: &str) -> Vec<(String, String)> {
    let spans: Vec<(usize, usize)> = backtick_spans(line);
    let mut found = Vec::new();
    for (n, &(start, end)) in spans.iter().enumerate() {
        let path = &line[start + 1..end - 1];
        let Some((path, "")) = split_path(path) else {
            continue;
        };
        if !path.ends_with(".rs") {
            continue;
        }
        // (`file.rs`, `item`)
        if let Some(&(s, e)) = spans.get(n + 1) {
            let name = &line[s + 1..e - 1];
            if line[..start].ends_with('(')
                && line[end..s].trim() == ","
                && line[e..].starts_with(')')
                && !name.is_empty()
                && name.chars().all(is_ident_char)
            {
                found.push((path.to_string(), name.to_string()));
            }
        }
        if n == 0 {
            continue;
        }
        let (_, prev_end) = spans[n - 1];
        if line[prev_end..start].trim() != "in" {
            continue;
        }
        // Walk back over the run of names.
        let mut k = n;
        while k > 0 {
            let (s, e) = spans[k - 1];
            let name = &line[s + 1..e - 1];
            if !name.chars().all(is_ident_char) || name.is_empty() {
                break;
            }
            found.push((path.to_string(), name.to_string()));
            if k < 2 {
                break;
            }
            let gap = line[spans[k - 2].1..s].trim();
            if !matches!(gap, "," | "and" | ", and" | "or" | ", or") {
                break;
            }
            k -= 1;
        }
    }
    found
}

/// Byte ranges of the backticked spans of a line, backticks included.
fn backtick_spans(line: &str) -> Vec<(usize, usize)> {
    let ticks: Vec<usize> = line.match_indices('`').map(|(i, _)| i).collect();
    ticks.chunks_exact(2).map(|p| (p[0], p[1] + 1)).collect()
}

/// The docs the check reads: the README and `docs/*.md` except the log.
fn docs(root: &Path) -> Vec<String> {
    let mut docs = vec!["README.md".to_string()];
    let mut more: Vec<String> = fs::read_dir(root.join("docs"))
        .expect("read docs/")
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".md") && n != "KERNELS-LOG.md")
        .map(|n| format!("docs/{n}"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

#[test]
fn every_path_and_item_named_in_the_docs_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = Tree::load(root);
    let mut broken = Vec::new();
    let docs = docs(root);
    for doc in &docs {
        let text = fs::read_to_string(root.join(doc)).expect("read a doc");
        broken.extend(check_doc(&tree, doc, &text));
    }
    let list: Vec<String> = broken
        .iter()
        .map(|b| format!("{}:{}: {}", b.doc, b.line, b.what))
        .collect();
    assert!(
        list.is_empty(),
        "{} broken reference(s) in {}:\n{}",
        list.len(),
        docs.join(", "),
        list.join("\n")
    );
}

#[cfg(test)]
mod unit {
    use super::*;

    fn tree() -> Tree {
        Tree::from_pairs(&[
            (
                "autograd/src/kernels/pack.rs",
                "pub fn pack_a() {}\nstruct Panel;\n",
            ),
            (
                "autograd/src/kernels/auto.rs",
                "pub enum AutoChoice {\n    Small,\n    Dot,\n}\nconst TINY_N: usize = 16;\nmacro_rules! dispatch { () => {} }\n",
            ),
            (
                "autograd/tests/kernels.rs",
                "#[test]\nfn no_allocation_after_warm_up() {}\nfn other() {}\n",
            ),
            (
                "src/model.rs",
                "pub struct Vae;\nimpl Vae { pub fn loss(&self) {} }\n",
            ),
            (
                "autograd/src/lib.rs",
                "pub mod kernels;\npub use kernels::gemm;\n",
            ),
            (
                "autograd/src/kernels/mod.rs",
                "mod team;\npub use team::{\n    with_hot_workers,\n};\npub fn gemm() {}\n",
            ),
            (
                "autograd/src/kernels/team.rs",
                "pub fn with_hot_workers() {}\nfn spin() {}\n",
            ),
            ("docs/ENGINE.md", ""),
            ("docs/loss.png", ""),
            ("data/mnist/README.md", ""),
        ])
    }

    fn whats(doc: &str, text: &str) -> Vec<String> {
        check_doc(&tree(), doc, text)
            .into_iter()
            .map(|b| format!("{}: {}", b.line, b.what))
            .collect()
    }

    #[test]
    fn existing_paths_pass() {
        let text = "See `autograd/src/kernels/pack.rs`, `kernels/pack.rs`, `pack.rs`,\n\
                    `src/model.rs` and docs/ENGINE.md, the folder `data/mnist/`; \
                    `../shared/DESIGN.md` is outside.";
        assert_eq!(whats("README.md", text), Vec::<String>::new());
    }

    #[test]
    fn a_missing_path_fails_with_its_line() {
        let text = "fine `src/model.rs`\nbut `src/gone.rs` and `kernels/old.rs`.\n`data/fonts/`\n\
                    `kernels/*.rs` `src/*.rs` `src/*/x.rs`";
        assert_eq!(
            whats("README.md", text),
            [
                "2: `src/gone.rs` does not exist",
                "2: `kernels/old.rs` does not exist",
                "3: folder `data/fonts/` does not exist",
                "4: `src/*/x.rs` does not exist",
            ]
        );
    }

    #[test]
    fn data_files_need_a_slash_to_be_checked() {
        assert!(whats("README.md", "writes `loss.png` and `other.png`").is_empty());
        assert_eq!(
            whats("README.md", "see docs/other.png"),
            ["1: `docs/other.png` does not exist"]
        );
    }

    #[test]
    fn links_resolve_against_the_doc_folder() {
        assert!(whats("docs/KERNELS.md", "[e](ENGINE.md#tape) ![l](loss.png)").is_empty());
        assert!(whats("README.md", "[e](docs/ENGINE.md) [w](https://x.org/a.md)").is_empty());
        assert_eq!(
            whats("README.md", "![l](loss.png)"),
            ["1: link target `loss.png` (loss.png) does not exist"]
        );
    }

    #[test]
    fn items_named_with_their_file_are_looked_up() {
        let good = "`kernels.rs::no_allocation_after_warm_up`, `pack.rs:pack_a`, \
                    `auto.rs::AutoChoice::Dot`, `auto.rs::TINY_N`, `auto.rs::dispatch!`, \
                    `src/model.rs::Vae::loss`, `pack.rs:2`";
        assert_eq!(whats("README.md", good), Vec::<String>::new());
        let bad =
            "`tests/kernels.rs::gone`, `pack.rs:Panel2`, `auto.rs::AutoChoice::Big`, `pack.rs:9`";
        assert_eq!(
            whats("README.md", bad),
            [
                "1: `gone` is not defined in `tests/kernels.rs` (autograd/tests/kernels.rs)",
                "1: `Panel2` is not defined in `pack.rs` (autograd/src/kernels/pack.rs)",
                "1: `AutoChoice::Big` is not defined in `auto.rs` (autograd/src/kernels/auto.rs)",
                "1: `pack.rs` has no line 9",
            ]
        );
    }

    #[test]
    fn a_name_is_a_whole_word() {
        // `other` is defined; `othe` is only a prefix of it, `ther` a suffix.
        assert!(whats("README.md", "`kernels.rs::other`").is_empty());
        assert_eq!(
            whats("README.md", "`kernels.rs::othe` `kernels.rs::ther`").len(),
            2
        );
    }

    #[test]
    fn items_named_with_their_module_are_looked_up() {
        let good = "`kernels::gemm`, `autograd::kernels::with_hot_workers`, `team::spin`, \
                    `autograd::gemm`, `autograd::kernels`, `kernels::team::spin`, `Vae::loss`, \
                    `AutoChoice::Dot`, `rayon::join`, `f32::MAX`, `Vec::new`";
        assert_eq!(whats("README.md", good), Vec::<String>::new());
        let bad = "`kernels::gone`, `autograd::spin`, `kernels::team::gone`, `Vae::gone`";
        assert_eq!(
            whats("README.md", bad),
            [
                "1: `kernels::gone`: `gone` is not defined or imported in `autograd/src/kernels/mod.rs`",
                "1: `autograd::spin`: `spin` is not defined or imported in `autograd/src/lib.rs`",
                "1: `kernels::team::gone`: `gone` is not defined or imported in `autograd/src/kernels/team.rs`",
                "1: `Vae::gone`: `gone` is not defined for `Vae`",
            ]
        );
    }

    #[test]
    fn test_names_given_in_prose_with_their_file_are_looked_up() {
        let good = "(`no_allocation_after_warm_up` and `other` in `autograd/tests/kernels.rs`)";
        assert!(whats("README.md", good).is_empty());
        let bad = "(`other`, `missing` in `autograd/tests/kernels.rs`), `Small` (in `auto.rs`)";
        assert_eq!(
            whats("README.md", bad),
            [
                "1: `missing` is not defined in `autograd/tests/kernels.rs` (autograd/tests/kernels.rs)"
            ]
        );
        // A file and a name alone in parentheses; not when more follows.
        assert!(whats("README.md", "(`tests/kernels.rs`, `other`)").is_empty());
        assert!(
            whats(
                "README.md",
                "(`pack.rs`, `kernels.rs`) (`pack.rs`, `x` and more)"
            )
            .is_empty()
        );
        assert_eq!(
            whats(
                "README.md",
                "steady (`src/model.rs`, `no_allocation_after_warm_up`)."
            ),
            ["1: `no_allocation_after_warm_up` is not defined in `src/model.rs` (src/model.rs)"]
        );
    }

    #[test]
    fn the_repository_and_the_log_are_read() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let docs = docs(root);
        assert!(docs.contains(&"README.md".to_string()));
        assert!(docs.contains(&"docs/ENGINE.md".to_string()));
        assert!(!docs.iter().any(|d| d.ends_with("KERNELS-LOG.md")));
        let tree = Tree::load(root);
        assert!(tree.is_file("autograd/src/tape.rs"));
        assert!(!tree.files.keys().any(|f| f.starts_with("target/")));
    }
}
