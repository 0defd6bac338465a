//! Requests the coreapp makes with credentials that are not the caller's,
//! and where each may go:
//!
//! - A media provider's credentials, for a `link` a user sent: an http(s)
//!   URL without userinfo whose host the provider lists (a provider without
//!   a list: `WA_MEDIA_PROVIDER_HOSTS`). The name is resolved once and every
//!   address checked ([`AddressPolicy`]: public addresses; internal ones
//!   only for a host listed by exact name; anything in `WA_MEDIA_LINK_ALLOW`);
//!   the request then connects to those addresses alone (its resolver
//!   answers with them whatever it is asked, so a second lookup cannot
//!   rebind the name), through no proxy, following no redirect.
//! - Cloud's token: the origin (scheme, host, port) of `WA_CLOUD_BASE_URL`,
//!   or HTTPS to a host of `WA_CLOUD_MEDIA_HOSTS`.
//!
//! Errors of outbound requests are written down with [`error_text`], which
//! keeps userinfo and query strings out of logs and stored errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use wire::netpolicy::{self, AddressPolicy, HostPattern, Match, Refused};
use wire::providers::Provider;

use crate::config::LinkConfig;

// === errors ===

/// A reqwest error for logs and stored errors: its message and sources,
/// then the URL without userinfo or query.
pub fn error_text(e: reqwest::Error) -> String {
    let url = e.url().map(|u| wire::redact::url(u.as_str()));
    let e = e.without_url();
    let text = wire::redact::error_chain(&e);
    match url {
        Some(url) => format!("{text} (url: {url})"),
        None => text,
    }
}

// === provider links ===

/// Why a provider link is not fetched.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the link is not an http(s) URL with a host")]
    Unusable,
    #[error("the link carries credentials of its own")]
    Userinfo,
    #[error("media provider '{provider}' may not be used for {host}: not among its hosts")]
    HostNotAllowed { provider: String, host: String },
    #[error("{host} is refused: {refused}")]
    Address { host: String, refused: Refused },
    #[error("cannot resolve {host}: {why}")]
    Unresolved { host: String, why: String },
    #[error("cannot prepare the request: {0}")]
    Client(String),
}

impl LinkError {
    /// Worth trying again later (name resolution failed); the rest is final.
    pub fn is_retriable(&self) -> bool {
        matches!(self, LinkError::Unresolved { .. } | LinkError::Client(_))
    }
}

/// How long a provider link's name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A checked provider link and the client that reaches only its checked
/// addresses.
pub struct LinkFetch {
    pub url: reqwest::Url,
    pub client: reqwest::Client,
}

/// Checks `link` for `provider` under `config` and prepares its request;
/// nothing is sent anywhere unless this succeeds.
pub async fn provider_link(config: &LinkConfig, provider: &Provider, link: &str) -> Result<LinkFetch, LinkError> {
    let url = reqwest::Url::parse(link.trim()).map_err(|_| LinkError::Unusable)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LinkError::Unusable);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(LinkError::Userinfo);
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(LinkError::Unusable);
    };
    let patterns = if provider.hosts.is_empty() { &config.provider_hosts } else { &provider.hosts };
    let Some(matched) = netpolicy::find(patterns, host, port) else {
        return Err(LinkError::HostNotAllowed { provider: provider.name.clone(), host: host.to_string() });
    };
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![(ip, port).into()],
        Some(url::Host::Ipv6(ip)) => vec![(ip, port).into()],
        Some(url::Host::Domain(name)) => resolve(name, port).await?,
        None => return Err(LinkError::Unusable),
    };
    let policy = AddressPolicy { allow: config.allow.clone() };
    for addr in &addrs {
        policy
            .check(addr.ip(), matched == Match::Exact)
            .map_err(|refused| LinkError::Address { host: host.to_string(), refused })?;
    }
    let client = reqwest::Client::builder()
        .user_agent(concat!("wa-onprem-coreapp/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(Pinned(addrs)))
        .build()
        .map_err(|e| LinkError::Client(error_text(e)))?;
    Ok(LinkFetch { url, client })
}

async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, LinkError> {
    let unresolved = |why: String| LinkError::Unresolved { host: name.to_string(), why };
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port)))
        .await
        .map_err(|_| unresolved("no answer in time".into()))?
        .map_err(|e| unresolved(e.to_string()))?;
    let addrs: Vec<SocketAddr> = found.collect();
    if addrs.is_empty() {
        return Err(unresolved("no address".into()));
    }
    Ok(addrs)
}

/// A resolver that answers every name with the addresses already checked.
struct Pinned(Vec<SocketAddr>);

impl reqwest::dns::Resolve for Pinned {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addrs = self.0.clone();
        Box::pin(async move { Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs) })
    }
}

// === Cloud's token ===

/// The URLs Cloud's token may go to; see the module doc.
#[derive(Clone, Debug)]
pub struct CloudHosts {
    /// `None` when the base URL does not parse (the config checks it does).
    base: Option<url::Origin>,
    media: Vec<HostPattern>,
}

impl CloudHosts {
    pub fn new(base_url: &str, media: Vec<HostPattern>) -> Self {
        let base = url::Url::parse(base_url).ok().map(|u| u.origin()).filter(url::Origin::is_tuple);
        CloudHosts { base, media }
    }

    pub fn allows(&self, url: &url::Url) -> bool {
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        if self.base.as_ref() == Some(&url.origin()) {
            return true;
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        url.scheme() == "https" && netpolicy::find(&self.media, host, port).is_some()
    }

    pub fn allows_str(&self, url: &str) -> bool {
        url::Url::parse(url).is_ok_and(|u| self.allows(&u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::providers::ProviderAuth;

    fn patterns(list: &str) -> Vec<HostPattern> {
        wire::netpolicy::parse_hosts(list).unwrap()
    }

    #[test]
    fn cloud_token_goes_to_the_base_origin_and_media_hosts_over_https() {
        let real = CloudHosts::new("https://graph.facebook.com", patterns("lookaside.fbsbx.com"));
        let sandbox = CloudHosts::new("http://127.0.0.1:9080/", patterns("lookaside.fbsbx.com"));
        for (hosts, url, want) in [
            (&real, "https://graph.facebook.com/v24.0/123", true),
            (&real, "https://GRAPH.facebook.com:443/x", true),
            (&real, "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=2&hash=3", true),
            (&real, "https://lookaside.fbsbx.com:443/x", true),
            (&real, "http://lookaside.fbsbx.com/x", false),
            (&real, "http://graph.facebook.com/x", false),
            (&real, "https://graph.facebook.com:8443/x", false),
            (&real, "https://lookaside.fbsbx.com.evil.net/x", false),
            (&real, "https://evil.net/lookaside.fbsbx.com", false),
            (&real, "https://user:pw@lookaside.fbsbx.com/x", false),
            (&real, "https://169.254.169.254/latest/meta-data", false),
            (&real, "file:///etc/passwd", false),
            (&real, "not a url", false),
            (&sandbox, "http://127.0.0.1:9080/whatsapp_business/attachments/?mid=1", true),
            (&sandbox, "http://127.0.0.1:9081/x", false),
            (&sandbox, "https://127.0.0.1:9080/x", false),
            (&sandbox, "http://localhost:9080/x", false),
        ] {
            assert_eq!(hosts.allows_str(url), want, "{url}");
        }
    }

    fn provider(hosts: &str) -> Provider {
        Provider { name: "corp".into(), auth: ProviderAuth::Bearer("t".into()), hosts: patterns(hosts) }
    }

    async fn refusal(config: &LinkConfig, provider: &Provider, link: &str) -> LinkError {
        match provider_link(config, provider, link).await {
            Ok(_) => panic!("{link} was allowed"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn provider_links_need_a_listed_host_and_allowed_addresses() {
        let none = LinkConfig::default();
        let loopback = LinkConfig {
            allow: wire::netpolicy::parse_ranges("127.0.0.0/8,::1/128").unwrap(),
            ..LinkConfig::default()
        };
        let fallback = LinkConfig { provider_hosts: patterns("127.0.0.1"), ..loopback.clone() };
        let unlisted = provider("");

        // The host must be listed, by the provider or else the configuration.
        let e = refusal(&loopback, &unlisted, "http://127.0.0.1:9/x").await;
        assert!(matches!(e, LinkError::HostNotAllowed { .. }), "{e}");
        assert!(!e.is_retriable());
        assert!(provider_link(&fallback, &unlisted, "http://127.0.0.1:9/x").await.is_ok());
        let e = refusal(&fallback, &provider("files.example.com"), "http://127.0.0.1:9/x").await;
        assert!(matches!(e, LinkError::HostNotAllowed { .. }), "the provider's own list wins: {e}");

        // Listed, but loopback without an allowance: refused before any request.
        for link in ["http://127.0.0.1:9/x", "http://[::ffff:127.0.0.1]:9/x", "http://0x7f.1:9/x"] {
            let p = provider("127.0.0.1,[::ffff:127.0.0.1]");
            let e = refusal(&none, &p, link).await;
            assert!(matches!(e, LinkError::Address { .. }), "{link}: {e}");
        }
        let e = refusal(&none, &provider("localhost"), "http://localhost:9/x").await;
        assert!(matches!(e, LinkError::Address { .. }), "names are resolved and checked: {e}");
        assert!(provider_link(&loopback, &provider("localhost"), "http://LOCALHOST:9/x").await.is_ok());

        // What a link may not be at all.
        for (link, unusable) in [
            ("ftp://127.0.0.1/x", true),
            ("file:///etc/passwd", true),
            ("/relative", true),
            ("http://user:pw@127.0.0.1:9/x", false),
        ] {
            let e = refusal(&loopback, &provider("127.0.0.1"), link).await;
            assert_eq!(matches!(e, LinkError::Unusable), unusable, "{link}: {e}");
        }
    }

    #[tokio::test]
    async fn a_checked_link_connects_only_to_its_checked_addresses() {
        // A server on 127.0.0.1; the link names a host that does not exist,
        // pinned to that address: the request reaches the server, so no
        // other lookup was made.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n")
                .await;
        });
        let pinned = Pinned(vec![SocketAddr::from(([127, 0, 0, 1], port))]);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(pinned))
            .build()
            .unwrap();
        let answer = client.get(format!("http://files.invalid:{port}/x")).send().await.unwrap();
        assert_eq!(answer.status(), 302, "the redirect is not followed");
    }

    #[tokio::test]
    async fn errors_lose_userinfo_and_query() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let e = reqwest::Client::new()
            .get(format!("http://hookuser:hookpass@127.0.0.1:{closed}/hook?token=s3cret"))
            .send()
            .await
            .unwrap_err();
        let text = error_text(e);
        assert!(!text.contains("s3cret") && !text.contains("hookpass") && !text.contains("hookuser"), "{text}");
        assert!(text.contains(&format!("http://127.0.0.1:{closed}/hook")), "{text}");
    }
}
