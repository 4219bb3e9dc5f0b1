//! docs/OPS.md is the engine's op table, and every test it names exists.

use std::path::Path;

#[test]
fn docs_ops_md_matches_the_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/OPS.md")).expect("docs/OPS.md exists");
    let code = autograd::ops::op_table_markdown();
    // Name the rows that differ, so that a reader who added an op sees what is missing.
    let missing: Vec<&str> = code
        .lines()
        .filter(|l| !doc.lines().any(|d| d == *l))
        .collect();
    let stale: Vec<&str> = doc
        .lines()
        .filter(|l| !code.lines().any(|c| c == *l))
        .collect();
    assert!(
        doc == code,
        "docs/OPS.md is out of date: run `cargo run --example op_table > docs/OPS.md`\n\
         rows the code has and the doc lacks:\n{}\nrows the doc has and the code lacks:\n{}",
        missing.join("\n"),
        stale.join("\n")
    );
}

#[test]
fn every_named_test_exists() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for row in autograd::ops::op_table() {
        let (file, func) = row.test.split_once("::").expect("file::function");
        let src = std::fs::read_to_string(tests.join(file))
            .unwrap_or_else(|e| panic!("{}: {file}: {e}", row.name));
        assert!(
            src.contains(&format!("fn {func}(")),
            "{}: no test {func} in {file}",
            row.name
        );
    }
}
