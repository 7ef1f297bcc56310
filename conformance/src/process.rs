//! A [`Host`] that is a server process: any binary that serves the contract with
//! `serve --bind 127.0.0.1:0`, prints `cutty listening on http://IP:PORT` on standard output
//! once it accepts connections, and is also the contract's admin CLI (the `cutty` binary is
//! one; a second server binary with the same command line can reuse this as is).

use std::any::Any;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::host::{Config, Host, HostError, Operation};

/// The line a server prints on standard output once it listens (without the URL).
pub const LISTENING_PREFIX: &str = "cutty listening on ";

/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an operator command may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment variables of the test process passed on to servers and CLI commands; every
/// other variable is cleared so a developer's `DATABASE_URL` or `CUTTY_*` cannot leak in.
const INHERITED: [&str; 4] = ["PATH", "RUST_LOG", "RUST_BACKTRACE", "TMPDIR"];

/// A directory removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh directory under the system's temporary directory.
    pub fn new(label: &str) -> Result<Self, HostError> {
        let path = std::env::temp_dir().join(format!("{label}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)
            .map_err(|e| HostError::Start(format!("cannot create {}: {e}", path.display())))?;
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is not worth a panic in drop.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// How to start one server process.
#[derive(Debug)]
pub struct ProcessSpec {
    program: PathBuf,
    env: BTreeMap<String, String>,
    cache_configured: bool,
    dir: TempDir,
    guards: Vec<Guard>,
}

/// Something kept alive until the server process is gone (a database schema to drop, a key
/// prefix to clean up), then dropped.
struct Guard {
    _held: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guard")
    }
}

impl ProcessSpec {
    /// `program` is the server binary (and admin CLI); `dir` becomes its working directory
    /// and holds its logs.
    pub fn new(program: impl Into<PathBuf>, dir: TempDir) -> Self {
        Self {
            program: program.into(),
            env: BTreeMap::new(),
            cache_configured: false,
            dir,
            guards: Vec::new(),
        }
    }

    /// Sets an environment variable for the server and every CLI command (the suite's
    /// [`Config`] is applied on top and wins).
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.insert(key.to_owned(), value.to_string());
        self
    }

    /// Declares that a cache service (Redis) is configured.
    pub fn cache_configured(mut self, yes: bool) -> Self {
        self.cache_configured = yes;
        self
    }

    /// Keeps `guard` alive until the server process has been stopped, then drops it.
    pub fn keep_alive(mut self, guard: impl Any + Send + Sync) -> Self {
        self.guards.push(Guard {
            _held: Box::new(guard),
        });
        self
    }
}

/// A running server process; stopped (killed) when dropped, also when a test panics.
#[derive(Debug)]
pub struct ProcessHost {
    child: Option<Child>,
    base_url: String,
    program: PathBuf,
    env: BTreeMap<String, String>,
    cache_configured: bool,
    starts: u32,
    // Dropped after the process is gone (fields drop in declaration order, after `drop`).
    _guards: Vec<Guard>,
    dir: TempDir,
}

impl ProcessHost {
    /// Starts `spec` with `config` on top of its environment; returns once the server
    /// printed its listening line.
    pub async fn start(spec: ProcessSpec, config: Config) -> Result<Self, HostError> {
        let mut env = spec.env;
        for (k, v) in config.vars() {
            env.insert(k.to_owned(), v.to_owned());
        }
        let mut host = Self {
            child: None,
            base_url: String::new(),
            program: spec.program,
            env,
            cache_configured: spec.cache_configured,
            starts: 0,
            _guards: spec.guards,
            dir: spec.dir,
        };
        host.spawn().await?;
        Ok(host)
    }

    /// The server's working directory (holds `stdout-N.log` and `stderr-N.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.env_clear();
        for key in INHERITED {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(&self.env);
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn log_path(&self, stream: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("{stream}-{}.log", self.starts))
    }

    async fn spawn(&mut self) -> Result<(), HostError> {
        self.starts += 1;
        let (out_path, err_path) = (self.log_path("stdout"), self.log_path("stderr"));
        let open = |p: &Path| {
            File::create(p).map_err(|e| HostError::Start(format!("{}: {e}", p.display())))
        };
        let (out, err) = (open(&out_path)?, open(&err_path)?);
        let child = self
            .command()
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| HostError::Start(format!("cannot run {}: {e}", self.program.display())))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
            if let Some(line) = stdout.lines().find(|l| l.starts_with(LISTENING_PREFIX)) {
                let url = line[LISTENING_PREFIX.len()..].trim().trim_end_matches('/');
                if !url.starts_with("http://") {
                    return Err(HostError::Start(format!(
                        "listening line without an http URL: {line:?}"
                    )));
                }
                self.base_url = url.to_owned();
                return Ok(());
            }
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(e)) => Some(e.to_string()),
                _ => None,
            };
            if let Some(status) = exited {
                self.child = None;
                return Err(HostError::Start(format!(
                    "server exited ({status}) before listening; stderr:\n{}",
                    tail(&err_path, 60)
                )));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(HostError::Start(format!(
                    "no `{LISTENING_PREFIX}http://…` line on stdout within {START_TIMEOUT:?}; stdout:\n{stdout}\nstderr:\n{}",
                    tail(&err_path, 60)
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the server to stop (SIGTERM on Unix), kills it after 10 seconds.
    async fn stop(&mut self) -> Result<(), HostError> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => {
                    self.child = None;
                    return Ok(());
                }
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None) => {
                    self.kill();
                    return Ok(());
                }
                Err(e) => {
                    self.kill();
                    return Err(HostError::Restart(e.to_string()));
                }
            }
        }
    }
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Host for ProcessHost {
    fn base_url(&self) -> String {
        self.base_url.clone()
    }

    fn cache_configured(&self) -> bool {
        self.cache_configured
    }

    async fn operate(&self, operation: Operation) -> Result<(), HostError> {
        let (args, stdin) = operation.cli_args();
        let command = args.join(" ");
        let mut cmd = tokio::process::Command::from(self.command());
        cmd.args(&args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let fail = |detail: String| HostError::Operation {
            command: command.clone(),
            detail,
        };
        let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use tokio::io::AsyncWriteExt as _;
            pipe.write_all(input.as_bytes())
                .await
                .map_err(|e| fail(e.to_string()))?;
            drop(pipe);
        }
        let output = tokio::time::timeout(OPERATION_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| fail(format!("no exit within {OPERATION_TIMEOUT:?}")))?
            .map_err(|e| fail(e.to_string()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(fail(format!(
                "{}; stdout: {}; stderr: {}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }

    async fn restart(&mut self) -> Result<(), HostError> {
        self.stop().await?;
        self.spawn()
            .await
            .map_err(|e| HostError::Restart(e.to_string()))
    }
}

impl Drop for ProcessHost {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // Captured by the test harness and shown next to the failure.
            eprintln!(
                "---- server stderr (last 80 lines, {}) ----\n{}\n----",
                self.log_path("stderr").display(),
                tail(&self.log_path("stderr"), 80)
            );
        }
    }
}
