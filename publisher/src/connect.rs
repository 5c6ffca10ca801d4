//! Connecting to NATS: one set of options shared by the publisher and the edge.
//!
//! The environment variables are the usual NATS ones (`NATS_URL`, `NATS_CREDS`, …), the same for
//! every binary of the tier, so one `.env` configures a whole deployment.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::{Client, ConnectOptions};

/// How to reach and authenticate to NATS.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated (e.g. nats://a:4222,nats://b:4222).
    #[arg(long = "nats-url", env = "NATS_URL", value_delimiter = ',')]
    pub urls: Vec<String>,
    /// User name for user/password authentication.
    #[arg(long = "nats-user", env = "NATS_USER", requires = "password")]
    pub user: Option<String>,
    /// Password for user/password authentication.
    #[arg(long = "nats-password", env = "NATS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Token authentication.
    #[arg(long = "nats-token", env = "NATS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Credentials file (JWT + NKey seed).
    #[arg(long = "nats-creds", env = "NATS_CREDS")]
    pub creds: Option<PathBuf>,
    /// CA certificate (PEM) to verify the server with; implies TLS.
    #[arg(long = "nats-ca", env = "NATS_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs --nats-key.
    #[arg(long = "nats-cert", env = "NATS_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long = "nats-key", env = "NATS_KEY")]
    pub key: Option<PathBuf>,
    /// Require TLS even without a CA or client certificate.
    #[arg(long = "nats-tls", env = "NATS_TLS", value_parser = crate::env::flag())]
    pub tls: bool,
}

/// Why a connection could not even be attempted.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no NATS URL given: pass --nats-url or set NATS_URL")]
    NoUrl,
    #[error("reading NATS credentials file {path}: {source}")]
    Creds {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad NATS URL {url:?}: {source}")]
    Url { url: String, source: std::io::Error },
    #[error("connecting to NATS: {0}")]
    Connect(#[from] async_nats::ConnectError),
}

impl NatsArgs {
    /// Arguments for one server URL and no authentication.
    pub fn url(url: impl Into<String>) -> NatsArgs {
        NatsArgs {
            urls: vec![url.into()],
            ..NatsArgs::default()
        }
    }

    /// Connects, retrying in the background when NATS is not reachable yet: the returned client
    /// buffers and reconnects by itself, so callers start at once and report readiness from
    /// [`Client::connection_state`].
    pub async fn connect(&self, name: &str) -> Result<Client, ConnectError> {
        if self.urls.is_empty() {
            return Err(ConnectError::NoUrl);
        }
        let mut options = ConnectOptions::new()
            .name(name)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            // Short requests: during a JetStream leader election a request may go unanswered,
            // and a quick retry (consumers, stream lookups) recovers sooner than a long wait.
            .request_timeout(Some(Duration::from_secs(3)))
            .ping_interval(Duration::from_secs(10))
            .reconnect_delay_callback(|attempts| {
                // 100 ms doubling to 5 s: quick after a blip, gentle during an outage.
                let exp = attempts.min(6) as u32;
                Duration::from_millis(100 * 2u64.pow(exp)).min(Duration::from_secs(5))
            });
        let watch = ConnectionLog::new(self.urls.join(","));
        options = options.event_callback(move |event| {
            watch.event(&event);
            async {}
        });
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(path) = &self.creds {
            options =
                options
                    .credentials_file(path)
                    .await
                    .map_err(|source| ConnectError::Creds {
                        path: path.clone(),
                        source,
                    })?;
        }
        if let Some(ca) = &self.ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        if self.tls {
            options = options.require_tls(true);
        }
        let addrs = self
            .urls
            .iter()
            .map(|url| {
                url.trim()
                    .parse::<async_nats::ServerAddr>()
                    .map_err(|source| ConnectError::Url {
                        url: url.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(options.connect(addrs).await?)
    }
}

/// Logs the connection's events for an operator: trouble at `warn` with what to check, once
/// per kind of problem and then at most every 30 s while it lasts; the recovery at `info`.
struct ConnectionLog {
    urls: String,
    state: std::sync::Mutex<Trouble>,
}

#[derive(Default)]
struct Trouble {
    problem: Option<String>,
    since: Option<std::time::Instant>,
    warned: Option<std::time::Instant>,
}

/// How often a lasting problem is logged again.
const REPEAT: Duration = Duration::from_secs(30);

impl ConnectionLog {
    fn new(urls: String) -> ConnectionLog {
        ConnectionLog {
            urls,
            state: std::sync::Mutex::new(Trouble::default()),
        }
    }

    fn event(&self, event: &async_nats::Event) {
        use async_nats::{ClientError, Event, ServerError};
        let problem = match event {
            Event::Connected => {
                let mut state = self.state.lock().expect("not poisoned");
                match state.since.take() {
                    Some(since) => tracing::info!(
                        urls = %self.urls,
                        after = ?since.elapsed(),
                        "connected to NATS"
                    ),
                    None => tracing::info!(urls = %self.urls, "connected to NATS"),
                }
                *state = Trouble::default();
                return;
            }
            Event::Disconnected => "disconnected".to_owned(),
            Event::ClientError(ClientError::Other(text)) => text.clone(),
            Event::ServerError(ServerError::AuthorizationViolation) => {
                "authorization violation".to_owned()
            }
            // NATS drops what the user may not publish or subscribe to, and the request waiting
            // for its answer times out: this line is the only place that says why.
            Event::ServerError(ServerError::Other(text))
                if text.to_ascii_lowercase().contains("permissions violation") =>
            {
                tracing::warn!(
                    urls = %self.urls,
                    problem = %text,
                    "NATS refused an operation this user is not permitted: check the user's \
                     permissions in the server config (deploy/nats/README.md lists what each \
                     binary needs)"
                );
                return;
            }
            other => {
                tracing::info!(urls = %self.urls, event = %other, "NATS");
                return;
            }
        };
        let mut state = self.state.lock().expect("not poisoned");
        let now = std::time::Instant::now();
        let again = state.problem.as_deref() != Some(problem.as_str())
            || state.warned.is_none_or(|at| now - at >= REPEAT);
        state.since.get_or_insert(now);
        if again {
            tracing::warn!(
                urls = %self.urls,
                problem = %problem,
                trouble_for = ?state.since.map(|s| now - s).unwrap_or_default(),
                "NATS connection trouble: {}; retrying",
                hint(&problem)
            );
            state.warned = Some(now);
        }
        state.problem = Some(problem);
    }
}

/// What to check for a connection problem, from the client's words for it.
fn hint(problem: &str) -> &'static str {
    let p = problem.to_ascii_lowercase();
    if p.contains("authorization") || p.contains("authentication") || p.contains("credentials") {
        "the server refused these credentials: check --nats-user/--nats-password \
         (NATS_USER/NATS_PASSWORD), --nats-token (NATS_TOKEN) or --nats-creds (NATS_CREDS)"
    } else if p.contains("tls") || p.contains("certificate") {
        "TLS with the server failed: check --nats-ca, --nats-cert/--nats-key and --nats-tls \
         against the server's TLS settings"
    } else if p.contains("disconnected") {
        "the connection to the server was lost"
    } else {
        "cannot reach the server: check --nats-url (NATS_URL) and that NATS is up and \
         reachable from here"
    }
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn hints_name_the_settings_to_check() {
        assert!(hint("nats: authorization violation").contains("NATS_PASSWORD"));
        assert!(hint("nats: authentication error").contains("NATS_CREDS"));
        assert!(hint("nats: TLS error").contains("--nats-ca"));
        assert!(hint("nats: IO error").contains("NATS_URL"));
    }
}
