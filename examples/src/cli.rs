//! The `cutty` command line: `serve` and the operator commands of the contract's "Admin
//! CLI" section.
//!
//! Every command reads the same configuration as the server ([`Config`]), takes `--json`,
//! and reads passwords from standard input (its bytes minus one trailing `\n` or `\r\n`).
//! The work is done by the facade's operator interface ([`Cutty::admin`](cutty_core::app::Cutty::admin));
//! this module only parses arguments and prints answers.
//!
//! # Exit status
//! | status | meaning |
//! |---|---|
//! | 0 | done (`password verify`: the password matches) |
//! | 1 | refused or negative: not found, already exists, invalid input, invalid token, `password verify` mismatch, `health` with the database down |
//! | 2 | could not run: usage, configuration, storage unavailable, `password verify` with a malformed or unsupported hash |
//!
//! Errors go to stderr (as `{"error":{…}}` with `--json`), never with a secret in them.

use std::io::{IsTerminal as _, Read as _};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use cutty_core::app::{
    ApiKeyList, BlockEntry, CreateApiKeyRequest, HealthReport, InlinePasswordWork, ServiceHealth,
    ServiceStatus, User,
};
use cutty_core::error::{Error, ErrorCode};
use cutty_core::event::{EventPage, EventQuery};
use cutty_core::password::PasswordHasher;
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::config::{Config, ConfigError};
use crate::wiring::{App, SqlStore, StartError, describe_store_error};

/// `cutty`: the Cutty reference server and admin CLI.
#[derive(Debug, Parser)]
#[command(name = "cutty", version, about, max_term_width = 100)]
pub struct Cli {
    /// Machine-readable JSON output (on stdout; errors as JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address to listen on (overrides CUTTY_BIND; port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        bind: Option<std::net::SocketAddr>,
    },
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Hash or verify a password (read from stdin), Django format.
    #[command(subcommand)]
    Password(PasswordCommand),
    /// Inspect or revoke tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Manage the IP block list.
    #[command(subcommand)]
    Ip(IpCommand),
    /// Query security events, newest first.
    Events(EventsArgs),
    /// Revoke every access and refresh token of a user (API keys are not touched).
    InvalidateUserTokens {
        /// The user's id.
        #[arg(long)]
        user_id: i64,
    },
    /// Purge expired revocations, lockouts, counters and blocks, and events past the
    /// retention.
    Maintenance,
    /// Check the database, the cache and token signing.
    Health,
}

/// `cutty user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin.
    Create {
        /// Username (3–150 characters of letters, digits and @.+-_).
        #[arg(long)]
        username: String,
        /// Email address.
        #[arg(long)]
        email: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Disable a user: logins answer AUTH_008, every token issued so far is revoked.
    Disable {
        /// Username or email.
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled user (revoked tokens stay revoked).
    Enable {
        /// Username or email.
        #[arg(long)]
        username: String,
    },
    /// Require a new password at the next login (AUTH_007).
    RequireReset {
        /// Username or email.
        #[arg(long)]
        username: String,
    },
}

/// `cutty password …`.
#[derive(Debug, Subcommand)]
pub enum PasswordCommand {
    /// Hash the password read from stdin with the configured algorithm and iterations.
    Hash,
    /// Verify the password read from stdin against an encoded hash (exit 0 match, 1
    /// mismatch, 2 malformed or unsupported hash).
    Verify {
        /// The encoded hash, e.g. `pbkdf2_sha256$600000$salt$hash`.
        #[arg(long, value_name = "E")]
        encoded: String,
    },
}

/// `cutty token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a JWT's header and claims WITHOUT verifying it.
    Decode {
        /// The token.
        token: String,
    },
    /// Verify a token: signature, claims, revocation and user.
    Verify {
        /// The token.
        token: String,
    },
    /// Revoke the token with this `jti` until its expiry.
    Revoke {
        /// The token id (a UUID).
        jti: String,
    },
    /// Lift a revocation made in error.
    Unrevoke {
        /// The token id (a UUID).
        jti: String,
    },
}

/// `cutty api-key …`.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for a user; the key is printed once.
    Create {
        /// The owner (username or email).
        #[arg(long)]
        username: String,
        /// A label.
        #[arg(long)]
        name: String,
        /// Comma-separated permissions: files:read, files:write, list:process.
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        /// Expiry, Unix milliseconds.
        #[arg(long, value_name = "MS")]
        expires_at: Option<i64>,
        /// Requests per window for this key, replacing CUTTY_RATE_LIMIT_API_KEY.
        #[arg(long, value_name = "N")]
        rate_limit: Option<i64>,
    },
    /// List keys (never the key or its hash).
    List {
        /// Only this user's keys.
        #[arg(long)]
        username: Option<String>,
    },
    /// Revoke a key at once.
    Revoke {
        /// The key's id.
        key_id: String,
    },
}

/// `cutty ip …`.
#[derive(Debug, Subcommand)]
pub enum IpCommand {
    /// Block an address or CIDR range (reaches a running server within 5 s).
    Block {
        /// IPv4/IPv6 address or CIDR range.
        #[arg(value_name = "ADDR_OR_CIDR")]
        address: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// Lift the block after this many seconds.
        #[arg(long, value_name = "N")]
        duration_seconds: Option<u64>,
    },
    /// Remove a block (exactly the address or range that was blocked).
    Unblock {
        /// IPv4/IPv6 address or CIDR range.
        #[arg(value_name = "ADDR_OR_CIDR")]
        address: String,
    },
    /// List the blocks in force.
    List,
}

/// `cutty events` filters (validated like the HTTP query).
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Event type (login, lockout, rate_limit, …).
    #[arg(long = "type", value_name = "T")]
    pub event_type: Option<String>,
    /// User id.
    #[arg(long, value_name = "N")]
    pub user_id: Option<String>,
    /// IP address.
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// Only successes (true) or failures (false).
    #[arg(long, value_name = "true|false")]
    pub success: Option<String>,
    /// From this time on, Unix milliseconds (inclusive).
    #[arg(long, value_name = "MS")]
    pub since: Option<String>,
    /// Up to this time, Unix milliseconds (inclusive).
    #[arg(long, value_name = "MS")]
    pub until: Option<String>,
    /// Page size, 1–500 (default 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct Failure {
    /// Exit status (1 refused, 2 could not run).
    pub status: u8,
    /// A contract code, when there is one.
    pub code: Option<&'static str>,
    /// The message (never a secret).
    pub message: String,
    /// Field-level detail.
    pub details: Option<serde_json::Value>,
}

impl Failure {
    /// A refusal (exit 1) without a contract code.
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            status: 1,
            code: None,
            message: message.into(),
            details: None,
        }
    }

    /// A failure to run (exit 2) without a contract code.
    pub fn cannot_run(message: impl Into<String>) -> Self {
        Self {
            status: 2,
            code: None,
            message: message.into(),
            details: None,
        }
    }

    fn print(&self, json: bool) {
        if json {
            let mut error = json!({ "message": self.message });
            if let Some(code) = self.code {
                error["code"] = json!(code);
            }
            if let Some(d) = &self.details {
                error["details"] = d.clone();
            }
            eprintln!("{}", json!({ "error": error }));
        } else {
            match self.code {
                Some(code) => eprintln!("error: {code}: {}", self.message),
                None => eprintln!("error: {}", self.message),
            }
            if let Some(serde_json::Value::Object(map)) = &self.details {
                for (field, problem) in map {
                    let problem = problem
                        .as_str()
                        .map_or_else(|| problem.to_string(), str::to_owned);
                    eprintln!("  {field}: {problem}");
                }
            }
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = e.code();
        let status = if code.http_status() >= 500 { 2 } else { 1 };
        let (message, details) = match &e {
            Error::Store(s) => (
                format!("{} ({})", code.message(), describe_store_error(s)),
                None,
            ),
            Error::InvalidRequest(violations) if !violations.is_empty() => {
                let mut map = serde_json::Map::new();
                for v in violations {
                    let entry = map.entry(v.field.to_string()).or_insert_with(|| json!(""));
                    let joined = match entry.as_str() {
                        Some("") | None => v.message.to_string(),
                        Some(prev) => format!("{prev}; {}", v.message),
                    };
                    *entry = json!(joined);
                }
                (
                    code.message().to_owned(),
                    Some(serde_json::Value::Object(map)),
                )
            }
            _ => (code.message().to_owned(), None),
        };
        Self {
            status,
            code: Some(code.as_str()),
            message,
            details,
        }
    }
}

impl From<ErrorCode> for Failure {
    fn from(code: ErrorCode) -> Self {
        Error::Code(code).into()
    }
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        Self::cannot_run(e.to_string())
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Self::cannot_run(e.to_string())
    }
}

/// What a command printed on success.
#[derive(Debug)]
pub struct Output {
    /// The `--json` form.
    pub json: serde_json::Value,
    /// The human form (may be several lines).
    pub human: String,
    /// Exit status (0, or 1 for a negative answer such as a mismatch).
    pub status: u8,
}

impl Output {
    fn ok(json: impl Serialize, human: impl Into<String>) -> Result<Self, Failure> {
        let json = serde_json::to_value(json)
            .map_err(|e| Failure::cannot_run(format!("cannot render the answer: {e}")))?;
        Ok(Self {
            json,
            human: human.into(),
            status: 0,
        })
    }

    fn with_status(mut self, status: u8) -> Self {
        self.status = status;
        self
    }
}

/// Runs an operator command (not `serve`) and returns its exit status.
pub async fn run(cli: Cli, config: Result<Config, ConfigError>) -> ExitCode {
    let json = cli.json;
    let result = match config {
        Err(e) => Err(Failure::from(e)),
        Ok(config) => dispatch(cli.command, &config).await,
    };
    match result {
        Ok(out) => {
            if json {
                println!("{}", out.json);
            } else if !out.human.is_empty() {
                println!("{}", out.human.trim_end_matches('\n'));
            }
            ExitCode::from(out.status)
        }
        Err(failure) => {
            failure.print(json);
            ExitCode::from(failure.status)
        }
    }
}

/// Reads a password from stdin: its bytes, minus one trailing `\n` or `\r\n`.
pub fn read_password() -> Result<Zeroizing<String>, Failure> {
    let mut stdin = std::io::stdin().lock();
    if stdin.is_terminal() {
        eprintln!("Reading the password from standard input (end with Enter, then Ctrl-D):");
    }
    let mut bytes = Zeroizing::new(Vec::new());
    stdin
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::cannot_run(format!("cannot read standard input: {e}")))?;
    Ok(Zeroizing::new(password_from_bytes(&bytes)?))
}

/// The stdin rule: strip one trailing `\n` or `\r\n`, require UTF-8.
pub fn password_from_bytes(bytes: &[u8]) -> Result<String, Failure> {
    let trimmed = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    std::str::from_utf8(trimmed)
        .map(str::to_owned)
        .map_err(|_| Failure::cannot_run("the password on standard input is not valid UTF-8"))
}

/// A user as the CLI shows it: the contract's `user` object plus the reset flag (never the
/// hash).
#[derive(Debug, Serialize)]
struct UserOut<'a> {
    id: i64,
    username: &'a str,
    email: &'a str,
    is_active: bool,
    is_admin: bool,
    password_reset_required: bool,
    created_at: i64,
}

impl<'a> From<&'a User> for UserOut<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id,
            username: &u.username,
            email: &u.email,
            is_active: u.is_active,
            is_admin: u.is_admin,
            password_reset_required: u.password_reset_required,
            created_at: u.created_at,
        }
    }
}

fn describe_user(u: &User) -> String {
    let mut flags = Vec::new();
    if u.is_admin {
        flags.push("admin");
    }
    if !u.is_active {
        flags.push("disabled");
    }
    if u.password_reset_required {
        flags.push("password reset required");
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", flags.join(", "))
    };
    format!("user {} {} <{}>{flags}", u.id, u.username, u.email)
}

async fn start(config: &Config) -> Result<App, Failure> {
    Ok(App::start(config, Arc::new(InlinePasswordWork)).await?)
}

fn hasher(config: &Config) -> Result<PasswordHasher, Failure> {
    PasswordHasher::default()
        .with_iterations(config.pbkdf2_iterations)
        .map_err(|e| Failure::cannot_run(format!("CUTTY_PBKDF2_ITERATIONS: {e}")))
}

async fn dispatch(command: Command, config: &Config) -> Result<Output, Failure> {
    match command {
        Command::Serve { .. } => Err(Failure::cannot_run(
            "`serve` is run by the binary's entry point",
        )),
        Command::Migrate => {
            let sql = SqlStore::connect(&config.database).await?;
            sql.close().await;
            Output::ok(
                json!({"status": "ok", "database": sql.kind()}),
                format!("database ({}) is migrated", sql.kind()),
            )
        }
        Command::User(cmd) => user(cmd, config).await,
        Command::Password(cmd) => password(cmd, config),
        Command::Token(cmd) => token(cmd, config).await,
        Command::ApiKey(cmd) => api_key(cmd, config).await,
        Command::Ip(cmd) => ip(cmd, config).await,
        Command::Events(args) => events(args, config).await,
        Command::InvalidateUserTokens { user_id } => {
            let app = start(config).await?;
            app.cutty.admin().invalidate_user_tokens(user_id).await?;
            Output::ok(
                json!({"status": "ok", "user_id": user_id}),
                format!(
                    "every token of user {user_id} issued so far is revoked (API keys are not touched)"
                ),
            )
        }
        Command::Maintenance => {
            let sql = SqlStore::connect(&config.database).await?;
            let now = cutty_core::clock::Clock::now_unix_ms(&cutty_core::clock::SystemClock);
            let report = sql
                .maintenance(now, config.event_retention_days)
                .await
                .map_err(Error::from)?;
            sql.close().await;
            let json = json!({
                "revoked_tokens": report.revoked_tokens,
                "user_marks": report.user_marks,
                "refresh_families": report.refresh_families,
                "lockouts": report.lockouts,
                "rate_limit_counters": report.rate_limit_counters,
                "blocked_ips": report.blocked_ips,
                "events": report.events,
            });
            let mut human = String::from("maintenance done; deleted:\n");
            if let serde_json::Value::Object(map) = &json {
                for (k, v) in map {
                    human.push_str(&format!("  {k}: {v}\n"));
                }
            }
            if config.redis_url.is_some() {
                human.push_str("(Redis records expire by themselves)\n");
            }
            Output::ok(json, human)
        }
        Command::Health => {
            let app = start(config).await?;
            let report = app.cutty.health().await;
            let status = if report.http_status() == 200 { 0 } else { 1 };
            Ok(Output::ok(report, describe_health(&report))?.with_status(status))
        }
    }
}

async fn user(cmd: UserCommand, config: &Config) -> Result<Output, Failure> {
    match cmd {
        UserCommand::Create {
            username,
            email,
            admin,
        } => {
            let password = read_password()?;
            let app = start(config).await?;
            let user = app
                .cutty
                .admin()
                .create_user(&username, &email, &password, admin)
                .await?;
            Output::ok(
                UserOut::from(&user),
                format!("created {}", describe_user(&user)),
            )
        }
        UserCommand::Disable { username } => {
            let app = start(config).await?;
            let user = app.cutty.admin().set_active(&username, false).await?;
            Output::ok(
                UserOut::from(&user),
                format!(
                    "disabled {}; every token issued so far is revoked",
                    describe_user(&user)
                ),
            )
        }
        UserCommand::Enable { username } => {
            let app = start(config).await?;
            let user = app.cutty.admin().set_active(&username, true).await?;
            Output::ok(
                UserOut::from(&user),
                format!("enabled {}", describe_user(&user)),
            )
        }
        UserCommand::RequireReset { username } => {
            let app = start(config).await?;
            let user = app.cutty.admin().require_reset(&username).await?;
            Output::ok(
                UserOut::from(&user),
                format!(
                    "{}: a new password is required at the next login",
                    describe_user(&user)
                ),
            )
        }
    }
}

fn password(cmd: PasswordCommand, config: &Config) -> Result<Output, Failure> {
    let hasher = hasher(config)?;
    match cmd {
        PasswordCommand::Hash => {
            let password = read_password()?;
            let encoded = hasher.hash(&password);
            Output::ok(json!({ "hash": encoded }), encoded)
        }
        PasswordCommand::Verify { encoded } => {
            let password = read_password()?;
            match hasher.verify(&password, &encoded) {
                Ok(v) => {
                    let human = match (v.matches, v.must_update) {
                        (true, true) => "match (the hash should be updated)",
                        (true, false) => "match",
                        (false, _) => "mismatch",
                    };
                    Ok(Output::ok(
                        json!({"valid": v.matches, "must_update": v.must_update}),
                        human,
                    )?
                    .with_status(if v.matches { 0 } else { 1 }))
                }
                Err(e) => Err(Failure::cannot_run(format!("cannot verify: {e}"))),
            }
        }
    }
}

async fn token(cmd: TokenCommand, config: &Config) -> Result<Output, Failure> {
    let app = start(config).await?;
    let admin = app.cutty.admin();
    match cmd {
        TokenCommand::Decode { token } => {
            let decoded = admin.decode_token(&token)?;
            let human = format!(
                "NOT VERIFIED\nheader: {}\nclaims: {}",
                serde_json::to_string_pretty(&decoded.header).unwrap_or_default(),
                serde_json::to_string_pretty(&decoded.claims).unwrap_or_default()
            );
            Output::ok(decoded, human)
        }
        TokenCommand::Verify { token } => {
            let check = admin.verify_token(&token).await?;
            let human = format!(
                "valid {} token of user {}\n  jti: {}\n  family: {}\n  issued: {}\n  expires: {}",
                check.token_type,
                check.user_id,
                check.jti,
                check.family,
                format_ms(check.issued_at.saturating_mul(1000)),
                format_ms(check.expires_at.saturating_mul(1000)),
            );
            Output::ok(check, human)
        }
        TokenCommand::Revoke { jti } => {
            admin.revoke_jti(&jti).await?;
            Output::ok(
                json!({"status": "ok", "jti": jti, "revoked": true}),
                format!("token {jti} is revoked until it expires"),
            )
        }
        TokenCommand::Unrevoke { jti } => {
            if admin.unrevoke_jti(&jti).await? {
                Output::ok(
                    json!({"status": "ok", "jti": jti, "revoked": false}),
                    format!("the revocation of token {jti} is lifted"),
                )
            } else {
                Err(Failure {
                    code: Some(ErrorCode::ResourceNotFound.as_str()),
                    ..Failure::refused(format!("token {jti} is not revoked"))
                })
            }
        }
    }
}

async fn api_key(cmd: ApiKeyCommand, config: &Config) -> Result<Output, Failure> {
    let app = start(config).await?;
    let admin = app.cutty.admin();
    match cmd {
        ApiKeyCommand::Create {
            username,
            name,
            permissions,
            expires_at,
            rate_limit,
        } => {
            let req = CreateApiKeyRequest {
                name,
                permissions: permissions
                    .into_iter()
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
                expires_at,
                rate_limit_override: rate_limit,
            };
            let created = admin.create_api_key_for(&username, &req).await?;
            let json = serde_json::to_value(&created)
                .map_err(|e| Failure::cannot_run(format!("cannot render the answer: {e}")))?;
            let key = json["key"].as_str().unwrap_or_default().to_owned();
            let human = format!(
                "{key}\n\nAPI key {} ({}) created for {username}; permissions: {}\nThe key is shown only once: store it now.",
                created.key_id,
                created.name,
                permission_list(&json["permissions"]),
            );
            Ok(Output {
                json,
                human,
                status: 0,
            })
        }
        ApiKeyCommand::List { username } => {
            let list = admin.list_api_keys(username.as_deref()).await?;
            let human = describe_keys(&list);
            Output::ok(list, human)
        }
        ApiKeyCommand::Revoke { key_id } => {
            admin.revoke_api_key(&key_id).await?;
            Output::ok(
                json!({"status": "ok", "key_id": key_id}),
                format!("API key {key_id} is revoked"),
            )
        }
    }
}

fn permission_list(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn describe_keys(list: &ApiKeyList) -> String {
    if list.api_keys.is_empty() {
        return "no API keys".to_owned();
    }
    let mut out = format!(
        "{:<36}  {:<12}  {:<8}  {:<24}  {:<30}  {}\n",
        "KEY_ID", "PREFIX", "ACTIVE", "LAST_USED", "PERMISSIONS", "NAME"
    );
    for k in &list.api_keys {
        let perms = serde_json::to_value(k.permissions)
            .map(|v| permission_list(&v))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<36}  {:<12}  {:<8}  {:<24}  {:<30}  {}\n",
            k.key_id,
            k.key_prefix,
            if k.is_active { "yes" } else { "no" },
            k.last_used.map_or_else(|| "never".to_owned(), format_ms),
            perms,
            k.name
        ));
    }
    out
}

async fn ip(cmd: IpCommand, config: &Config) -> Result<Output, Failure> {
    let app = start(config).await?;
    let admin = app.cutty.admin();
    match cmd {
        IpCommand::Block {
            address,
            reason,
            duration_seconds,
        } => {
            let entry = admin.block(&address, &reason, duration_seconds).await?;
            let human = format!("blocked {}", describe_block(&entry));
            Output::ok(entry, human)
        }
        IpCommand::Unblock { address } => {
            admin.unblock(&address).await?;
            Output::ok(
                json!({"status": "ok", "ip_address": address}),
                format!("unblocked {address}"),
            )
        }
        IpCommand::List => {
            let list = admin.blocked().await?;
            let human = if list.blocked_ips.is_empty() {
                "no blocked addresses".to_owned()
            } else {
                list.blocked_ips
                    .iter()
                    .map(describe_block)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Output::ok(list, human)
        }
    }
}

fn describe_block(e: &BlockEntry) -> String {
    let until = e.expires_at.map_or_else(
        || "until unblocked".to_owned(),
        |t| format!("until {}", format_ms(t)),
    );
    format!(
        "{} {until} (since {}): {}",
        e.network,
        format_ms(e.created_at),
        e.reason
    )
}

async fn events(args: EventsArgs, config: &Config) -> Result<Output, Failure> {
    let pairs: Vec<(&str, String)> = [
        ("event_type", args.event_type),
        ("user_id", args.user_id),
        ("ip_address", args.ip),
        ("success", args.success),
        ("since", args.since),
        ("until", args.until),
        ("limit", args.limit),
        ("cursor", args.cursor),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let query = EventQuery::from_pairs(pairs)?;
    let app = start(config).await?;
    let page = app.cutty.admin().events(&query).await?;
    let human = describe_events(&page);
    Output::ok(page, human)
}

fn describe_events(page: &EventPage) -> String {
    if page.events.is_empty() {
        return "no events".to_owned();
    }
    let mut out = format!(
        "{:<24}  {:<18}  {:<7}  {:<8}  {:<39}  {}\n",
        "TIME", "TYPE", "OK", "USER", "IP", "DETAILS"
    );
    for e in &page.events {
        out.push_str(&format!(
            "{:<24}  {:<18}  {:<7}  {:<8}  {:<39}  {}\n",
            format_ms(e.timestamp),
            e.event_type.as_str(),
            if e.success { "yes" } else { "no" },
            e.user_id.map_or_else(|| "-".to_owned(), |u| u.to_string()),
            e.ip_address
                .map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            if e.details.is_null() {
                String::new()
            } else {
                e.details.to_string()
            },
        ));
    }
    if let Some(cursor) = &page.next_cursor {
        out.push_str(&format!("more: --cursor {cursor}\n"));
    }
    out
}

fn describe_service(name: &str, s: &ServiceHealth) -> String {
    let status = match s.status {
        ServiceStatus::Ok => "ok",
        ServiceStatus::Degraded => "degraded",
        ServiceStatus::Down => "down",
        ServiceStatus::NotConfigured => "not configured",
    };
    match s.latency_ms {
        Some(ms) => format!("  {name}: {status} ({ms} ms)"),
        None => format!("  {name}: {status}"),
    }
}

fn describe_health(r: &HealthReport) -> String {
    let overall = serde_json::to_value(r.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    [
        overall,
        describe_service("database", &r.services.database),
        describe_service("cache", &r.services.cache),
        describe_service("jwt", &r.services.jwt),
    ]
    .join("\n")
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, proleptic Gregorian).
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_rule_strips_one_line_ending() {
        let p = |b: &[u8]| password_from_bytes(b).map_err(|f| f.message);
        assert_eq!(p(b"secret\n").unwrap(), "secret");
        assert_eq!(p(b"secret\r\n").unwrap(), "secret");
        assert_eq!(p(b"secret\n\n").unwrap(), "secret\n");
        assert_eq!(p(b"secret\r").unwrap(), "secret\r");
        assert_eq!(p(b" secret ").unwrap(), " secret ");
        assert_eq!(p(b"").unwrap(), "");
        assert_eq!(p(b"\n").unwrap(), "");
        assert!(p(b"\xff\xfe\n").is_err());
    }

    #[test]
    fn timestamps_are_rendered_in_utc() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn store_failures_exit_2_and_refusals_exit_1() {
        let f = Failure::from(Error::UserNotFound);
        assert_eq!((f.status, f.code), (1, Some("AUTH_005")));
        let f = Failure::from(Error::Store(cutty_core::error::StoreError::new(
            cutty_core::error::StoreErrorKind::Unavailable,
            "x",
        )));
        assert_eq!((f.status, f.code), (2, Some("DB_001")));
    }

    #[test]
    fn the_command_line_matches_the_contract() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
        for args in [
            &["cutty", "serve", "--bind", "127.0.0.1:0"][..],
            &["cutty", "migrate"],
            &[
                "cutty",
                "user",
                "create",
                "--username",
                "u",
                "--email",
                "e",
                "--admin",
            ],
            &["cutty", "user", "disable", "--username", "u"],
            &["cutty", "user", "enable", "--username", "u"],
            &["cutty", "user", "require-reset", "--username", "u"],
            &["cutty", "password", "hash"],
            &["cutty", "password", "verify", "--encoded", "x"],
            &["cutty", "token", "decode", "t"],
            &["cutty", "token", "verify", "t"],
            &["cutty", "token", "revoke", "j"],
            &["cutty", "token", "unrevoke", "j"],
            &[
                "cutty",
                "api-key",
                "create",
                "--username",
                "u",
                "--name",
                "n",
                "--permissions",
                "files:read,files:write",
                "--expires-at",
                "1",
                "--rate-limit",
                "5",
            ],
            &["cutty", "api-key", "list", "--username", "u"],
            &["cutty", "api-key", "list"],
            &["cutty", "api-key", "revoke", "k"],
            &[
                "cutty",
                "ip",
                "block",
                "10.0.0.0/8",
                "--reason",
                "r",
                "--duration-seconds",
                "5",
            ],
            &["cutty", "ip", "unblock", "10.0.0.0/8"],
            &["cutty", "ip", "list"],
            &[
                "cutty",
                "events",
                "--type",
                "login",
                "--user-id",
                "1",
                "--success",
                "true",
                "--since",
                "0",
                "--limit",
                "5",
            ],
            &["cutty", "invalidate-user-tokens", "--user-id", "3"],
            &["cutty", "maintenance"],
            &["cutty", "health"],
            &["cutty", "--json", "health"],
            &["cutty", "health", "--json"],
        ] {
            Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        let cli = Cli::try_parse_from([
            "cutty",
            "api-key",
            "create",
            "--username",
            "u",
            "--name",
            "n",
            "--permissions",
            "files:read,list:process",
        ])
        .unwrap();
        match cli.command {
            Command::ApiKey(ApiKeyCommand::Create { permissions, .. }) => {
                assert_eq!(permissions, ["files:read", "list:process"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
