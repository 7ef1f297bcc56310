//! Shared by the end-to-end tests that run `cutty serve` themselves: a temporary
//! directory, the server process with its captured output, a minimal HTTP/1.1 client, a
//! fresh PostgreSQL schema and Redis key prefix, and a TCP proxy that can be pulled and put
//! back like a database going down and coming back.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_cutty");
pub const PG_ADDR: &str = "127.0.0.1:5432";
pub const REDIS_ADDR: &str = "127.0.0.1:6379";

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("cutty-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `cutty` command with a cleared environment (only `PATH` and `TMPDIR` inherited), the
/// given variables, and `dir` as its working directory.
pub fn command(dir: &Path, vars: &[(String, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear();
    for key in ["PATH", "TMPDIR"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.envs(vars.iter().map(|(k, v)| (k, v)));
    cmd.current_dir(dir);
    cmd
}

/// Runs `cutty ARGS` to completion with `stdin`; panics unless it exits 0; returns stdout
/// and stderr.
pub fn run_cli(dir: &Path, vars: &[(String, String)], args: &[&str], stdin: &[u8]) -> String {
    let mut child = command(dir, vars)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cutty runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("stdin written");
    let out = child.wait_with_output().expect("cutty exits");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "cutty {args:?}: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    format!("{stdout}{stderr}")
}

/// A running `cutty serve --bind 127.0.0.1:0` whose stdout and stderr go to files; killed
/// on drop.
pub struct Server {
    child: Child,
    pub addr: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, vars: &[(String, String)]) -> Self {
        let stdout = dir.join("server-stdout.log");
        let stderr = dir.join("server-stderr.log");
        let file = |p: &Path| std::fs::File::create(p).expect("log file");
        let child = command(dir, vars)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(file(&stdout))
            .stderr(file(&stderr))
            .spawn()
            .expect("cutty serve runs");
        let mut server = Self {
            child,
            addr: String::new(),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = std::fs::read_to_string(&server.stdout).unwrap_or_default();
            if let Some(addr) = out
                .lines()
                .find_map(|l| l.strip_prefix("cutty listening on http://"))
            {
                server.addr = addr.trim().to_owned();
                return server;
            }
            assert!(
                server.is_running(),
                "cutty serve exited before listening:\n{}",
                server.logs()
            );
            assert!(
                Instant::now() < deadline,
                "no listening line within 60 s:\n{}",
                server.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Stops the server with SIGTERM (waits up to 30 s for it to exit), so that everything
    /// it had to say is in [`Server::logs`].
    pub fn stop(&mut self) {
        if !self.is_running() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One HTTP/1.1 request (`Connection: close`), answered within 30 s.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Resp {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut all = headers.to_vec();
        if !body.is_empty() {
            all.push(("Content-Type", "application/json"));
        }
        self.request_raw(method, path, &all, body.as_bytes())
    }

    /// One HTTP/1.1 request with a raw body (`Connection: close`), answered within 30 s.
    pub fn request_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let started = Instant::now();
        let mut stream = TcpStream::connect(&self.addr).expect("connect to the server");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        stream.write_all(&bytes).expect("request written");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("{method} {path}: no complete answer: {e}"));
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{method} {path}: bad response {raw:?}"));
        Resp {
            status,
            head: head.to_owned(),
            body: serde_json::from_str(body).unwrap_or(Value::Null),
            elapsed: started.elapsed(),
        }
    }

    pub fn get(&self, path: &str, bearer: Option<&str>) -> Resp {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        self.request("GET", path, &headers, None)
    }

    pub fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Resp {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        self.request("POST", path, &headers, Some(&body))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(60).collect();
            eprintln!(
                "---- server output (last 60 lines) ----\n{}\n----",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Value,
    pub elapsed: Duration,
}

impl Resp {
    /// The contract error code, if the body is an error envelope.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{self:?}");
        &self.body
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, Some(code)), "{self:?}");
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL and Redis

/// Runs one SQL statement (or query) with `psql`, returning its unaligned output.
pub fn psql(sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-d",
            "test",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "psql {sql:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A fresh PostgreSQL schema, dropped on drop.
pub struct Schema {
    pub name: String,
}

impl Schema {
    /// A fresh schema; panics when PostgreSQL is not there (tests fail, never skip).
    pub fn create() -> Self {
        Self::try_create().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A fresh schema, or why PostgreSQL could not make one.
    pub fn try_create() -> Result<Self, String> {
        let name = format!("cutty_e2e_{}", uuid::Uuid::new_v4().simple());
        psql(&format!("CREATE SCHEMA {name}"))
            .map_err(|e| format!("PostgreSQL at {PG_ADDR} is needed: {e}"))?;
        Ok(Self { name })
    }

    /// `DATABASE_URL` for this schema through `addr` (PostgreSQL itself or a proxy).
    pub fn url(&self, addr: &str) -> String {
        format!(
            "postgres://postgres@{addr}/test?options=-c%20search_path%3D{}",
            self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Err(e) = psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)) {
            eprintln!("leaving schema {} behind: {e}", self.name);
        }
    }
}

/// Sends one command to Redis (RESP) and returns the raw reply.
pub fn redis(args: &[&str]) -> Result<String, String> {
    let addr: SocketAddr = REDIS_ADDR.parse().map_err(|e| format!("{e}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to Redis at {REDIS_ADDR}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream
        .write_all(cmd.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 16];
    let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    if reply.starts_with('-') {
        Err(format!("Redis error: {}", reply.trim()))
    } else {
        Ok(reply)
    }
}

/// A fresh Redis key prefix whose keys are deleted on drop.
pub struct RedisPrefix {
    pub prefix: String,
}

impl RedisPrefix {
    /// A fresh prefix; panics when Redis is not there (tests fail, never skip).
    pub fn create() -> Self {
        Self::try_create().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A fresh prefix, or why Redis could not be used.
    pub fn try_create() -> Result<Self, String> {
        let pong = redis(&["PING"]).map_err(|e| format!("Redis is needed: {e}"))?;
        if !pong.starts_with("+PONG") {
            return Err(format!("Redis at {REDIS_ADDR} answered {pong:?} to PING"));
        }
        Ok(Self {
            prefix: format!("cutty-e2e-{}:", uuid::Uuid::new_v4().simple()),
        })
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let script =
            "for _,k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 0";
        let pattern = format!("{}*", self.prefix);
        if let Err(e) = redis(&["EVAL", script, "0", &pattern]) {
            eprintln!("leaving Redis keys {pattern} behind: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// A TCP proxy that can be pulled

/// A TCP forwarder on 127.0.0.1 in front of `upstream`, on plain threads. [`Proxy::pull`]
/// closes its listener and every connection (the server behind it looks gone: connections
/// are refused or cut); [`Proxy::restore`] listens again on the same port.
pub struct Proxy {
    port: u16,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Both ends of every connection made, to cut them on `pull`.
    streams: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().expect("proxy address").port();
        let mut proxy = Self {
            port,
            upstream: upstream.parse().expect("upstream address"),
            shared: Arc::new(Shared::default()),
            acceptor: None,
        };
        proxy.serve(listener);
        proxy
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn serve(&mut self, listener: TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        self.shared.stop.store(false, Ordering::SeqCst);
        let shared = Arc::clone(&self.shared);
        let upstream = self.upstream;
        self.acceptor = Some(std::thread::spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => forward(&shared, client, upstream),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener is dropped here: the port refuses connections from now on.
        }));
    }

    /// Stops listening and cuts every connection.
    pub fn pull(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let mut streams = self
            .shared
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for s in streams.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Listens again on the same port.
    pub fn restore(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "cannot listen on port {} again: {e}",
                        self.port
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.pull();
    }
}

/// Connects `client` to `upstream` and pumps bytes both ways on two threads.
fn forward(shared: &Shared, client: TcpStream, upstream: SocketAddr) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    shared
        .streams
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .extend([c3, s3]);
    std::thread::spawn(move || pump(client, server));
    std::thread::spawn(move || pump(s2, c2));
}

/// Copies `from` into `to` until either side ends, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
