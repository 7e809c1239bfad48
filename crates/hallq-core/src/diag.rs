//! Located diagnostics for files an operator writes (hall config, calendars).
//!
//! Every error an operator can cause in a file must say where: file, line, column and the
//! dotted path of the field (`hall[1].window[0].services[2]`), plus what would be accepted.
//! Loaders keep byte spans while parsing and turn them into a `SourceError` here, once.

use std::fmt;
use std::ops::Range;

/// One problem in one file, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The file as the operator named it (or `<embedded demo config>`).
    pub file: String,
    /// 1-based line; 0 when the problem has no position (a missing top-level table).
    pub line: usize,
    /// 1-based column in characters; 0 when unknown.
    pub column: usize,
    /// Dotted path of the offending field, e.g. `hall[0].service[2].prefix`.
    pub field: String,
    /// What is wrong and, where possible, what would be accepted.
    pub message: String,
}

impl SourceError {
    /// An error located at `span` (byte offsets into `source`).
    pub fn at(
        file: &str,
        source: &str,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = span.map_or((0, 0), |s| line_col(source, s.start));
        SourceError {
            file: file.to_owned(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}", self.file)?,
            (l, 0) => write!(f, "{}:{l}", self.file)?,
            (l, c) => write!(f, "{}:{l}:{c}", self.file)?,
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SourceError {}

/// All problems found in one pass over a file, so the operator fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceErrors(pub Vec<SourceError>);

impl fmt::Display for SourceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceErrors {}

impl From<SourceError> for SourceErrors {
    fn from(e: SourceError) -> Self {
        SourceErrors(vec![e])
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `source`.
pub fn line_col(source: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(source.len());
    while !source.is_char_boundary(at) {
        at -= 1;
    }
    let before = &source[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Turn a `toml` parse or type error into a located error. The toml crate's message names
/// the key when serde knows it; the span gives the position.
pub fn from_toml(file: &str, source: &str, err: &toml::de::Error) -> SourceError {
    SourceError::at(
        file,
        source,
        err.span(),
        String::new(),
        err.message().trim().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let src = "a = 1\n名称 = \"x\"\nb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        let at = src.find('=').unwrap();
        assert_eq!(line_col(src, at), (1, 3));
        let at = src.find("\"x\"").unwrap();
        assert_eq!(line_col(src, at), (2, 6));
        let at = src.find('b').unwrap();
        assert_eq!(line_col(src, at), (3, 1));
    }

    #[test]
    fn display_names_file_line_column_and_field() {
        let src = "x = 1\ny = 2\n";
        let e = SourceError::at("f.toml", src, Some(6..7), "y", "must be a string");
        assert_eq!(e.to_string(), "f.toml:2:1: y: must be a string");
    }
}
