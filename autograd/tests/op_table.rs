//! docs/OPS.md is the engine's op table, and every test it names exists.

use std::path::Path;

#[test]
fn docs_ops_md_matches_the_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/OPS.md")).expect("docs/OPS.md exists");
    assert_eq!(
        doc,
        autograd::ops::op_table_markdown(),
        "docs/OPS.md is out of date: run `cargo run --example op_table > docs/OPS.md`"
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
