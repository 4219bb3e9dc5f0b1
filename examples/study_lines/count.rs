//! The study path's line count: the lines of a Rust source file that a reader has to read as
//! code. Shared by `examples/study_lines` (which prints the counts of the files it is given) and
//! `tests/study_path.rs` (which checks the counts `docs/READING.md` states).
//!
//! A line counts when it holds code outside comments and is not part of a `#[cfg(test)]` item.
//! Not counted:
//!
//! * blank lines;
//! * comment lines: `//`, `///` and `//!` lines, and lines wholly inside `/* ... */` (nested
//!   block comments are followed). A line with code and a trailing comment counts;
//! * a `#[cfg(test)]` attribute and the item it annotates: through the end of the braces the
//!   item opens (a `mod tests { ... }`), or through its `;` when it has no braces
//!   (`#[cfg(test)] use ...;`).
//!
//! Braces, `//` and `/*` inside string and character literals are ignored, strings spanning
//! lines included. Raw strings (`r#"..."#`) are read as ordinary strings, which is right unless
//! they contain a `"`; `#[cfg(test)]` is recognised only as written, at the start of a line
//! (`#[cfg(all(test, ...))]` items are counted).

/// The number of lines of `source` that count (see the module doc).
pub fn count_code_lines(source: &str) -> usize {
    let mut scan = Scanner::default();
    let mut test_item: Option<TestItem> = None;
    let mut count = 0;
    for line in source.lines() {
        let starts_test_item = scan.block_depth == 0
            && !scan.in_string
            && line.trim_start().starts_with("#[cfg(test)]");
        let facts = scan.line(line);
        if starts_test_item && test_item.is_none() {
            test_item = Some(TestItem::default());
        }
        match test_item.as_mut() {
            Some(item) => {
                if item.advance(&facts) {
                    test_item = None;
                }
            }
            None => count += usize::from(facts.code),
        }
    }
    count
}

/// What one line holds, outside comments and literals.
#[derive(Default)]
struct LineFacts {
    /// Any code at all.
    code: bool,
    /// `{` and `}` in code, in order (`+1` / `-1`), and `;` (`0`).
    marks: Vec<i32>,
}

/// The state carried from line to line.
#[derive(Default)]
struct Scanner {
    /// Nesting depth of `/* */` comments.
    block_depth: usize,
    /// Inside a string literal.
    in_string: bool,
}

impl Scanner {
    fn line(&mut self, line: &str) -> LineFacts {
        let mut facts = LineFacts::default();
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let next = b.get(i + 1).copied();
            if self.block_depth > 0 {
                if c == b'*' && next == Some(b'/') {
                    self.block_depth -= 1;
                    i += 2;
                } else if c == b'/' && next == Some(b'*') {
                    self.block_depth += 1;
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            if self.in_string {
                facts.code = true;
                match c {
                    b'\\' => i += 2,
                    b'"' => {
                        self.in_string = false;
                        i += 1;
                    }
                    _ => i += 1,
                }
                continue;
            }
            match (c, next) {
                (b'/', Some(b'/')) => break,
                (b'/', Some(b'*')) => {
                    self.block_depth = 1;
                    i += 2;
                    continue;
                }
                _ => {}
            }
            if !c.is_ascii_whitespace() {
                facts.code = true;
            }
            match c {
                b'"' => self.in_string = true,
                b'\'' => i += char_literal_len(&b[i..]).saturating_sub(1),
                b'{' => facts.marks.push(1),
                b'}' => facts.marks.push(-1),
                b';' => facts.marks.push(0),
                _ => {}
            }
            i += 1;
        }
        facts
    }
}

/// The length in bytes of the character literal at the start of `s` (`'x'`, `'\n'`,
/// `'\u{7f}'`, `'é'`), or 0 when the quote starts a lifetime or a label.
fn char_literal_len(s: &[u8]) -> usize {
    if s.get(1) == Some(&b'\\') {
        return s[2..].iter().position(|&c| c == b'\'').map_or(0, |p| p + 3);
    }
    // One character of 1 to 4 UTF-8 bytes, then the closing quote.
    (2..=5)
        .find(|&end| s.get(end) == Some(&b'\'') && std::str::from_utf8(&s[1..end]).is_ok())
        .filter(|&end| std::str::from_utf8(&s[1..end]).is_ok_and(|t| t.chars().count() == 1))
        .map_or(0, |end| end + 1)
}

/// Progress through a `#[cfg(test)]` item: brace depth, and whether its braces have opened.
#[derive(Default)]
struct TestItem {
    depth: i32,
    opened: bool,
}

impl TestItem {
    /// Takes one more line of the item; true when the item ends on it.
    fn advance(&mut self, facts: &LineFacts) -> bool {
        for &mark in &facts.marks {
            match mark {
                0 if !self.opened => return true,
                0 => {}
                d => {
                    self.depth += d;
                    self.opened = true;
                    if self.depth <= 0 {
                        return true;
                    }
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::count_code_lines;

    #[test]
    fn blank_and_comment_lines_do_not_count() {
        let src = "//! Module doc.\n\n/// Item doc.\nfn f() {\n    // note\n    let x = 1; // trailing\n}\n";
        // `fn f() {`, `let x = 1;`, `}`.
        assert_eq!(count_code_lines(src), 3);
    }

    #[test]
    fn block_comments_nest_and_code_around_them_counts() {
        let src = "/* one\n   two /* nested */\n   three */\nlet a = 1; /* tail\n */ let b = 2;\n/* x */\n";
        // `let a` and `*/ let b`.
        assert_eq!(count_code_lines(src), 2);
    }

    #[test]
    fn a_cfg_test_module_does_not_count() {
        let src = "fn f() {}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn t() {\n        if true { f() }\n    }\n}\nfn g() {}\n";
        assert_eq!(count_code_lines(src), 2);
    }

    #[test]
    fn a_cfg_test_item_without_braces_ends_at_its_semicolon() {
        let src = "#[cfg(test)]\nuse std::fmt;\nfn f() {}\n#[cfg(test)]\n#[allow(unused)]\nmod helpers;\nfn g() {}\n";
        assert_eq!(count_code_lines(src), 2);
    }

    #[test]
    fn literals_hide_braces_and_comment_markers() {
        let src = "#[cfg(test)]\nmod t {\n    const S: &str = \"}\";\n    const C: char = '}';\n    const U: &str = \"/* // \\\" }\";\n}\nfn f<'a>(x: &'a str) -> char { '{' }\nconst M: &str = \"line one\n// not a comment\";\n";
        // The module ends at its own `}`, not at the ones in its literals; then `fn f`, and the
        // two lines of `M`.
        assert_eq!(count_code_lines(src), 3);
    }

    #[test]
    fn cfg_test_inside_a_comment_is_not_an_attribute() {
        let src = "/*\n#[cfg(test)]\n*/\nfn f() {}\n// #[cfg(test)]\nfn g() {}\n";
        assert_eq!(count_code_lines(src), 2);
    }
}
