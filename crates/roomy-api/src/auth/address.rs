//! The client's address: the TCP peer, unless the peer is a trusted reverse
//! proxy, in which case `X-Forwarded-For` is read from the right: the first
//! address that is not itself a trusted proxy is the client. Entries to its
//! left were written by the client and are never believed. Everything that
//! keys on the client (login limits, sign-up limits, sessions' `ip`) asks
//! [`client_address`].

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The address of the client behind `peer` (see the module documentation).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return canonical(peer);
    }
    let mut client = canonical(peer);
    // Several headers are one list, in order (RFC 9110 5.3).
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage from a hop we cannot trust: stop at the last good one.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The address as per-address limits count it: IPv4 whole, IPv6 by its /64,
/// the block one subscriber usually holds (anything finer would give each
/// client 2^64 fresh addresses to rotate through).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::V6(octets.into())
        }
        v4 => v4,
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, maybe bracketed or with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn limits_count_ipv6_by_its_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff::9")),
            limit_key(ip("2001:db8:1:2::7"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:3::1")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(limit_key(ip("203.0.113.7")), ip("203.0.113.7"));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let h = headers(&["6.6.6.6"]);
        assert_eq!(client_address(ip("1.2.3.4"), &h, &trusted), ip("1.2.3.4"));
        assert_eq!(client_address(ip("1.2.3.4"), &h, &[]), ip("1.2.3.4"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().expect("net"),
            "127.0.0.1/32".parse().expect("net"),
        ];
        // The client forged the first entry; the proxies appended the rest.
        let h = headers(&["9.9.9.9, 5.6.7.8", "10.1.1.1"]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &trusted), ip("5.6.7.8"));
        // Only trusted hops: the left-most of them.
        let h = headers(&["10.2.2.2, 10.1.1.1"]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &trusted), ip("10.2.2.2"));
        // No header: the proxy itself.
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
        // Ports, brackets and mapped addresses.
        let h = headers(&["[2001:db8::1]:4711, 5.6.7.8:80"]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &trusted), ip("5.6.7.8"));
        let h = headers(&["::ffff:5.6.7.8"]);
        assert_eq!(
            client_address(ip("::ffff:10.0.0.1"), &h, &trusted),
            ip("5.6.7.8")
        );
        // Garbage stops the walk at the last address a trusted hop vouched for.
        let h = headers(&["5.6.7.8, junk, 10.1.1.1"]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &trusted), ip("10.1.1.1"));
    }
}
