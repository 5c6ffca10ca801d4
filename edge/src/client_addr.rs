//! Who a client is, network-wise: the peer address of its connection, or, when that peer is a
//! proxy listed in `--trusted-proxies`, the address the proxy put in `X-Forwarded-For` (the
//! right-most entry that is not itself a trusted proxy). Only a trusted proxy's header is
//! believed: anyone else could write any address there.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The peer address of a request's connection, put in its extensions by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// An address range of `--trusted-proxies`: `10.0.0.0/8`, `::1`, `192.0.2.7`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (address, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, bits })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address mapped into IPv6 is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: the peer, or what a trusted proxy says the client is.
pub fn client_ip(peer: Option<PeerAddr>, headers: &HeaderMap, trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = canonical(peer?.0.ip());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    // Right to left: each hop appended the address it saw; stop at the first one not ours.
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(str::trim).collect::<Vec<_>>())
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(canonical) else {
            // A malformed entry: believe nothing further left.
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn only_a_trusted_proxy_is_believed() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        let peer = |s: &str| Some(PeerAddr(s.parse().unwrap()));
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // Not a proxy of ours: its header is ignored.
        assert_eq!(
            client_ip(peer("203.0.113.9:5000"), &headers("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // Our proxy: the right-most address that is not ours.
        assert_eq!(
            client_ip(
                peer("10.1.2.3:80"),
                &headers("6.6.6.6, 198.51.100.7, 10.9.9.9"),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(peer("[::1]:80"), &HeaderMap::new(), &trusted),
            ip("::1")
        );
        assert_eq!(
            client_ip(peer("10.1.2.3:80"), &headers("garbage, 10.2.2.2"), &trusted),
            ip("10.2.2.2")
        );
        assert_eq!(
            client_ip(
                peer("[::ffff:10.0.0.1]:80"),
                &headers("192.0.2.1"),
                &trusted
            ),
            ip("192.0.2.1")
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }
}
