//! The `Forwarded` (RFC 7239) / `X-Forwarded-For` reading (`keyport_server::http::client_ip::client_ip`): which
//! address a request counts under for the per-address limits.
//!
//! Input, one item a line: the peer address (unparsable: 10.1.2.3), the trusted proxies (comma-separated), then
//! header lines `name: value` (values are raw bytes, so non-ASCII values reach the parser too).
//! Properties: no panic; with no trusted proxy, or from an untrusted peer, the answer is the peer; headers are
//! only believed from a trusted peer; the answer is never a trusted proxy unless every hop was one (then it is
//! one of them); and whatever a client writes further left cannot change an untrusted answer (a line prepended
//! to the header in use, spoofing an address, leaves the answer as it was); `rate_key` never panics and is the
//! same for the address and its IPv4-mapped form.
#![no_main]

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use keyport_server::http::client_ip::{client_ip, parse_cidr, rate_key};
use libfuzzer_sys::fuzz_target;

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let peer_ip = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.trim().parse::<IpAddr>().ok())
        .unwrap_or(IpAddr::from([10, 1, 2, 3]));
    let peer = SocketAddr::new(peer_ip, 443);
    let trusted: Vec<String> = lines
        .next()
        .map(|l| {
            String::from_utf8_lossy(l)
                .split(',')
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(line[..colon].trim_ascii()),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }

    let got = client_ip(peer, &headers, &trusted);
    let nets: Vec<_> = trusted.iter().filter_map(|t| parse_cidr(t)).collect();
    let is_trusted = |ip: IpAddr| nets.iter().any(|n| n.contains(&ip));
    let peer_c = canonical(peer_ip);
    if nets.is_empty() || !is_trusted(peer_c) {
        assert_eq!(got, peer_c, "an untrusted peer's headers were believed");
    }
    assert_eq!(got, canonical(got), "the answer is canonical");
    if got != peer_c {
        assert!(!headers.is_empty(), "an address out of nowhere");
    }

    // Spoofing: prepend a line to the header the walk reads; an untrusted answer must not move.
    if !is_trusted(got) {
        let (name, spoof) = if headers.contains_key("forwarded") {
            ("forwarded", "for=203.0.113.66")
        } else {
            ("x-forwarded-for", "203.0.113.66")
        };
        let mut spoofed = HeaderMap::new();
        spoofed.append(name, HeaderValue::from_static(spoof));
        for (k, v) in &headers {
            spoofed.append(k.clone(), v.clone());
        }
        assert_eq!(
            client_ip(peer, &spoofed, &trusted),
            got,
            "a spoofed left-most hop moved the answer"
        );
    }

    let key = rate_key(got);
    if let IpAddr::V4(v4) = got {
        assert_eq!(key, v4.to_string());
        assert_eq!(rate_key(IpAddr::V6(v4.to_ipv6_mapped())), key);
    } else {
        assert!(key.ends_with("/64"), "{key}");
        let prefix: Ipv6Addr = key
            .trim_end_matches("/64")
            .parse()
            .expect("the key is an IPv6 prefix");
        assert_eq!(prefix.segments()[4..], [0, 0, 0, 0]);
    }
});
