//! One bounded HTTP GET, for the JWKS URL: `http://` or `https://` (rustls with the ring
//! provider, the system's roots or Mozilla's list when the system has none). At most
//! [`MAX_BODY`] bytes, within [`TIMEOUT`], and only a `200`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Largest JWKS accepted.
pub const MAX_BODY: usize = 1 << 20;
/// Longest a fetch may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The body of `GET url`.
pub async fn get(url: &str) -> anyhow::Result<Vec<u8>> {
    tokio::time::timeout(TIMEOUT, fetch(url))
        .await
        .map_err(|_| anyhow::anyhow!("GET {url}: no answer within {}s", TIMEOUT.as_secs()))?
}

async fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!("{url}: only http:// and https:// URLs are fetched"),
    };
    let host = uri.host().context("the URL has no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let authority = uri
        .authority()
        .map(ToString::to_string)
        .unwrap_or(host.clone());
    if tls {
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .with_context(|| format!("{host} is not a TLS server name"))?;
        let stream = tokio_rustls::TlsConnector::from(client_config()?)
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS with {host}"))?;
        request(stream, &authority, &path).await
    } else {
        request(tcp, &authority, &path).await
    }
}

async fn request<S>(io: S, authority: &str, path: &str) -> anyhow::Result<Vec<u8>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get(path)
        .header("host", authority)
        .header("accept", "application/json")
        .header(
            "user-agent",
            concat!("adic-edge/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<bytes::Bytes>::new())
        .context("building the request")?;
    let response = sender
        .send_request(request)
        .await
        .context("sending the request")?;
    if response.status() != StatusCode::OK {
        bail!("answered {}", response.status());
    }
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the body (at most {MAX_BODY} bytes): {e}"))?;
    Ok(body.to_bytes().to_vec())
}

fn client_config() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}
