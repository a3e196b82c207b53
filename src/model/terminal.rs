//! Text that came from outside (a summary file, a client's stderr, an exporter's
//! resource) made safe for a terminal or a log: a summary or a client could otherwise
//! move the cursor, retitle the window, hide lines or forge log lines with escape
//! sequences and control characters. Removes C0 controls but newline and tab, DEL, C1
//! controls, and whole ESC sequences (CSI, OSC/DCS-style strings, two-character ones).

/// `s` without control characters or escape sequences; newlines and tabs stay.
pub fn clean(s: &str) -> String {
    if !s.chars().any(is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\x1b' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte.
                Some('[') => {
                    for d in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&d) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: a string up to BEL or ESC \.
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(d) = chars.next() {
                        if d == '\x07' {
                            break;
                        }
                        if d == '\x1b' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                // A two-character sequence (or a lone ESC at the end).
                _ => {}
            },
            c if is_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// `clean`, on one line: newlines and tabs become spaces.
pub fn clean_line(s: &str) -> String {
    clean(s).replace(['\n', '\t'], " ")
}

fn is_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\x1b'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_go_text_stays() {
        assert_eq!(clean("plain text, ünïcode\n\tok"), "plain text, ünïcode\n\tok");
        assert_eq!(clean("\x1b[31mred\x1b[0m"), "red");
        assert_eq!(clean("a\x1b]0;pwned title\x07b"), "ab");
        assert_eq!(clean("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b"), "alinkb");
        assert_eq!(clean("a\x1bcb"), "ab");
        assert_eq!(clean("line\rfake\x08\x7f\u{9b}2J\u{85}end\x1b"), "linefake2Jend");
        assert_eq!(clean_line("one\ntwo\tthree"), "one two three");
    }
}
