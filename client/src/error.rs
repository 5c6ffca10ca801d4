//! What can be wrong with a subscription's settings, reported by `subscribe()` before anything
//! connects.

/// A setting the client cannot work with; the message says which and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no edge URL given: pass at least one, e.g. Client::builder([\"http://127.0.0.1:9121\"])"
    )]
    NoUrls,
    #[error(
        "edge URL {url:?} is not usable: {why} (expected http://host:port or https://host:port)"
    )]
    Url { url: String, why: String },
    #[error("root certificate PEM: {0}")]
    RootCertificate(String),
    #[error("proxy {source_name} = {value:?} is not usable: {why}")]
    Proxy {
        source_name: String,
        value: String,
        why: String,
    },
    #[error("TLS setup failed: {0}")]
    Tls(String),
}
