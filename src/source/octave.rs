//! GNU Octave's dialect of MATLAB, read by the MATLAB grammar.
//!
//! Octave runs most MATLAB code and adds syntax of its own that tree-sitter-matlab
//! reads as errors: `#` comments (and `#{ … #}` blocks), `endfunction`, `endif` and
//! the other `end…` keywords, and `!`/`!=` for not. A course's or a lab's `.m` files
//! are often written for Octave. So the parser reads a copy of the file of the same
//! length in MATLAB's spelling: `#` as `%`, each `end…` keyword as `end` and spaces,
//! `!` as `~`. Strings and comments are left as they are. MATLAB code has none of
//! these outside its strings and comments (a `!` starting a line, MATLAB's shell
//! escape, is read as a `~` expression: an error there either way), so every `.m`
//! file is read this way.

use std::borrow::Cow;

/// Octave's block endings, each read as MATLAB's `end`.
const ENDINGS: [&str; 8] = ["endfunction", "endif", "endwhile", "endfor", "endparfor", "endswitch", "end_try_catch", "end_unwind_protect"];

/// `text` in MATLAB's spelling, byte for byte the same length; borrowed when it is
/// MATLAB's already.
pub(crate) fn as_matlab(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut replace = |at: usize, with: &[u8]| out.get_or_insert_with(|| bytes.to_vec())[at..at + with.len()].copy_from_slice(with);
    let mut i = 0;
    // Whether a value just ended, to tell a transpose (`x'`) from a string (`disp('a')`,
    // `['a' 'b']`, `disp 'a'`: a quote after a space opens one).
    let mut after_value = false;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'%' | b'#' => {
                if c == b'#' {
                    replace(i, b"%");
                }
                i = line_end(bytes, i);
                after_value = false;
            }
            b'\'' if after_value => i += 1, // transpose
            b'\'' | b'"' => {
                i = string_end(bytes, i);
                after_value = true;
            }
            b'!' => {
                replace(i, b"~");
                i += 1;
                after_value = false;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                // Spaces first: the `end` then ends where the keyword did, as a unit must.
                if ENDINGS.contains(&word) {
                    let mut end = vec![b' '; word.len() - 3];
                    end.extend_from_slice(b"end");
                    replace(start, &end);
                }
                after_value = true;
            }
            c if c.is_ascii_digit() || matches!(c, b')' | b']' | b'}' | b'.') => {
                i += 1;
                after_value = true;
            }
            _ => {
                i += 1;
                after_value = false;
            }
        }
    }
    match out {
        Some(out) => Cow::Owned(String::from_utf8(out).expect("only ASCII bytes were replaced, each by an ASCII byte")),
        None => Cow::Borrowed(text),
    }
}

/// The index of the newline ending the line at `i` (or the end).
fn line_end(bytes: &[u8], i: usize) -> usize {
    bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |at| i + at)
}

/// Just past the string opening at `i`: a doubled quote is one inside it, and in a
/// double-quoted one (Octave's) a backslash escapes. A string ends with its line.
fn string_end(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() && bytes[j] != b'\n' {
        if quote == b'"' && bytes[j] == b'\\' {
            j += 2;
            continue;
        }
        if bytes[j] == quote {
            if bytes.get(j + 1) == Some(&quote) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octave_syntax_is_spelled_as_matlab_outside_strings_and_comments() {
        let octave = "## -*- texinfo -*-\nfunction r = f(x) # trailing\n  if x != 1 && !done\n    r = x' * 2;\n    s = 'it''s # not a comment';\n    t = \"say \\\"#\\\"\";\n  endif\nendfunction\n";
        let matlab = as_matlab(octave);
        assert_eq!(matlab.len(), octave.len());
        assert_eq!(
            matlab,
            "%# -*- texinfo -*-\nfunction r = f(x) % trailing\n  if x ~= 1 && ~done\n    r = x' * 2;\n    s = 'it''s # not a comment';\n    t = \"say \\\"#\\\"\";\n    end\n        end\n"
        );
    }

    #[test]
    fn matlab_is_left_as_written() {
        let matlab = "function r = f(x)\n% help # text\n  r = [x' 'a#'] + 'b!';\n  if r ~= 1, disp(\"50% done!\"); end\nend\n";
        assert!(matches!(as_matlab(matlab), Cow::Borrowed(_)));
    }
}
