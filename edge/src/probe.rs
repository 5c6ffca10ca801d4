//! `adic-edge probe`: asks an HTTP endpoint of the tier whether it answers 2xx, for container
//! healthchecks and Kubernetes exec hooks (the runtime image has no curl or wget).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// `http://host:port/path` split into its address and path.
fn split(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs can be probed"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_owned()))
}

/// GETs `url` within `timeout`; `Ok` with the status line when the status is 2xx.
pub fn probe(url: &str, timeout: Duration) -> Result<String, String> {
    let (authority, path) = split(url)?;
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let host = authority.trim_end_matches(":80");
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: adic-edge-probe\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut head = [0u8; 256];
    let mut filled = 0;
    while filled < head.len() && !head[..filled].contains(&b'\n') {
        match stream.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(format!("{addr}: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head[..filled]);
    let line = line.lines().next().unwrap_or("").trim().to_owned();
    let status = line.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(line),
        Some(_) => Err(line),
        None => Err(format!("{addr}: not an HTTP answer: {line:?}")),
    }
}

/// The URL probed when none is given: `path` on this machine at the port the edge listens on
/// (`ADIC_EDGE_METRICS_LISTEN`, else `ADIC_EDGE_LISTEN`, else 9121).
pub fn default_url(listen: Option<&str>, path: &str) -> String {
    let port = listen
        .and_then(|l| l.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .unwrap_or(9121);
    format!("http://127.0.0.1:{port}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_and_path() {
        assert_eq!(
            split("http://127.0.0.1:9121/healthz").unwrap(),
            ("127.0.0.1:9121".into(), "/healthz".into())
        );
        assert_eq!(
            split("http://edge").unwrap(),
            ("edge:80".into(), "/".into())
        );
        assert!(split("https://edge/").unwrap_err().contains("only http://"));
        assert!(split("http:///x").is_err());
    }

    #[test]
    fn the_default_follows_the_listen_port() {
        assert_eq!(
            default_url(Some("0.0.0.0:9200"), "/readyz"),
            "http://127.0.0.1:9200/readyz"
        );
        assert_eq!(
            default_url(None, "/healthz"),
            "http://127.0.0.1:9121/healthz"
        );
    }

    #[test]
    fn a_closed_port_is_an_error_that_names_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = probe(&format!("http://{addr}/healthz"), Duration::from_secs(1)).unwrap_err();
        assert!(err.contains(&addr.to_string()), "{err}");
    }
}
