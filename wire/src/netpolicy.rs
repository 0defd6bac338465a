//! Where the coreapp may send credentials that are not the caller's, as
//! pure rules (the coreapp resolves names and connects):
//!
//! - [`HostPattern`]: a host an admin allows, exactly (`files.example.com`,
//!   `10.1.2.3`, `[fd00::7]`) or by wildcard (`*.cdn.example.com`: any name
//!   below it, not the name itself), with an optional port (none: any).
//!   Names compare without case and without a trailing dot.
//! - [`classify`]: what kind of address an IP is: public, internal (private,
//!   CGNAT, unique local) or local (loopback, link-local, cloud metadata,
//!   unspecified, multicast, reserved), seeing through IPv4-mapped, NAT64
//!   and 6to4 IPv6 addresses.
//! - [`AddressPolicy`]: which addresses a fetch may connect to. Public ones
//!   always; internal ones when the host matched a pattern that names it
//!   exactly (the admin chose that host); anything inside a range the admin
//!   allows; nothing else.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

pub use ipnet::IpNet;

// === host patterns ===

/// A host (and port) an admin allows; see the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: PatternHost,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternHost {
    Name(String),
    /// `*.<suffix>`: any name ending in `.<suffix>`.
    Below(String),
    Ip(IpAddr),
}

/// How a host matched a list of patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// A pattern names the host itself (a name or an IP literal).
    Exact,
    /// Only a wildcard pattern covers it.
    Wildcard,
}

impl HostPattern {
    /// Whether this pattern allows `host` (as a URL gives it: a name, an
    /// IPv4 literal, or an IPv6 literal with or without brackets) on `port`.
    pub fn matches(&self, host: &str, port: u16) -> Option<Match> {
        if self.port.is_some_and(|p| p != port) {
            return None;
        }
        match (&self.host, Target::of(host)?) {
            (PatternHost::Ip(want), Target::Ip(ip)) if *want == ip => Some(Match::Exact),
            (PatternHost::Name(want), Target::Name(name)) if *want == name => Some(Match::Exact),
            (PatternHost::Below(suffix), Target::Name(name)) => {
                let below = name.strip_suffix(suffix.as_str())?.strip_suffix('.')?;
                (!below.is_empty()).then_some(Match::Wildcard)
            }
            _ => None,
        }
    }
}

/// The best match of `host:port` in `patterns`: exact before wildcard.
pub fn find(patterns: &[HostPattern], host: &str, port: u16) -> Option<Match> {
    let mut best = None;
    for pattern in patterns {
        match pattern.matches(host, port) {
            Some(Match::Exact) => return Some(Match::Exact),
            Some(Match::Wildcard) => best = Some(Match::Wildcard),
            None => {}
        }
    }
    best
}

/// A URL's host, normalised for comparison.
enum Target {
    Name(String),
    Ip(IpAddr),
}

impl Target {
    fn of(host: &str) -> Option<Target> {
        let host = host.trim();
        if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return inside.parse().ok().map(Target::Ip);
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Target::Ip(ip));
        }
        let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        (!name.is_empty()).then_some(Target::Name(name))
    }
}

/// Why a host pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a host pattern: {why}")]
pub struct BadPattern {
    input: String,
    why: &'static str,
}

impl FromStr for HostPattern {
    type Err = BadPattern;

    fn from_str(input: &str) -> Result<Self, BadPattern> {
        let bad = |why| BadPattern { input: input.to_string(), why };
        let s = input.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.contains("://") || s.contains(['/', '@', '?', '#', '\\']) || s.contains(char::is_whitespace) {
            return Err(bad("give a host name with an optional :port, no scheme, path or credentials"));
        }
        if !s.is_ascii() {
            return Err(bad("write international names in their xn-- form"));
        }
        // A bracketed IPv6 literal, then an optional port.
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (inside, tail) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let ip: Ipv6Addr = inside.parse().map_err(|_| bad("not an IPv6 address inside [ ]"))?;
            let port = match tail {
                "" => None,
                t => Some(t.strip_prefix(':').ok_or_else(|| bad("text after ]"))?),
            };
            (PatternHost::Ip(IpAddr::V6(ip)), port)
        } else {
            if s.parse::<Ipv6Addr>().is_ok() {
                return Err(bad("write IPv6 addresses in brackets, [fd00::1]"));
            }
            let (name, port) = match s.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (s.as_str(), None),
            };
            let name = name.strip_suffix('.').unwrap_or(name);
            let host = if let Ok(ip) = name.parse::<Ipv4Addr>() {
                PatternHost::Ip(IpAddr::V4(ip))
            } else if let Some(suffix) = name.strip_prefix("*.") {
                check_name(suffix).map_err(bad)?;
                if suffix.parse::<Ipv4Addr>().is_ok() || !suffix.contains('.') {
                    return Err(bad("a wildcard needs a domain of at least two labels after *."));
                }
                PatternHost::Below(suffix.to_string())
            } else {
                check_name(name).map_err(bad)?;
                PatternHost::Name(name.to_string())
            };
            (host, port)
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => return Err(bad("the port must be 1-65535")),
            },
        };
        Ok(HostPattern { host, port })
    }
}

/// Labels of letters, digits, `-` and `_`, at most 63 characters each, at
/// most 253 in all; the last label not numeric (a URL parser would read
/// such a host as an IPv4 address, `0x7f.1` being 127.0.0.1).
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 253 {
        return Err("a host name has 1-253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("empty or overlong label");
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err("a host name has letters, digits, - and _ only (and * as the first label)");
        }
    }
    let last = name.rsplit('.').next().unwrap_or_default();
    let hex = last.strip_prefix("0x").is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if last.bytes().all(|b| b.is_ascii_digit()) || hex {
        return Err("not a valid IP address, nor a host name");
    }
    Ok(())
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            PatternHost::Name(n) => f.write_str(n)?,
            PatternHost::Below(s) => write!(f, "*.{s}")?,
            PatternHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            PatternHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

impl serde::Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A comma-separated list of patterns (an environment variable).
pub fn parse_hosts(list: &str) -> Result<Vec<HostPattern>, BadPattern> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect()
}

/// A comma-separated list of CIDR ranges; a bare address is its own range.
pub fn parse_ranges(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| format!("'{s}' is not an IP range (CIDR such as 10.0.0.0/8) or address"))
        })
        .collect()
}

// === addresses ===

/// What kind of address an IP is, with a word for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Routed on the internet.
    Public,
    /// Inside an organisation's network: private (RFC 1918), shared
    /// (CGNAT), unique local IPv6.
    Internal(&'static str),
    /// This host or its link, or no real destination: loopback, link-local,
    /// cloud metadata, unspecified, multicast, broadcast, reserved.
    Local(&'static str),
}

/// The cloud providers' instance metadata services, on addresses that
/// would otherwise count as internal or link-local.
const METADATA_V4: &[Ipv4Addr] = &[
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OCI, ...
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
];
const METADATA_V6: &[Ipv6Addr] = &[Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)]; // AWS

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    let [a, b, c, _] = ip.octets();
    if METADATA_V4.contains(&ip) {
        return Local("cloud metadata");
    }
    match (a, b, c) {
        (0, _, _) => Local("unspecified"),
        (127, _, _) => Local("loopback"),
        (169, 254, _) => Local("link-local"),
        (10, _, _) | (192, 168, _) => Internal("private"),
        (172, 16..=31, _) => Internal("private"),
        (100, 64..=127, _) => Internal("shared (CGNAT)"),
        (192, 0, 0) => Local("reserved"),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Local("documentation"),
        (198, 18..=19, _) => Local("benchmarking"),
        (224..=239, _, _) => Local("multicast"),
        (255, 255, 255) if ip.is_broadcast() => Local("broadcast"),
        (240..=255, _, _) => Local("reserved"),
        _ => Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if METADATA_V6.contains(&ip) {
        return Local("cloud metadata");
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => Local("unspecified"),
        [0, 0, 0, 0, 0, 0, 0, 1] => Local("loopback"),
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its low bits.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => match classify_v4(embedded(hi, lo)) {
            Public => Public,
            other => other,
        },
        // 6to4 (2002::/16) carries an IPv4 address in bits 16-47.
        [0x2002, hi, lo, ..] => match classify_v4(embedded(hi, lo)) {
            Public => Public,
            other => other,
        },
        [0x2001, 0xdb8, ..] => Local("documentation"),
        [x, ..] if x & 0xfe00 == 0xfc00 => Internal("unique local"),
        [x, ..] if x & 0xffc0 == 0xfe80 => Local("link-local"),
        [x, ..] if x & 0xffc0 == 0xfec0 => Internal("site-local"),
        [x, ..] if x & 0xff00 == 0xff00 => Local("multicast"),
        // Only 2000::/3 is routed on the internet; the rest (IPv4-compatible
        // ::a.b.c.d, discard 100::/64, ...) is reserved.
        [x, ..] if x & 0xe000 == 0x2000 => Public,
        _ => Local("reserved"),
    }
}

/// Which addresses a fetch may connect to; see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Ranges allowed whatever their class (`WA_MEDIA_LINK_ALLOW`).
    pub allow: Vec<IpNet>,
}

/// A refused address and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is a {class} address")]
pub struct Refused {
    pub ip: IpAddr,
    pub class: &'static str,
}

impl AddressPolicy {
    /// Whether `ip` may be connected to; `exact` says the host matched a
    /// pattern naming it exactly.
    pub fn check(&self, ip: IpAddr, exact: bool) -> Result<(), Refused> {
        let plain = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.allow.iter().any(|net| net.contains(&ip) || net.contains(&plain)) {
            return Ok(());
        }
        match classify(ip) {
            AddressClass::Public => Ok(()),
            AddressClass::Internal(_) if exact => Ok(()),
            AddressClass::Internal(class) | AddressClass::Local(class) => Err(Refused { ip, class }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn patterns_parse_and_print_canonically() {
        for (input, shown) in [
            ("files.example.com", "files.example.com"),
            ("Files.Example.COM.", "files.example.com"),
            (" *.cdn.example.com ", "*.cdn.example.com"),
            ("files.example.com:8443", "files.example.com:8443"),
            ("10.1.2.3", "10.1.2.3"),
            ("10.1.2.3:8080", "10.1.2.3:8080"),
            ("[FD00::1]", "[fd00::1]"),
            ("[fd00::1]:443", "[fd00::1]:443"),
            ("localhost", "localhost"),
            ("under_score.example", "under_score.example"),
        ] {
            assert_eq!(p(input).to_string(), shown, "{input}");
        }
        for bad in [
            "",
            "https://files.example.com",
            "files.example.com/x",
            "user@files.example.com",
            "files.example.com?x",
            "*",
            "*.com",
            "*.10.0.0.1",
            "a*.example.com",
            "files.*.example.com",
            "fd00::1",
            "[fd00::1",
            "[10.0.0.1]",
            "[fd00::1]x",
            "files.example.com:0",
            "files.example.com:65536",
            "files.example.com:x",
            "files..example.com",
            "exämple.com",
            "1.2.3",
            "0x7f.1",
            "host name",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn patterns_match_hosts_and_ports() {
        use Match::*;
        for (pattern, host, port, want) in [
            ("files.example.com", "files.example.com", 443, Some(Exact)),
            ("files.example.com", "FILES.example.com.", 80, Some(Exact)),
            ("files.example.com.", "files.example.com", 80, Some(Exact)),
            ("files.example.com", "x.files.example.com", 443, None),
            ("files.example.com", "files.example.com.evil.net", 443, None),
            ("files.example.com", "evilfiles.example.com", 443, None),
            ("*.cdn.example.com", "a.cdn.example.com", 443, Some(Wildcard)),
            ("*.cdn.example.com", "a.b.cdn.example.com", 443, Some(Wildcard)),
            ("*.cdn.example.com", "A.CDN.example.com.", 443, Some(Wildcard)),
            ("*.cdn.example.com", "cdn.example.com", 443, None),
            ("*.cdn.example.com", "evilcdn.example.com", 443, None),
            ("*.cdn.example.com", ".cdn.example.com", 443, None),
            ("files.example.com:8443", "files.example.com", 8443, Some(Exact)),
            ("files.example.com:8443", "files.example.com", 443, None),
            ("*.cdn.example.com:8443", "a.cdn.example.com", 443, None),
            ("10.1.2.3", "10.1.2.3", 80, Some(Exact)),
            ("10.1.2.3", "10.1.2.4", 80, None),
            ("10.1.2.3", "[::ffff:10.1.2.3]", 80, None),
            ("[fd00::1]", "[fd00:0::1]", 80, Some(Exact)),
            ("[fd00::1]", "fd00::1", 80, Some(Exact)),
            ("[fd00::1]:8443", "[fd00::1]", 443, None),
            ("localhost", "127.0.0.1", 80, None),
        ] {
            assert_eq!(p(pattern).matches(host, port), want, "{pattern} against {host}:{port}");
        }
        let list = [p("*.example.com"), p("files.example.com")];
        assert_eq!(find(&list, "files.example.com", 443), Some(Match::Exact));
        assert_eq!(find(&list, "other.example.com", 443), Some(Match::Wildcard));
        assert_eq!(find(&list, "example.org", 443), None);
        assert_eq!(find(&[], "example.org", 443), None);
    }

    #[test]
    fn patterns_round_trip_through_json() {
        let list = vec![p("*.cdn.example.com"), p("[fd00::1]:8443")];
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"["*.cdn.example.com","[fd00::1]:8443"]"#);
        assert_eq!(serde_json::from_str::<Vec<HostPattern>>(&json).unwrap(), list);
        assert!(serde_json::from_str::<Vec<HostPattern>>(r#"["http://x"]"#).is_err());
    }

    #[test]
    fn lists_from_the_environment() {
        assert_eq!(parse_hosts(" a.example.com, *.b.example.com ,,").unwrap().len(), 2);
        assert!(parse_hosts("a.example.com,http://b").is_err());
        let ranges = parse_ranges("127.0.0.0/8, ::1/128,10.1.2.3,10.9.9.9/8").unwrap();
        assert_eq!(
            ranges.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["127.0.0.0/8", "::1/128", "10.1.2.3/32", "10.0.0.0/8"]
        );
        assert!(parse_ranges("10.0.0.0/33").is_err());
        assert!(parse_ranges("localhost").is_err());
        assert_eq!(parse_ranges("").unwrap(), vec![]);
    }

    #[test]
    fn every_range_is_classified() {
        use AddressClass::*;
        for (ip, want) in [
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("172.32.0.1", Public),
            ("100.128.0.1", Public),
            ("0.0.0.0", Local("unspecified")),
            ("0.1.2.3", Local("unspecified")),
            ("127.0.0.1", Local("loopback")),
            ("127.255.255.254", Local("loopback")),
            ("169.254.0.1", Local("link-local")),
            ("169.254.169.254", Local("cloud metadata")),
            ("169.254.170.2", Local("cloud metadata")),
            ("100.100.100.200", Local("cloud metadata")),
            ("10.0.0.1", Internal("private")),
            ("172.16.0.1", Internal("private")),
            ("172.31.255.255", Internal("private")),
            ("192.168.1.1", Internal("private")),
            ("100.64.0.1", Internal("shared (CGNAT)")),
            ("100.127.255.255", Internal("shared (CGNAT)")),
            ("192.0.0.8", Local("reserved")),
            ("192.0.2.1", Local("documentation")),
            ("198.51.100.1", Local("documentation")),
            ("203.0.113.1", Local("documentation")),
            ("198.18.0.1", Local("benchmarking")),
            ("224.0.0.1", Local("multicast")),
            ("239.255.255.250", Local("multicast")),
            ("255.255.255.255", Local("broadcast")),
            ("240.0.0.1", Local("reserved")),
            ("2606:4700::1111", Public),
            ("2a00:1450:4001::1", Public),
            ("::", Local("unspecified")),
            ("::1", Local("loopback")),
            ("::ffff:127.0.0.1", Local("loopback")),
            ("::ffff:169.254.169.254", Local("cloud metadata")),
            ("::ffff:10.0.0.1", Internal("private")),
            ("::ffff:8.8.8.8", Public),
            ("::127.0.0.1", Local("reserved")),
            ("64:ff9b::7f00:1", Local("loopback")),
            ("64:ff9b::a9fe:a9fe", Local("cloud metadata")),
            ("64:ff9b::808:808", Public),
            ("2002:7f00:1::1", Local("loopback")),
            ("2002:a00:1::1", Internal("private")),
            ("2002:808:808::1", Public),
            ("fd00:ec2::254", Local("cloud metadata")),
            ("fd00::1", Internal("unique local")),
            ("fc00::1", Internal("unique local")),
            ("fe80::1", Local("link-local")),
            ("febf::1", Local("link-local")),
            ("fec0::1", Internal("site-local")),
            ("ff02::1", Local("multicast")),
            ("2001:db8::1", Local("documentation")),
            ("100::1", Local("reserved")),
        ] {
            assert_eq!(classify(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn the_policy_allows_public_exact_internal_and_listed_ranges() {
        let none = AddressPolicy::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(none.check(ip("8.8.8.8"), false).is_ok());
        assert!(none.check(ip("10.0.0.1"), true).is_ok(), "an exact name may be internal");
        assert!(none.check(ip("fd00::1"), true).is_ok());
        let refused = none.check(ip("10.0.0.1"), false).unwrap_err();
        assert_eq!(refused.to_string(), "10.0.0.1 is a private address");
        for local in ["127.0.0.1", "::1", "169.254.169.254", "fd00:ec2::254", "0.0.0.0", "::ffff:127.0.0.1"] {
            assert!(none.check(ip(local), true).is_err(), "{local} even for an exact name");
        }
        let loopback = AddressPolicy { allow: parse_ranges("127.0.0.0/8,::1/128").unwrap() };
        assert!(loopback.check(ip("127.0.0.1"), false).is_ok());
        assert!(loopback.check(ip("::1"), false).is_ok());
        assert!(loopback.check(ip("::ffff:127.0.0.1"), false).is_ok(), "mapped addresses match IPv4 ranges");
        assert!(loopback.check(ip("169.254.169.254"), true).is_err());
        assert!(loopback.check(ip("10.0.0.1"), false).is_err());
    }
}
