//! The server-side request forgery guard for fetches of URLs that someone else chose (a client's
//! metadata document): the one place that decides which addresses the proxy may connect to.
//!
//! A URL chosen by a stranger must not make the server reach what only the server can reach:
//! its own loopback services, the private network, a cloud's metadata endpoint
//! (169.254.169.254). So:
//! - the host name is resolved once, by the guard, and **every** address it resolves to must be
//!   public; one private address refuses the name (an attacker controls their own DNS);
//! - the connector is handed exactly the checked addresses and resolves nothing itself, so a
//!   second lookup cannot answer differently (DNS rebinding);
//! - IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo)
//!   are judged as the address they reach, or refused outright;
//! - https only, no redirects, no user information, no IP-literal host unless the operator
//!   named it; the caller bounds the time and the size.
//!
//! Resolution is a seam ([`ResolveFn`]): tests hand names any address without DNS and without
//! any traffic to that address, since a refused address is never connected to.

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs},
    sync::Arc,
    time::Duration,
};

use actix_tls::connect::{Connector as TcpConnector, Resolve, Resolver};
use actix_web::http::header;
use awc::{Client, Connector};
use futures::future::LocalBoxFuture;
use openssl::{
    ssl::{SslConnector, SslMethod},
    x509::X509,
};

use super::USER_AGENT;

/// Name resolution: the addresses `host` resolves to. Called on a blocking thread.
pub(crate) type ResolveFn = dyn Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync;

/// Which addresses a guarded fetch may connect to, and how names are resolved.
#[derive(Clone)]
pub(crate) struct AddressGuard {
    /// Loopback addresses (127.0.0.0/8, ::1) are let through: for local testing only.
    allow_loopback: bool,
    resolve: Arc<ResolveFn>,
}

impl fmt::Debug for AddressGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressGuard")
            .field("allow_loopback", &self.allow_loopback)
            .finish_non_exhaustive()
    }
}

impl AddressGuard {
    /// A guard that resolves with `resolve` (the system resolver when `None`).
    pub(crate) fn new(allow_loopback: bool, resolve: Option<Arc<ResolveFn>>) -> Self {
        Self {
            allow_loopback,
            resolve: resolve.unwrap_or_else(|| Arc::new(system_resolve)),
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub(crate) fn allows(&self, ip: IpAddr) -> bool {
        is_public(ip) || (self.allow_loopback && ip.is_loopback())
    }

    /// The checked addresses of `host`: all of them allowed, or an error naming why not. The
    /// error text names the host, never the addresses it resolved to.
    pub(crate) async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let resolve = Arc::clone(&self.resolve);
        let name = host.to_owned();
        let resolved = actix_rt::task::spawn_blocking(move || resolve(&name))
            .await
            .map_err(|_| "the name resolution stopped".to_owned())?
            .map_err(|e| format!("`{host}` could not be resolved: {e}"))?;
        if resolved.is_empty() {
            return Err(format!("`{host}` resolves to no address"));
        }
        if resolved.iter().any(|ip| !self.allows(*ip)) {
            return Err(format!("`{host}` resolves to a non-public address"));
        }
        Ok(resolved
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }
}

fn system_resolve(host: &str) -> io::Result<Vec<IpAddr>> {
    Ok((host, 0).to_socket_addrs()?.map(|a| a.ip()).collect())
}

/// The connector's resolver: the guard's checked addresses, nothing else.
struct GuardResolver(AddressGuard);

impl Resolve for GuardResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move { self.0.lookup(host, port).await.map_err(Into::into) })
    }
}

/// TLS for guarded fetches: the system's roots plus `extra_roots` (PEM), with the usual
/// certificate and host-name checks.
pub(crate) fn tls_connector(extra_roots: &[Vec<u8>]) -> Result<SslConnector, String> {
    let fail = |e: openssl::error::ErrorStack| format!("TLS setup failed: {e}");
    let mut builder = SslConnector::builder(SslMethod::tls()).map_err(fail)?;
    for pem in extra_roots {
        let certs = X509::stack_from_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in the PEM text".into());
        }
        for cert in certs {
            builder.cert_store_mut().add_cert(cert).map_err(fail)?;
        }
    }
    builder.set_alpn_protos(b"\x08http/1.1").map_err(fail)?;
    Ok(builder.build())
}

/// A client whose every connection goes through `guard`, over `tls`, never following a
/// redirect, and that connects within `timeout`. Made per fetch: an awc client belongs to the
/// thread that made it.
pub(crate) fn guarded_client(
    guard: &AddressGuard,
    tls: &SslConnector,
    timeout: Duration,
) -> Client {
    let tcp = TcpConnector::new(Resolver::custom(GuardResolver(guard.clone()))).service();
    let connector = Connector::new()
        .connector(tcp)
        .openssl(tls.clone())
        .timeout(timeout)
        .handshake_timeout(timeout);
    Client::builder()
        .connector(connector)
        .disable_redirects()
        .add_default_header((header::USER_AGENT, USER_AGENT))
        .timeout(timeout)
        .finish()
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local, shared (CGNAT),
/// multicast, unspecified, broadcast, reserved, benchmarking or documentation, and not an IPv6
/// form that embeds one of those.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", unspecified
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): the IPv4 address decides.
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return is_public_v4(embedded(s[6], s[7]));
    }
    // NAT64: 64:ff9b::/96 (well-known) and 64:ff9b:1::/48 (local use) reach the embedded IPv4
    // address through a translator; the local-use prefix is never public.
    if s[0] == 0x64 && s[1] == 0xff9b {
        return s[2..6] == [0; 4] && is_public_v4(embedded(s[6], s[7]));
    }
    let first = s[0];
    let special = first == 0x2002 // 6to4: embeds an IPv4 address, relayed anywhere
        // 2001::/23, IETF special purpose: Teredo (2001::/32), benchmarking, ORCHID...
        || (first == 0x2001 && s[1] < 0x200)
        || (first == 0x2001 && s[1] == 0x0db8) // documentation
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first & 0xff00) == 0xff00; // multicast
                                       // Only global unicast (2000::/3) is public.
    !special && (0x2000..0x4000).contains(&first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.9.9.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::808:808",
            "2002:a00:1::",
            "2002:808:808::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "2001:10::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
        ];
        for ip in refused {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(!is_public(parsed), "{ip} passed");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "198.17.0.1",
            "198.20.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ];
        for ip in public {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(is_public(parsed), "{ip} refused");
        }
    }

    #[test]
    fn loopback_passes_only_when_allowed() {
        let strict = AddressGuard::new(false, None);
        let local = AddressGuard::new(true, None);
        for ip in ["127.0.0.1", "::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!strict.allows(ip));
            assert!(local.allows(ip));
        }
        // Loopback is the only exception.
        assert!(!local.allows("10.0.0.1".parse().unwrap()));
        assert!(!local.allows("::ffff:127.0.0.1".parse().unwrap()));
    }

    #[actix_web::test]
    async fn one_non_public_address_refuses_the_name() {
        let guard = AddressGuard::new(
            false,
            Some(Arc::new(|host: &str| {
                Ok(match host {
                    "mixed.example" => {
                        vec!["8.8.8.8".parse().unwrap(), "10.0.0.1".parse().unwrap()]
                    }
                    "none.example" => vec![],
                    _ => vec!["8.8.8.8".parse().unwrap()],
                })
            })),
        );
        assert!(guard.lookup("mixed.example", 443).await.is_err());
        assert!(guard.lookup("none.example", 443).await.is_err());
        assert_eq!(
            guard.lookup("good.example", 443).await.unwrap(),
            vec!["8.8.8.8:443".parse::<SocketAddr>().unwrap()]
        );
    }
}
