//! Files: upload (raw and multipart), list, download, delete, limits, formats, ownership.

use serde_json::{Value, json};

use super::raw_request;
use crate::check::{assert_fields, ms_near_now, path_id, sha256_hex, string};
use crate::client::{Client, Resp};
use crate::fixtures::{Ctx, upload_raw};
use crate::host::{Config, Launch};

/// The metadata fields of an uploaded file.
pub const FILE_FIELDS: &[&str] = &[
    "id",
    "filename",
    "content_type",
    "size",
    "sha256",
    "created_at",
];

/// The MIME type without parameters, lower-case.
fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Asserts file metadata for `bytes` uploaded as `filename`.
#[track_caller]
pub fn assert_metadata(meta: &Value, filename: &str, content_type: &str, bytes: &[u8]) {
    assert_fields(meta, FILE_FIELDS, "file metadata");
    path_id(&meta["id"], "file id");
    assert_eq!(meta["filename"], json!(filename), "filename: {meta}");
    assert_eq!(
        essence(string(&meta["content_type"], "content_type")),
        content_type,
        "content_type: {meta}"
    );
    assert_eq!(
        meta["size"].as_u64(),
        Some(bytes.len() as u64),
        "size: {meta}"
    );
    assert_eq!(
        meta["sha256"],
        json!(sha256_hex(bytes)),
        "sha256 (lower-case hex): {meta}"
    );
    ms_near_now(&meta["created_at"], "created_at");
}

async fn download(c: &Client, token: &str, id: &str) -> Resp {
    c.get(&format!("/api/files/{id}"))
        .bearer(token)
        .send()
        .await
}

/// Asserts a download returns exactly `bytes` with the metadata's `Content-Type` and a
/// `Content-Length`.
async fn assert_download(c: &Client, token: &str, meta: &Value, bytes: &[u8]) {
    let id = path_id(&meta["id"], "id");
    let r = download(c, token, &id).await;
    r.expect(200);
    assert!(
        r.body == bytes,
        "{}: downloaded bytes differ from the upload",
        r.label
    );
    let ct = r.header("content-type").unwrap_or_default();
    assert_eq!(
        essence(&ct),
        essence(string(&meta["content_type"], "content_type")),
        "{}: Content-Type",
        r.label
    );
    assert_eq!(
        r.header("content-length")
            .and_then(|v| v.parse::<usize>().ok()),
        Some(bytes.len()),
        "{}: Content-Length",
        r.label
    );
}

fn csv_bytes(rows: usize) -> Vec<u8> {
    let mut out = b"id,name,city\n".to_vec();
    for i in 0..rows {
        out.extend_from_slice(format!("{i},name{i},city{}\n", i % 7).as_bytes());
    }
    out
}

/// A raw-body upload with `?filename=` answers 201 with exactly `{id, filename,
/// content_type, size, sha256, created_at}`; the download returns the same bytes with that
/// `Content-Type` and a `Content-Length`.
pub async fn upload_raw_body_and_download<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let bytes = csv_bytes(10);
    let meta = upload_raw(&c, &account.access, "data.csv", "text/csv", bytes.clone())
        .await
        .ok_json(201);
    assert_metadata(&meta, "data.csv", "text/csv", &bytes);
    assert_download(&c, &account.access, &meta, &bytes).await;
}

/// A multipart upload (field `file`) answers 201 with the metadata; the download matches.
pub async fn upload_multipart_and_download<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let bytes = csv_bytes(5);
    let part = reqwest::multipart::Part::bytes(bytes.clone())
        .file_name("multi.csv")
        .mime_str("text/csv")
        .unwrap_or_else(|e| panic!("mime: {e}"));
    let form = reqwest::multipart::Form::new().part("file", part);
    let meta = c
        .post("/api/files")
        .bearer(&account.access)
        .multipart(form)
        .send()
        .await
        .ok_json(201);
    assert_metadata(&meta, "multi.csv", "text/csv", &bytes);
    assert_download(&c, &account.access, &meta, &bytes).await;
}

/// `GET /api/files` is `{"files":[…]}` with the caller's own files only, each with the
/// upload's metadata.
pub async fn list_shows_own_files_only<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let owner = ctx.register(&c).await;
    let other = ctx.register(&c.fresh()).await;
    let meta = upload_raw(&c, &owner.access, "mine.csv", "text/csv", csv_bytes(2))
        .await
        .ok_json(201);
    let list = |token: String| {
        let c = c.clone();
        async move {
            let body = c.get("/api/files").bearer(&token).send().await.ok_json(200);
            assert_fields(&body, &["files"], "GET /api/files");
            let files = body["files"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| panic!("files: {body}"));
            for f in &files {
                assert_fields(f, FILE_FIELDS, "listed file");
            }
            files
        }
    };
    let mine = list(owner.access.clone()).await;
    assert_eq!(mine, vec![meta.clone()], "the owner's list");
    let theirs = list(other.access.clone()).await;
    assert!(
        theirs.is_empty(),
        "another user's list shows foreign files: {theirs:?}"
    );
}

/// Another user's file is `404 FILE_002` on download and delete, and stays intact.
pub async fn other_users_file_is_file_002<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let owner = ctx.register(&c).await;
    let other = ctx.register(&c.fresh()).await;
    let bytes = csv_bytes(3);
    let meta = upload_raw(&c, &owner.access, "private.csv", "text/csv", bytes.clone())
        .await
        .ok_json(201);
    let id = path_id(&meta["id"], "id");
    download(&c, &other.access, &id)
        .await
        .expect_error(404, "FILE_002");
    c.delete(&format!("/api/files/{id}"))
        .bearer(&other.access)
        .send()
        .await
        .expect_error(404, "FILE_002");
    assert_download(&c, &owner.access, &meta, &bytes).await;
}

/// `DELETE /api/files/{id}` answers 204; the file is then `404 FILE_002` and gone from the
/// list; deleting it again is `404 FILE_002`.
pub async fn delete_file<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let owner = ctx.register(&c).await;
    let meta = upload_raw(&c, &owner.access, "gone.csv", "text/csv", csv_bytes(3))
        .await
        .ok_json(201);
    let id = path_id(&meta["id"], "id");
    let r = c
        .delete(&format!("/api/files/{id}"))
        .bearer(&owner.access)
        .send()
        .await;
    r.expect(204);
    download(&c, &owner.access, &id)
        .await
        .expect_error(404, "FILE_002");
    c.delete(&format!("/api/files/{id}"))
        .bearer(&owner.access)
        .send()
        .await
        .expect_error(404, "FILE_002");
    let body = c
        .get("/api/files")
        .bearer(&owner.access)
        .send()
        .await
        .ok_json(200);
    assert_eq!(body["files"], json!([]), "deleted file still listed");
}

/// Unknown, huge, encoded and traversal-looking file ids are `404 FILE_002`.
pub async fn unknown_file_ids_are_file_002<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let owner = ctx.register(&c).await;
    let huge = "9".repeat(300);
    let long = "f".repeat(4000);
    let ids = [
        "0",
        "-1",
        "999999999",
        "00000000-0000-0000-0000-000000000000",
        huge.as_str(),
        long.as_str(),
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%00",
        "%F0%9F%98%80",
    ];
    for id in ids {
        download(&c, &owner.access, id)
            .await
            .expect_error(404, "FILE_002");
        c.delete(&format!("/api/files/{id}"))
            .bearer(&owner.access)
            .send()
            .await
            .expect_error(404, "FILE_002");
    }
    // An encoded dot-dot segment, sent as is (an HTTP client library would resolve it).
    let auth = format!("Bearer {}", owner.access);
    for method in ["GET", "DELETE"] {
        let r = c
            .raw(
                &format!("{method} /api/files/%2e%2e"),
                raw_request(
                    &c,
                    method,
                    "/api/files/%2e%2e",
                    &[("Authorization", auth.as_bytes())],
                    None,
                    false,
                ),
            )
            .await;
        r.expect_error(404, "FILE_002");
    }
}

/// The upload limit (`CUTTY_MAX_UPLOAD_BYTES=1024`) admits a 1024-byte file and refuses a
/// 1025-byte one with `413 FILE_004`, raw or multipart; the limit applies to the file, so a
/// 1000-byte file in a multipart body larger than 1024 bytes is accepted.
pub async fn upload_size_limit_is_file_004<L: Launch>(launch: &L) {
    let ctx = Ctx::start(
        launch,
        Config::standard().set("CUTTY_MAX_UPLOAD_BYTES", 1024),
    )
    .await;
    let c = ctx.client();
    let owner = ctx.register(&c).await;
    let sized = |n: usize| {
        let mut v = b"a,b\n".to_vec();
        v.resize(n - 1, b'x');
        v.push(b'\n');
        v
    };
    upload_raw(&c, &owner.access, "ok.csv", "text/csv", sized(1024))
        .await
        .expect(201);
    upload_raw(&c, &owner.access, "big.csv", "text/csv", sized(1025))
        .await
        .expect_error(413, "FILE_004");
    let multipart = |n: usize| {
        let part = reqwest::multipart::Part::bytes(sized(n))
            .file_name("m.csv")
            .mime_str("text/csv")
            .unwrap_or_else(|e| panic!("mime: {e}"));
        reqwest::multipart::Form::new().part("file", part)
    };
    c.post("/api/files")
        .bearer(&owner.access)
        .multipart(multipart(1000))
        .send()
        .await
        .expect(201);
    c.post("/api/files")
        .bearer(&owner.access)
        .multipart(multipart(1025))
        .send()
        .await
        .expect_error(413, "FILE_004");
}

/// The default upload limit is 10 MiB, separate from the 1 MiB JSON limit: a 2 MiB file is
/// accepted, 10 MiB + 1 byte is `413 FILE_004`.
pub async fn default_upload_limit_is_10_mib<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let owner = ctx.register(&c).await;
    let mut two = csv_bytes(0);
    two.resize(2 * 1024 * 1024 - 1, b'x');
    two.push(b'\n');
    upload_raw(&c, &owner.access, "two.csv", "text/csv", two)
        .await
        .expect(201);
    let mut big = csv_bytes(0);
    big.resize(10 * 1024 * 1024, b'y');
    big.push(b'\n');
    let auth = format!("Bearer {}", owner.access);
    let r = c
        .raw(
            "POST /api/files (10 MiB + 1)",
            raw_request(
                &c,
                "POST",
                "/api/files?filename=big.csv",
                &[
                    ("Content-Type", b"text/csv"),
                    ("Authorization", auth.as_bytes()),
                ],
                Some(&big),
                false,
            ),
        )
        .await;
    r.expect_error(413, "FILE_004");
}

/// Content that is not an accepted format is refused at upload with `415 FILE_005`. (The
/// contract does not list the accepted formats; the suite's choice of a surely unaccepted
/// one is a Windows executable.)
pub async fn unaccepted_format_is_file_005<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let owner = ctx.register(&c).await;
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    exe.extend_from_slice(&[0u8; 112]);
    exe.extend_from_slice(b"PE\x00\x00");
    upload_raw(
        &c,
        &owner.access,
        "tool.exe",
        "application/x-msdownload",
        exe,
    )
    .await
    .expect_error(415, "FILE_005");
    let body = c
        .get("/api/files")
        .bearer(&owner.access)
        .send()
        .await
        .ok_json(200);
    assert_eq!(body["files"], json!([]), "a refused upload was stored");
}

/// Malformed uploads are 400 (`FILE_001`, or `REQ_001` for a missing field — the contract
/// allows either reading): a raw body without `filename`, a multipart body without a `file`
/// field, a multipart body that does not match its boundary. Without credentials: `401
/// AUTH_001`.
pub async fn malformed_uploads_are_400<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let owner = ctx.register(&c).await;
    let check = |r: Resp| {
        let code = r.error_code();
        assert!(
            r.status == 400 && matches!(code.as_deref(), Some("FILE_001") | Some("REQ_001")),
            "{}: expected 400 FILE_001 (or REQ_001), got {} {}",
            r.label,
            r.status,
            r.snippet()
        );
    };
    check(
        c.post("/api/files")
            .bearer(&owner.access)
            .body_with("text/csv", "a,b\n1,2\n")
            .send()
            .await,
    );
    let form = reqwest::multipart::Form::new().text("other", "a,b\n1,2\n");
    check(
        c.post("/api/files")
            .bearer(&owner.access)
            .multipart(form)
            .send()
            .await,
    );
    check(
        c.post("/api/files")
            .bearer(&owner.access)
            .body_with(
                "multipart/form-data; boundary=XYZXYZ",
                "--ABC\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\na,b\r\n",
            )
            .send()
            .await,
    );
    check(
        c.post("/api/files")
            .bearer(&owner.access)
            .body_with(
                "multipart/form-data; boundary=XYZXYZ",
                "--XYZXYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\na,b\r\n1,2",
            )
            .send()
            .await,
    );
    upload_raw(&c, "", "a.csv", "text/csv", b"a\n".to_vec())
        .await
        .expect_error(401, "AUTH_001");
    c.post("/api/files?filename=a.csv")
        .body_with("text/csv", "a\n")
        .send()
        .await
        .expect_error(401, "AUTH_001");
    let body = c
        .get("/api/files")
        .bearer(&owner.access)
        .send()
        .await
        .ok_json(200);
    assert_eq!(body["files"], json!([]), "a malformed upload was stored");
}

/// Odd file names (unicode, traversal, control characters, 10 000 characters) never cause a
/// 5xx: each is accepted (201) or refused with a 4xx contract error. (The contract does not
/// say how names are sanitised, so the suite asserts nothing more.)
pub async fn odd_file_names_are_handled<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let owner = ctx.register(&c).await;
    let long = format!("{}.csv", "n".repeat(10_000));
    for name in [
        "../../etc/passwd.csv",
        "..\\..\\win.csv",
        "spaces and \u{1F600}.csv",
        "rtl\u{202E}vsc.exe",
        "nul\u{0}.csv",
        "new\nline.csv",
        "",
        long.as_str(),
    ] {
        let r = upload_raw(&c, &owner.access, name, "text/csv", b"a,b\n1,2\n".to_vec()).await;
        assert!(
            r.status == 201 || (400..500).contains(&r.status),
            "{}: {} {}",
            r.label,
            r.status,
            r.snippet()
        );
    }
}
