//! FileService behaviour and list-processing properties.

use std::collections::HashSet;
use std::io::Read;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::executor::block_on;
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::api_key::{Permission, PermissionSet};
use crate::clock::FakeClock;
use crate::error::{Error, ErrorCode, StoreError, StoreErrorKind};

const NOW: i64 = 1_700_000_000_000;
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

/// A fault injector around a real store: fails every call while `failing`, or the
/// `fail_after`-th insert/put onwards.
#[derive(Default)]
struct Faulty<S> {
    inner: S,
    failing: AtomicBool,
    /// Calls to insert/put still allowed before they start failing (usize::MAX: no limit).
    writes_left: AtomicUsize,
}

impl<S: Default> Faulty<S> {
    fn new() -> Self {
        Self {
            inner: S::default(),
            failing: AtomicBool::new(false),
            writes_left: AtomicUsize::new(usize::MAX),
        }
    }
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::new(StoreErrorKind::Unavailable, "injected"))
        } else {
            Ok(())
        }
    }
    fn check_write(&self) -> Result<(), StoreError> {
        self.check()?;
        let left = self.writes_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(StoreError::new(StoreErrorKind::Unavailable, "injected"));
        }
        if left != usize::MAX {
            self.writes_left.store(left - 1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl FileStore for Faulty<MemoryFileStore> {
    async fn insert(&self, meta: &FileMeta) -> Result<(), StoreError> {
        self.check_write()?;
        self.inner.insert(meta).await
    }
    async fn get(&self, owner: i64, id: Uuid) -> Result<Option<FileMeta>, StoreError> {
        self.check()?;
        self.inner.get(owner, id).await
    }
    async fn list(&self, owner: i64) -> Result<Vec<FileMeta>, StoreError> {
        self.check()?;
        self.inner.list(owner).await
    }
    async fn delete(&self, owner: i64, id: Uuid) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete(owner, id).await
    }
}

#[async_trait::async_trait]
impl BlobStore for Faulty<MemoryBlobStore> {
    async fn put(&self, id: Uuid, bytes: &[u8]) -> Result<(), StoreError> {
        self.check_write()?;
        self.inner.put(id, bytes).await
    }
    async fn get(&self, id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn delete(&self, id: Uuid) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete(id).await
    }
}

struct Fixture {
    service: FileService,
    files: Arc<Faulty<MemoryFileStore>>,
    blobs: Arc<Faulty<MemoryBlobStore>>,
}

fn fixture_with(config: FileConfig) -> Fixture {
    let files = Arc::new(Faulty::<MemoryFileStore>::new());
    let blobs = Arc::new(Faulty::<MemoryBlobStore>::new());
    let service = FileService::new(
        files.clone(),
        blobs.clone(),
        Arc::new(FakeClock::at_unix_ms(NOW)),
        config,
    );
    Fixture {
        service,
        files,
        blobs,
    }
}

fn fixture() -> Fixture {
    fixture_with(FileConfig::default())
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> ErrorCode {
    r.expect_err("should fail").code()
}

fn fields<T: std::fmt::Debug>(r: Result<T, Error>) -> Vec<String> {
    match r {
        Err(Error::InvalidRequest(v)) => v.into_iter().map(|f| f.field.into_owned()).collect(),
        other => panic!("expected REQ_001, got {other:?}"),
    }
}

fn request(file_id: Uuid) -> ProcessListRequest {
    ProcessListRequest {
        file_id: file_id.to_string(),
        dedupe: None,
        columns: None,
        split_rows: None,
    }
}

#[test]
fn upload_list_download_delete_round_trip() {
    let f = fixture();
    let me = FileActor::user(1);
    block_on(async {
        let body = "name,city\nZoë,Zürich\n".as_bytes();
        let meta = f
            .service
            .upload(
                &me,
                Some("people.csv"),
                Some("text/csv; charset=utf-8"),
                body,
            )
            .await
            .unwrap();
        assert_eq!(meta.user_id, 1);
        assert_eq!(meta.filename, "people.csv");
        assert_eq!(meta.content_type, FileFormat::Csv);
        assert_eq!(meta.size, body.len() as u64);
        assert_eq!(meta.sha256, Sha256Digest::of(body));
        assert_eq!(meta.created_at, NOW);

        let list = f.service.list(&me).await.unwrap();
        assert_eq!(list.files, vec![meta.clone()]);
        let got = f.service.download(&me, &meta.id.to_string()).await.unwrap();
        assert_eq!((got.meta, got.bytes.as_slice()), (meta.clone(), body));
        assert_eq!(
            f.service.metadata(&me, &meta.id.to_string()).await.unwrap(),
            meta
        );

        f.service.delete(&me, &meta.id.to_string()).await.unwrap();
        assert!(f.service.list(&me).await.unwrap().files.is_empty());
        assert!(f.blobs.inner.is_empty());
        assert_eq!(
            code(f.service.download(&me, &meta.id.to_string()).await),
            ErrorCode::FileNotFound
        );
        assert_eq!(
            code(f.service.delete(&me, &meta.id.to_string()).await),
            ErrorCode::FileNotFound
        );
    });
}

#[test]
fn another_users_file_is_not_found_and_untouched() {
    let f = fixture();
    let (owner, other) = (FileActor::user(1), FileActor::user(2));
    block_on(async {
        let meta = f
            .service
            .upload(&owner, Some("a.txt"), None, b"hello")
            .await
            .unwrap();
        let id = meta.id.to_string();
        assert_eq!(
            code(f.service.download(&other, &id).await),
            ErrorCode::FileNotFound
        );
        assert_eq!(
            code(f.service.metadata(&other, &id).await),
            ErrorCode::FileNotFound
        );
        assert_eq!(
            code(f.service.delete(&other, &id).await),
            ErrorCode::FileNotFound
        );
        assert_eq!(
            code(f.service.process_list(&other, &request(meta.id)).await),
            ErrorCode::FileNotFound
        );
        assert!(f.service.list(&other).await.unwrap().files.is_empty());
        assert_eq!(f.service.list(&owner).await.unwrap().files, vec![meta]);
    });
}

#[test]
fn malformed_ids_are_not_found() {
    let f = fixture();
    let me = FileActor::user(1);
    block_on(async {
        for id in [
            "",
            "x",
            "../../etc/passwd",
            "00000000-0000-0000-0000-00000000000g",
        ] {
            assert_eq!(
                code(f.service.download(&me, id).await),
                ErrorCode::FileNotFound
            );
            assert_eq!(
                code(f.service.delete(&me, id).await),
                ErrorCode::FileNotFound
            );
        }
    });
}

#[test]
fn api_keys_hold_only_their_permissions() {
    let f = fixture();
    let owner = FileActor::user(1);
    let read_only = FileActor::api_key(1, PermissionSet::EMPTY.with(Permission::FilesRead));
    let writer = FileActor::api_key(1, PermissionSet::EMPTY.with(Permission::FilesWrite));
    let processor = FileActor::api_key(1, PermissionSet::EMPTY.with(Permission::ListProcess));
    block_on(async {
        let meta = f
            .service
            .upload(&owner, Some("l.csv"), None, b"a\n1\n")
            .await
            .unwrap();
        let id = meta.id.to_string();
        let denied = ErrorCode::ApiKeyPermissionDenied;
        assert_eq!(
            code(f.service.start_upload(&read_only, Some("x.txt"), None)),
            denied
        );
        assert_eq!(code(f.service.delete(&read_only, &id).await), denied);
        assert_eq!(
            code(f.service.process_list(&read_only, &request(meta.id)).await),
            denied
        );
        assert_eq!(f.service.list(&read_only).await.unwrap().files.len(), 1);
        assert!(f.service.download(&read_only, &id).await.is_ok());

        assert_eq!(code(f.service.list(&writer).await), denied);
        assert_eq!(code(f.service.download(&writer, &id).await), denied);
        assert_eq!(
            code(f.service.process_list(&writer, &request(meta.id)).await),
            denied
        );
        assert!(
            f.service
                .upload(&writer, Some("w.txt"), None, b"w")
                .await
                .is_ok()
        );

        assert_eq!(code(f.service.list(&processor).await), denied);
        assert!(
            f.service
                .process_list(&processor, &request(meta.id))
                .await
                .is_ok()
        );
        assert!(f.service.delete(&writer, &id).await.is_ok());
        // The check comes before the look-up: no existence oracle for keys without it.
        assert_eq!(
            code(
                f.service
                    .delete(&read_only, &Uuid::new_v4().to_string())
                    .await
            ),
            denied
        );
    });
}

#[test]
fn upload_limit_is_enforced_while_reading() {
    let f = fixture_with(FileConfig {
        max_upload_bytes: 10,
        ..FileConfig::default()
    });
    let me = FileActor::user(1);
    let mut up = f.service.start_upload(&me, Some("a.txt"), None).unwrap();
    assert_eq!(code(up.expect_len(11)), ErrorCode::FileTooLarge);
    up.expect_len(10).unwrap();
    up.push(b"12345").unwrap();
    up.push(b"67890").unwrap();
    assert_eq!(code(up.push(b"x")), ErrorCode::FileTooLarge);
    assert_eq!(up.len(), 10);
    let meta = block_on(f.service.finish_upload(up)).unwrap();
    assert_eq!(meta.size, 10);
    let err = block_on(f.service.upload(&me, Some("b.txt"), None, &[b'a'; 11])).unwrap_err();
    assert_eq!(
        (err.code(), err.http_status()),
        (ErrorCode::FileTooLarge, 413)
    );
}

#[test]
fn names_and_declared_types_are_checked_before_the_body() {
    let f = fixture();
    let me = FileActor::user(1);
    assert_eq!(
        fields(f.service.start_upload(&me, None, None)),
        ["filename"]
    );
    assert_eq!(
        fields(f.service.start_upload(&me, Some("../x.csv"), None)),
        ["filename"]
    );
    assert_eq!(
        fields(f.service.start_upload(&me, Some(""), Some("text/csv"))),
        ["filename"]
    );
    assert_eq!(
        code(
            f.service
                .start_upload(&me, Some("x.html"), Some("text/html"))
        ),
        ErrorCode::InvalidFileFormat
    );
    // A declared PNG whose first bytes are text is refused at the first chunk.
    let mut up = f
        .service
        .start_upload(&me, Some("x.png"), Some("image/png"))
        .unwrap();
    assert_eq!(code(up.push(b"hello")), ErrorCode::InvalidFileFormat);
    // So is a .png name without a declared type.
    let mut up = f.service.start_upload(&me, Some("x.png"), None).unwrap();
    assert_eq!(code(up.push(b"GIF89a")), ErrorCode::InvalidFileFormat);
    // A PNG arriving one byte at a time is fine.
    let mut up = f
        .service
        .start_upload(&me, Some("x.png"), Some("image/png"))
        .unwrap();
    for b in PNG {
        up.push(std::slice::from_ref(b)).unwrap();
    }
    let meta = block_on(f.service.finish_upload(up)).unwrap();
    assert_eq!(meta.content_type, FileFormat::Png);
}

#[test]
fn format_is_decided_from_type_then_extension_then_content() {
    let f = fixture();
    let me = FileActor::user(1);
    block_on(async {
        let up = |name: &'static str, ct: Option<&'static str>, body: &'static [u8]| {
            f.service.upload(&me, Some(name), ct, body)
        };
        assert_eq!(
            up("d.csv", None, b"a,b\n").await.unwrap().content_type,
            FileFormat::Csv
        );
        assert_eq!(
            up("d.csv", Some("application/octet-stream"), b"a\n")
                .await
                .unwrap()
                .content_type,
            FileFormat::Csv
        );
        assert_eq!(
            up("d.json", None, b"{}").await.unwrap().content_type,
            FileFormat::Json
        );
        assert_eq!(
            up("notes", None, b"hi").await.unwrap().content_type,
            FileFormat::PlainText
        );
        assert_eq!(
            up("pic", None, PNG).await.unwrap().content_type,
            FileFormat::Png
        );
        assert_eq!(
            up("d.txt", Some("text/csv"), b"a\n")
                .await
                .unwrap()
                .content_type,
            FileFormat::Csv
        );
        for (name, ct, body) in [
            ("d.csv", Some("text/csv"), PNG),
            ("d.json", None, &b"a,b"[..]),
            ("d.bin", None, &b"\x00\x01"[..]),
            ("d.txt", Some("text/plain"), &b"caf\xE9"[..]),
            ("d.pdf", Some("application/pdf"), &b"%PDX"[..]),
        ] {
            assert_eq!(
                code(up(name, ct, body).await),
                ErrorCode::InvalidFileFormat,
                "{name}"
            );
        }
    });
    assert_eq!(f.blobs.inner.len(), 6, "refused uploads store nothing");
}

#[test]
fn storage_failures_are_file_001_or_db_and_leave_nothing_behind() {
    let f = fixture();
    let me = FileActor::user(1);
    block_on(async {
        f.blobs.failing.store(true, Ordering::SeqCst);
        let err = f
            .service
            .upload(&me, Some("a.txt"), None, b"x")
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), err.http_status()),
            (ErrorCode::UploadStorageFailed, 500)
        );
        assert!(matches!(err, Error::FileStorage(_)));
        f.blobs.failing.store(false, Ordering::SeqCst);
        assert!(f.service.list(&me).await.unwrap().files.is_empty());

        f.files.writes_left.store(0, Ordering::SeqCst);
        let err = f
            .service
            .upload(&me, Some("a.txt"), None, b"x")
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::StoreUnavailable);
        assert!(f.blobs.inner.is_empty(), "the blob is removed again");

        f.files.failing.store(true, Ordering::SeqCst);
        assert_eq!(code(f.service.list(&me).await), ErrorCode::StoreUnavailable);
    });
}

#[test]
fn process_list_dedupes_selects_and_splits_into_stored_files() {
    let f = fixture();
    let me = FileActor::user(1);
    block_on(async {
        let csv = "email,name,city\n\
                   a@x.org,Ada,London\n\
                   b@x.org,Bob,Paris\n\
                   too,few\n\
                   a@x.org,Ada,Paris\n\
                   c@x.org,\"Cy, Jr.\",Rome\n";
        let src = f
            .service
            .upload(&me, Some("people.csv"), None, csv.as_bytes())
            .await
            .unwrap();
        let req = ProcessListRequest {
            file_id: src.id.to_string(),
            dedupe: Some(true),
            columns: Some(vec!["name".into(), "email".into()]),
            split_rows: Some(2),
        };
        let out = f.service.process_list(&me, &req).await.unwrap();
        assert_eq!((out.rows_in, out.rows_out, out.malformed_rows), (5, 3, 1));
        assert_eq!(out.duplicate_rows, 1);
        let names: Vec<&str> = out.files.iter().map(|m| m.filename.as_str()).collect();
        assert_eq!(names, ["people-part-1.csv", "people-part-2.csv"]);
        let mut contents = Vec::new();
        for m in &out.files {
            assert_eq!(
                (m.content_type, m.user_id, m.created_at),
                (FileFormat::Csv, 1, NOW)
            );
            let d = f.service.download(&me, &m.id.to_string()).await.unwrap();
            assert_eq!(d.meta.size, d.bytes.len() as u64);
            assert_eq!(d.meta.sha256, Sha256Digest::of(&d.bytes));
            contents.push(String::from_utf8(d.bytes).unwrap());
        }
        assert_eq!(
            contents,
            [
                "name,email\r\nAda,a@x.org\r\nBob,b@x.org\r\n",
                "name,email\r\n\"Cy, Jr.\",c@x.org\r\n"
            ]
        );
        assert_eq!(f.service.list(&me).await.unwrap().files.len(), 3);

        let json = serde_json::to_value(&out).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["files", "malformed_rows", "rows_in", "rows_out"]);

        let plain = f.service.process_list(&me, &request(src.id)).await.unwrap();
        assert_eq!(plain.files.len(), 1);
        assert_eq!(plain.files[0].filename, "people-processed.csv");
        assert_eq!(
            (plain.rows_in, plain.rows_out, plain.malformed_rows),
            (5, 4, 1)
        );
    });
}

#[test]
fn process_list_refusals() {
    let f = fixture_with(FileConfig {
        list: ListLimits {
            max_output_files: 3,
            max_output_bytes: 1 << 20,
        },
        ..FileConfig::default()
    });
    let me = FileActor::user(1);
    block_on(async {
        let src = f
            .service
            .upload(&me, Some("l.csv"), None, b"a,b\n1,2\n3,4\n5,6\n7,8\n")
            .await
            .unwrap();
        let png = f
            .service
            .upload(&me, Some("p.png"), None, PNG)
            .await
            .unwrap();
        let with = |change: &dyn Fn(&mut ProcessListRequest)| {
            let mut r = request(src.id);
            change(&mut r);
            r
        };
        let (service, me) = (&f.service, &me);
        let p = |r: ProcessListRequest| async move { service.process_list(me, &r).await };
        assert_eq!(
            fields(p(with(&|r| r.file_id = "nope".into())).await),
            ["file_id"]
        );
        assert_eq!(
            fields(p(with(&|r| r.split_rows = Some(0))).await),
            ["split_rows"]
        );
        assert_eq!(
            fields(p(with(&|r| r.columns = Some(vec![]))).await),
            ["columns"]
        );
        assert_eq!(
            fields(p(with(&|r| r.columns = Some(vec!["a".into(), "a".into()]))).await),
            ["columns"]
        );
        assert_eq!(
            fields(p(with(&|r| r.columns = Some(vec!["a".into(), "zz".into()]))).await),
            ["columns"]
        );
        let before = service.list(me).await.unwrap().files.len();
        assert_eq!(
            fields(p(with(&|r| r.split_rows = Some(1))).await),
            ["split_rows"]
        );
        assert_eq!(service.list(me).await.unwrap().files.len(), before);
        assert_eq!(
            code(p(with(&|r| r.file_id = png.id.to_string())).await),
            ErrorCode::InvalidFileFormat
        );
        assert_eq!(
            code(p(with(&|r| r.file_id = Uuid::new_v4().to_string())).await),
            ErrorCode::FileNotFound
        );
    });
}

#[test]
fn process_list_output_limit_is_file_004() {
    let f = fixture_with(FileConfig {
        list: ListLimits {
            max_output_files: 100,
            max_output_bytes: 40,
        },
        ..FileConfig::default()
    });
    let me = FileActor::user(1);
    block_on(async {
        let src = f
            .service
            .upload(&me, Some("l.csv"), None, b"header_is_long\n1\n2\n3\n")
            .await
            .unwrap();
        let mut r = request(src.id);
        r.split_rows = Some(1);
        let err = f.service.process_list(&me, &r).await.unwrap_err();
        assert_eq!(
            (err.code(), err.http_status()),
            (ErrorCode::FileTooLarge, 413)
        );
    });
}

#[test]
fn process_list_rolls_back_when_storing_an_output_fails() {
    let f = fixture();
    let me = FileActor::user(1);
    block_on(async {
        let src = f
            .service
            .upload(&me, Some("l.csv"), None, b"a\n1\n2\n3\n")
            .await
            .unwrap();
        let mut r = request(src.id);
        r.split_rows = Some(1);
        f.files.writes_left.store(2, Ordering::SeqCst);
        let err = f.service.process_list(&me, &r).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::StoreUnavailable);
        assert_eq!(f.service.list(&me).await.unwrap().files, vec![src]);
        assert_eq!(f.blobs.inner.len(), 1, "only the source's blob remains");
    });
}

#[test]
fn process_request_json() {
    let r: ProcessListRequest =
        serde_json::from_str(r#"{"file_id":"x","dedupe":null,"columns":["a"],"split_rows":3}"#)
            .unwrap();
    assert_eq!((r.dedupe, r.split_rows), (None, Some(3)));
    assert!(serde_json::from_str::<ProcessListRequest>(r#"{"file_id":"x","dedup":true}"#).is_err());
    assert!(
        serde_json::from_str::<ProcessListRequest>(r#"{"file_id":"x","split_rows":-1}"#).is_err()
    );
    assert!(serde_json::from_str::<ProcessListRequest>(r#"{"dedupe":true}"#).is_err());
}

// ---- list processing ----------------------------------------------------------------------

fn run(input: &[u8], options: &ListOptions) -> Result<ListOutput, ListError> {
    process_csv(input, options, &ListLimits::default())
}

fn opts(dedupe: bool, columns: Option<&[&str]>, split: Option<u64>) -> ListOptions {
    ListOptions {
        dedupe,
        columns: columns.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
        split_rows: split.and_then(NonZeroU64::new),
    }
}

fn text(out: &ListOutput) -> Vec<String> {
    out.files
        .iter()
        .map(|f| String::from_utf8(f.clone()).unwrap())
        .collect()
}

#[test]
fn list_edge_cases() {
    let none = ListOptions::default();
    let out = run(b"", &none).unwrap();
    assert_eq!(
        (out.files, out.stats),
        (vec![Vec::new()], ListStats::default())
    );
    assert!(matches!(
        run(b"", &opts(false, Some(&["a"]), None)),
        Err(ListError::UnknownColumn { index: 0 })
    ));
    let out = run(b"a,b\n", &opts(false, None, Some(1))).unwrap();
    assert_eq!(text(&out), ["a,b\r\n"]);
    // BOM, CRLF, blank lines, quoted newlines, a single empty field.
    let out = run(
        "\u{feff}id,note\r\n\r\n1,\"two\nlines\"\r\n2,\"\"\n\n".as_bytes(),
        &none,
    )
    .unwrap();
    assert_eq!(text(&out), ["id,note\r\n1,\"two\nlines\"\r\n2,\r\n"]);
    assert_eq!(out.stats.rows_in, 2);
    let out = run(b"x\n\"\"\n", &none).unwrap();
    assert_eq!(text(&out), ["x\r\n\"\"\r\n"]);
    // Invalid UTF-8 in a row is malformed; in the header it refuses the file.
    let out = run(b"a,b\n1,\xff\n2,3\n", &none).unwrap();
    assert_eq!((out.stats.rows_in, out.stats.malformed_rows), (2, 1));
    assert!(matches!(
        run(b"a,\xff\n1,2\n", &none),
        Err(ListError::InvalidHeader)
    ));
    // A header naming a column twice: selecting it is ambiguous, other columns are fine.
    let dup = b"a,a,b\n1,2,3\n";
    assert!(matches!(
        run(dup, &opts(false, Some(&["b", "a"]), None)),
        Err(ListError::AmbiguousColumn { index: 1 })
    ));
    assert_eq!(
        text(&run(dup, &opts(false, Some(&["b"]), None)).unwrap()),
        ["b\r\n3\r\n"]
    );
    // Case-sensitive names; a BOM does not hide the first column.
    assert!(run(b"Name\nx\n", &opts(false, Some(&["name"]), None)).is_err());
    assert!(
        run(
            "\u{feff}name\nx\n".as_bytes(),
            &opts(false, Some(&["name"]), None)
        )
        .is_ok()
    );
    // Dedupe compares the selected columns.
    let out = run(b"a,b\n1,x\n1,y\n2,x\n", &opts(true, Some(&["a"]), None)).unwrap();
    assert_eq!(text(&out), ["a\r\n1\r\n2\r\n"]);
    assert_eq!(out.stats.duplicate_rows, 1);
    // Dedupe distinguishes field boundaries.
    let out = run(b"a,b\nab,c\na,bc\n", &opts(true, None, None)).unwrap();
    assert_eq!(out.stats.rows_out, 2);
}

#[test]
fn list_limits() {
    let limits = ListLimits {
        max_output_files: 2,
        max_output_bytes: 1 << 20,
    };
    let input = b"a\n1\n2\n3\n4\n";
    assert!(matches!(
        process_csv(&input[..], &opts(false, None, Some(2)), &limits),
        Ok(ListOutput { ref files, .. }) if files.len() == 2
    ));
    assert!(matches!(
        process_csv(&input[..], &opts(false, None, Some(1)), &limits),
        Err(ListError::TooManyFiles { max: 2 })
    ));
    let tight = ListLimits {
        max_output_files: 10,
        max_output_bytes: 12,
    };
    assert!(process_csv(&b"a\n1\n2\n3\n"[..], &ListOptions::default(), &tight).is_ok());
    assert!(matches!(
        process_csv(&b"a\n1\n2\n3\n4\n"[..], &ListOptions::default(), &tight),
        Err(ListError::OutputTooLarge { max: 12 })
    ));
}

/// A reader that hands out at most `step` bytes per call, as a network body might.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A generated CSV: the header names and the rows as raw fields (some of the wrong width,
/// some with invalid UTF-8), written with proper quoting.
#[derive(Debug, Clone)]
struct Case {
    header: Vec<String>,
    rows: Vec<Vec<Vec<u8>>>,
    bom: bool,
}

impl Case {
    fn bytes(&self) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        w.write_record(&self.header).unwrap();
        for r in &self.rows {
            w.write_record(r).unwrap();
        }
        let mut out = if self.bom {
            b"\xEF\xBB\xBF".to_vec()
        } else {
            Vec::new()
        };
        out.extend(w.into_inner().unwrap());
        out
    }
}

fn field() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-c]{0,2}".prop_map(String::into_bytes),
        1 => prop::sample::select(vec!["a,b", "q\"q", "x\ny", "r\r", " ", "é", "—"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => Just(b"\xff\xfe".to_vec()),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..4)
        .prop_flat_map(|width| {
            (
                prop::collection::vec("[a-d]{1,2}", width),
                prop::collection::vec(
                    prop_oneof![
                        6 => prop::collection::vec(field(), width),
                        1 => prop::collection::vec(field(), 1..5),
                    ],
                    0..30,
                ),
                any::<bool>(),
            )
        })
        // A header that parses back as a blank line (one empty field) is impossible here.
        .prop_map(|(header, rows, bom)| Case { header, rows, bom })
}

/// A parsed row: its fields' bytes.
type Row = Vec<Vec<u8>>;

/// The reference model of the module docs' rules.
fn model(case: &Case, options: &ListOptions) -> Option<(Vec<String>, Vec<Row>, ListStats)> {
    let width = case.header.len();
    let projection: Vec<usize> = match &options.columns {
        None => (0..width).collect(),
        Some(cols) => {
            let mut p = Vec::new();
            for c in cols {
                let hits: Vec<usize> = (0..width).filter(|&i| case.header[i] == *c).collect();
                if hits.len() != 1 {
                    return None;
                }
                p.push(hits[0]);
            }
            p
        }
    };
    let header = projection.iter().map(|&i| case.header[i].clone()).collect();
    let mut stats = ListStats::default();
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for r in &case.rows {
        // A row of one empty field is written as `""` and read back as one empty field.
        stats.rows_in += 1;
        if r.len() != width || r.iter().any(|f| std::str::from_utf8(f).is_err()) {
            stats.malformed_rows += 1;
            continue;
        }
        let out: Vec<Vec<u8>> = projection.iter().map(|&i| r[i].clone()).collect();
        if options.dedupe && !seen.insert(out.clone()) {
            stats.duplicate_rows += 1;
            continue;
        }
        stats.rows_out += 1;
        rows.push(out);
    }
    Some((header, rows, stats))
}

fn parse(file: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    r.byte_records()
        .map(|rec| rec.unwrap().iter().map(<[u8]>::to_vec).collect())
        .collect()
}

fn options_strategy() -> impl Strategy<Value = ListOptions> {
    (
        any::<bool>(),
        prop::option::of(prop::collection::vec("[a-d]{1,2}", 1..3)),
        prop::option::of(1u64..5),
    )
        .prop_map(|(dedupe, columns, split)| {
            let columns = columns.map(|mut c| {
                let mut seen = HashSet::new();
                c.retain(|x| seen.insert(x.clone()));
                c
            });
            ListOptions {
                dedupe,
                columns,
                split_rows: split.and_then(NonZeroU64::new),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn output_matches_the_reference_model(case in case(), options in options_strategy()) {
        let input = case.bytes();
        let result = run(&input, &options);
        let Some((header, rows, stats)) = model(&case, &options) else {
            let refused = matches!(
                result,
                Err(ListError::UnknownColumn { .. } | ListError::AmbiguousColumn { .. })
            );
            prop_assert!(refused);
            return Ok(());
        };
        let out = result.unwrap();
        prop_assert_eq!(out.stats, stats);
        let per_file = options.split_rows.map_or(u64::MAX, NonZeroU64::get);
        let expected_files = if rows.is_empty() { 1 } else { (rows.len() as u64).div_ceil(per_file) };
        prop_assert_eq!(out.files.len() as u64, expected_files);
        let header_bytes: Vec<Vec<u8>> = header.iter().map(|h| h.as_bytes().to_vec()).collect();
        let mut all = Vec::new();
        for f in &out.files {
            let recs = parse(f);
            prop_assert_eq!(&recs[0], &header_bytes);
            prop_assert!((recs.len() - 1) as u64 <= per_file);
            all.extend(recs.into_iter().skip(1));
        }
        prop_assert_eq!(all, rows);
    }

    #[test]
    fn any_read_chunking_gives_the_same_result(
        case in case(),
        options in options_strategy(),
        step in 1usize..8,
    ) {
        let input = case.bytes();
        let whole = run(&input, &options);
        let trickled = process_csv(
            Trickle { data: &input, step },
            &options,
            &ListLimits::default(),
        );
        prop_assert_eq!(whole.ok(), trickled.ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_counts_add_up(
        input in prop::collection::vec(any::<u8>(), 0..400),
        options in options_strategy(),
    ) {
        let limits = ListLimits { max_output_files: 8, max_output_bytes: 4096 };
        if let Ok(out) = process_csv(input.as_slice(), &options, &limits) {
            let s = out.stats;
            prop_assert_eq!(s.rows_in, s.rows_out + s.malformed_rows + s.duplicate_rows);
            prop_assert!(!out.files.is_empty() && out.files.len() <= 8);
            prop_assert!(out.files.iter().map(Vec::len).sum::<usize>() <= 4096);
            for f in &out.files {
                prop_assert!(std::str::from_utf8(f).is_ok());
            }
        }
    }
}
