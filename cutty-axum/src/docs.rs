//! `/docs`: the OpenAPI document rendered as one self-contained HTML page, on the server.
//!
//! No script, no stylesheet or font from elsewhere (the service may run offline): a table
//! of contents, then per operation its method and path, who may call it, its parameters,
//! its body and its answers, each schema shown as a compact JSON-like outline with its
//! fields, types and which are required, then every named schema. Rendered once at
//! start-up from [`openapi`](crate::openapi::openapi).

use std::fmt::Write as _;

use serde_json::Value;
use utoipa::openapi::OpenApi;

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders inline code spans (`` `x` ``) of an already escaped text.
fn code_spans(escaped: &str) -> String {
    let mut out = String::new();
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn text(s: &str) -> String {
    code_spans(&esc(s))
}

/// The last segment of a `$ref`.
fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

/// A one-line type description of a schema: `string`, `integer (int64)`, `[Permission]`,
/// `User`, `string | null`, `"a" | "b"`.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let n = ref_name(r);
        return format!("<a href=\"#schema-{n}\">{n}</a>", n = esc(n));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            let sep = if key == "allOf" { " &amp; " } else { " | " };
            return list.iter().map(type_of).collect::<Vec<_>>().join(sep);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|v| esc(&v.to_string()))
            .collect::<Vec<_>>()
            .join(" | ");
    }
    let types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let mut parts = Vec::new();
    for t in &types {
        let one = match t.as_str() {
            "array" => format!(
                "[{}]",
                schema
                    .get("items")
                    .map(type_of)
                    .unwrap_or_else(|| "any".into())
            ),
            "object" => match schema.get("additionalProperties") {
                Some(v) if v.is_object() => format!("{{string: {}}}", type_of(v)),
                _ => "object".to_owned(),
            },
            other => match schema.get("format").and_then(Value::as_str) {
                Some(f) => format!("{} ({})", esc(other), esc(f)),
                None => esc(other),
            },
        };
        parts.push(one);
    }
    if parts.is_empty() {
        "any".to_owned()
    } else {
        parts.join(" | ")
    }
}

/// Constraints worth showing next to a type.
fn constraints(schema: &Value) -> String {
    let mut c = Vec::new();
    for (key, label) in [
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("minItems", "min items"),
        ("pattern", "pattern"),
    ] {
        if let Some(v) = schema.get(key) {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            c.push(format!("{label} <code>{}</code>", esc(&v)));
        }
    }
    c.join(", ")
}

/// A table of an object schema's fields.
fn fields_table(schema: &Value) -> String {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return format!("<p>{}</p>", type_of(schema));
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out =
        String::from("<table><tr><th>field</th><th>type</th><th>required</th><th>notes</th></tr>");
    for (name, p) in props {
        let mut notes = constraints(p);
        if let Some(d) = p.get("description").and_then(Value::as_str) {
            if !notes.is_empty() {
                notes.push_str("; ");
            }
            notes.push_str(&text(d));
        }
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            type_of(p),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                "no"
            },
            notes
        );
    }
    out.push_str("</table>");
    out
}

fn content_line(content: &Value) -> String {
    let Some(map) = content.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(mime, c)| {
            let ty = c.get("schema").map(type_of).unwrap_or_else(|| "any".into());
            format!("<code>{}</code> {}", esc(mime), ty)
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn render_operation(out: &mut String, path: &str, method: &str, op: &Value) {
    let id = op
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or("op");
    let summary = op.get("summary").and_then(Value::as_str).unwrap_or("");
    let _ = write!(
        out,
        "<section class=\"op\" id=\"op-{id}\"><h3><span class=\"m {m}\">{M}</span> <code>{p}</code></h3><p><b>{s}</b></p>",
        id = esc(id),
        m = esc(method),
        M = esc(&method.to_uppercase()),
        p = esc(path),
        s = text(summary)
    );
    if let Some(d) = op.get("description").and_then(Value::as_str) {
        let _ = write!(out, "<p>{}</p>", text(d));
    }
    let auth = match op.get("security").and_then(Value::as_array) {
        None => "none".to_owned(),
        Some(reqs) => reqs
            .iter()
            .map(|r| {
                r.as_object()
                    .and_then(|o| o.keys().next().cloned())
                    .unwrap_or_else(|| "none".to_owned())
            })
            .map(|k| match k.as_str() {
                "bearer_jwt" => "Bearer JWT".to_owned(),
                "api_key" => "Bearer API key".to_owned(),
                other => other.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" or "),
    };
    let _ = write!(out, "<p>Authentication: {}</p>", esc(&auth));
    if let Some(params) = op.get("parameters").and_then(Value::as_array) {
        out.push_str("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>notes</th></tr>");
        for p in params {
            let s = p.get("schema").cloned().unwrap_or(Value::Null);
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
                esc(p.get("name").and_then(Value::as_str).unwrap_or("")),
                esc(p.get("in").and_then(Value::as_str).unwrap_or("")),
                type_of(&s),
                if p.get("required").and_then(Value::as_bool) == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                constraints(&s),
                text(p.get("description").and_then(Value::as_str).unwrap_or("")),
            );
        }
        out.push_str("</table>");
    }
    if let Some(body) = op.get("requestBody") {
        let required = body.get("required").and_then(Value::as_bool) == Some(true);
        let _ = write!(
            out,
            "<h4>Body ({})</h4><p>{}</p>",
            if required { "required" } else { "optional" },
            body.get("content").map(content_line).unwrap_or_default()
        );
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        out.push_str("<h4>Responses</h4><table><tr><th>status</th><th>meaning</th><th>body</th><th>headers</th></tr>");
        for (status, r) in responses {
            let headers = r
                .get("headers")
                .and_then(Value::as_object)
                .map(|h| {
                    h.keys()
                        .map(|k| format!("<code>{}</code>", esc(k)))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(status),
                text(r.get("description").and_then(Value::as_str).unwrap_or("")),
                r.get("content").map(content_line).unwrap_or_default(),
                headers
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}\
code{background:#f3f3f3;padding:0 .2em;border-radius:3px}\
table{border-collapse:collapse;margin:.5em 0;width:100%}td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#fafafa}.op{border-top:1px solid #ccc;margin-top:1.5em}\
.m{display:inline-block;min-width:4.5em;text-align:center;color:#fff;border-radius:3px;font-size:.8em;padding:.1em .4em}\
.get{background:#2a7ab0}.post{background:#3a9a4a}.delete{background:#b03a2a}.put,.patch{background:#a07a1a}";

/// The HTML page for `spec`.
pub fn render_html(spec: &OpenApi) -> String {
    let doc = serde_json::to_value(spec).unwrap_or(Value::Null);
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("API");
    let version = doc
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} API</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>\
         <h1>{t} API <small>{v}</small></h1>",
        t = esc(title),
        v = esc(version)
    );
    if let Some(d) = doc.pointer("/info/description").and_then(Value::as_str) {
        let _ = write!(out, "<p>{}</p>", text(d));
    }
    out.push_str(
        "<p>Machine-readable: <a href=\"openapi.json\">openapi.json</a> (OpenAPI 3.1).</p>",
    );

    // Operations in table order (the document's path map is sorted; keep the docs' order).
    let mut ops: Vec<(String, String, Value)> = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for (method, op) in item {
                    if matches!(
                        method.as_str(),
                        "get" | "post" | "put" | "patch" | "delete" | "head" | "options"
                    ) {
                        ops.push((path.clone(), method.clone(), op.clone()));
                    }
                }
            }
        }
    }
    let position = |id: &str| {
        crate::openapi::OPERATIONS
            .iter()
            .position(|o| o.id == id)
            .unwrap_or(usize::MAX)
    };
    ops.sort_by_key(|(_, _, op)| {
        position(op.get("operationId").and_then(Value::as_str).unwrap_or(""))
    });

    out.push_str("<h2>Operations</h2><ul>");
    for (path, method, op) in &ops {
        let id = op.get("operationId").and_then(Value::as_str).unwrap_or("");
        let _ = write!(
            out,
            "<li><a href=\"#op-{id}\"><code>{m} {p}</code></a> {s}</li>",
            id = esc(id),
            m = esc(&method.to_uppercase()),
            p = esc(path),
            s = text(op.get("summary").and_then(Value::as_str).unwrap_or(""))
        );
    }
    out.push_str("</ul>");
    for (path, method, op) in &ops {
        render_operation(&mut out, path, method, op);
    }

    out.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, s) in schemas {
            let _ = write!(
                out,
                "<section id=\"schema-{n}\"><h3>{n}</h3>",
                n = esc(name)
            );
            if let Some(d) = s.get("description").and_then(Value::as_str) {
                let _ = write!(out, "<p>{}</p>", text(d));
            }
            out.push_str(&fields_table(s));
            out.push_str("</section>");
        }
    }
    if let Some(schemes) = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
    {
        out.push_str("<h2>Authentication</h2><ul>");
        for (name, s) in schemes {
            let _ = write!(
                out,
                "<li><code>{}</code>: {}</li>",
                esc(name),
                text(s.get("description").and_then(Value::as_str).unwrap_or(""))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_renders_every_operation() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let html = render_html(&crate::openapi::openapi());
        assert!(html.starts_with("<!doctype html>"));
        assert!(!html.contains("<script"), "no scripts");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "nothing fetched"
        );
        for op in crate::openapi::OPERATIONS {
            assert!(html.contains(&format!("id=\"op-{}\"", op.id)), "{}", op.id);
        }
        assert!(html.contains("id=\"schema-CreatedApiKey\""));
        assert!(html.contains("<code>rate_limit_override</code>"));
    }
}
