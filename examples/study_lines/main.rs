//! Prints the study-path line count of each Rust file given (lines that are not blank, not
//! comments and not inside `#[cfg(test)]` items; see `count.rs`), as rows for the table of
//! `docs/READING.md`, and their total.
//!
//! ```sh
//! cargo run --example study_lines -- autograd/src/tape.rs autograd/src/grads.rs
//! ```
//!
//! `tests/study_path.rs` counts the files READING.md lists the same way and checks the stated
//! figures.

mod count;

use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: study_lines FILE.rs [FILE.rs ...]");
        return ExitCode::FAILURE;
    }
    let mut total = 0;
    for path in &paths {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let n = count::count_code_lines(&text);
                total += n;
                println!("| `{path}` | {n} | |");
            }
            Err(e) => {
                eprintln!("study_lines: cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("Total: {total} lines");
    ExitCode::SUCCESS
}
