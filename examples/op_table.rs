//! Prints the op table (every op, its forward, its backward rule, the test that checks it) as
//! Markdown; `docs/OPS.md` is this output.
//!
//!     cargo run --example op_table > docs/OPS.md

fn main() {
    print!("{}", autograd::ops::op_table_markdown());
}
