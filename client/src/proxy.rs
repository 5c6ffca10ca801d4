//! Outbound proxies: which proxy (if any) each edge URL goes through, read once from the
//! environment as curl and reqwest read it, and the HTTP `CONNECT` tunnel the WebSocket transport
//! opens through it.
//!
//! - `http://` edges use `http_proxy` (then `HTTP_PROXY`, ignored when `REQUEST_METHOD` is set, as
//!   in a CGI program where it could come from a request header), `https://` edges `https_proxy`
//!   / `HTTPS_PROXY`; both fall back to `all_proxy` / `ALL_PROXY`.
//! - `no_proxy` / `NO_PROXY`: comma-separated hosts that bypass the proxy: `*` (everything), a
//!   name (matches it and its subdomains; a leading `.` is the same), an IP address, or a CIDR
//!   range (`10.0.0.0/8`). A `:port` suffix on an entry is ignored.
//! - The proxy itself is spoken to over plain HTTP (`http://[user:pass@]host:port`); credentials
//!   in its URL are sent as `Proxy-Authorization: Basic`.
//!
//! SSE and polling hand the same decision to reqwest (absolute-form requests for `http://` edges,
//! a `CONNECT` tunnel for `https://` ones); WebSockets always tunnel.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::error::Error;

/// Where edges are reached through.
#[derive(Clone, Debug, Default)]
pub struct Proxies {
    http: Option<Url>,
    https: Option<Url>,
    no_proxy: Vec<NoProxy>,
}

#[derive(Clone, Debug, PartialEq)]
enum NoProxy {
    All,
    Ip(IpAddr),
    Cidr(IpAddr, u8),
    /// Lower case, without a leading dot.
    Domain(String),
}

impl Proxies {
    /// No proxy for anything.
    pub fn none() -> Proxies {
        Proxies::default()
    }

    /// The process environment's settings.
    pub fn from_env() -> Result<Proxies, Error> {
        Proxies::from_vars(|name| std::env::var(name).ok())
    }

    /// Settings from variables looked up by `var` (the environment, or a table in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Proxies, Error> {
        let get = |names: &[&str]| {
            names.iter().find_map(|name| {
                let value = var(name)?;
                let value = value.trim();
                (!value.is_empty()).then(|| ((*name).to_owned(), value.to_owned()))
            })
        };
        let cgi = var("REQUEST_METHOD").is_some();
        let http_names: &[&str] = if cgi {
            &["http_proxy"]
        } else {
            &["http_proxy", "HTTP_PROXY"]
        };
        let all = get(&["all_proxy", "ALL_PROXY"]);
        let http = get(http_names).or_else(|| all.clone());
        let https = get(&["https_proxy", "HTTPS_PROXY"]).or(all);
        let parse = |found: Option<(String, String)>| {
            found
                .map(|(name, value)| proxy_url(&name, &value))
                .transpose()
        };
        Ok(Proxies {
            http: parse(http)?,
            https: parse(https)?,
            no_proxy: get(&["no_proxy", "NO_PROXY"])
                .map(|(_, list)| parse_no_proxy(&list))
                .unwrap_or_default(),
        })
    }

    /// One proxy for every edge (overriding the environment), with `no_proxy` exceptions in the
    /// `NO_PROXY` syntax.
    pub fn explicit(proxy: &str, no_proxy: &str) -> Result<Proxies, Error> {
        let url = proxy_url("proxy", proxy)?;
        Ok(Proxies {
            http: Some(url.clone()),
            https: Some(url),
            no_proxy: parse_no_proxy(no_proxy),
        })
    }

    /// The proxy for `target`, or `None` to connect directly.
    pub fn for_url(&self, target: &Url) -> Option<&Url> {
        let proxy = match target.scheme() {
            "https" | "wss" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        let host = target.host_str()?;
        (!self.bypassed(host)).then_some(proxy)
    }

    fn bypassed(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = host.parse::<IpAddr>().ok();
        let host = host.to_ascii_lowercase();
        self.no_proxy.iter().any(|entry| match entry {
            NoProxy::All => true,
            NoProxy::Ip(addr) => ip == Some(*addr),
            NoProxy::Cidr(net, bits) => ip.is_some_and(|ip| in_cidr(ip, *net, *bits)),
            NoProxy::Domain(domain) => {
                host == *domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
        })
    }
}

fn proxy_url(name: &str, value: &str) -> Result<Url, Error> {
    let bad = |why: String| Error::Proxy {
        source_name: name.to_owned(),
        value: value.to_owned(),
        why,
    };
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
    if url.scheme() != "http" {
        return Err(bad(format!(
            "the {} scheme is not supported; use an http:// proxy",
            url.scheme()
        )));
    }
    if url.host_str().is_none() {
        return Err(bad("no host".into()));
    }
    Ok(url)
}

fn parse_no_proxy(list: &str) -> Vec<NoProxy> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            if entry == "*" {
                return NoProxy::All;
            }
            if let Some((net, bits)) = entry.split_once('/') {
                if let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u8>()) {
                    return NoProxy::Cidr(net, bits);
                }
            }
            let bare = entry.trim_start_matches('[');
            let bare = match bare.split_once(']') {
                Some((ip, _port)) => ip,
                None => bare,
            };
            if let Ok(ip) = bare.parse::<IpAddr>() {
                return NoProxy::Ip(ip);
            }
            let host = entry.rsplit_once(':').map_or(entry, |(host, _port)| host);
            NoProxy::Domain(
                host.trim_start_matches("*.")
                    .trim_start_matches('.')
                    .to_ascii_lowercase(),
            )
        })
        .collect()
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let bits = u32::from(bits.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let bits = u32::from(bits.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// `Proxy-Authorization` for credentials in the proxy's URL.
pub fn authorization(proxy: &Url) -> Option<String> {
    if proxy.username().is_empty() {
        return None;
    }
    let user = percent_decode(proxy.username());
    let pass = percent_decode(proxy.password().unwrap_or_default());
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    Some(format!("Basic {token}"))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens a TCP connection to `host:port`, through `proxy` with `CONNECT` when one is given.
pub async fn connect(
    proxy: Option<&Url>,
    host: &str,
    port: u16,
    within: Duration,
) -> Result<TcpStream, String> {
    tokio::time::timeout(within, async {
        let stream = match proxy {
            None => TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
                .await
                .map_err(|e| format!("connecting to {host}:{port}: {e}"))?,
            Some(proxy) => tunnel(proxy, host, port).await?,
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    })
    .await
    .map_err(|_| format!("connecting to {host}:{port} timed out"))?
}

async fn tunnel(proxy: &Url, host: &str, port: u16) -> Result<TcpStream, String> {
    let proxy_host = proxy.host_str().unwrap_or_default();
    let proxy_port = proxy.port_or_known_default().unwrap_or(80);
    let mut stream = TcpStream::connect((
        proxy_host.trim_start_matches('[').trim_end_matches(']'),
        proxy_port,
    ))
    .await
    .map_err(|e| format!("connecting to proxy {proxy_host}:{proxy_port}: {e}"))?;
    let mut head = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let Some(auth) = authorization(proxy) {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("proxy {proxy_host}:{proxy_port}: {e}"))?;
    // Read the answer's head byte by byte: the tunnel's first bytes after it belong to the edge.
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() > 16 << 10 {
            return Err(format!(
                "proxy {proxy_host}:{proxy_port}: answer head too long"
            ));
        }
        let byte = stream
            .read_u8()
            .await
            .map_err(|e| format!("proxy {proxy_host}:{proxy_port} closed the tunnel: {e}"))?;
        answer.push(byte);
    }
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with('2') {
        return Err(format!(
            "proxy {proxy_host}:{proxy_port} refused CONNECT {host}:{port}: {status_line}"
        ));
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(table: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            table
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn picks_the_proxy_by_scheme_and_falls_back_to_all_proxy() {
        let p = Proxies::from_vars(vars(&[
            ("HTTP_PROXY", "proxy-h:3128"),
            ("ALL_PROXY", "http://proxy-a:8080"),
        ]))
        .unwrap();
        assert_eq!(
            p.for_url(&url("http://edge:9121")).map(Url::as_str),
            Some("http://proxy-h:3128/")
        );
        assert_eq!(
            p.for_url(&url("https://edge")).map(Url::as_str),
            Some("http://proxy-a:8080/")
        );
        let lower_wins = Proxies::from_vars(vars(&[
            ("http_proxy", "http://l:1"),
            ("HTTP_PROXY", "http://u:2"),
        ]))
        .unwrap();
        assert_eq!(
            lower_wins.for_url(&url("http://edge")).map(Url::as_str),
            Some("http://l:1/")
        );
    }

    #[test]
    fn upper_case_http_proxy_is_ignored_in_cgi() {
        let p = Proxies::from_vars(vars(&[
            ("HTTP_PROXY", "http://evil:1"),
            ("REQUEST_METHOD", "GET"),
        ]))
        .unwrap();
        assert!(p.for_url(&url("http://edge")).is_none());
    }

    #[test]
    fn no_proxy_matches_names_subdomains_ips_and_ranges() {
        let p = Proxies::from_vars(vars(&[
            ("HTTP_PROXY", "http://proxy:3128"),
            (
                "NO_PROXY",
                "example.com, .internal,127.0.0.1, 10.0.0.0/8, [::1], svc:9121",
            ),
        ]))
        .unwrap();
        for direct in [
            "http://example.com",
            "http://a.example.com",
            "http://x.internal",
            "http://127.0.0.1:9121",
            "http://10.2.3.4",
            "http://[::1]:9121",
            "http://svc:9121",
        ] {
            assert!(p.for_url(&url(direct)).is_none(), "{direct}");
        }
        for proxied in [
            "http://notexample.com",
            "http://127.0.0.2",
            "http://11.0.0.1",
            "http://edge",
        ] {
            assert!(p.for_url(&url(proxied)).is_some(), "{proxied}");
        }
        let star =
            Proxies::from_vars(vars(&[("HTTP_PROXY", "http://p:1"), ("no_proxy", "*")])).unwrap();
        assert!(star.for_url(&url("http://edge")).is_none());
    }

    #[test]
    fn a_proxy_that_is_not_http_is_a_clear_error() {
        let err = Proxies::from_vars(vars(&[("ALL_PROXY", "socks5://p:1080")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ALL_PROXY") && err.contains("socks5"), "{err}");
    }

    #[test]
    fn credentials_become_basic_authorization() {
        let proxy = url("http://us%40er:p%3Ass@proxy:3128");
        assert_eq!(
            authorization(&proxy).as_deref(),
            Some("Basic dXNAZXI6cDpzcw==")
        );
        assert!(authorization(&url("http://proxy:3128")).is_none());
    }
}
