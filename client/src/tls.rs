//! TLS for `https://` and `wss://` edges: one rustls configuration (ring provider) shared by the
//! WebSocket and the HTTP transports, so all three trust the same roots.
//!
//! Roots are the system's store (as `rustls-native-certs` finds it, honouring `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`), or Mozilla's bundled list (`webpki-roots`) when asked or when the system has
//! none, plus any certificate added with `root_certificate_pem` (a private CA, a self-signed edge).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::error::Error;

/// Which root store to start from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Roots {
    /// The operating system's store; Mozilla's list if the system has none.
    #[default]
    System,
    /// Mozilla's list compiled into the client (`webpki-roots`), whatever the system has.
    WebPki,
    /// Only the certificates added with `root_certificate_pem`.
    AddedOnly,
}

/// Parses every certificate in a PEM bundle; an error when there is none or one is broken.
pub fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::RootCertificate(format!("not valid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(Error::RootCertificate(
            "no \"-----BEGIN CERTIFICATE-----\" block found".into(),
        ));
    }
    Ok(certs)
}

/// The client configuration: roots per `roots`, plus `extra`. No ALPN, so HTTP/1.1 (WebSocket
/// upgrades need it).
pub fn client_config(
    roots: Roots,
    extra: &[CertificateDer<'static>],
) -> Result<Arc<ClientConfig>, Error> {
    let mut store = RootCertStore::empty();
    let webpki = |store: &mut RootCertStore| {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    };
    match roots {
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::debug!(errors = ?found.errors, "no system root certificates; using the bundled list");
                webpki(&mut store);
            }
        }
        Roots::WebPki => webpki(&mut store),
        Roots::AddedOnly => {}
    }
    for cert in extra {
        store
            .add(cert.clone())
            .map_err(|e| Error::RootCertificate(format!("not a usable CA certificate ({e})")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_a_certificate_is_a_clear_error() {
        let err = parse_pem(b"hello").unwrap_err().to_string();
        assert!(err.contains("BEGIN CERTIFICATE"), "{err}");
    }

    #[test]
    fn a_self_signed_certificate_is_a_root() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let certs = parse_pem(cert.cert.pem().as_bytes()).unwrap();
        assert_eq!(certs.len(), 1);
        client_config(Roots::AddedOnly, &certs).unwrap();
    }
}
