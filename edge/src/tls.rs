//! TLS on the client listener (optional: most deployments terminate TLS at an ingress or load
//! balancer). rustls with the ring provider; HTTP/1.1 and HTTP/2 offered by ALPN (WebSockets
//! ride HTTP/1.1: the edge does not announce WebSockets over HTTP/2, so browsers never try
//! them). The certificate and key files are read again when they change (cert-manager rotates
//! them in place): new handshakes use the new pair, open connections keep theirs, and a pair
//! that does not load is logged and the previous one kept.

use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How often the files are checked for a change.
pub const RELOAD_CHECK: Duration = Duration::from_secs(10);

/// The listener's TLS: the acceptor and the reloading certificate.
pub struct Tls {
    acceptor: TlsAcceptor,
    certificate: Arc<Reloading>,
}

impl Tls {
    /// Loads the pair; an error names the file and what is wrong with it.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = load_pair(&provider, cert, key)?;
        let certificate = Arc::new(Reloading {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider: Arc::clone(&provider),
            current: RwLock::new(Arc::new(current)),
            stamp: Mutex::new(stamp(cert, key)),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certificate) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate,
        })
    }

    /// The TLS handshake on an accepted connection.
    pub async fn accept(&self, stream: TcpStream) -> std::io::Result<Conn> {
        let tls = self.acceptor.accept(stream).await?;
        Ok(Conn::Tls(Box::new(tls)))
    }

    /// Reloads the pair if its files changed; true when a new pair is in use.
    pub fn reload_if_changed(&self) -> bool {
        self.certificate.reload_if_changed()
    }
}

/// Checks the files every [`RELOAD_CHECK`] for as long as `tls` lives elsewhere.
pub async fn watch(tls: std::sync::Weak<Tls>) {
    let mut every = tokio::time::interval(RELOAD_CHECK);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(tls) = tls.upgrade() else { return };
        tls.reload_if_changed();
    }
}

struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    stamp: Mutex<Stamp>,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

/// The files' modification times (and lengths), to notice a change.
type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let c = std::fs::metadata(cert).ok()?;
    let k = std::fs::metadata(key).ok()?;
    Some((c.modified().ok()?, c.len(), k.modified().ok()?, k.len()))
}

impl Reloading {
    fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.cert, &self.key);
        {
            let mut seen = self.stamp.lock().expect("no panic holds the lock");
            if now.is_none() || *seen == now {
                return false;
            }
            *seen = now;
        }
        match load_pair(&self.provider, &self.cert, &self.key) {
            Ok(pair) => {
                *self.current.write().expect("no panic holds the lock") = Arc::new(pair);
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "TLS certificate not reloaded; keeping the previous one");
                false
            }
        }
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().expect("no panic holds the lock"),
        ))
    }
}

fn load_pair(
    provider: &rustls::crypto::CryptoProvider,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("--tls-cert {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("--tls-cert {}: not PEM certificates", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "--tls-cert {}: no \"BEGIN CERTIFICATE\" block",
        cert.display()
    );
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("--tls-key {}: not a PEM private key", key.display()))?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .with_context(|| format!("--tls-key {}: a key rustls cannot use", key.display()))?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match().with_context(|| {
        format!(
            "--tls-key {} is not the key of --tls-cert {}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(pair)
}

/// A client connection: plain TCP, or TLS over it.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    /// Whether ALPN chose HTTP/2 (then there is no HTTP/1 head to read).
    pub fn is_h2(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $io:ident => $call:expr) => {
        match &mut *$self {
            Conn::Plain($io) => {
                let $io = Pin::new($io);
                $call
            }
            Conn::Tls($io) => {
                let $io = Pin::new(&mut **$io);
                $call
            }
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        delegate!(self, io => io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        delegate!(self, io => io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        delegate!(self, io => io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(io) => io.is_write_vectored(),
            Conn::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, io => io.poll_shutdown(cx))
    }
}
