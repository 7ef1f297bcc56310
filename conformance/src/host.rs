//! What a host must provide to run the suite: a way to start it for a configuration, its
//! base URL, an operator hook (the admin CLI or its equivalent) and a restart.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

/// The standard limits the suite asks for when a test does not care about rate limiting:
/// high enough that no test sharing a host ever meets them.
pub const HIGH_LIMIT: u64 = 100_000;

/// A host configuration: the contract's environment variables (`CUTTY_RATE_LIMIT_IP`,
/// `CUTTY_TRUSTED_PROXIES`, …) with their values.
///
/// A host passes every variable through to the server it starts, on top of its own storage
/// settings (`DATABASE_URL`, `REDIS_URL`, …); a variable set here wins. A variable set to the
/// empty string is passed as the empty string (e.g. `CUTTY_TRUSTED_PROXIES=""`: no proxy is
/// trusted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    vars: BTreeMap<String, String>,
    exclusive: bool,
}

impl Config {
    /// No variable at all: the contract's defaults everywhere.
    pub fn empty() -> Self {
        Self::default()
    }

    /// What most tests run on: the loopback peer is a trusted proxy (so each test chooses its
    /// client IP with `X-Forwarded-For`) and the IP, user and API-key limits are
    /// [`HIGH_LIMIT`]. Everything else keeps the contract's default.
    pub fn standard() -> Self {
        Self::empty()
            .set("CUTTY_TRUSTED_PROXIES", "127.0.0.1/32,::1/128")
            .set("CUTTY_RATE_LIMIT_IP", HIGH_LIMIT)
            .set("CUTTY_RATE_LIMIT_USER", HIGH_LIMIT)
            .set("CUTTY_RATE_LIMIT_API_KEY", HIGH_LIMIT)
    }

    /// Sets one variable.
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.vars.insert(key.to_owned(), value.to_string());
        self
    }

    /// Removes one variable (the contract's default applies again).
    pub fn unset(mut self, key: &str) -> Self {
        self.vars.remove(key);
        self
    }

    /// Marks the configuration as needing a host of its own: the test counts something
    /// host-wide (a global limit, the loopback peer's IP counter) or restarts the host. A
    /// harness may run tests whose configurations are equal and not exclusive on one shared
    /// host; it must never share a host started for an exclusive configuration.
    pub fn exclusive(mut self) -> Self {
        self.exclusive = true;
        self
    }

    /// Whether [`Config::exclusive`] was asked for.
    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// The value of one variable, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// Every variable, sorted by name.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A numeric variable, or `default` when unset.
    ///
    /// # Panics
    /// When the variable is set to something that is not an unsigned integer: that is a bug
    /// in the test that set it.
    pub fn number(&self, key: &str, default: u64) -> u64 {
        match self.get(key) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("test configuration {key}={v:?} is not a number")),
        }
    }

    /// The rate-limit window in seconds (`CUTTY_RATE_LIMIT_WINDOW_SECONDS`, default 60).
    pub fn rate_limit_window(&self) -> u64 {
        self.number("CUTTY_RATE_LIMIT_WINDOW_SECONDS", 60)
    }

    /// The lockout duration in seconds (`CUTTY_LOCKOUT_SECONDS`, default 3600).
    pub fn lockout_seconds(&self) -> u64 {
        self.number("CUTTY_LOCKOUT_SECONDS", 3600)
    }
}

/// Something the operator does with the admin CLI (or the host's equivalent) against the
/// storage the running host uses. Each maps to one command of the contract's "Admin CLI".
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `cutty user create --username U --email E [--admin]`, the password on standard input.
    CreateUser {
        /// Username.
        username: String,
        /// Email address.
        email: String,
        /// Password (given to the CLI on standard input).
        password: String,
        /// Whether the user is an administrator.
        admin: bool,
    },
    /// `cutty user disable --username U`.
    DisableUser {
        /// Username.
        username: String,
    },
    /// `cutty user enable --username U`.
    EnableUser {
        /// Username.
        username: String,
    },
    /// `cutty user require-reset --username U`.
    RequireReset {
        /// Username.
        username: String,
    },
    /// `cutty ip block ADDR_OR_CIDR --reason R [--duration-seconds N]`.
    BlockIp {
        /// IP address or CIDR range.
        address: String,
        /// Why (required by the contract).
        reason: String,
        /// How long, when not forever.
        duration_seconds: Option<u64>,
    },
    /// `cutty ip unblock ADDR_OR_CIDR`.
    UnblockIp {
        /// IP address or CIDR range.
        address: String,
    },
}

impl Operation {
    /// The contract's admin-CLI arguments for this operation, and what goes on standard input.
    pub fn cli_args(&self) -> (Vec<String>, Option<String>) {
        let owned = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            Operation::CreateUser {
                username,
                email,
                password,
                admin,
            } => {
                let mut args = owned(&["user", "create", "--username", username, "--email", email]);
                if *admin {
                    args.push("--admin".to_owned());
                }
                (args, Some(format!("{password}\n")))
            }
            Operation::DisableUser { username } => {
                (owned(&["user", "disable", "--username", username]), None)
            }
            Operation::EnableUser { username } => {
                (owned(&["user", "enable", "--username", username]), None)
            }
            Operation::RequireReset { username } => (
                owned(&["user", "require-reset", "--username", username]),
                None,
            ),
            Operation::BlockIp {
                address,
                reason,
                duration_seconds,
            } => {
                let mut args = owned(&["ip", "block", address, "--reason", reason]);
                if let Some(d) = duration_seconds {
                    args.push("--duration-seconds".to_owned());
                    args.push(d.to_string());
                }
                (args, None)
            }
            Operation::UnblockIp { address } => (owned(&["ip", "unblock", address]), None),
        }
    }
}

impl fmt::Debug for Operation {
    /// Shows the CLI arguments; never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (args, stdin) = self.cli_args();
        f.debug_struct("Operation")
            .field("args", &args)
            .field("stdin", &stdin.map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a host could not be started, operated or restarted. Tests fail loudly with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The host (or something it needs: a database, Redis) could not be started.
    #[error("host failed to start: {0}")]
    Start(String),
    /// An operator command failed.
    #[error("operator command {command} failed: {detail}")]
    Operation {
        /// The command, as the operator would type it (no secrets).
        command: String,
        /// Exit status and output.
        detail: String,
    },
    /// The host could not be stopped or restarted.
    #[error("host restart failed: {0}")]
    Restart(String),
}

/// A running host.
///
/// Dropping it must stop the server (also when a test panics) and release what the harness
/// created for it (temporary directory, database schema, key prefix).
pub trait Host {
    /// `http://IP:PORT` (no trailing slash). May change across [`Host::restart`].
    fn base_url(&self) -> String;

    /// Whether a cache service (Redis or the platform's equivalent) is configured; decides
    /// what `/health/auth` must report for `cache`.
    fn cache_configured(&self) -> bool;

    /// Runs an operator command against the storage this host uses, and returns once the
    /// command has completed (its effect is then in storage; the contract gives a running
    /// server up to 5 seconds to see a block list change).
    fn operate(&self, operation: Operation) -> impl Future<Output = Result<(), HostError>>;

    /// Stops the server and starts it again with the same configuration on the same storage.
    fn restart(&mut self) -> impl Future<Output = Result<(), HostError>>;
}

/// Starts hosts. Implemented for every `Fn(Config) -> impl Future<Output = Result<H,
/// HostError>>`, so a plain `async fn start(config: Config) -> Result<MyHost, HostError>` is a
/// `Launch`.
pub trait Launch {
    /// The host this starts.
    type Host: Host;

    /// Starts a host for `config`; returns once it accepts requests.
    fn launch(&self, config: Config) -> impl Future<Output = Result<Self::Host, HostError>>;
}

impl<F, Fut, H> Launch for F
where
    F: Fn(Config) -> Fut,
    Fut: Future<Output = Result<H, HostError>>,
    H: Host,
{
    type Host = H;

    fn launch(&self, config: Config) -> impl Future<Output = Result<H, HostError>> {
        self(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_the_contract_cli() {
        let op = Operation::CreateUser {
            username: "ann".into(),
            email: "ann@example.com".into(),
            password: "pw".into(),
            admin: true,
        };
        let (args, stdin) = op.cli_args();
        assert_eq!(
            args,
            [
                "user",
                "create",
                "--username",
                "ann",
                "--email",
                "ann@example.com",
                "--admin"
            ]
        );
        assert_eq!(stdin.as_deref(), Some("pw\n"));
        assert!(!format!("{op:?}").contains("pw\\n"));
        let op = Operation::BlockIp {
            address: "10.0.0.0/8".into(),
            reason: "r".into(),
            duration_seconds: Some(5),
        };
        assert_eq!(
            op.cli_args().0,
            [
                "ip",
                "block",
                "10.0.0.0/8",
                "--reason",
                "r",
                "--duration-seconds",
                "5"
            ]
        );
    }

    #[test]
    fn standard_config_trusts_loopback_and_raises_limits() {
        let c = Config::standard().set("CUTTY_RATE_LIMIT_IP", 3);
        assert_eq!(c.get("CUTTY_RATE_LIMIT_IP"), Some("3"));
        assert_eq!(c.number("CUTTY_RATE_LIMIT_USER", 0), HIGH_LIMIT);
        assert_eq!(c.rate_limit_window(), 60);
        assert!(!c.is_exclusive());
        assert!(c.exclusive().is_exclusive());
    }
}
