//! File names as the client gives them: validated, never used as a path.

use std::fmt;

use crate::error::Error;

/// The longest file name accepted, in characters (Unicode scalar values). The common
/// file-system limit, so a name can always be reused when the file is saved by a client.
pub const MAX_FILENAME_CHARS: usize = 255;

/// A validated client file name.
///
/// Cutty never builds a path from it (blobs are stored under their uuid), but it is shown
/// in listings and may end up in a download's `Content-Disposition`, so it is held to the
/// rules a careful client expects:
///
/// * 1 to [`MAX_FILENAME_CHARS`] characters, any script (`Übersicht 2024 – 季度.csv` is fine);
/// * no path separator (`/`, `\`), and not `.` or `..`;
/// * no control character (C0, DEL, C1 — NUL, newlines and tabs included);
/// * no Unicode bidirectional formatting character (U+061C, U+200E, U+200F,
///   U+202A–U+202E, U+2066–U+2069), which can disguise an extension
///   (`invoice\u{202E}fdp.exe` displays as `invoiceexe.pdf`);
/// * no leading or trailing white space.
///
/// Anything else is `400 REQ_001` naming the field `filename`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FileName(String);

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

impl FileName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, Error> {
        let invalid = |message: &'static str| Error::invalid_field("filename", message);
        if name.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if name.chars().count() > MAX_FILENAME_CHARS {
            return Err(invalid("must be at most 255 characters"));
        }
        if name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(invalid("must be a plain file name, not a path"));
        }
        if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
            return Err(invalid("must not contain control characters"));
        }
        if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
            return Err(invalid("must not start or end with white space"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without its last extension (`report.final.csv` → `report.final`); the whole
    /// name when it has none or starts with its only dot (`.env`).
    pub fn stem(&self) -> &str {
        match self.0.rfind('.') {
            Some(i) if i > 0 => self.0.get(..i).unwrap_or(&self.0),
            _ => &self.0,
        }
    }

    /// The last extension, lower-cased ASCII (`Data.CSV` → `csv`), if any.
    pub fn extension(&self) -> Option<String> {
        match self.0.rfind('.') {
            Some(i) if i > 0 => self.0.get(i + 1..).map(str::to_ascii_lowercase),
            _ => None,
        }
    }

    /// The owned name.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for FileName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A derived name `{stem}{suffix}` for an output of `source`, shortened (on a character
/// boundary) so the result stays within [`MAX_FILENAME_CHARS`] and valid.
pub(crate) fn derived_name(source: &FileName, suffix: &str) -> FileName {
    let room = MAX_FILENAME_CHARS.saturating_sub(suffix.chars().count());
    let stem: String = source.stem().chars().take(room).collect();
    // Cutting may leave trailing white space; the suffix starts with a non-space, so only
    // an empty stem needs a stand-in.
    let stem = stem.trim_end();
    let stem = if stem.is_empty() { "list" } else { stem };
    FileName::new(&format!("{stem}{suffix}")).unwrap_or_else(|_| FileName(format!("list{suffix}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_and_unicode_names() {
        for ok in [
            "a",
            "report.csv",
            "Übersicht 2024 – 季度.csv",
            "emoji 📎.txt",
            ".env",
            "...",
            "a..b",
            "name with \"quotes\" and ;,=.json",
            &"x".repeat(255),
            &"é".repeat(255),
        ] {
            assert_eq!(FileName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_paths_controls_and_spoofing() {
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b",
            "a\\b",
            "C:\\x",
            "a\0b",
            "line\nbreak",
            "tab\there",
            "del\u{7f}",
            "c1\u{85}",
            "invoice\u{202E}fdp.exe",
            "x\u{2066}y",
            " leading",
            "trailing ",
            "trailing\u{3000}",
            &"x".repeat(256),
            &"é".repeat(256),
        ] {
            let err = FileName::new(bad).unwrap_err();
            match err {
                Error::InvalidRequest(v) => assert_eq!(v[0].field, "filename", "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn stem_and_extension() {
        let n = FileName::new("report.final.CSV").unwrap();
        assert_eq!(
            (n.stem(), n.extension().as_deref()),
            ("report.final", Some("csv"))
        );
        let n = FileName::new(".env").unwrap();
        assert_eq!((n.stem(), n.extension()), (".env", None));
        let n = FileName::new("plain").unwrap();
        assert_eq!((n.stem(), n.extension()), ("plain", None));
        let n = FileName::new("x.").unwrap();
        assert_eq!((n.stem(), n.extension().as_deref()), ("x", Some("")));
    }

    #[test]
    fn derived_names_stay_valid_and_short() {
        let long = FileName::new(&format!("{}.csv", "é".repeat(250))).unwrap();
        let d = derived_name(&long, "-part-0001.csv");
        assert_eq!(d.as_str().chars().count(), MAX_FILENAME_CHARS);
        assert!(d.as_str().ends_with("-part-0001.csv"));
        let spaced = FileName::new(&format!("{} b.csv", "a".repeat(240))).unwrap();
        let d = derived_name(&spaced, "-processed.csv");
        assert!(FileName::new(d.as_str()).is_ok());
        let dot = FileName::new(".csv").unwrap();
        assert_eq!(
            derived_name(&dot, "-processed.csv").as_str(),
            ".csv-processed.csv"
        );
    }

    proptest! {
        #[test]
        fn valid_names_obey_every_rule(s in any::<String>()) {
            if let Ok(n) = FileName::new(&s) {
                prop_assert!(!n.as_str().is_empty());
                prop_assert!(n.as_str().chars().count() <= MAX_FILENAME_CHARS);
                prop_assert!(!n.as_str().contains(['/', '\\']));
                prop_assert!(!n.as_str().chars().any(|c| c.is_control() || is_bidi_control(c)));
                prop_assert!(n.as_str() != "." && n.as_str() != "..");
                let d = derived_name(&n, "-part-1.csv");
                prop_assert!(FileName::new(d.as_str()).is_ok());
            }
        }
    }
}
