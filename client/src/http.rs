//! HTTP/1.1 connections for the SSE and polling transports, opened here rather than by a
//! general-purpose HTTP client so that every transport shares one way of reaching an edge: the
//! same proxy decision, the same rustls configuration, the same extra headers.
//!
//! `https://` edges: TCP (through a `CONNECT` tunnel when a proxy applies), then TLS.
//! `http://` edges behind a proxy: requests in absolute form (`GET http://edge/...`) to the
//! proxy, as proxies expect for plain HTTP.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST, USER_AGENT};
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use url::Url;

use crate::proxy::{self, Proxies};

/// A byte stream to an edge: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One HTTP/1.1 connection to one edge; requests go one after another.
pub struct Connection {
    sender: SendRequest<Empty<Bytes>>,
    /// Drives the connection; ended with it.
    driver: JoinHandle<()>,
    /// `scheme://host:port` when requests go to a proxy in absolute form, else empty.
    absolute: String,
    authority: String,
    /// Path prefix of the edge URL (`/stream` in `https://host/stream`), without trailing `/`.
    prefix: String,
    proxy_authorization: Option<HeaderValue>,
    /// The last response said `Connection: close` (e.g. a proxy that serves one request per
    /// connection).
    closing: bool,
}

impl Connection {
    /// Connects to the edge at `base` within `within`.
    pub async fn open(
        base: &str,
        proxies: &Proxies,
        tls: &Arc<rustls::ClientConfig>,
        within: Duration,
    ) -> Result<Connection, String> {
        let target = Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
        let host = target.host_str().unwrap_or_default().to_owned();
        let port = target.port_or_known_default().unwrap_or(80);
        let authority = match target.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let proxy = proxies.for_url(&target);
        let https = target.scheme() == "https";
        let io: Pin<Box<dyn Io>> = if https {
            let tcp = proxy::connect(proxy, &host, port, within).await?;
            let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
                .map_err(|e| format!("{host} is not a valid TLS server name: {e}"))?
                .to_owned();
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(tls));
            let stream = tokio::time::timeout(within, tls.connect(name, tcp))
                .await
                .map_err(|_| format!("TLS handshake with {authority} timed out"))?
                .map_err(|e| format!("TLS handshake with {authority}: {e}"))?;
            Box::pin(stream)
        } else {
            match proxy {
                // The proxy is the peer; it reads the edge from each request line.
                Some(proxy) => {
                    let proxy_host = proxy.host_str().unwrap_or_default().to_owned();
                    let proxy_port = proxy.port_or_known_default().unwrap_or(80);
                    Box::pin(proxy::connect(None, &proxy_host, proxy_port, within).await?)
                }
                None => Box::pin(proxy::connect(None, &host, port, within).await?),
            }
        };
        let (sender, connection) = tokio::time::timeout(
            within,
            hyper::client::conn::http1::handshake(TokioIo::new(io)),
        )
        .await
        .map_err(|_| format!("HTTP handshake with {authority} timed out"))?
        .map_err(|e| format!("HTTP handshake with {authority}: {e}"))?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("edge connection ended: {e}");
            }
        });
        let absolute = match (https, proxy) {
            (false, Some(_)) => format!("http://{authority}"),
            _ => String::new(),
        };
        let proxy_authorization = match (https, proxy) {
            (false, Some(proxy)) => {
                proxy::authorization(proxy).and_then(|value| HeaderValue::from_str(&value).ok())
            }
            _ => None,
        };
        Ok(Connection {
            sender,
            driver,
            absolute,
            authority,
            prefix: target.path().trim_end_matches('/').to_owned(),
            proxy_authorization,
            closing: false,
        })
    }

    /// Whether another request can go on this connection: false once the peer closed it or
    /// announced it would.
    pub async fn reusable(&mut self) -> bool {
        !self.closing && self.sender.ready().await.is_ok()
    }

    /// Sends `GET <prefix><path_and_query>` with `headers` and returns the response head; the
    /// body streams from the returned response.
    pub async fn get(
        &mut self,
        path_and_query: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Response<Incoming>, String> {
        let uri = format!("{}{}{path_and_query}", self.absolute, self.prefix);
        let mut request = Request::get(uri).header(HOST, &self.authority).header(
            USER_AGENT,
            concat!("adic-client/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(auth) = &self.proxy_authorization {
            request = request.header("proxy-authorization", auth);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| format!("building the request: {e}"))?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection closed: {e}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| crate::session::chain(&e))?;
        self.closing = response
            .headers()
            .get_all(http::header::CONNECTION)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.eq_ignore_ascii_case("close")));
        Ok(response)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
