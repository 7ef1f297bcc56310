//! The stored description of a file and its JSON shapes.

use std::fmt;

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::format::FileFormat;

/// A SHA-256 digest of a file's bytes. Serialises as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        s
    }

    /// Parses 64 hex digits (either case); anything else is `None`.
    pub fn from_hex(s: &str) -> Option<Self> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            let [hi, lo] = pair else { return None };
            *o = (nibble(*hi)? << 4) | nibble(*lo)?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// A stored file's metadata. The bytes live in a [`BlobStore`](super::BlobStore) under
/// [`id`](Self::id).
///
/// Serialises as the contract's metadata object,
/// `{"id","filename","content_type","size","sha256","created_at"}`: the owner is not shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileMeta {
    /// Random (v4) id; also the blob's key.
    pub id: Uuid,
    /// The owner's user id. Only the owner ever sees the file.
    #[serde(skip)]
    pub user_id: i64,
    /// The client's file name, validated by [`FileName`](super::FileName) at upload.
    pub filename: String,
    /// The format; serialised as its canonical media type.
    pub content_type: FileFormat,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: Sha256Digest,
    /// Upload time, Unix milliseconds.
    pub created_at: i64,
}

/// `GET /api/files`: `{"files":[metadata…]}`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileList {
    /// The caller's files.
    pub files: Vec<FileMeta>,
}

/// A file to send back: its metadata and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The metadata; `content_type` gives the `Content-Type` header (see
    /// [`FileFormat::content_type_header`]).
    pub meta: FileMeta,
    /// The bytes; `bytes.len() == meta.size`.
    pub bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_known_answer_and_hex_round_trip() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        let d = Sha256Digest::of(b"abc");
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(d.to_hex(), hex);
        assert_eq!(Sha256Digest::from_hex(hex), Some(d));
        assert_eq!(Sha256Digest::from_hex(&hex.to_uppercase()), Some(d));
        assert_eq!(Sha256Digest::from_hex(&hex[..63]), None);
        assert_eq!(Sha256Digest::from_hex(&format!("{}g", &hex[..63])), None);
        assert_eq!(Sha256Digest::from_hex(&format!("{}é", &hex[..62])), None);
    }

    #[test]
    fn metadata_json_is_the_contract_shape() {
        let meta = FileMeta {
            id: Uuid::nil(),
            user_id: 42,
            filename: "a.csv".into(),
            content_type: FileFormat::Csv,
            size: 3,
            sha256: Sha256Digest::of(b"abc"),
            created_at: 1_700_000_000_000,
        };
        let v = serde_json::to_value(&meta).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": "00000000-0000-0000-0000-000000000000",
                "filename": "a.csv",
                "content_type": "text/csv",
                "size": 3,
                "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "created_at": 1_700_000_000_000_i64,
            })
        );
        let list = serde_json::to_value(FileList { files: vec![meta] }).unwrap();
        assert_eq!(list["files"][0]["filename"], "a.csv");
    }
}
