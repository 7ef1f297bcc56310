//! `POST /api/lists/process`: dedupe, column selection, splitting, malformed rows.
//!
//! The contract does not say whether output files repeat the header row nor whether
//! `rows_in`/`rows_out` count it; the suite therefore compares data rows (dropping a first
//! line equal to the expected header) and checks the counts through their difference.

use serde_json::{Value, json};

use super::files::FILE_FIELDS;
use crate::check::{assert_fields, int, path_id};
use crate::client::{Client, Resp};
use crate::fixtures::{Account, Ctx, upload_csv};
use crate::host::{Config, Launch};

async fn process(c: &Client, token: &str, body: &Value) -> Resp {
    c.post("/api/lists/process")
        .bearer(token)
        .json(body)
        .send()
        .await
}

/// Asserts the result shape and returns `(files, rows_in, rows_out, malformed_rows)`.
#[track_caller]
fn result(body: &Value) -> (Vec<Value>, i64, i64, i64) {
    assert_fields(
        body,
        &["files", "rows_in", "rows_out", "malformed_rows"],
        "process result",
    );
    let files = body["files"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("files is not an array: {body}"));
    for f in &files {
        assert_fields(f, FILE_FIELDS, "processed file metadata");
    }
    (
        files,
        int(&body["rows_in"], "rows_in"),
        int(&body["rows_out"], "rows_out"),
        int(&body["malformed_rows"], "malformed_rows"),
    )
}

/// The data rows of an output file: lines without line endings, a first line equal to
/// `header` dropped.
async fn data_rows(c: &Client, account: &Account, meta: &Value, header: &str) -> Vec<String> {
    let id = path_id(&meta["id"], "id");
    let r = c
        .get(&format!("/api/files/{id}"))
        .bearer(&account.access)
        .send()
        .await;
    r.expect(200);
    let text = String::from_utf8_lossy(&r.body).replace("\r\n", "\n");
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.first().is_some_and(|l| l == header) {
        lines.remove(0);
    }
    lines
}

/// `dedupe: true` removes repeated whole rows, keeping the first occurrence in order; the
/// answer is 201 `{files, rows_in, rows_out, malformed_rows}` and the new file is the
/// caller's (listed, downloadable).
pub async fn dedupe_removes_repeated_rows<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let input = upload_csv(
        &c,
        &account.access,
        "people.csv",
        "name,city\nann,oslo\nbob,rome\nann,oslo\ncid,oslo\n",
    )
    .await;
    let body = process(
        &c,
        &account.access,
        &json!({"file_id": input["id"], "dedupe": true}),
    )
    .await
    .ok_json(201);
    let (files, rows_in, rows_out, malformed) = result(&body);
    assert_eq!(files.len(), 1, "{body}");
    assert_eq!(rows_in - rows_out, 1, "one duplicate removed: {body}");
    assert_eq!(malformed, 0);
    assert_eq!(
        data_rows(&c, &account, &files[0], "name,city").await,
        ["ann,oslo", "bob,rome", "cid,oslo"]
    );
    let list = c
        .get("/api/files")
        .bearer(&account.access)
        .send()
        .await
        .ok_json(200);
    let listed = list["files"].as_array().cloned().unwrap_or_default();
    assert!(
        listed.contains(&files[0]),
        "processed file not listed: {list}"
    );
}

/// `columns` selects columns by name, in the order given.
pub async fn columns_are_selected_in_order<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let input = upload_csv(
        &c,
        &account.access,
        "cols.csv",
        "id,name,city\n1,ann,oslo\n2,bob,rome\n",
    )
    .await;
    let body = process(
        &c,
        &account.access,
        &json!({"file_id": input["id"], "columns": ["city", "id"]}),
    )
    .await
    .ok_json(201);
    let (files, rows_in, rows_out, malformed) = result(&body);
    assert_eq!(
        (files.len(), rows_in - rows_out, malformed),
        (1, 0, 0),
        "{body}"
    );
    assert_eq!(
        data_rows(&c, &account, &files[0], "city,id").await,
        ["oslo,1", "rome,2"]
    );
}

/// `split_rows: N` splits the output into files of at most N data rows, in order, losing
/// none.
pub async fn split_rows_splits_the_output<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let input = upload_csv(&c, &account.access, "split.csv", "n\n1\n2\n3\n4\n5\n").await;
    let body = process(
        &c,
        &account.access,
        &json!({"file_id": input["id"], "split_rows": 2}),
    )
    .await
    .ok_json(201);
    let (files, rows_in, rows_out, malformed) = result(&body);
    assert_eq!(files.len(), 3, "5 rows in parts of 2: {body}");
    assert_eq!((rows_in - rows_out, malformed), (0, 0), "{body}");
    let mut all = Vec::new();
    for f in &files {
        let rows = data_rows(&c, &account, f, "n").await;
        assert!(rows.len() <= 2, "a part has {} rows: {rows:?}", rows.len());
        all.extend(rows);
    }
    assert_eq!(all, ["1", "2", "3", "4", "5"]);
}

/// Rows with the wrong number of fields are counted in `malformed_rows` and left out.
pub async fn malformed_rows_are_counted_and_skipped<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let input = upload_csv(&c, &account.access, "ragged.csv", "a,b\n1,2\n3\n4,5\n").await;
    let body = process(
        &c,
        &account.access,
        &json!({"file_id": input["id"], "dedupe": false}),
    )
    .await
    .ok_json(201);
    let (files, rows_in, rows_out, malformed) = result(&body);
    assert_eq!(malformed, 1, "{body}");
    assert_eq!(rows_in - rows_out, 1, "{body}");
    assert_eq!(
        data_rows(&c, &account, &files[0], "a,b").await,
        ["1,2", "4,5"]
    );
}

/// An unknown (deleted) or another user's `file_id` is `404 FILE_002`; an unknown column,
/// `split_rows` 0 / negative / not a number, non-list `columns`, a non-boolean `dedupe` and a
/// missing `file_id` are `400 REQ_001`.
pub async fn process_validation<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let other = ctx.register(&c.fresh()).await;
    let input = upload_csv(&c, &account.access, "v.csv", "a,b\n1,2\n").await;
    let gone = upload_csv(&c, &account.access, "gone.csv", "a\n1\n").await;
    c.delete(&format!("/api/files/{}", path_id(&gone["id"], "id")))
        .bearer(&account.access)
        .send()
        .await
        .expect(204);
    process(
        &c,
        &account.access,
        &json!({"file_id": gone["id"], "dedupe": true}),
    )
    .await
    .expect_error(404, "FILE_002");
    process(
        &c,
        &other.access,
        &json!({"file_id": input["id"], "dedupe": true}),
    )
    .await
    .expect_error(404, "FILE_002");
    let id = &input["id"];
    for body in [
        json!({"file_id": id, "columns": ["nope"]}),
        json!({"file_id": id, "columns": "a"}),
        json!({"file_id": id, "split_rows": 0}),
        json!({"file_id": id, "split_rows": -1}),
        json!({"file_id": id, "split_rows": "two"}),
        json!({"file_id": id, "dedupe": "yes"}),
        json!({"dedupe": true}),
    ] {
        process(&c, &account.access, &body)
            .await
            .expect_error(400, "REQ_001");
    }
}
