//! Request input on its way to a log line: escaped and cut short.
//!
//! A query parameter, a form field or a claim printed as it came would let whoever sent it
//! write into the log: a newline forges a log record, control characters reach a terminal,
//! and a megabyte fills the disk. Every log call that prints input prints [`Logged`] instead.

use std::fmt;

/// How many characters of an input a log line shows.
const MAX_CHARS: usize = 200;

/// `text` for a log line: control characters, quotes and backslashes escaped as in Rust
/// string literals, at most 200 characters, an ellipsis when cut.
pub(crate) struct Logged<'a>(pub(crate) &'a str);

impl fmt::Display for Logged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (shown, cut) = match self.0.char_indices().nth(MAX_CHARS) {
            Some((end, _)) => (&self.0[..end], true),
            None => (self.0, false),
        };
        write!(f, "{}", shown.escape_debug())?;
        if cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_controls_are_escaped_and_long_input_is_cut() {
        let forged = "x\nINFO admin signed in\r\u{1b}[31m\"";
        let shown = Logged(forged).to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r') && !shown.contains('\u{1b}'));
        assert_eq!(shown, r#"x\nINFO admin signed in\r\u{1b}[31m\""#);
        let long = "é".repeat(1000);
        assert_eq!(Logged(&long).to_string().chars().count(), MAX_CHARS + 1);
    }
}
