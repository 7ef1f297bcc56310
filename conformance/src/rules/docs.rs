//! `/docs` (HTML) and `/openapi.json` (an OpenAPI 3 document listing every route).

use serde_json::Value;

use crate::fixtures::Ctx;
use crate::host::{Config, Launch};

/// Every route of the contract's endpoint table, as `(method, path)`.
pub const CONTRACT_ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/health/auth"),
    ("post", "/api/accounts/register"),
    ("post", "/api/accounts/login"),
    ("post", "/api/accounts/token/refresh"),
    ("post", "/api/accounts/logout"),
    ("get", "/api/accounts/user"),
    ("post", "/api/accounts/password"),
    ("post", "/api/api-keys"),
    ("get", "/api/api-keys"),
    ("delete", "/api/api-keys/{key_id}"),
    ("get", "/api/api-keys/usage"),
    ("get", "/api/analytics/security/events"),
    ("get", "/api/analytics/security/metrics"),
    ("post", "/api/analytics/security/block-ip"),
    ("post", "/api/analytics/security/unblock-ip"),
    ("get", "/api/analytics/security/blocked-ips"),
    ("post", "/api/admin/invalidate-user-tokens"),
    ("post", "/api/files"),
    ("get", "/api/files"),
    ("get", "/api/files/{id}"),
    ("delete", "/api/files/{id}"),
    ("post", "/api/lists/process"),
];

/// A path template with every `{param}` written as `{}`.
fn normalise(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            _ => out.push(ch),
        }
    }
    out
}

/// `GET /docs` is the API documentation as HTML (redirects, if any, are followed).
pub async fn docs_is_html<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let mut path = "/docs".to_owned();
    for _ in 0..5 {
        let r = c.get(&path).send().await;
        if (300..400).contains(&r.status) {
            let location = r
                .header("location")
                .unwrap_or_else(|| panic!("{}: redirect without Location", r.label));
            path = if location.starts_with('/') {
                location
            } else if let Some(rest) = location.strip_prefix(c.base_url()) {
                rest.to_owned()
            } else {
                format!("/docs/{location}")
            };
            continue;
        }
        r.expect(200);
        let ct = r.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("text/html"),
            "{}: Content-Type {ct:?}, not HTML",
            r.label
        );
        let text = String::from_utf8_lossy(&r.body).to_ascii_lowercase();
        assert!(
            text.contains("<html") || text.contains("<!doctype html"),
            "{}: not an HTML page",
            r.label
        );
        return;
    }
    panic!("/docs: more than 5 redirects");
}

/// `GET /openapi.json` is an OpenAPI 3 document whose `paths` list every route of the
/// contract with its method (path parameters compared by position, not by name).
pub async fn openapi_lists_every_route<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let spec: Value = ctx.client().get("/openapi.json").send().await.ok_json(200);
    let version = spec["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3."),
        "openapi version {version:?} is not 3.x"
    );
    assert!(spec["info"].is_object(), "OpenAPI document without info");
    let paths = spec["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("OpenAPI document without paths"));
    let mut missing = Vec::new();
    for (method, path) in CONTRACT_ROUTES {
        let found = paths
            .iter()
            .find(|(p, _)| normalise(p) == normalise(path))
            .is_some_and(|(_, item)| item.get(*method).is_some());
        if !found {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from /openapi.json: {missing:?}"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalise_ignores_parameter_names() {
        assert_eq!(
            super::normalise("/a/{key_id}/b"),
            super::normalise("/a/{id}/b")
        );
        assert_ne!(super::normalise("/a/{id}"), super::normalise("/a/b"));
    }
}
