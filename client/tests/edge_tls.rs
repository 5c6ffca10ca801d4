//! TLS on the edge's own listener (`--tls-cert`, `--tls-key`): every transport over it with
//! every event exactly once in order, HTTP/2 by ALPN, and a certificate rotated in place picked
//! up by new connections without a restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use adic_client::{Client, Roots, Transport};
use adic_edge::config::EdgeSettings;
use adic_protocol::Cursor;
use adic_tests::edge::{stream_settings, TestEdge};
use adic_tests::nats::TestNats;
use adic_tests::stream::TestStream;
use common::{log_numbers, Collector};
use rustls::pki_types::{CertificateDer, ServerName};

fn certificate() -> rcgen::CertifiedKey<rcgen::KeyPair> {
    rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap()
}

/// A TLS connection to `port` trusting `root`, offering `alpn`; the certificate it was shown
/// and the protocol chosen.
async fn handshake(
    port: u16,
    root: &CertificateDer<'static>,
    alpn: &[&[u8]],
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Vec<u8>,
) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let shown = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    (tls, shown)
}

#[tokio::test]
async fn the_edge_serves_tls_itself_http2_included_and_picks_up_a_rotated_certificate() {
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let first = certificate();
    std::fs::write(&cert_path, first.cert.pem()).unwrap();
    std::fs::write(&key_path, first.signing_key.serialize_pem()).unwrap();
    let settings = EdgeSettings {
        tls_cert: Some(cert_path.clone()),
        tls_key: Some(key_path.clone()),
        ..EdgeSettings::default()
    };
    let edge = TestEdge::spawn(&nats.url(), stream_settings(&nats), settings)
        .await
        .unwrap();
    adic_tests::wait_until(Duration::from_secs(20), || async {
        edge.state().readiness().is_ok()
    })
    .await
    .unwrap();
    let port = edge.addr().port();
    let https = format!("https://127.0.0.1:{port}");
    let start = Cursor::new(edge.state().feed.epoch(), 0);
    let stream = TestStream::new(&nats).await;
    stream.numbered(1..=30).await;
    for transport in [Transport::WebSocket, Transport::Sse, Transport::Polling] {
        let items = Client::builder([https.clone()])
            .roots(Roots::AddedOnly)
            .root_certificate_pem(first.cert.pem())
            .transport(transport)
            .cursor(start)
            .subscribe()
            .unwrap();
        let client = Collector::spawn(items);
        client.wait_for(30).await;
        assert_eq!(client.stats.get().transport, Some(transport));
        let got = client.stop().await;
        assert_eq!(
            log_numbers(&got.events),
            (1..=30).collect::<Vec<_>>(),
            "{transport}"
        );
    }

    // HTTP/2 by ALPN: a poll answered over it.
    let root = first.cert.der().clone();
    let (tls, _) = handshake(port, &root, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(format!("{https}/v1/events?limit=1"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);

    // Rotated in place: new handshakes get the new certificate, within the reload check.
    let second = certificate();
    std::fs::write(&cert_path, second.cert.pem()).unwrap();
    std::fs::write(&key_path, second.signing_key.serialize_pem()).unwrap();
    let wanted = second.cert.der().to_vec();
    let new_root = second.cert.der().clone();
    adic_tests::wait_until(adic_edge::tls::RELOAD_CHECK * 3, || {
        let (root, wanted) = (new_root.clone(), wanted.clone());
        async move {
            let attempt = tokio::spawn(async move { handshake(port, &root, &[]).await.1 });
            matches!(attempt.await, Ok(shown) if shown == wanted)
        }
    })
    .await
    .unwrap();
}
