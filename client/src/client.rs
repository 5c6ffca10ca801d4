//! The builder, the item and state types, and the reconnect loop.
//!
//! Transport order is WebSocket, then SSE, then polling. A transport that cannot be established
//! twice in a row (on every URL) is given up for the next one; after five minutes on a lower
//! transport the client probes the better one again. Between attempts it waits with jittered
//! exponential backoff (1 s to 60 s, reset after a connection that lasted 30 s), rotating over
//! the edge URLs. It always resumes from the cursor of the last event it delivered (progress
//! markers included).
//!
//! Cursors of different stream instances (epochs) do not compare: a cursor only orders events of
//! its own epoch, so duplicates are dropped only within one epoch, and after a Reset the client
//! follows the new instance from where the Reset says.

use std::sync::Arc;
use std::time::{Duration, Instant};

use adic_protocol::ws::{Gap, Reset};
use adic_protocol::Cursor;
use serde_json::Value;
use tokio::sync::mpsc;
use url::Url;

use crate::backoff::Backoff;
use crate::error::Error;
use crate::items::{CheckpointHook, Delivery, Items};
use crate::proxy::Proxies;
use crate::session::{self, Ended, HeaderHook, Net, Query, Shared, TokenHook};
use crate::stats::StatsHandle;
use crate::tls::{self, Roots};

/// Items the stream yields.
#[derive(Clone, Debug)]
pub enum Item {
    /// An event with its cursor, exactly once and in stream order.
    Event { id: Cursor, event: Value },
    /// The current value of a snapshot kind (asked with `snapshot`); carries no cursor.
    Snapshot(Value),
    /// The cursor was older than the stream keeps: events continue from `first_available`.
    Gap(Gap),
    /// The stream was recreated: events continue on the new instance.
    Reset(Reset),
    /// The connection changed.
    State(State),
}

/// Connection changes, for status displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Connected {
        transport: Transport,
        url: String,
    },
    Reconnecting {
        after: Duration,
        reason: String,
    },
    FellBack {
        from: Transport,
        to: Transport,
    },
    /// The edge refused the credentials (no token, a refused or expired one, or one that does
    /// not allow the filter). The client keeps trying with backoff on the same transport,
    /// asking the token provider again each time: another transport would be refused too.
    Unauthorized {
        reason: String,
    },
}

/// A transport, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    WebSocket,
    Sse,
    Polling,
}

impl Transport {
    fn next(self) -> Option<Transport> {
        match self {
            Transport::WebSocket => Some(Transport::Sse),
            Transport::Sse => Some(Transport::Polling),
            Transport::Polling => None,
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::WebSocket => "WebSocket",
            Transport::Sse => "SSE",
            Transport::Polling => "polling",
        })
    }
}

/// Entry point: `Client::builder(urls)`.
pub struct Client;

impl Client {
    /// A builder for edges at `urls` (`http://host:port` or `https://host:port`, several to
    /// rotate over; `ws://` and `wss://` are read as `http://` and `https://`).
    pub fn builder<I, S>(urls: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientBuilder {
            urls: urls.into_iter().map(Into::into).collect(),
            query: Query::default(),
            cursor: None,
            first: Transport::WebSocket,
            buffer: 1024,
            roots: Roots::System,
            root_pems: Vec::new(),
            proxy: ProxySetting::Environment,
            headers: None,
            token: None,
            checkpoint: None,
        }
    }
}

/// Where the proxy settings come from.
enum ProxySetting {
    Environment,
    None,
    Explicit { proxy: String, no_proxy: String },
}

/// Settings of a subscription.
pub struct ClientBuilder {
    urls: Vec<String>,
    query: Query,
    cursor: Option<Cursor>,
    first: Transport,
    buffer: usize,
    roots: Roots,
    root_pems: Vec<Vec<u8>>,
    proxy: ProxySetting,
    headers: Option<HeaderHook>,
    token: Option<TokenHook>,
    checkpoint: Option<CheckpointHook>,
}

impl ClientBuilder {
    /// Only these kinds (dotted or variant names).
    pub fn events<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.query.events = Some(
            names
                .into_iter()
                .map(Into::into)
                .collect::<Vec<_>>()
                .join(","),
        );
        self
    }

    /// Only this priority (`high`, `medium`, `low`).
    pub fn priority(mut self, priority: impl Into<String>) -> Self {
        self.query.priority = Some(priority.into());
        self
    }

    /// Start after this cursor (e.g. a checkpoint an indexer saved).
    pub fn cursor(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// Send the current value of each snapshot kind first (without a cursor only).
    pub fn snapshot(mut self, snapshot: bool) -> Self {
        self.query.snapshot = snapshot;
        self
    }

    /// Start with this transport instead of WebSocket (lower ones remain as fallbacks).
    pub fn transport(mut self, first: Transport) -> Self {
        self.first = first;
        self
    }

    /// Items held for a consumer that is not polling (backpressure beyond it).
    pub fn buffer(mut self, items: usize) -> Self {
        self.buffer = items.max(1);
        self
    }

    /// Also trust the CA certificate(s) in this PEM (a private CA, a self-signed edge), for
    /// `https://` and `wss://` alike. May be called several times.
    pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_pems.push(pem.into());
        self
    }

    /// Which roots to trust besides the added ones: the system's store (default), Mozilla's
    /// bundled list, or only the added certificates.
    pub fn roots(mut self, roots: Roots) -> Self {
        self.roots = roots;
        self
    }

    /// Go through this HTTP proxy (`http://[user:pass@]host:port`) for every edge except those
    /// matching `no_proxy` (the `NO_PROXY` syntax, e.g. `"localhost,.internal"`), instead of what
    /// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` say (the default).
    pub fn proxy(mut self, proxy: impl Into<String>, no_proxy: impl Into<String>) -> Self {
        self.proxy = ProxySetting::Explicit {
            proxy: proxy.into(),
            no_proxy: no_proxy.into(),
        };
        self
    }

    /// Connect directly, whatever the proxy environment variables say.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxySetting::None;
        self
    }

    /// Headers to send on every connection (e.g. `Authorization`): `hook` is called at each
    /// connection attempt, so a token it returns can be refreshed between reconnects. They go on
    /// the WebSocket upgrade request, the SSE request and every polling request.
    pub fn headers<F>(mut self, hook: F) -> Self
    where
        F: Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    {
        self.headers = Some(Arc::new(hook));
        self
    }

    /// The token (a JWT) for an edge with authentication on: `provider` is asked at every
    /// connection attempt (sent as `Authorization: Bearer`) and, on a WebSocket, again a minute
    /// before the token in use expires (sent in-band as an `Auth` message, so the connection
    /// stays). Keep it quick: return a cached token that another task renews. A refused token
    /// is reported as [`State::Unauthorized`], never as a reason to change transport.
    pub fn token<F>(mut self, provider: F) -> Self
    where
        F: Fn() -> Option<String> + Send + Sync + 'static,
    {
        self.token = Some(Arc::new(provider));
        self
    }

    /// Called with a cursor once every item up to it has been processed: an item counts as
    /// processed when the consumer asks for the next one or calls [`Items::commit`]. Store the
    /// cursor, and start from it later with [`ClientBuilder::cursor`]. The hook runs on the
    /// consumer's task while it polls, so keep it quick (hand slow writes to another task).
    pub fn checkpoint<F>(mut self, hook: F) -> Self
    where
        F: FnMut(Cursor) + Send + 'static,
    {
        self.checkpoint = Some(Box::new(hook));
        self
    }

    /// Checks the settings and starts the connection loop; the stream ends only when dropped.
    /// Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// No URL, a URL that is not `http(s)://host[:port]`, a root certificate PEM without a
    /// usable certificate, or a proxy setting (explicit or from the environment) that is not an
    /// `http://` URL.
    pub fn subscribe(self) -> Result<Items, Error> {
        if self.urls.is_empty() {
            return Err(Error::NoUrls);
        }
        let urls = self
            .urls
            .iter()
            .map(|url| edge_url(url))
            .collect::<Result<Vec<_>, _>>()?;
        let mut extra = Vec::new();
        for pem in &self.root_pems {
            extra.extend(tls::parse_pem(pem)?);
        }
        let tls = tls::client_config(self.roots, &extra)?;
        let proxies = match &self.proxy {
            ProxySetting::Environment => Proxies::from_env()?,
            ProxySetting::None => Proxies::none(),
            ProxySetting::Explicit { proxy, no_proxy } => Proxies::explicit(proxy, no_proxy)?,
        };
        let net = Net {
            tls,
            proxies,
            headers: self.headers,
            token: self.token,
        };
        let stats = StatsHandle::default();
        let (tx, rx) = mpsc::channel(self.buffer);
        let settings = Settings {
            urls,
            query: self.query,
            cursor: self.cursor,
            first: self.first,
            net,
            stats: stats.clone(),
        };
        tokio::spawn(run(settings, tx));
        Ok(Items::new(rx, stats, self.checkpoint, self.cursor))
    }
}

/// Checks an edge URL and returns it as `http(s)://host[:port][/prefix]` without a trailing `/`.
fn edge_url(url: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Url {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    let parsed = Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    let scheme = match parsed.scheme() {
        "http" | "ws" => "http",
        "https" | "wss" => "https",
        other => return Err(bad(&format!("the scheme {other} is not supported"))),
    };
    let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("a query or fragment does not belong in an edge URL"));
    }
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = parsed.path().trim_end_matches('/');
    Ok(format!("{scheme}://{host}{port}{path}"))
}

/// What the connection loop works with.
struct Settings {
    urls: Vec<String>,
    query: Query,
    cursor: Option<Cursor>,
    first: Transport,
    net: Net,
    stats: StatsHandle,
}

/// Failures in a row after which a transport is given up for the next one.
const FAILURES_TO_FALL_BACK: u32 = 2;
/// Time on a lower transport before probing the better one again.
const PROBE_UP_AFTER: Duration = Duration::from_secs(300);

async fn run(settings: Settings, out: mpsc::Sender<Delivery>) {
    let Settings {
        urls,
        query,
        mut cursor,
        first,
        net,
        stats,
    } = settings;
    let mut transport = first;
    let mut fell_back_at: Option<Instant> = None;
    let mut failures = 0u32;
    let mut backoff = Backoff::default();
    let mut url_index = 0usize;
    let url_count = u32::try_from(urls.len()).unwrap_or(u32::MAX);
    loop {
        if let Some(at) = fell_back_at {
            if transport != first && at.elapsed() >= PROBE_UP_AFTER {
                transport = first;
                fell_back_at = None;
                failures = 0;
            }
        }
        let url = urls[url_index % urls.len()].clone();
        let started = Instant::now();
        let ended = {
            let connected_out = out.clone();
            let connected_stats = stats.clone();
            let connected_url = url.clone();
            let connected = State::Connected {
                transport,
                url: url.clone(),
            };
            let mut shared = Shared {
                cursor: &mut cursor,
                out: &out,
                stats: &stats,
            };
            session::run(transport, &url, &query, &net, &mut shared, move || {
                {
                    let mut s = connected_stats.lock();
                    s.transport = Some(transport);
                    s.url = Some(connected_url);
                    if s.connections > 0 {
                        s.reconnects += 1;
                    }
                    s.connections += 1;
                }
                // A status notice only: dropped when the consumer is that far behind.
                let _ = connected_out.try_send(Delivery::Item(Item::State(connected)));
            })
            .await
        };
        {
            let mut s = stats.lock();
            s.transport = None;
            s.url = None;
        }
        let reason = match ended {
            Ended::Stopped => return,
            Ended::Lost(reason) => {
                failures = 0;
                backoff.ended(started);
                reason
            }
            Ended::Refused(reason) => {
                // Not the transport's fault: no fallback, and the next attempt asks the token
                // provider again.
                stats.lock().auth_refusals += 1;
                failures = 0;
                backoff.ended(started);
                tracing::warn!(%reason, "the edge refused the credentials");
                let refused = State::Unauthorized {
                    reason: reason.clone(),
                };
                if out
                    .send(Delivery::Item(Item::State(refused)))
                    .await
                    .is_err()
                {
                    return;
                }
                reason
            }
            Ended::Failed(reason) => {
                stats.lock().failed_attempts += 1;
                failures += 1;
                url_index += 1;
                if failures >= FAILURES_TO_FALL_BACK.saturating_mul(url_count) {
                    if let Some(lower) = transport.next() {
                        stats.lock().fallbacks += 1;
                        let fell = State::FellBack {
                            from: transport,
                            to: lower,
                        };
                        if out.send(Delivery::Item(Item::State(fell))).await.is_err() {
                            return;
                        }
                        transport = lower;
                        fell_back_at = Some(Instant::now());
                        failures = 0;
                        continue;
                    }
                }
                reason
            }
        };
        let after = backoff.next_delay();
        tracing::debug!(%reason, ?after, "reconnecting");
        let notice = Item::State(State::Reconnecting { after, reason });
        if out.send(Delivery::Item(notice)).await.is_err() {
            return;
        }
        tokio::time::sleep(after).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_urls_are_checked_and_normalised() {
        assert_eq!(edge_url("http://e:9121/").unwrap(), "http://e:9121");
        assert_eq!(edge_url("wss://e/stream/").unwrap(), "https://e/stream");
        for bad in ["e:9121", "ftp://e", "http://e/?x=1", "not a url"] {
            let err = edge_url(bad).unwrap_err().to_string();
            assert!(err.contains("expected http://host:port"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn bad_settings_are_refused_before_connecting() {
        let none: [&str; 0] = [];
        assert!(matches!(
            Client::builder(none).subscribe(),
            Err(Error::NoUrls)
        ));
        let pem = Client::builder(["http://e"])
            .root_certificate_pem("not pem")
            .subscribe();
        assert!(matches!(pem, Err(Error::RootCertificate(_))));
        let proxy = Client::builder(["http://e"])
            .proxy("socks5://p:1080", "")
            .subscribe();
        assert!(matches!(proxy, Err(Error::Proxy { .. })));
    }
}
