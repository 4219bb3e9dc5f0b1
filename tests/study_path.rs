//! The study path cannot drift: `docs/READING.md` lists the files of the reading order, each
//! with its line count, and this test counts them again.
//!
//! Format of READING.md read here: every table row whose first cell is a backticked path ending
//! in `.rs` is a file of the study path, and its second cell is the file's stated line count
//! (`| `autograd/src/tape.rs` | 312 | what to look for |`). Counted are the lines that are not
//! blank, not comments and not inside `#[cfg(test)]` items (`examples/study_lines/count.rs`,
//! shared with `cargo run --example study_lines -- FILES`, which prints such rows). Optional
//! lines `Total: N lines` (the sum) and `Budget: N lines` (the most the sum may be) are checked
//! too when present. Run with `--nocapture` to see the counts.

#[path = "../examples/study_lines/count.rs"]
mod count;

use std::path::Path;

/// A file of the study path as READING.md states it.
#[derive(Debug, PartialEq)]
struct Row {
    line: usize,
    path: String,
    stated: usize,
}

/// The study-path rows of a READING.md text, or the first malformed row (line and why).
fn rows(text: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cells: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        // `| a | b |` splits into "", "a", "b", "".
        if cells.len() < 4 || !cells[0].is_empty() {
            continue;
        }
        let Some(path) = cells[1]
            .strip_prefix('`')
            .and_then(|c| c.strip_suffix('`'))
            .filter(|p| p.ends_with(".rs"))
        else {
            continue;
        };
        let stated = cells[2].replace(',', "").parse().map_err(|_| {
            format!(
                "line {}: `{path}` has no line count in its second cell ({:?})",
                i + 1,
                cells[2]
            )
        })?;
        rows.push(Row {
            line: i + 1,
            path: path.to_string(),
            stated,
        });
    }
    Ok(rows)
}

/// The `N` of a line `<label>: N lines` (bold or not), if READING.md has one.
fn stated_figure(text: &str, label: &str) -> Option<usize> {
    text.lines().find_map(|line| {
        let rest = line.trim().trim_matches('*').strip_prefix(label)?;
        let rest = rest.strip_prefix(':')?.trim().trim_matches('*');
        rest.strip_suffix("lines")?
            .trim()
            .replace(',', "")
            .parse()
            .ok()
    })
}

#[test]
fn reading_md_states_each_files_line_count() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/READING.md")).expect("docs/READING.md");
    let rows = rows(&text).unwrap_or_else(|e| panic!("docs/READING.md: {e}"));
    assert!(!rows.is_empty(), "docs/READING.md lists no `.rs` files");
    let mut wrong = Vec::new();
    let mut total = 0;
    for row in &rows {
        let source = std::fs::read_to_string(root.join(&row.path))
            .unwrap_or_else(|e| panic!("docs/READING.md:{}: {}: {e}", row.line, row.path));
        let counted = count::count_code_lines(&source);
        total += counted;
        println!("{counted:>6}  {}", row.path);
        if counted != row.stated {
            wrong.push(format!(
                "docs/READING.md:{}: `{}` states {} lines, counts {counted}",
                row.line, row.path, row.stated
            ));
        }
    }
    println!("{total:>6}  total over {} files", rows.len());
    if let Some(stated) = stated_figure(&text, "Total")
        && stated != total
    {
        wrong.push(format!(
            "docs/READING.md: `Total: {stated} lines`, counts {total}"
        ));
    }
    if let Some(budget) = stated_figure(&text, "Budget")
        && total > budget
    {
        wrong.push(format!(
            "the study path counts {total} lines, over its budget of {budget}"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn rows_are_read_from_tables_whose_first_cell_is_a_source_path() {
    let text = "# Reading\n\n| file | lines | look for |\n|---|---|---|\n\
                | `autograd/src/tape.rs` | 312 | the tape |\n| `docs/ENGINE.md` | 9 | not code |\n\
                | `src/model.rs` | 1,024 | the VAE |\nText with `a.rs` | 3 |\n";
    assert_eq!(
        rows(text).unwrap(),
        [
            Row {
                line: 5,
                path: "autograd/src/tape.rs".into(),
                stated: 312
            },
            Row {
                line: 7,
                path: "src/model.rs".into(),
                stated: 1024
            },
        ]
    );
    assert_eq!(
        rows("| `a.rs` | many | x |").unwrap_err(),
        "line 1: `a.rs` has no line count in its second cell (\"many\")"
    );
}

#[test]
fn total_and_budget_lines_are_read() {
    let text = "Intro.\n**Total: 1,940 lines**\nBudget: 2000 lines\nTotal lines: 5\n";
    assert_eq!(stated_figure(text, "Total"), Some(1940));
    assert_eq!(stated_figure(text, "Budget"), Some(2000));
    assert_eq!(stated_figure("no figures", "Budget"), None);
}
