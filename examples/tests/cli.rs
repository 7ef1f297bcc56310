//! The `cutty` binary end to end: every operator command on a temporary SQLite file, its
//! exit codes, the stdin rules, the `--json` shapes, the configuration rules (production
//! refusal, persisted dev secrets, named errors), and `serve`.
//!
//! Each test has its own directory (database, dev secrets, working directory) and a cleared
//! environment, so a developer's `DATABASE_URL` or `CUTTY_*` cannot leak in.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cutty");
const PASSWORD: &str = "correct horse battery staple";

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("cutty-cli-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One isolated deployment: a directory with the SQLite file and the environment.
struct Env {
    dir: TempDir,
    vars: Vec<(String, String)>,
}

/// What a command did.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    fn error_json(&self) -> Value {
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON error on stderr: {self:?}"));
        serde_json::from_str(line).unwrap()
    }

    fn error_code(&self) -> String {
        self.error_json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

impl Env {
    fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let db = format!("sqlite://{}", dir.0.join("cutty.db").display());
        Self {
            vars: vec![
                ("DATABASE_URL".into(), db),
                ("CUTTY_PBKDF2_ITERATIONS".into(), "1000".into()),
            ],
            dir,
        }
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }

    fn set(mut self, key: &str, value: &str) -> Self {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear();
        for key in ["PATH", "TMPDIR"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k, v)));
        cmd.current_dir(self.path());
        cmd
    }

    fn run_with(&self, args: &[&str], stdin: &[u8]) -> Out {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, b"")
    }

    /// `cutty --json ARGS` and its JSON answer (exit 0 required).
    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.run(&all).ok().json()
    }

    fn create_user(&self, username: &str, admin: bool) -> Value {
        let email = format!("{username}@example.org");
        let mut args = vec![
            "--json",
            "user",
            "create",
            "--username",
            username,
            "--email",
            &email,
        ];
        if admin {
            args.push("--admin");
        }
        self.run_with(&args, format!("{PASSWORD}\n").as_bytes())
            .ok()
            .json()
    }

    fn serve(&self) -> Server {
        Server::start(self.command())
    }
}

/// A running `cutty serve`, killed on drop.
struct Server {
    child: Child,
    addr: String,
    stdout_rest: mpsc::Receiver<String>,
}

impl Server {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                panic!("no listening line: {e}");
            }
        };
        let addr = line
            .strip_prefix("cutty listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Self {
            child,
            addr,
            stdout_rest: rx,
        }
    }

    /// One HTTP/1.1 request; returns the status, the raw head and the body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, String, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(req.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad response: {raw:?}"));
        (status, head.to_owned(), body.to_owned())
    }

    fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let (status, _, body) = self.request("GET", path, &headers, None);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, _, body) = self.request("POST", path, &[], Some(&body));
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn login(&self, username: &str, password: &str) -> (u16, Value) {
        self.post(
            "/api/accounts/login",
            serde_json::json!({"username": username, "password": password}),
        )
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(mut self) -> (Option<i32>, Vec<String>) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        let rest = self.stdout_rest.try_iter().collect();
        (code, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------

#[test]
fn migrate_creates_the_database() {
    let env = Env::new("migrate");
    assert!(!env.path().join("cutty.db").exists());
    let out = env.json(&["migrate"]);
    assert_eq!(
        out,
        serde_json::json!({"status": "ok", "database": "sqlite"})
    );
    assert!(env.path().join("cutty.db").exists());
    // Idempotent, and human output by default.
    let out = env.run(&["migrate"]).ok();
    assert!(out.stdout.contains("migrated"), "{out:?}");
    // Migrating needs no secrets: no dev secrets file appears.
    assert!(!env.path().join("cutty-dev-secrets.toml").exists());
}

#[test]
fn user_commands() {
    let env = Env::new("users");
    let user = env.create_user("Ada", true);
    let keys: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "id",
            "is_active",
            "is_admin",
            "password_reset_required",
            "username"
        ]
    );
    assert_eq!(user["username"], "Ada");
    assert_eq!(user["is_admin"], true);
    assert_eq!(user["is_active"], true);
    assert!(user["id"].is_i64());

    // Duplicate (case-insensitive): refused, exit 1, AUTH_009.
    let out = env.run_with(
        &[
            "--json",
            "user",
            "create",
            "--username",
            "ADA",
            "--email",
            "x@example.org",
        ],
        b"another password 1\n",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.error_code(), "AUTH_009");
    assert!(out.stdout.is_empty());
    // Registration rules, with the field named.
    let out = env.run_with(
        &[
            "--json",
            "user",
            "create",
            "--username",
            "bob",
            "--email",
            "bob@example.org",
        ],
        b"12345678901\n",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.error_code(), "REQ_001");
    assert!(
        out.error_json()["error"]["details"]["password"].is_string(),
        "{out:?}"
    );
    let out = env.run_with(
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--email",
            "not-an-email",
        ],
        b"good password here\n",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("REQ_001") && out.stderr.contains("email"),
        "{out:?}"
    );

    let u = env.json(&["user", "disable", "--username", "ada"]);
    assert_eq!(
        (u["is_active"].clone(), u["username"].clone()),
        (false.into(), "Ada".into())
    );
    let u = env.json(&["user", "enable", "--username", "ada@example.org"]);
    assert_eq!(u["is_active"], true);
    let u = env.json(&["user", "require-reset", "--username", "Ada"]);
    assert_eq!(u["password_reset_required"], true);
    let out = env
        .run(&["user", "require-reset", "--username", "Ada"])
        .ok();
    assert!(out.stdout.contains("password reset required"), "{out:?}");

    for cmd in ["disable", "enable", "require-reset"] {
        let out = env.run(&["--json", "user", cmd, "--username", "nobody"]);
        assert_eq!(out.code, 1, "{cmd}: {out:?}");
        assert_eq!(out.error_code(), "AUTH_005");
    }
    // Usage errors are exit 2 (clap).
    assert_eq!(env.run(&["user", "create", "--username", "x"]).code, 2);
    assert_eq!(env.run(&["user", "frobnicate"]).code, 2);
}

#[test]
fn password_hash_and_verify_follow_the_stdin_rule() {
    let env = Env::new("password");
    let hash = env
        .run_with(&["--json", "password", "hash"], b"pass word\n")
        .ok()
        .json()["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(hash.starts_with("pbkdf2_sha256$1000$"), "{hash}");
    let human = env.run_with(&["password", "hash"], b"x").ok();
    assert!(human.stdout.trim().starts_with("pbkdf2_sha256$1000$"));

    let verify =
        |stdin: &[u8]| env.run_with(&["--json", "password", "verify", "--encoded", &hash], stdin);
    for ok in [&b"pass word"[..], b"pass word\n", b"pass word\r\n"] {
        let out = verify(ok);
        assert_eq!(out.code, 0, "{ok:?}: {out:?}");
        assert_eq!(
            out.json(),
            serde_json::json!({"valid": true, "must_update": false})
        );
    }
    // Only one line ending is removed; nothing else is trimmed.
    for bad in [
        &b"pass word\n\n"[..],
        b"pass word \n",
        b" pass word",
        b"pass word\r",
        b"",
    ] {
        let out = verify(bad);
        assert_eq!(out.code, 1, "{bad:?}: {out:?}");
        assert_eq!(
            out.json(),
            serde_json::json!({"valid": false, "must_update": false})
        );
    }
    // Not UTF-8: an error.
    assert_eq!(verify(b"\xff\xfe\n").code, 2);

    // A hash with other parameters matches but must be updated.
    let out = env.run_with(
        &["--json", "password", "verify", "--encoded", &hash],
        b"pass word\n",
    );
    assert_eq!(out.json()["must_update"], false);
    let env2 = Env::new("password2").set("CUTTY_PBKDF2_ITERATIONS", "2000");
    let out = env2.run_with(
        &["--json", "password", "verify", "--encoded", &hash],
        b"pass word",
    );
    assert_eq!(out.code, 0);
    assert_eq!(
        out.json(),
        serde_json::json!({"valid": true, "must_update": true})
    );
    let out = env2.run_with(&["password", "verify", "--encoded", &hash], b"pass word");
    assert!(
        out.stdout.contains("match") && out.stdout.contains("update"),
        "{out:?}"
    );

    // Malformed or unsupported hashes: exit 2, with or without --json.
    for encoded in [
        "garbage",
        "pbkdf2_sha256$x$salt$hash",
        "unknown_algo$1$2$3",
        "pbkdf2_sha256$999999999$s$h",
    ] {
        let out = env.run_with(
            &["--json", "password", "verify", "--encoded", encoded],
            b"pw\n",
        );
        assert_eq!(out.code, 2, "{encoded}: {out:?}");
        assert!(out.stdout.is_empty());
        assert!(out.error_json()["error"]["message"].is_string());
        let out = env.run_with(&["password", "verify", "--encoded", encoded], b"pw\n");
        assert_eq!(out.code, 2);
        assert!(out.stderr.starts_with("error:"), "{out:?}");
    }
}

#[test]
fn api_key_commands() {
    let env = Env::new("keys");
    env.create_user("keyowner", false);
    let created = env.json(&[
        "api-key",
        "create",
        "--username",
        "keyowner",
        "--name",
        "ci",
        "--permissions",
        "files:read,list:process",
        "--rate-limit",
        "5",
    ]);
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("cutty_") && key.len() == 38, "{key}");
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["permissions"],
        serde_json::json!(["files:read", "list:process"])
    );
    assert_eq!(created["rate_limit_override"], 5);
    assert!(created["expires_at"].is_null());
    for field in ["name", "key_prefix", "created_at"] {
        assert!(!created[field].is_null(), "{field}");
    }

    let list = env.json(&["api-key", "list", "--username", "keyowner"]);
    let keys = list["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["key_id"], key_id.as_str());
    assert_eq!(keys[0]["is_active"], true);
    assert!(keys[0]["last_used"].is_null());
    assert!(keys[0].get("key").is_none());
    let all = env.json(&["api-key", "list"]);
    assert_eq!(all["api_keys"].as_array().unwrap().len(), 1);
    let human = env.run(&["api-key", "list"]).ok();
    assert!(
        human.stdout.contains(&key_id) && !human.stdout.contains(key),
        "{human:?}"
    );

    env.json(&["api-key", "revoke", &key_id]);
    let list = env.json(&["api-key", "list", "--username", "keyowner"]);
    assert_eq!(list["api_keys"][0]["is_active"], false);
    let again = env.run(&["--json", "api-key", "revoke", &key_id]);
    assert_eq!((again.code, again.error_code()), (1, "REQ_004".to_owned()));
    let unknown = env.run(&["--json", "api-key", "revoke", "not-a-key-id"]);
    assert_eq!(
        (unknown.code, unknown.error_code()),
        (1, "REQ_004".to_owned())
    );

    let bad = env.run(&[
        "--json",
        "api-key",
        "create",
        "--username",
        "keyowner",
        "--name",
        "x",
        "--permissions",
        "admin:all",
    ]);
    assert_eq!((bad.code, bad.error_code()), (1, "REQ_001".to_owned()));
    let past = env.run(&[
        "--json",
        "api-key",
        "create",
        "--username",
        "keyowner",
        "--name",
        "x",
        "--permissions",
        "files:read",
        "--expires-at",
        "1000",
    ]);
    assert_eq!((past.code, past.error_code()), (1, "REQ_001".to_owned()));
    let nobody = env.run(&[
        "--json",
        "api-key",
        "create",
        "--username",
        "nobody",
        "--name",
        "x",
        "--permissions",
        "files:read",
    ]);
    assert_eq!(
        (nobody.code, nobody.error_code()),
        (1, "AUTH_005".to_owned())
    );
}

#[test]
fn ip_block_commands() {
    let env = Env::new("ip");
    let entry = env.json(&["ip", "block", "10.1.0.0/16", "--reason", "scanner"]);
    assert_eq!(entry["ip_address"], "10.1.0.0/16");
    assert_eq!(entry["reason"], "scanner");
    assert!(entry["expires_at"].is_null());
    let timed = env.json(&[
        "ip",
        "block",
        "2001:db8::1",
        "--reason",
        "abuse",
        "--duration-seconds",
        "600",
    ]);
    assert_eq!(
        timed["expires_at"].as_i64().unwrap() - timed["created_at"].as_i64().unwrap(),
        600_000
    );
    let list = env.json(&["ip", "list"]);
    let listed: Vec<&str> = list["blocked_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ip_address"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&"10.1.0.0/16"));
    let human = env.run(&["ip", "list"]).ok();
    assert!(human.stdout.contains("scanner") && human.stdout.contains("until unblocked"));

    env.json(&["ip", "unblock", "10.1.0.0/16"]);
    let again = env.run(&["--json", "ip", "unblock", "10.1.0.0/16"]);
    assert_eq!((again.code, again.error_code()), (1, "REQ_004".to_owned()));
    assert_eq!(
        env.json(&["ip", "list"])["blocked_ips"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let bad = env.run(&["--json", "ip", "block", "not-an-ip", "--reason", "r"]);
    assert_eq!((bad.code, bad.error_code()), (1, "REQ_001".to_owned()));
    let host_bits = env.run(&["--json", "ip", "block", "10.1.2.3/8", "--reason", "r"]);
    assert_eq!(host_bits.code, 1, "{host_bits:?}");
    // --reason is required.
    assert_eq!(env.run(&["ip", "block", "10.0.0.1"]).code, 2);
}

#[test]
fn events_maintenance_and_health() {
    let env = Env::new("events");
    let user = env.create_user("eve", false);
    env.json(&["ip", "block", "192.0.2.0/24", "--reason", "test"]);
    let page = env.json(&["events"]);
    let events = page["events"].as_array().unwrap();
    assert!(events.len() >= 2, "{page}");
    assert!(page["next_cursor"].is_null());
    let e = &events[0];
    for field in [
        "id",
        "timestamp",
        "event_type",
        "user_id",
        "ip_address",
        "success",
        "details",
    ] {
        assert!(e.get(field).is_some(), "{field} in {e}");
    }
    // Newest first.
    assert_eq!(events[0]["event_type"], "ip_blocked");

    let reg = env.json(&[
        "events",
        "--type",
        "registration",
        "--user-id",
        &user["id"].to_string(),
        "--success",
        "true",
    ]);
    let regs = reg["events"].as_array().unwrap();
    assert_eq!(regs.len(), 1, "{reg}");
    assert_eq!(regs[0]["user_id"], user["id"]);

    let first = env.json(&["events", "--limit", "1"]);
    assert_eq!(first["events"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = env.json(&["events", "--limit", "1", "--cursor", &cursor]);
    assert_ne!(second["events"][0]["id"], first["events"][0]["id"]);
    let since = env.json(&["events", "--since", "99999999999999"]);
    assert!(since["events"].as_array().unwrap().is_empty());

    for args in [
        &["--json", "events", "--type", "bogus"][..],
        &["--json", "events", "--user-id", "abc"],
        &["--json", "events", "--success", "maybe"],
        &["--json", "events", "--limit", "0"],
        &["--json", "events", "--limit", "501"],
    ] {
        let out = env.run(args);
        assert_eq!(
            (out.code, out.error_code()),
            (1, "REQ_001".to_owned()),
            "{args:?}"
        );
    }
    let human = env.run(&["events"]).ok();
    assert!(human.stdout.contains("registration"), "{human:?}");

    let report = env.json(&["maintenance"]);
    for key in [
        "revoked_tokens",
        "user_marks",
        "refresh_families",
        "lockouts",
        "rate_limit_counters",
        "blocked_ips",
        "events",
    ] {
        assert!(report[key].is_u64(), "{key}: {report}");
    }

    let health = env.json(&["health"]);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["services"]["database"]["status"], "ok");
    assert_eq!(health["services"]["cache"]["status"], "not_configured");
    assert_eq!(health["services"]["jwt"]["status"], "ok");
    let human = env.run(&["health"]).ok();
    assert!(human.stdout.contains("database: ok"), "{human:?}");

    let out = env.run(&["--json", "invalidate-user-tokens", "--user-id", "424242"]);
    assert_eq!((out.code, out.error_code()), (1, "AUTH_005".to_owned()));
    assert_eq!(
        env.run(&["invalidate-user-tokens", "--user-id", "x"]).code,
        2
    );
}

#[test]
fn health_with_redis_reports_the_cache() {
    let prefix = format!("cutty-cli-test-{}:", uuid::Uuid::new_v4().simple());
    let env = Env::new("redis")
        .set("REDIS_URL", "redis://127.0.0.1:6379")
        .set("CUTTY_REDIS_PREFIX", &prefix);
    let health = env.json(&["health"]);
    assert_eq!(health["services"]["cache"]["status"], "ok", "{health}");
    // Revocations live in Redis then: revoke and lift one.
    let jti = uuid::Uuid::new_v4().to_string();
    env.json(&["token", "revoke", &jti]);
    env.json(&["token", "unrevoke", &jti]);
    // A Redis that cannot be reached fails the start, naming the variable.
    let down = Env::new("redis-down").set("REDIS_URL", "redis://127.0.0.1:1");
    let out = down.run(&["health"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("REDIS_URL"), "{out:?}");
}

#[test]
fn configuration_errors_name_the_variable_and_hide_secrets() {
    let env = Env::new("config").set("CUTTY_RATE_LIMIT_IP", "lots");
    let out = env.run(&["health"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("CUTTY_RATE_LIMIT_IP"), "{out:?}");

    let env = Env::new("config2").set("JWT_SECRET", "hunter2-is-too-short");
    let out = env.run(&["--json", "health"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("JWT_SECRET") && !out.stderr.contains("hunter2"),
        "{out:?}"
    );
    assert!(out.error_json()["error"]["message"].is_string());

    let env = Env::new("config3").set("DATABASE_URL", "mysql://root:hunter2@db/cutty");
    let out = env.run(&["migrate"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("DATABASE_URL") && !out.stderr.contains("hunter2"),
        "{out:?}"
    );

    // The TOML file: same keys, lower case, environment wins.
    let env = Env::new("config4");
    let file = env.path().join("cutty.toml");
    std::fs::write(&file, "rate_limit_ip = 0\n").unwrap();
    let env = env.set("CUTTY_CONFIG", file.to_str().unwrap());
    let out = env.run(&["health"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("rate_limit_ip"), "{out:?}");
    let env = env.set("CUTTY_RATE_LIMIT_IP", "10");
    env.run(&["health"]).ok();
}

#[test]
fn production_refuses_to_start_without_secrets() {
    let env = Env::new("prod").set("CUTTY_ENV", "production");
    for args in [
        &["health"][..],
        &["--json", "events"],
        &["serve", "--bind", "127.0.0.1:0"],
    ] {
        let out = env.run(args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains("JWT_SECRET"), "{out:?}");
        assert!(!out.stdout.contains("listening"), "{out:?}");
    }
    let env = env.set("JWT_SECRET", "0123456789abcdef0123456789abcdef0123");
    let out = env.run(&["health"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("API_KEY_SALT"), "{out:?}");
    assert!(!env.path().join("cutty-dev-secrets.toml").exists());

    let env = env.set("API_KEY_SALT", "fedcba9876543210fedcba");
    let out = env.run(&["--json", "health"]).ok();
    assert!(!out.stderr.contains("WARNING"), "{out:?}");
    assert!(!env.path().join("cutty-dev-secrets.toml").exists());
}

#[test]
fn development_secrets_are_generated_once_and_reused() {
    let env = Env::new("devsecrets");
    let file = env.path().join("cutty-dev-secrets.toml");
    let first = env.run(&["health"]).ok();
    assert!(
        first.stderr.contains("WARNING") && first.stderr.contains("Generated"),
        "{first:?}"
    );
    let contents = std::fs::read_to_string(&file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The secret itself is never printed.
    let secret_line = contents
        .lines()
        .find(|l| l.starts_with("jwt_secret"))
        .unwrap();
    let secret = secret_line.split('"').nth(1).unwrap();
    assert!(!first.stderr.contains(secret) && !first.stdout.contains(secret));

    let second = env.run(&["health"]).ok();
    assert!(second.stderr.contains("WARNING") && !second.stderr.contains("Generated"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), contents);

    // The same secret across processes: a token issued by one server verifies in a later
    // CLI process and in a restarted server.
    env.create_user("dev", false);
    let server = env.serve();
    let (status, body) = server.login("dev", PASSWORD);
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    drop(server);
    let check = env.json(&["token", "verify", &access]);
    assert_eq!(check["token_type"], "access");
    let server = env.serve();
    let (status, user) = server.get("/api/accounts/user", Some(&access));
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["username"], "dev");
}

#[test]
fn serve_smoke_and_token_commands() {
    let env = Env::new("serve");
    // The stdin rule for `user create`: one trailing \r\n is removed, nothing else.
    env.run_with(
        &[
            "user",
            "create",
            "--username",
            "sam",
            "--email",
            "sam@example.org",
            "--admin",
        ],
        format!("{PASSWORD}\r\n").as_bytes(),
    )
    .ok();
    let server = env.serve();
    let (status, health) = server.get("/health", None);
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    let (status, head, _) =
        server.request("GET", "/health", &[("X-Request-Id", "abc.DEF-1_2")], None);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("x-request-id: abc.def-1_2"),
        "{head}"
    );

    let (status, _) = server.login("sam", &format!("{PASSWORD}\r"));
    assert_eq!(status, 401);
    // (The failure above delays the next attempt for this username by one second.)
    std::thread::sleep(Duration::from_millis(1100));
    let (status, body) = server.login("sam", PASSWORD);
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let user_id = body["user"]["id"].as_i64().unwrap();

    // token decode: no verification, the claims as they are.
    let decoded = env.json(&["token", "decode", &access]);
    assert_eq!(decoded["header"]["alg"], "HS256");
    assert_eq!(decoded["claims"]["type"], "access");
    assert_eq!(decoded["claims"]["sub"], user_id.to_string());
    let jti = decoded["claims"]["jti"].as_str().unwrap().to_owned();
    let human = env.run(&["token", "decode", &access]).ok();
    assert!(human.stdout.contains("NOT VERIFIED"));
    let out = env.run(&["--json", "token", "decode", "not.a.jwt"]);
    assert_eq!(out.code, 1, "{out:?}");

    // token verify, revoke, unrevoke.
    let check = env.json(&["token", "verify", &access]);
    assert_eq!(check["token_type"], "access");
    assert_eq!(check["jti"], jti.as_str());
    assert_eq!(check["user_id"], user_id.to_string());
    let out = env.run(&["--json", "token", "verify", "garbage"]);
    assert_eq!((out.code, out.error_code()), (1, "AUTH_001".to_owned()));

    env.json(&["token", "revoke", &jti]);
    let out = env.run(&["--json", "token", "verify", &access]);
    assert_eq!((out.code, out.error_code()), (1, "AUTH_003".to_owned()));
    assert_eq!(server.get("/api/accounts/user", Some(&access)).0, 401);
    env.json(&["token", "unrevoke", &jti]);
    env.json(&["token", "verify", &access]);
    assert_eq!(server.get("/api/accounts/user", Some(&access)).0, 200);
    let out = env.run(&["--json", "token", "unrevoke", &jti]);
    assert_eq!(out.code, 1, "{out:?}");
    let out = env.run(&["--json", "token", "revoke", "not-a-uuid"]);
    assert_eq!((out.code, out.error_code()), (1, "REQ_001".to_owned()));

    // An API key made with the CLI works on the running server.
    let created = env.json(&[
        "api-key",
        "create",
        "--username",
        "sam",
        "--name",
        "cli",
        "--permissions",
        "files:read",
    ]);
    let key = created["key"].as_str().unwrap();
    let (status, me) = server.get("/api/accounts/user", Some(key));
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], "sam");

    // invalidate-user-tokens: the access token fails with AUTH_003, the key still works.
    env.json(&["invalidate-user-tokens", "--user-id", &user_id.to_string()]);
    let (status, err) = server.get("/api/accounts/user", Some(&access));
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("AUTH_003"))
    );
    assert_eq!(server.get("/api/accounts/user", Some(key)).0, 200);

    // A block made with the CLI reaches the running server within 5 s; /health stays open.
    env.json(&["ip", "block", "127.0.0.1", "--reason", "test"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = server.get("/api/accounts/user", Some(key));
        if status == 403 {
            assert_eq!(body["error"]["code"], "SEC_001");
            break;
        }
        assert!(Instant::now() < deadline, "block not seen within 5 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.get("/health", None).0, 200);
    env.json(&["ip", "unblock", "127.0.0.1"]);

    // /metrics counts what happened.
    let (status, head, metrics) = server.request("GET", "/metrics", &[], None);
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("x-request-id"), "{head}");
    assert!(
        metrics
            .contains("cutty_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cutty_ip_blocked_refusals_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cutty_errors_total{code=\"SEC_001\"} 1"),
        "{metrics}"
    );

    // Graceful stop on SIGTERM: exit 0, and the listening line was the only stdout line.
    let (code, rest) = server.terminate();
    assert_eq!(code, Some(0));
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn serve_refuses_a_taken_port_and_applies_cors() {
    let env = Env::new("cors").set("CUTTY_CORS_ORIGINS", "https://app.example");
    let server = env.serve();
    let (status, head, _) = server.request(
        "OPTIONS",
        "/api/accounts/login",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        None,
    );
    let head = head.to_ascii_lowercase();
    assert!(status == 200 || status == 204, "{head}");
    assert!(
        head.contains("access-control-allow-origin: https://app.example"),
        "{head}"
    );
    assert!(head.contains("x-request-id"), "{head}");
    let (_, head, _) = server.request(
        "GET",
        "/health",
        &[("Origin", "https://evil.example")],
        None,
    );
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{head}"
    );

    // The same port twice: the second start fails with exit 2 and no listening line.
    let out = env.run(&["serve", "--bind", &server.addr]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stdout.is_empty() && out.stderr.contains("cannot listen"),
        "{out:?}"
    );

    // Without CUTTY_CORS_ORIGINS: no CORS headers at all.
    let plain = Env::new("nocors").serve();
    let (_, head, _) = plain.request("GET", "/health", &[("Origin", "https://app.example")], None);
    assert!(
        !head.to_ascii_lowercase().contains("access-control"),
        "{head}"
    );
}

#[test]
fn slow_clients_are_cut_off() {
    let env = Env::new("slow")
        .set("CUTTY_HEADER_TIMEOUT_SECONDS", "1")
        .set("CUTTY_BODY_TIMEOUT_SECONDS", "1");
    let server = env.serve();
    // A request head that never ends: the connection is closed after the header timeout.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "header timeout not applied"
    );

    // A body that never arrives: refused after the body timeout, never a 5xx.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(
            b"POST /api/accounts/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
        )
        .unwrap();
    let started = Instant::now();
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "body timeout not applied"
    );
    // The body could not be read: the contract's 400 REQ_001, not a 5xx.
    assert!(raw.starts_with("HTTP/1.1 400 "), "{raw}");
    assert!(raw.contains("REQ_001"), "{raw}");
    assert_eq!(server.get("/health", None).0, 200);
}

#[test]
fn postgres_database_url() {
    // The schema is created with psql (the CLI never creates schemas); skipped without it.
    let schema = format!("cutty_cli_{}", uuid::Uuid::new_v4().simple());
    let psql = |sql: &str| {
        Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-qc",
                sql,
            ])
            .output()
    };
    match psql(&format!("CREATE SCHEMA {schema}")) {
        Ok(out) if out.status.success() => {}
        other => {
            eprintln!("skipped: cannot create a PostgreSQL schema with psql: {other:?}");
            return;
        }
    }
    let url =
        format!("postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3D{schema}");
    let env = Env::new("postgres").set("DATABASE_URL", &url);
    assert_eq!(env.json(&["migrate"])["database"], "postgres");
    let user = env.create_user("pgadmin", true);
    let health = env.json(&["health"]);
    assert_eq!(health["services"]["database"]["status"], "ok");
    let page = env.json(&["events", "--type", "registration"]);
    assert_eq!(page["events"][0]["user_id"], user["id"]);
    env.json(&["maintenance"]);
    let server = env.serve();
    let (status, body) = server.login("pgadmin", PASSWORD);
    assert_eq!(status, 200, "{body}");
    drop(server);
    let _ = psql(&format!("DROP SCHEMA {schema} CASCADE"));
}
