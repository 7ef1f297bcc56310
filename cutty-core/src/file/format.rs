//! The accepted file formats, the declared `Content-Type`, and content sniffing.

use std::fmt;

use crate::error::{Error, ErrorCode};

/// One accepted file format. Every stored file has exactly one, and its `content_type` is
/// always the canonical [`FileFormat::mime`] string.
///
/// | format | `content_type` | the content must be |
/// |---|---|---|
/// | [`Csv`](Self::Csv) | `text/csv` | UTF-8 text (BOM allowed), no NUL byte |
/// | [`PlainText`](Self::PlainText) | `text/plain` | UTF-8 text (BOM allowed), no NUL byte |
/// | [`Json`](Self::Json) | `application/json` | UTF-8 text that parses as one JSON value |
/// | [`Pdf`](Self::Pdf) | `application/pdf` | starts with `%PDF-` |
/// | [`Png`](Self::Png) | `image/png` | the PNG signature, then the `IHDR` chunk |
/// | [`Jpeg`](Self::Jpeg) | `image/jpeg` | starts with `FF D8 FF` |
///
/// Empty content is accepted only as CSV or plain text.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileFormat {
    /// `text/csv`.
    Csv,
    /// `text/plain`.
    PlainText,
    /// `application/json`.
    Json,
    /// `application/pdf`.
    Pdf,
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_MAGIC: &[u8] = b"\xFF\xD8\xFF";
const PDF_MAGIC: &[u8] = b"%PDF-";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Declared types that name an accepted format by another name. The stored type is always
/// the canonical one.
const ALIASES: &[(&str, FileFormat)] = &[
    ("application/csv", FileFormat::Csv),
    ("text/x-csv", FileFormat::Csv),
    ("text/comma-separated-values", FileFormat::Csv),
    ("image/jpg", FileFormat::Jpeg),
    ("image/pjpeg", FileFormat::Jpeg),
];

/// Declared types that say nothing about the content: the format is then taken from the
/// file name's extension, or sniffed. `application/vnd.ms-excel` is what browsers on Windows
/// send for any `.csv` file.
const UNDECLARED: &[&str] = &["application/octet-stream", "application/vnd.ms-excel"];

impl FileFormat {
    /// Every format, in a fixed order.
    pub const ALL: [FileFormat; 6] = [
        Self::Csv,
        Self::PlainText,
        Self::Json,
        Self::Pdf,
        Self::Png,
        Self::Jpeg,
    ];

    /// The canonical media type, e.g. `"text/csv"`.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::PlainText => "text/plain",
            Self::Json => "application/json",
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }

    /// The `Content-Type` to send with the bytes: the media type, with `charset=utf-8` for
    /// the text formats.
    pub const fn content_type_header(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::PlainText => "text/plain; charset=utf-8",
            other => other.mime(),
        }
    }

    /// Whether the content is UTF-8 text.
    pub const fn is_text(self) -> bool {
        matches!(self, Self::Csv | Self::PlainText | Self::Json)
    }

    /// The format whose canonical [`mime`](Self::mime) is exactly `s` (stores read their
    /// column back with this).
    pub fn from_mime(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.mime() == s)
    }

    /// The format a (lower-case) file extension names: `csv`, `txt`, `json`, `pdf`, `png`,
    /// `jpg`, `jpeg`.
    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext {
            "csv" => Self::Csv,
            "txt" => Self::PlainText,
            "json" => Self::Json,
            "pdf" => Self::Pdf,
            "png" => Self::Png,
            "jpg" | "jpeg" => Self::Jpeg,
            _ => return None,
        })
    }

    /// Parses a declared `Content-Type` (a request header or a multipart part's).
    ///
    /// `Ok(None)` when nothing was declared: the header is absent or empty, or it is one of
    /// the types that carry no information (`application/octet-stream`, and
    /// `application/vnd.ms-excel` that Windows browsers send for `.csv` files). The media
    /// type is matched case-insensitively, with a few aliases (`application/csv`,
    /// `text/x-csv`, `text/comma-separated-values`, `image/jpg`, `image/pjpeg`). For the
    /// text formats a `charset` parameter, if present, must be `utf-8` or `us-ascii`; other
    /// parameters are ignored. Anything else is `415 FILE_005`.
    pub fn parse_declared(content_type: Option<&str>) -> Result<Option<Self>, Error> {
        let Some(value) = content_type else {
            return Ok(None);
        };
        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if essence.is_empty() || UNDECLARED.contains(&essence.as_str()) {
            return Ok(None);
        }
        let format = Self::ALL
            .into_iter()
            .find(|f| f.mime() == essence)
            .or_else(|| {
                ALIASES
                    .iter()
                    .find(|(alias, _)| *alias == essence)
                    .map(|(_, f)| *f)
            })
            .ok_or(Error::Code(ErrorCode::InvalidFileFormat))?;
        if format.is_text() {
            for param in parts {
                let Some((name, val)) = param.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("charset") {
                    let val = val.trim().trim_matches('"');
                    let utf8 = ["utf-8", "utf8", "us-ascii"]
                        .iter()
                        .any(|ok| val.eq_ignore_ascii_case(ok));
                    if !utf8 {
                        return Err(Error::Code(ErrorCode::InvalidFileFormat));
                    }
                }
            }
        }
        Ok(Some(format))
    }

    /// The magic bytes the content must start with, for the binary formats.
    const fn magic(self) -> &'static [u8] {
        match self {
            Self::Pdf => PDF_MAGIC,
            Self::Png => PNG_SIGNATURE,
            Self::Jpeg => JPEG_MAGIC,
            Self::Csv | Self::PlainText | Self::Json => b"",
        }
    }

    /// Whether `head`, the first bytes received so far, already rules this format out.
    /// Lets an upload be refused before it is read to the end.
    pub fn rules_out(self, head: &[u8]) -> bool {
        let magic = self.magic();
        let n = magic.len().min(head.len());
        magic.get(..n) != head.get(..n)
    }

    /// Whether `content`, in full, is a file of this format (see the table above).
    pub fn matches(self, content: &[u8]) -> bool {
        match self {
            Self::Csv | Self::PlainText => text(content).is_some(),
            Self::Json => text(content)
                .is_some_and(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()),
            Self::Pdf | Self::Jpeg => content.starts_with(self.magic()),
            Self::Png => content.starts_with(PNG_SIGNATURE) && content.get(12..16) == Some(b"IHDR"),
        }
    }

    /// The format of `content` judged by its bytes alone: a known signature, else UTF-8 text
    /// (plain text), else nothing.
    pub fn sniff(content: &[u8]) -> Option<Self> {
        [Self::Png, Self::Jpeg, Self::Pdf, Self::PlainText]
            .into_iter()
            .find(|f| f.matches(content))
    }

    /// Decides the format of an upload: the declared type if there is one, else the one the
    /// file name's extension names, else the sniffed one; and the content must match it.
    /// A mismatch, or content that is no accepted format, is `415 FILE_005`.
    pub fn resolve(
        declared: Option<Self>,
        extension: Option<&str>,
        content: &[u8],
    ) -> Result<Self, Error> {
        let claimed = declared.or_else(|| extension.and_then(Self::from_extension));
        let format = match claimed {
            Some(f) => f,
            None => Self::sniff(content).ok_or(Error::Code(ErrorCode::InvalidFileFormat))?,
        };
        if format.matches(content) {
            Ok(format)
        } else {
            Err(Error::Code(ErrorCode::InvalidFileFormat))
        }
    }
}

/// The text of `content` if it is UTF-8 without NUL bytes, a leading BOM removed.
fn text(content: &[u8]) -> Option<&str> {
    let body = content.strip_prefix(UTF8_BOM).unwrap_or(content);
    if body.contains(&0) {
        return None;
    }
    std::str::from_utf8(body).ok()
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime())
    }
}

impl serde::Serialize for FileFormat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.mime())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0";
    const PDF: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n";

    fn declared(s: &str) -> Result<Option<FileFormat>, Error> {
        FileFormat::parse_declared(Some(s))
    }

    fn is_415<T: fmt::Debug>(r: Result<T, Error>) -> bool {
        matches!(r, Err(Error::Code(ErrorCode::InvalidFileFormat)))
    }

    #[test]
    fn declared_types_canonical_aliases_and_parameters() {
        assert_eq!(FileFormat::parse_declared(None).unwrap(), None);
        assert_eq!(declared("").unwrap(), None);
        assert_eq!(declared("application/octet-stream").unwrap(), None);
        assert_eq!(declared("Application/Vnd.MS-Excel").unwrap(), None);
        for f in FileFormat::ALL {
            assert_eq!(declared(f.mime()).unwrap(), Some(f));
            assert_eq!(declared(&f.mime().to_uppercase()).unwrap(), Some(f));
            assert_eq!(declared(f.content_type_header()).unwrap(), Some(f));
            assert_eq!(FileFormat::from_mime(f.mime()), Some(f));
        }
        assert_eq!(
            declared("text/csv; charset=\"UTF-8\"").unwrap(),
            Some(FileFormat::Csv)
        );
        assert_eq!(
            declared(" text/plain ;charset=us-ascii").unwrap(),
            Some(FileFormat::PlainText)
        );
        assert_eq!(declared("application/csv").unwrap(), Some(FileFormat::Csv));
        assert_eq!(declared("image/jpg").unwrap(), Some(FileFormat::Jpeg));
        assert_eq!(
            declared("image/png; charset=latin1").unwrap(),
            Some(FileFormat::Png)
        );
        assert_eq!(
            declared("text/csv; header=present").unwrap(),
            Some(FileFormat::Csv)
        );
        for bad in [
            "text/html",
            "image/svg+xml",
            "application/zip",
            "multipart/form-data; boundary=x",
            "text/csv; charset=latin1",
            "text/plain; charset=utf-16",
            "textcsv",
            "text/csv/x",
        ] {
            assert!(is_415(declared(bad)), "{bad}");
        }
        assert_eq!(FileFormat::from_mime("TEXT/CSV"), None);
    }

    #[test]
    fn content_must_match_the_format() {
        assert!(FileFormat::Png.matches(PNG));
        assert!(FileFormat::Jpeg.matches(JPEG));
        assert!(FileFormat::Pdf.matches(PDF));
        assert!(FileFormat::Csv.matches(b"a,b\n1,2\n"));
        assert!(FileFormat::Csv.matches(b""));
        assert!(FileFormat::Csv.matches("\u{feff}name\nZoë\n".as_bytes()));
        assert!(FileFormat::Json.matches(b" {\"a\": [1, 2, null]}\n"));
        assert!(FileFormat::Json.matches("\u{feff}[]".as_bytes()));
        assert!(!FileFormat::Json.matches(b""));
        assert!(!FileFormat::Json.matches(b"a,b\n"));
        assert!(!FileFormat::Json.matches(b"{\"a\":1} trailing"));
        // Validation does not recurse: deep nesting costs no stack.
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        assert!(FileFormat::Json.matches(deep.as_bytes()));
        assert!(!FileFormat::Json.matches(&deep.as_bytes()[1..]));
        assert!(!FileFormat::Csv.matches(b"a\0b"));
        assert!(!FileFormat::Csv.matches(b"caf\xE9"));
        assert!(!FileFormat::PlainText.matches(PNG));
        assert!(!FileFormat::Png.matches(&PNG[..12]));
        assert!(!FileFormat::Png.matches(JPEG));
        assert!(!FileFormat::Jpeg.matches(b""));
        assert!(!FileFormat::Pdf.matches(b"%PDF"));
    }

    #[test]
    fn resolve_uses_declared_then_extension_then_sniffing() {
        use FileFormat::*;
        let r = FileFormat::resolve;
        assert_eq!(r(Some(Png), Some("csv"), PNG).unwrap(), Png);
        assert!(is_415(r(Some(Png), Some("png"), b"not a png")));
        assert!(is_415(r(Some(Csv), None, PNG)));
        assert!(is_415(r(Some(Pdf), None, JPEG)));
        assert_eq!(r(None, Some("csv"), b"a\n").unwrap(), Csv);
        assert_eq!(r(None, Some("json"), b"{}").unwrap(), Json);
        assert!(is_415(r(None, Some("json"), b"a,b")));
        assert!(is_415(r(None, Some("png"), b"hello")));
        assert_eq!(r(None, Some("bin"), PNG).unwrap(), Png);
        assert_eq!(r(None, None, JPEG).unwrap(), Jpeg);
        assert_eq!(r(None, None, PDF).unwrap(), Pdf);
        assert_eq!(r(None, None, b"hello").unwrap(), PlainText);
        assert_eq!(r(None, Some("md"), b"").unwrap(), PlainText);
        assert!(is_415(r(None, None, b"\x00\x01\x02")));
        assert!(is_415(r(None, Some("exe"), b"MZ\x90\x00")));
    }

    #[test]
    fn early_refusal_only_on_a_contradicting_prefix() {
        assert!(!FileFormat::Png.rules_out(b""));
        assert!(!FileFormat::Png.rules_out(b"\x89PN"));
        assert!(FileFormat::Png.rules_out(b"\x89PX"));
        assert!(!FileFormat::Png.rules_out(PNG));
        assert!(FileFormat::Jpeg.rules_out(b"GIF89a"));
        assert!(!FileFormat::Csv.rules_out(PNG));
    }

    #[test]
    fn serializes_as_the_media_type() {
        assert_eq!(
            serde_json::to_string(&FileFormat::Json).unwrap(),
            "\"application/json\""
        );
    }

    proptest! {
        #[test]
        fn resolve_never_accepts_content_that_does_not_match(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            d in proptest::option::of(0usize..6),
            ext in proptest::option::of("[a-z]{0,4}"),
        ) {
            let declared = d.map(|i| FileFormat::ALL[i]);
            if let Ok(f) = FileFormat::resolve(declared, ext.as_deref(), &bytes) {
                prop_assert!(f.matches(&bytes));
                if let Some(d) = declared {
                    prop_assert_eq!(f, d);
                }
                prop_assert!(!f.rules_out(&bytes));
            }
        }
    }
}
