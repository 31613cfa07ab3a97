//! A certificate authority made in the test, and an https server on 127.0.0.1 whose
//! certificate it signed: clients trust it through configuration, never through the system.
//! Made with the openssl crate the library already links, so no certificate tool is needed.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{dev::ServerHandle, web, App, HttpRequest, HttpResponse, HttpServer};
use openssl::{
    asn1::Asn1Time,
    bn::{BigNum, MsbOption},
    ec::{EcGroup, EcKey},
    hash::MessageDigest,
    nid::Nid,
    pkey::{PKey, Private},
    ssl::{SslAcceptor, SslMethod},
    x509::{
        extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName},
        X509NameBuilder, X509,
    },
};

/// A CA and one server certificate it signed for `names` (DNS names) and 127.0.0.1.
pub struct TestCa {
    pub ca_pem: Vec<u8>,
    pub cert: X509,
    pub key: PKey<Private>,
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn serial() -> openssl::asn1::Asn1Integer {
    let mut n = BigNum::new().unwrap();
    n.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    n.to_asn1_integer().unwrap()
}

impl TestCa {
    pub fn new(names: &[&str]) -> Self {
        let ca_key = key();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "actix-mcp-oauth test CA")
            .unwrap();
        let ca_name = name.build();
        let mut ca = X509::builder().unwrap();
        ca.set_version(2).unwrap();
        ca.set_serial_number(&serial()).unwrap();
        ca.set_subject_name(&ca_name).unwrap();
        ca.set_issuer_name(&ca_name).unwrap();
        ca.set_pubkey(&ca_key).unwrap();
        ca.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        ca.set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        ca.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        ca.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
        ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = ca.build();

        let leaf_key = key();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", names.first().copied().unwrap_or("localhost"))
            .unwrap();
        let mut leaf = X509::builder().unwrap();
        leaf.set_version(2).unwrap();
        leaf.set_serial_number(&serial()).unwrap();
        leaf.set_subject_name(&name.build()).unwrap();
        leaf.set_issuer_name(ca.subject_name()).unwrap();
        leaf.set_pubkey(&leaf_key).unwrap();
        leaf.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        leaf.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        let mut san = SubjectAlternativeName::new();
        for n in names {
            san.dns(n);
        }
        san.ip("127.0.0.1");
        let san = san.build(&leaf.x509v3_context(Some(&ca), None)).unwrap();
        leaf.append_extension(san).unwrap();
        leaf.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
        leaf.sign(&ca_key, MessageDigest::sha256()).unwrap();
        Self {
            ca_pem: ca.to_pem().unwrap(),
            cert: leaf.build(),
            key: leaf_key,
        }
    }
}

/// What the document server answers at one path.
#[derive(Clone)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Option<Duration>,
}

impl Page {
    pub fn json(body: &serde_json::Value) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap(),
            delay: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct Pages {
    pages: HashMap<String, Page>,
    hits: HashMap<String, usize>,
}

/// An https server on 127.0.0.1 with a certificate from a [`TestCa`], serving set pages and
/// counting requests per path.
pub struct HttpsServer {
    pub addr: SocketAddr,
    pages: Arc<Mutex<Pages>>,
    handle: ServerHandle,
}

impl HttpsServer {
    pub async fn start(ca: &TestCa) -> Self {
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acceptor.set_private_key(&ca.key).unwrap();
        acceptor.set_certificate(&ca.cert).unwrap();
        let pages = Arc::new(Mutex::new(Pages::default()));
        let shared = pages.clone();
        let server = HttpServer::new(move || {
            let pages = shared.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let pages = pages.clone();
                async move { serve(&pages, &req).await }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind_openssl(("127.0.0.1", 0), acceptor)
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            addr,
            pages,
            handle,
        }
    }

    pub fn set(&self, path: &str, page: Page) {
        self.pages.lock().unwrap().pages.insert(path.into(), page);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.pages
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.pages.lock().unwrap().hits.values().sum()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn serve(pages: &Mutex<Pages>, req: &HttpRequest) -> HttpResponse {
    let page = {
        let mut pages = pages.lock().unwrap();
        *pages.hits.entry(req.path().to_owned()).or_default() += 1;
        pages.pages.get(req.path()).cloned()
    };
    let Some(page) = page else {
        return HttpResponse::NotFound().finish();
    };
    if let Some(delay) = page.delay {
        actix_rt::time::sleep(delay).await;
    }
    let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(page.status).unwrap());
    for (k, v) in &page.headers {
        res.insert_header((k.as_str(), v.as_str()));
    }
    res.body(page.body)
}
