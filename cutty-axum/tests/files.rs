//! The file and list routes through the whole router (gate, permission guard, facade,
//! in-memory file stores), with oneshot requests.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{Answer, TestApp, app, get, post, req, send_to};
use cutty_axum::CuttyState;
use cutty_core::file::{FileConfig, FileService, MemoryBlobStore, MemoryFileStore};
use serde_json::{Value, json};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

struct Files {
    app: TestApp,
    router: Router,
    blobs: Arc<MemoryBlobStore>,
}

fn files_app_with(config: FileConfig) -> Files {
    let app = app();
    let blobs = Arc::new(MemoryBlobStore::new());
    let service = FileService::new(
        Arc::new(MemoryFileStore::new()),
        blobs.clone(),
        Arc::new(app.clock.clone()),
        config,
    );
    let router = cutty_axum::router(CuttyState::new(app.cutty.clone().with_files(service)));
    Files { app, router, blobs }
}

fn files_app() -> Files {
    files_app_with(FileConfig::default())
}

impl Files {
    async fn send(&self, r: common::Req) -> Answer {
        send_to(&self.router, r).await
    }

    async fn user(&self, name: &str) -> String {
        // Registration goes through the router with files too (same facade).
        let a = self
            .send(post(
                "/api/accounts/register",
                json!({"username": name, "email": format!("{name}@example.org"),
                       "password": "correct horse battery"}),
            ))
            .await;
        assert_eq!(a.status, StatusCode::CREATED);
        a.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn api_key(&self, jwt: &str, permissions: &[&str]) -> String {
        let a = self
            .send(
                post(
                    "/api/api-keys",
                    json!({"name": "files test", "permissions": permissions}),
                )
                .bearer(jwt),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
        a.json()["key"].as_str().unwrap().to_owned()
    }

    async fn upload(&self, token: &str, name: &str, ct: Option<&str>, body: &[u8]) -> Answer {
        let mut r = req(Method::POST, &format!("/api/files?filename={name}"))
            .bearer(token)
            .raw(body.to_vec());
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        self.send(r).await
    }
}

/// One multipart part: field name, file name, `Content-Type`, bytes.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "cutty-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, filename, ct, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(f) = filename {
            disposition.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = ct {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn raw_upload_list_download_delete() {
    let f = files_app();
    let alice = f.user("alice").await;
    let body = "name,city\nZoë,Zürich\n".as_bytes();
    let a = f.upload(&alice, "people.csv", Some("text/csv"), body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    let meta = a.json();
    assert_eq!(
        keys(&meta),
        [
            "content_type",
            "created_at",
            "filename",
            "id",
            "sha256",
            "size"
        ]
    );
    assert_eq!(meta["filename"], "people.csv");
    assert_eq!(meta["content_type"], "text/csv");
    assert_eq!(meta["size"], body.len());
    assert_eq!(meta["created_at"], 1_700_000_000_000_i64);
    assert_eq!(meta["sha256"].as_str().unwrap().len(), 64);
    let id = meta["id"].as_str().unwrap().to_owned();
    assert_eq!(
        a.header("location"),
        Some(format!("/api/files/{id}").as_str())
    );
    assert!(a.rate_limit().is_some(), "an /api route: X-RateLimit-*");
    f.app.conforms("/api/files", "post", &a);

    let a = f.send(get("/api/files").bearer(&alice)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), json!({"files": [meta]}));
    f.app.conforms("/api/files", "get", &a);

    let a = f
        .send(get(&format!("/api/files/{id}")).bearer(&alice))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // Bytes, not JSON: documented per media type, which the JSON schema helper cannot check.
    assert_eq!(a.bytes, body);
    assert_eq!(a.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        a.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert!(
        a.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"people.csv\"")
    );

    let a = f
        .send(req(Method::DELETE, &format!("/api/files/{id}")).bearer(&alice))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    f.app.conforms("/api/files/{id}", "delete", &a);
    assert!(a.bytes.is_empty());
    assert!(f.blobs.is_empty());
    let a = f
        .send(get(&format!("/api/files/{id}")).bearer(&alice))
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::NOT_FOUND, "FILE_002")
    );
    let a = f
        .send(req(Method::DELETE, &format!("/api/files/{id}")).bearer(&alice))
        .await;
    assert_eq!(a.code(), "FILE_002");
}

#[tokio::test]
async fn multipart_upload_uses_the_file_field() {
    let f = files_app();
    let alice = f.user("alice").await;
    let (ct, body) = multipart(&[
        ("note", None, None, b"ignored"),
        ("file", Some("pixel.png"), Some("image/png"), PNG),
    ]);
    let a = f
        .send(
            req(Method::POST, "/api/files")
                .bearer(&alice)
                .header("content-type", &ct)
                .raw(body),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    assert_eq!(a.json()["filename"], "pixel.png");
    assert_eq!(a.json()["content_type"], "image/png");
    let id = a.json()["id"].as_str().unwrap().to_owned();
    let a = f
        .send(get(&format!("/api/files/{id}")).bearer(&alice))
        .await;
    assert_eq!(
        (a.bytes.as_slice(), a.header("content-type")),
        (PNG, Some("image/png"))
    );

    // Larger than the 1 MiB JSON limit, within the 10 MiB upload limit.
    let big = "x,y\n".repeat(600_000);
    let (ct, body) = multipart(&[("file", Some("big.csv"), None, big.as_bytes())]);
    let a = f
        .send(
            req(Method::POST, "/api/files")
                .bearer(&alice)
                .header("content-type", &ct)
                .raw(body),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    assert_eq!(
        (a.json()["size"].as_u64(), &a.json()["content_type"]),
        (Some(2_400_000), &json!("text/csv"))
    );

    // No part file name: ?filename= names it.
    let (ct, body) = multipart(&[("file", None, Some("text/plain"), b"hello")]);
    let a = f
        .send(
            req(Method::POST, "/api/files?filename=hello.txt")
                .bearer(&alice)
                .header("content-type", &ct)
                .raw(body),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    assert_eq!(a.json()["filename"], "hello.txt");

    // No `file` field: REQ_001 naming it; broken multipart: FILE_001.
    let (ct, body) = multipart(&[("other", Some("x.txt"), None, b"x")]);
    let a = f
        .send(
            req(Method::POST, "/api/files")
                .bearer(&alice)
                .header("content-type", &ct)
                .raw(body),
        )
        .await;
    assert_eq!(a.code(), "REQ_001");
    assert!(a.json()["error"]["details"]["file"].is_string());
    let (ct, body) = multipart(&[("file", Some("x.txt"), None, b"x")]);
    let truncated = body[..body.len() - 20].to_vec();
    let a = f
        .send(
            req(Method::POST, "/api/files")
                .bearer(&alice)
                .header("content-type", &ct)
                .raw(truncated),
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::BAD_REQUEST, "FILE_001")
    );
    let a = f
        .send(
            req(Method::POST, "/api/files")
                .bearer(&alice)
                .header("content-type", "multipart/form-data")
                .raw(b"no boundary".to_vec()),
        )
        .await;
    assert_eq!(a.code(), "FILE_001");
}

#[tokio::test]
async fn upload_limit_format_and_name_refusals() {
    let f = files_app_with(FileConfig {
        max_upload_bytes: 1024,
        ..FileConfig::default()
    });
    let alice = f.user("alice").await;
    let big = vec![b'a'; 2000];

    // Announced too large, streamed too large without a length, and in a multipart part.
    let a = f.upload(&alice, "a.txt", Some("text/plain"), &big).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "FILE_004")
    );
    f.app.conforms("/api/files", "post", &a);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b'a'; 100])).collect();
    let mut r = req(Method::POST, "/api/files?filename=a.txt")
        .bearer(&alice)
        .build();
    *r.body_mut() = Body::from_stream(futures_stream(chunks));
    let a = send_request(&f.router, r).await;
    assert_eq!(a.code(), "FILE_004");
    let (ct, body) = multipart(&[("file", Some("a.txt"), None, &big)]);
    let a = f
        .send(
            req(Method::POST, "/api/files")
                .bearer(&alice)
                .header("content-type", &ct)
                .raw(body),
        )
        .await;
    assert_eq!(a.code(), "FILE_004");
    let a = f
        .upload(&alice, "a.txt", Some("text/plain"), &big[..1024])
        .await;
    assert_eq!(a.status, StatusCode::CREATED);

    // A body that breaks off: FILE_001 400.
    let chunks = vec![
        Ok(b"abc".to_vec()),
        Err(std::io::Error::other("connection reset")),
    ];
    let mut r = req(Method::POST, "/api/files?filename=a.txt")
        .bearer(&alice)
        .build();
    *r.body_mut() = Body::from_stream(futures_stream(chunks));
    let a = send_request(&f.router, r).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::BAD_REQUEST, "FILE_001")
    );

    for (name, ct, body) in [
        ("x.png", Some("image/png"), &b"not a png"[..]),
        ("x.html", Some("text/html"), &b"<p>"[..]),
        ("x.csv", Some("text/csv"), PNG),
        ("x.bin", None, &b"\x00\x01\x02"[..]),
    ] {
        let a = f.upload(&alice, name, ct, body).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "FILE_005"),
            "{name}"
        );
        f.app.conforms("/api/files", "post", &a);
    }
    let a = f
        .send(
            req(Method::POST, "/api/files")
                .bearer(&alice)
                .raw(b"x".to_vec()),
        )
        .await;
    assert_eq!(a.code(), "REQ_001");
    assert!(a.json()["error"]["details"]["filename"].is_string());
    let a = f.upload(&alice, "..%2Fetc%2Fpasswd", None, b"x").await;
    assert_eq!(a.code(), "REQ_001");
    let a = f
        .send(
            req(Method::POST, "/api/files?filename=a.txt&filename=b.txt")
                .bearer(&alice)
                .raw(b"x".to_vec()),
        )
        .await;
    assert_eq!(a.code(), "REQ_001");
    // Nothing refused was stored.
    assert_eq!(f.blobs.len(), 1);
}

#[tokio::test]
async fn other_users_files_do_not_exist_for_you() {
    let f = files_app();
    let alice = f.user("alice").await;
    let bob = f.user("bob").await;
    let a = f.upload(&alice, "a.txt", None, b"secret").await;
    let id = a.json()["id"].as_str().unwrap().to_owned();
    for r in [
        get(&format!("/api/files/{id}")),
        req(Method::DELETE, &format!("/api/files/{id}")),
    ] {
        let a = f.send(r.bearer(&bob)).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (StatusCode::NOT_FOUND, "FILE_002")
        );
    }
    let a = f
        .send(post("/api/lists/process", json!({"file_id": id})).bearer(&bob))
        .await;
    assert_eq!(a.code(), "FILE_002");
    assert_eq!(
        f.send(get("/api/files").bearer(&bob)).await.json(),
        json!({"files": []})
    );
    let a = f
        .send(get(&format!("/api/files/{id}")).bearer(&alice))
        .await;
    assert_eq!(a.bytes, b"secret");
    for bad in ["nope", "00000000-0000-0000-0000-000000000000"] {
        let a = f
            .send(get(&format!("/api/files/{bad}")).bearer(&alice))
            .await;
        assert_eq!(a.code(), "FILE_002");
    }
}

#[tokio::test]
async fn api_keys_need_the_routes_permission() {
    let f = files_app();
    let alice = f.user("alice").await;
    let reader = f.api_key(&alice, &["files:read"]).await;
    let writer = f.api_key(&alice, &["files:write"]).await;
    let processor = f.api_key(&alice, &["list:process"]).await;

    let a = f.upload(&reader, "a.csv", None, b"a\n1\n").await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::FORBIDDEN, "API_005")
    );
    let a = f.upload(&writer, "a.csv", None, b"a\n1\n1\n").await;
    assert_eq!(a.status, StatusCode::CREATED);
    let id = a.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        f.send(get("/api/files").bearer(&writer)).await.code(),
        "API_005"
    );
    let a = f.send(get("/api/files").bearer(&reader)).await;
    assert_eq!(a.json()["files"].as_array().unwrap().len(), 1);
    let a = f
        .send(get(&format!("/api/files/{id}")).bearer(&reader))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = f
        .send(post("/api/lists/process", json!({"file_id": id})).bearer(&reader))
        .await;
    assert_eq!(a.code(), "API_005");
    let a = f
        .send(post("/api/lists/process", json!({"file_id": id, "dedupe": true})).bearer(&processor))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    assert_eq!(a.json()["rows_out"], 1);
    let a = f
        .send(req(Method::DELETE, &format!("/api/files/{id}")).bearer(&reader))
        .await;
    assert_eq!(a.code(), "API_005");
    let a = f
        .send(req(Method::DELETE, &format!("/api/files/{id}")).bearer(&writer))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);

    // No credentials at all.
    let a = f.send(get("/api/files")).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::UNAUTHORIZED, "AUTH_001")
    );
}

#[tokio::test]
async fn lists_are_processed_into_new_files() {
    let f = files_app();
    let alice = f.user("alice").await;
    let csv = "email,name\na@x.org,Ada\nb@x.org,Bob\nbroken\na@x.org,Ada\nc@x.org,Cy\n";
    let a = f.upload(&alice, "people.csv", None, csv.as_bytes()).await;
    let id = a.json()["id"].as_str().unwrap().to_owned();

    let a = f
        .send(
            post(
                "/api/lists/process",
                json!({"file_id": id, "dedupe": true, "columns": ["name"], "split_rows": 2}),
            )
            .bearer(&alice),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    f.app.conforms("/api/lists/process", "post", &a);
    let body = a.json();
    assert_eq!(
        keys(&body),
        ["files", "malformed_rows", "rows_in", "rows_out"]
    );
    assert_eq!(
        (&body["rows_in"], &body["rows_out"], &body["malformed_rows"]),
        (&json!(5), &json!(3), &json!(1))
    );
    let outputs = body["files"].as_array().unwrap();
    assert_eq!(outputs.len(), 2);
    let mut texts = Vec::new();
    for (meta, name) in outputs
        .iter()
        .zip(["people-part-1.csv", "people-part-2.csv"])
    {
        assert_eq!(
            (&meta["filename"], &meta["content_type"]),
            (&json!(name), &json!("text/csv"))
        );
        let got = f
            .send(get(&format!("/api/files/{}", meta["id"].as_str().unwrap())).bearer(&alice))
            .await;
        texts.push(String::from_utf8(got.bytes).unwrap());
    }
    assert_eq!(texts, ["name\r\nAda\r\nBob\r\n", "name\r\nCy\r\n"]);
    let listed = f.send(get("/api/files").bearer(&alice)).await.json();
    assert_eq!(listed["files"].as_array().unwrap().len(), 3);

    for (body, field) in [
        (json!({"file_id": id, "columns": ["nope"]}), "columns"),
        (json!({"file_id": id, "columns": []}), "columns"),
        (json!({"file_id": id, "split_rows": 0}), "split_rows"),
        (json!({"file_id": id, "split_rows": -1}), "split_rows"),
        (json!({"file_id": "not-a-uuid"}), "file_id"),
        (json!({"file_id": id, "dedup": true}), "dedup"),
        (json!({}), "file_id"),
    ] {
        let a = f
            .send(post("/api/lists/process", body.clone()).bearer(&alice))
            .await;
        assert_eq!(a.code(), "REQ_001", "{body}");
        f.app.conforms("/api/lists/process", "post", &a);
        assert!(
            a.json()["error"]["details"][field].is_string(),
            "{body}: {}",
            a.json()
        );
    }
    let png = f.upload(&alice, "p.png", None, PNG).await.json()["id"].clone();
    let a = f
        .send(post("/api/lists/process", json!({"file_id": png})).bearer(&alice))
        .await;
    assert_eq!(a.code(), "FILE_005");
    let a = f
        .send(
            req(Method::POST, "/api/lists/process")
                .bearer(&alice)
                .raw(b"{}".to_vec()),
        )
        .await;
    assert_eq!(a.code(), "REQ_006");
}

#[tokio::test]
async fn routes_and_methods() {
    let f = files_app();
    let alice = f.user("alice").await;
    let a = f.send(req(Method::PUT, "/api/files").bearer(&alice)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "REQ_005")
    );
    let a = f
        .send(req(Method::POST, "/api/files/x").bearer(&alice))
        .await;
    assert_eq!(a.code(), "REQ_005");
    let a = f.send(get("/api/lists/process").bearer(&alice)).await;
    assert_eq!(a.code(), "REQ_005");
    let a = f.send(get("/api/files/a/b").bearer(&alice)).await;
    assert_eq!(a.code(), "REQ_003");
}

/// The server's wiring: metadata in SQLite, bytes in a directory, work on the blocking
/// pool, on both runtime flavours.
async fn sqlite_and_directory_round_trip() {
    let dir = std::env::temp_dir().join(format!(
        "cutty-axum-files-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = cutty_store::sqlite::SqliteStore::connect(
        &format!("sqlite://{}/cutty.db", dir.display()),
        cutty_store::StoreOptions::default(),
    )
    .await
    .expect("sqlite");
    let blobs = cutty_store::fs::FsBlobStore::open(dir.join("files"))
        .await
        .expect("files dir");
    let app = app();
    let service = FileService::new(
        Arc::new(db),
        Arc::new(blobs),
        Arc::new(app.clock.clone()),
        FileConfig::default(),
    );
    let router = cutty_axum::router(CuttyState::new(app.cutty.clone().with_files(service)));
    let f = Files {
        app,
        router,
        blobs: Arc::new(MemoryBlobStore::new()),
    };
    let alice = f.user("alice").await;
    let a = f
        .upload(&alice, "l.csv", None, b"a,b\n1,2\n1,2\n3,4\n")
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    let id = a.json()["id"].as_str().unwrap().to_owned();
    let a = f
        .send(post("/api/lists/process", json!({"file_id": id, "dedupe": true})).bearer(&alice))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    let out = a.json()["files"][0]["id"].as_str().unwrap().to_owned();
    let a = f
        .send(get(&format!("/api/files/{out}")).bearer(&alice))
        .await;
    assert_eq!(a.bytes, b"a,b\r\n1,2\r\n3,4\r\n");
    let listed = f.send(get("/api/files").bearer(&alice)).await.json();
    assert_eq!(listed["files"].as_array().unwrap().len(), 2);
    let a = f
        .send(req(Method::DELETE, &format!("/api/files/{id}")).bearer(&alice))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sqlite_and_directory_on_a_current_thread_runtime() {
    sqlite_and_directory_round_trip().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_directory_on_a_multi_thread_runtime() {
    sqlite_and_directory_round_trip().await;
}

#[tokio::test]
async fn without_file_storage_the_routes_answer_503() {
    let app = app();
    let (token, _) = app.register("alice").await;
    let a = app.send(get("/api/files").bearer(&token)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "DB_001")
    );
}

fn futures_stream(
    items: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures::stream::iter(items)
}

async fn send_request(router: &Router, r: axum::http::Request<Body>) -> Answer {
    use tower::ServiceExt;
    let response = router.clone().oneshot(r).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        bytes,
    }
}
