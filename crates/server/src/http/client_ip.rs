//! Who is asking: the client address that per-address limits count (issue 11, item 2).
//!
//! The socket address is the client unless it is one of `server.trusted_proxies`. Only then are `Forwarded`
//! (RFC 7239, preferred) or else `X-Forwarded-For` read, right to left, skipping every hop that is itself a
//! trusted proxy: the first untrusted address is the client. Anyone can write these headers, so an address
//! further left than the first untrusted hop is never believed. An entry that is not an address (`unknown`, an
//! obfuscated identifier, garbage) ends the walk at the last trusted hop, which is then the client.
//!
//! Limits are keyed by [`rate_key`]: an IPv4 address, or the /64 of an IPv6 address (one subscriber's
//! allocation, so rotating addresses inside it buys nothing).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Parses one `trusted_proxies` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address.
pub fn parse_cidr(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The client's address for a request that arrived from `peer` with `headers`.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted_proxies: &[String]) -> IpAddr {
    let peer = canonical(peer.ip());
    if trusted_proxies.is_empty() {
        return peer;
    }
    let trusted: Vec<IpNet> = trusted_proxies
        .iter()
        .filter_map(|t| parse_cidr(t))
        .collect();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops = forwarded_for(headers).unwrap_or_else(|| x_forwarded_for(headers));
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) => {
                client = canonical(*ip);
                if !is_trusted(client) {
                    return client;
                }
            }
            None => return client,
        }
    }
    client
}

/// The key per-address limits count under: the IPv4 address, or the IPv6 /64.
pub fn rate_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => dotted(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

/// `v4.to_string()` without the formatting machinery: every token, introspection and userinfo request makes this
/// key (per-address limits, failed API tokens), and `Display` cost 1,340 instructions of an introspection's
/// ~92,000; this, 170 (callgrind, BENCHMARKS.md).
fn dotted(v4: Ipv4Addr) -> String {
    let mut key = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            key.push('.');
        }
        if octet >= 100 {
            key.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            key.push(char::from(b'0' + octet / 10 % 10));
        }
        key.push(char::from(b'0' + octet % 10));
    }
    key
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack socket reports) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The `for=` of every `Forwarded` element, in order (all header lines joined); `None` when there is no
/// `Forwarded` header. A `for=` that is not an address is `Some(None)`.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut values = headers.get_all("forwarded").iter().peekable();
    values.peek()?;
    let mut hops = Vec::new();
    for value in values {
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
            });
            if let Some(node) = node {
                hops.push(parse_node(node));
            }
        }
    }
    Some(hops)
}

/// The entries of every `X-Forwarded-For` line, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| match v.to_str() {
            Ok(s) => s.split(',').map(parse_node).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn check(peer: &str, headers: &[(&str, &str)], trusted: &[&str], expected: &str) {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
        let peer = SocketAddr::new(ip(peer), 443);
        assert_eq!(
            client_ip(peer, &map, &trusted),
            ip(expected),
            "peer {peer} headers {headers:?} trusted {trusted:?}"
        );
    }

    const LB: &str = "10.0.0.0/8";

    #[test]
    fn headers_are_ignored_unless_the_peer_is_a_trusted_proxy() {
        let xff = [("x-forwarded-for", "198.51.100.7")];
        check("203.0.113.9", &xff, &[], "203.0.113.9");
        check("203.0.113.9", &xff, &[LB], "203.0.113.9");
        check("10.1.2.3", &xff, &[LB], "198.51.100.7");
        check("10.1.2.3", &[], &[LB], "10.1.2.3");
        // A single address is a /32.
        check("10.1.2.3", &xff, &["10.1.2.3"], "198.51.100.7");
        check("10.1.2.4", &xff, &["10.1.2.3"], "10.1.2.4");
    }

    #[test]
    fn the_walk_is_right_to_left_and_skips_trusted_hops() {
        // The client wrote a fake address first; the load balancer appended the real one.
        let spoofed = [("x-forwarded-for", "1.1.1.1, 198.51.100.7")];
        check("10.1.2.3", &spoofed, &[LB], "198.51.100.7");
        // Two trusted proxies in a row.
        let chain = [("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.9.9.9")];
        check("10.1.2.3", &chain, &[LB], "198.51.100.7");
        // Several header lines are one list.
        let lines = [
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.7, 10.9.9.9"),
        ];
        check("10.1.2.3", &lines, &[LB], "198.51.100.7");
        // Every hop trusted: the leftmost.
        check(
            "10.1.2.3",
            &[("x-forwarded-for", "10.7.7.7, 10.8.8.8")],
            &[LB],
            "10.7.7.7",
        );
        // Garbage ends the walk at the last trusted hop.
        check(
            "10.1.2.3",
            &[("x-forwarded-for", "1.1.1.1, nonsense")],
            &[LB],
            "10.1.2.3",
        );
        check(
            "10.1.2.3",
            &[("x-forwarded-for", "1.1.1.1, unknown, 10.9.9.9")],
            &[LB],
            "10.9.9.9",
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_is_parsed_as_rfc_7239() {
        let both = [
            ("forwarded", "for=1.1.1.1, for=198.51.100.7;proto=https"),
            ("x-forwarded-for", "192.0.2.200"),
        ];
        check("10.1.2.3", &both, &[LB], "198.51.100.7");
        check(
            "10.1.2.3",
            &[("forwarded", r#"for="[2001:db8:cafe::17]:4711";by=10.0.0.1"#)],
            &[LB],
            "2001:db8:cafe::17",
        );
        check(
            "10.1.2.3",
            &[("forwarded", "for=192.0.2.43:80")],
            &[LB],
            "192.0.2.43",
        );
        check(
            "10.1.2.3",
            &[("forwarded", "For=_hidden")],
            &[LB],
            "10.1.2.3",
        );
        // IPv6 proxies and mapped addresses.
        check(
            "::ffff:10.1.2.3",
            &[("x-forwarded-for", "198.51.100.7")],
            &[LB],
            "198.51.100.7",
        );
        check(
            "fd00::1",
            &[("x-forwarded-for", "2001:db8::5")],
            &["fd00::/8"],
            "2001:db8::5",
        );
    }

    #[test]
    fn an_ipv4_key_is_the_dotted_address() {
        for octet in 0..=u8::MAX {
            for v4 in [
                Ipv4Addr::new(octet, 0, 9, octet),
                Ipv4Addr::new(10, octet, octet, 255),
            ] {
                assert_eq!(rate_key(IpAddr::V4(v4)), v4.to_string());
            }
        }
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        assert_eq!(rate_key(ip("198.51.100.7")), "198.51.100.7");
        assert_eq!(rate_key(ip("::ffff:198.51.100.7")), "198.51.100.7");
        assert_eq!(rate_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            rate_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            rate_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            rate_key(ip("2001:db8:1:3::1")),
            rate_key(ip("2001:db8:1:2::1"))
        );
    }

    #[test]
    fn cidrs_and_single_addresses_parse() {
        assert!(parse_cidr("10.0.0.0/8").is_some());
        assert!(parse_cidr("fd00::/8").is_some());
        assert!(parse_cidr(" 192.0.2.1 ").is_some());
        assert!(parse_cidr("::1").is_some());
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("example.org").is_none());
    }
}
