//! The file and list routes: `POST/GET /api/files`, `GET/DELETE /api/files/{id}`,
//! `POST /api/lists/process`.
//!
//! Handlers translate HTTP to the facade's [`FileService`] (`Cutty::files`) and back; the
//! permission guard ([`RequirePermission`]) names the permission each route needs, and the
//! service checks it again with the ownership rules.
//!
//! # Uploads
//! `POST /api/files` takes either
//! * a **raw body**: the bytes, with `?filename=` and the `Content-Type` of the file; or
//! * **`multipart/form-data`** with the file in the field `file` (its part's file name and
//!   `Content-Type`; `?filename=` overrides a missing part file name). Other fields before it
//!   are skipped; the body after it is not read.
//!
//! The body is read as it arrives: a `Content-Length` above the upload limit is refused
//! before reading, and the limit is enforced on every chunk (`413 FILE_004`), as is an early
//! signature mismatch (`415 FILE_005`). A body that breaks off or a malformed multipart
//! body is `400 FILE_001`. The axum [`DefaultBodyLimit`] of the JSON routes does not apply
//! here; the service's upload limit does (multipart framing gets 64 KiB on top).
//!
//! # Downloads
//! `GET /api/files/{id}` answers the bytes with `Content-Type` (UTF-8 text types with
//! `charset=utf-8`), `Content-Length`, `Content-Disposition: attachment` with the file name
//! (RFC 6266, `filename*` for non-ASCII names), `X-Content-Type-Options: nosniff` and
//! `Cache-Control: private, no-cache`, so a browser never renders an upload inline.
//!
//! # CPU work
//! Completing an upload (SHA-256, format check) and processing a list run on tokio's
//! blocking pool, not on an executor thread.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cutty_core::error::{Error, ErrorCode};
use cutty_core::file::{FileActor, FileService, ProcessListRequest, Upload};
use http_body_util::BodyExt as _;

use crate::ApiError;
use crate::auth::{FilesRead, FilesWrite, ListProcess, RequirePermission};
use crate::extract::{ContractJson, ContractPath, ContractQuery};
use crate::state::CuttyState;

type ApiResult<T> = Result<T, ApiError>;

/// Room for multipart framing (boundaries, part headers, small fields before `file`) on
/// top of the upload limit.
const MULTIPART_SLACK: u64 = 64 * 1024;

/// The file and list routes, to merge into a router whose state is [`CuttyState`] and
/// which has the [`GateLayer`](crate::GateLayer) outside (as [`router`](crate::router)
/// does).
pub fn file_routes() -> Router<CuttyState> {
    Router::new()
        .route(
            "/api/files",
            post(upload)
                .layer(DefaultBodyLimit::disable())
                .get(list_files),
        )
        .route("/api/files/{id}", get(download).delete(delete_file))
        .route("/api/lists/process", post(process_list))
}

fn files(state: &CuttyState) -> Result<&FileService, ApiError> {
    Ok(state.cutty().files()?)
}

/// `?filename=`: at most once.
fn filename_param(pairs: &[(String, String)]) -> Result<Option<&str>, Error> {
    let mut found = pairs.iter().filter(|(k, _)| k == "filename");
    let first = found.next();
    if found.next().is_some() {
        return Err(Error::invalid_field("filename", "appears more than once"));
    }
    Ok(first.map(|(_, v)| v.as_str()))
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("multipart/form-data"))
}

fn malformed_upload() -> ApiError {
    ErrorCode::UploadMalformed.into()
}

async fn upload(
    State(state): State<CuttyState>,
    caller: RequirePermission<FilesWrite>,
    ContractQuery(pairs): ContractQuery<Vec<(String, String)>>,
    request: Request,
) -> ApiResult<Response> {
    let service = files(&state)?;
    let actor = FileActor::from(caller.caller());
    let filename = filename_param(&pairs)?;
    let upload = if is_multipart(request.headers()) {
        multipart_upload(service, &actor, filename, request).await?
    } else {
        raw_upload(service, &actor, filename, request).await?
    };
    let finishing = service.clone();
    let meta = off_the_executor(async move { finishing.finish_upload(upload).await }).await?;
    let mut response = (StatusCode::CREATED, Json(&meta)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/files/{}", meta.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn raw_upload(
    service: &FileService,
    actor: &FileActor,
    filename: Option<&str>,
    request: Request,
) -> ApiResult<Upload> {
    let content_type = match request.headers().get(header::CONTENT_TYPE) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::from(ErrorCode::InvalidFileFormat))?,
        ),
    };
    let mut upload = service.start_upload(actor, filename, content_type)?;
    if let Some(len) = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        upload.expect_len(len)?;
    }
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| malformed_upload())?;
        if let Ok(data) = frame.into_data() {
            upload.push(&data)?;
        }
    }
    Ok(upload)
}

async fn multipart_upload(
    service: &FileService,
    actor: &FileActor,
    filename: Option<&str>,
    request: Request,
) -> ApiResult<Upload> {
    let limit = service
        .config()
        .max_upload_bytes
        .saturating_add(MULTIPART_SLACK);
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let request = Request::from_parts(parts, Body::new(limited));
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| malformed_upload())?;
    let multipart_error = |e: axum::extract::multipart::MultipartError| -> ApiError {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::FileTooLarge.into()
        } else {
            malformed_upload()
        }
    };
    loop {
        let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? else {
            return Err(Error::invalid_field("file", "is required").into());
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field
            .file_name()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .or_else(|| filename.map(str::to_owned));
        let content_type = field.content_type().map(str::to_owned);
        let mut upload = service.start_upload(actor, name.as_deref(), content_type.as_deref())?;
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            upload.push(&chunk)?;
        }
        return Ok(upload);
    }
}

async fn list_files(
    State(state): State<CuttyState>,
    caller: RequirePermission<FilesRead>,
) -> ApiResult<Response> {
    let list = files(&state)?
        .list(&FileActor::from(caller.caller()))
        .await?;
    Ok(Json(list).into_response())
}

async fn download(
    State(state): State<CuttyState>,
    caller: RequirePermission<FilesRead>,
    ContractPath(id): ContractPath<String>,
) -> ApiResult<Response> {
    let file = files(&state)?
        .download(&FileActor::from(caller.caller()), &id)
        .await?;
    let mut response = Response::new(Body::from(file.bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.meta.content_type.content_type_header()),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.meta.size));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&file.meta.filename)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

async fn delete_file(
    State(state): State<CuttyState>,
    caller: RequirePermission<FilesWrite>,
    ContractPath(id): ContractPath<String>,
) -> ApiResult<StatusCode> {
    files(&state)?
        .delete(&FileActor::from(caller.caller()), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn process_list(
    State(state): State<CuttyState>,
    caller: RequirePermission<ListProcess>,
    ContractJson(request): ContractJson<ProcessListRequest>,
) -> ApiResult<Response> {
    let service = files(&state)?.clone();
    let actor = FileActor::from(caller.caller());
    let processed =
        off_the_executor(async move { service.process_list(&actor, &request).await }).await?;
    Ok((StatusCode::CREATED, Json(processed)).into_response())
}

/// Runs `work` on tokio's blocking pool (driving its store calls through the runtime's
/// handle), so the CPU-bound parts — hashing and checking a 10 MiB upload, processing a
/// list (≈ 0.1 s for 10 MiB) — never hold an executor thread. A panic inside is a 500.
async fn off_the_executor<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, Error>> + Send + 'static,
) -> ApiResult<T> {
    let handle = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || handle.block_on(work)).await {
        Ok(result) => Ok(result?),
        Err(join) => {
            tracing::error!(error = %join, "file work panicked or was cancelled");
            Err(ApiError::internal())
        }
    }
}

/// `attachment; filename="<ASCII stand-in>"; filename*=UTF-8''<percent-encoded>` (RFC 6266,
/// RFC 8187). The stand-in replaces anything but printable ASCII, `"` and `\` with `_`.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_safe_for_any_valid_name() {
        assert_eq!(
            content_disposition("report 1.csv"),
            "attachment; filename=\"report 1.csv\"; filename*=UTF-8''report%201.csv"
        );
        assert_eq!(
            content_disposition("Zoë \"x\".csv"),
            "attachment; filename=\"Zo_ _x_.csv\"; filename*=UTF-8''Zo%C3%AB%20%22x%22.csv"
        );
        for name in ["a;b=c.txt", "季度.csv", "x\\y"] {
            assert!(HeaderValue::from_str(&content_disposition(name)).is_ok());
        }
    }

    #[test]
    fn filename_parameter_at_most_once() {
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        assert_eq!(filename_param(&p(&[])).unwrap(), None);
        assert_eq!(
            filename_param(&p(&[("x", "1"), ("filename", "a.csv")])).unwrap(),
            Some("a.csv")
        );
        assert!(filename_param(&p(&[("filename", "a"), ("filename", "b")])).is_err());
    }

    #[test]
    fn multipart_detection() {
        let mut h = HeaderMap::new();
        assert!(!is_multipart(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Multipart/Form-Data; boundary=x"),
        );
        assert!(is_multipart(&h));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        assert!(!is_multipart(&h));
    }
}
