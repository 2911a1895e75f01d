//! Turning raw bytes into source text, or into a typed reason why not.
//!
//! The repository walker and the dataset reader both end here, so a file skipped from a
//! checkout is skipped for the same reason when it arrives in a dataset.

use std::fmt;
use std::ops::Range;

/// How many leading bytes are searched for a NUL to call a file binary, as git does.
pub const BINARY_SNIFF_BYTES: usize = 8 * 1024;

/// Why a file (or dataset record) produced no units. Stored by [`SkipReason::as_str`]
/// in the `reason` column of `skipped.parquet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A NUL byte in the first [`BINARY_SNIFF_BYTES`].
    Binary,
    /// Larger than the configured file size limit.
    TooLarge,
    /// Not valid UTF-8 (after an optional byte-order mark).
    NotUtf8,
    /// Zero bytes, or only whitespace.
    Empty,
    /// No language could be detected from the name, extension or shebang.
    UnknownLanguage,
    /// Parsed, but held nothing but comments.
    NoCode,
    /// Reading failed (permissions, a directory that vanished, …).
    IoError,
    /// A symbolic link whose resolution loops.
    SymlinkLoop,
    /// A symbolic link to nothing.
    DanglingLink,
    /// A symbolic link to a target outside the repository root, not followed.
    LinkOutsideRoot,
    /// A symbolic link inside the root, not followed: its target is walked under its own path.
    LinkNotFollowed,
    /// A FIFO, socket or device: never opened, since reading a FIFO can block forever.
    NotRegularFile,
    /// Matched an exclude glob, or no include glob.
    Excluded,
    /// A dataset record without the path or content it needs.
    InvalidRecord,
    /// A `.ipynb` file that is not a notebook hearth reads (not JSON, or no cells).
    InvalidNotebook,
    /// Written by a tool, not by hand: a lock file, a code generator's output, a minified
    /// bundle, or marked `linguist-generated` (see `generated.rs`).
    Generated,
    /// Marked `linguist-vendored` in the repository's `.gitattributes`.
    Vendored,
}

impl SkipReason {
    /// The value stored in the `reason` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::TooLarge => "too_large",
            SkipReason::NotUtf8 => "not_utf8",
            SkipReason::Empty => "empty",
            SkipReason::UnknownLanguage => "unknown_language",
            SkipReason::NoCode => "no_code",
            SkipReason::IoError => "io_error",
            SkipReason::SymlinkLoop => "symlink_loop",
            SkipReason::DanglingLink => "dangling_link",
            SkipReason::LinkOutsideRoot => "link_outside_root",
            SkipReason::LinkNotFollowed => "link_not_followed",
            SkipReason::NotRegularFile => "not_regular_file",
            SkipReason::Excluded => "excluded",
            SkipReason::InvalidRecord => "invalid_record",
            SkipReason::InvalidNotebook => "invalid_notebook",
            SkipReason::Generated => "generated",
            SkipReason::Vendored => "vendored",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A skip with an optional human-readable detail (the I/O error, the link target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The typed reason.
    pub reason: SkipReason,
    /// More about it, when there is more to say.
    pub detail: Option<String>,
}

impl Skip {
    pub(crate) fn new(reason: SkipReason) -> Skip {
        Skip { reason, detail: None }
    }

    pub(crate) fn with_detail(reason: SkipReason, detail: impl Into<String>) -> Skip {
        Skip { reason, detail: Some(detail.into()) }
    }

    pub(crate) fn too_large(limit: u64) -> Skip {
        Skip::with_detail(SkipReason::TooLarge, format!("over the {limit} byte limit"))
    }
}

/// Decodes `bytes` into source text: rejects binary and invalid UTF-8, strips a UTF-8
/// byte-order mark and turns CRLF line endings into LF.
///
/// Normalising line endings is what keeps `content_hash` and `unit_id` equal between a
/// Windows checkout (autocrlf) and a Linux one of the same commit.
pub fn decode(bytes: Vec<u8>) -> Result<String, Skip> {
    let sniff = &bytes[..bytes.len().min(BINARY_SNIFF_BYTES)];
    if sniff.contains(&0) {
        return Err(Skip::new(SkipReason::Binary));
    }
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let at = err.utf8_error().valid_up_to();
            return Err(Skip::with_detail(SkipReason::NotUtf8, format!("invalid UTF-8 at byte {at}")));
        }
    };
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    if text.contains("\r\n") {
        text = text.replace("\r\n", "\n");
    }
    if text.trim().is_empty() {
        return Err(Skip::new(SkipReason::Empty));
    }
    Ok(text)
}

/// `range` of `text` without the whitespace at its ends: where a unit cut from a stretch
/// of a file starts and ends.
pub(crate) fn trimmed(text: &str, range: Range<usize>) -> Range<usize> {
    let stretch = &text[range.clone()];
    let start = range.start + stretch.len() - stretch.trim_start().len();
    start..start + stretch.trim().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(bytes: &[u8]) -> SkipReason {
        decode(bytes.to_vec()).unwrap_err().reason
    }

    #[test]
    fn classifies_bad_bytes() {
        assert_eq!(reason(b"abc\0def"), SkipReason::Binary);
        assert_eq!(reason(b"caf\xe9"), SkipReason::NotUtf8);
        assert_eq!(reason(b""), SkipReason::Empty);
        assert_eq!(reason(b" \n\t\r\n"), SkipReason::Empty);
        assert_eq!(reason(b"\xef\xbb\xbf"), SkipReason::Empty);
    }

    #[test]
    fn a_nul_past_the_sniff_window_is_not_binary() {
        let mut bytes = vec![b'a'; BINARY_SNIFF_BYTES];
        bytes.push(0);
        assert!(decode(bytes).is_ok());
    }

    #[test]
    fn strips_bom_and_normalises_crlf() {
        assert_eq!(decode(b"\xef\xbb\xbfa\r\nb\r\n".to_vec()).unwrap(), "a\nb\n");
        assert_eq!(decode(b"a\rb".to_vec()).unwrap(), "a\rb");
    }
}
