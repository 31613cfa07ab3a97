//! Token verification cost, each group beside its floor.
//!
//! `cargo bench --bench verify` (add `-- --warm-up-time 1 --measurement-time 3` for a quick run).
//!
//! Per algorithm, one group `cold_<alg>` holds:
//! - `raw_openssl`: the floor, an OpenSSL signature check of the token's signing input with the
//!   key parsed outside the loop (for ES256 the signature is converted to DER outside the loop);
//! - `jwks_verifier`: the whole cold path, `JwksVerifier::verify` with pinned keys (decode,
//!   header checks, key selection, signature, payload parse, claim checks);
//! - `jwks_verifier_and_map`: the same plus the first read of the claims map, which
//!   `JwksVerifier` builds lazily: the cost a request pays when a user-info mapping reads claims;
//! - `josekit_decode`: josekit's `jwt::decode_with_verifier` with a prebuilt verifier, for
//!   reference (it checks no claims).
//!
//! The group `cache_hit` holds, for the RS256 token:
//! - `raw_openssl` and `jwks_verifier`: the floor and the cold verification, as above;
//! - `token_cache_get`: `TokenCache::get` of that token in a cache filled to its default
//!   capacity (10 000 entries; the other 9 999 tokens are not signed, which the cache never
//!   looks at): what every request after the first pays;
//! - `middleware_floor`, `middleware_hit`, `middleware_cold`: one request through an actix
//!   service (building the request included) without `RequireAuth`, with it and the token
//!   cached, and with it and the cache off (verification and user mapping on every request).
//!
//! The group `refused_hit` holds a repeated bad-signature RS256 token beside the cached valid
//! one: `token_cache_get` and `token_cache_is_refused` (the refusal lookup, 1 024 refusals
//! held), `middleware_hit`, `middleware_refused_hit` (answered 401 from the refusal cache) and
//! `middleware_refused_cold` (the cache off: a signature check each time). A repeated bad token
//! must cost no more than a cached valid one.
//!
//! The group `entra_forged_tenant` holds three refusals of RS256 tokens whose signature does
//! not verify, against a key set of four RSA keys without `alg` (as Microsoft publishes them):
//! - `jwks_bad_signature`: `JwksVerifier` with one exact issuer: the normal refusal;
//! - `entra_known_tenant`: the multi-tenant Entra ID verifier, for a tenant whose tokens it has
//!   accepted before;
//! - `entra_fresh_tenant`: the same, each token naming a tenant never seen before, which is what
//!   anyone can send: it must cost what the normal refusal costs.
//!
//! The group `issued` holds, for tokens the OAuth proxy issues (issued mode, the default):
//! - `raw_openssl`, `jwks_verifier`, `middleware_floor` and `middleware_cold_rs256`: the RS256
//!   floor, its cold verification, and one request without `RequireAuth` and with it, cache off;
//! - `middleware_cold_issued`: one request with an issued token, cache off: the token opened
//!   with the proxy key, its kind, expiry, audience and issuer checked, the user built, with no
//!   signature check and no upstream call; target: at most 1/4 of the cold RS256 check;
//! - `middleware_hit_issued`: the same request with the issued token cached (another issued
//!   token revoked beforehand, so that the revocation list every hit consults is not empty),
//!   and `token_cache_get_issued`: the lookup of that hit alone, `RequireAuth::cached_user` on
//!   the entry the middleware made for the issued token, revocation check included (target at
//!   most 0.5 µs, with no allocation: the bench counts allocations with a counting global
//!   allocator and fails if the lookup makes one);
//! - `sign_in_callback_and_token` and `upstream_direct`: `/oauth/callback` then `/token`
//!   against a local upstream (the callback redeems the upstream code and verifies the
//!   upstream's RS256 token), beside the same upstream token request sent directly; the printout
//!   gives the p50 overhead of the pair, target at most 1 ms.
//!
//! The group `tool_scopes` holds one `POST /mcp` of a JSON-RPC `tools/call` (a 158-byte body
//! the handler reads) with the RS256 token cached:
//! - `post_hit`: `RequireAuth` without tool requirements (the body is not looked at);
//! - `post_hit_tool_scopes`: the same with `tool_scopes` for the called tool and two others:
//!   the body read, scanned for `method` and `params.name`, the tool's scopes checked, the
//!   body handed back. Target: at most 0.5 µs added.
//!
//! The ratio `jwks_verifier / raw_openssl` is the number that matters; absolute times depend on
//! the machine. After criterion's report the bench prints these ratios measured from interleaved
//! batches, which stay meaningful when other processes load the machine, and the cache hit as a
//! fraction of the cold verification measured the same way.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix_mcp_oauth::{
    middleware::TokenCache, providers, proxy::ConsentMode, secret::AccessToken,
    user::default_user_info, AuthUser, JwksVerifier, OAuthProxy, ProxyKey, RequireAuth,
    TokenVerifier, UserInfo,
};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{HeaderValue, AUTHORIZATION};
use actix_web::middleware::Condition;
use actix_web::{test, web, App, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use futures::executor::block_on;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{self, JwsSigner, JwsVerifier};
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use serde_json::json;

/// The system allocator, counting allocations (and reallocations): the cache hit must make none.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the counter is an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per call of `f`, over `n` calls (on this thread; nothing else runs meanwhile).
fn allocations_per_call(n: u32, f: &dyn Fn() -> bool) -> f64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..n {
        black_box(f());
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / f64::from(n)
}

const ISSUER: &str = "https://id.example.com/";
const RESOURCE: &str = "https://mcp.example.com/mcp";

enum Floor {
    Digest(MessageDigest),
    Oneshot,
}

struct Case {
    group: &'static str,
    token: String,
    jwks: String,
    public_key: PKey<Public>,
    floor: Floor,
    /// The signature as OpenSSL takes it (DER for ECDSA).
    floor_signature: Vec<u8>,
    josekit: Box<dyn JwsVerifier>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A realistic access token: the registered claims plus what providers usually add.
fn payload() -> serde_json::Value {
    let now = unix_now();
    json!({
        "iss": ISSUER,
        "sub": "auth0|6543210fedcba9876543210",
        "aud": ["https://mcp.example.com/mcp", "https://id.example.com/userinfo"],
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 86_400,
        "jti": "f3b2c1d0-8e7f-4a6b-9c5d-2e1f0a9b8c7d",
        "azp": "mcp-client-01HZX3",
        "client_id": "mcp-client-01HZX3",
        "scope": "openid profile email mcp:tools mcp:resources",
        "email": "ada@example.com",
        "email_verified": true,
        "name": "Ada Lovelace",
        "permissions": ["read:docs", "write:docs"],
    })
}

fn case(group: &'static str, alg: &str, pair: &dyn KeyPair, signer: &dyn JwsSigner) -> Case {
    let header = json!({ "alg": alg, "kid": "k1", "typ": "at+jwt" });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload().to_string())
    );
    let signature = signer.sign(input.as_bytes()).expect("sign");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&signature));

    let mut jwk = pair.to_jwk_public_key();
    jwk.set_key_id("k1");
    let jwks = json!({ "keys": [serde_json::Value::Object(jwk.clone().into())] }).to_string();
    let public_key = PKey::public_key_from_der(&pair.to_der_public_key()).expect("public key");

    let (floor, floor_signature, josekit): (_, _, Box<dyn JwsVerifier>) = match alg {
        "RS256" => (
            Floor::Digest(MessageDigest::sha256()),
            signature,
            Box::new(jws::RS256.verifier_from_jwk(&jwk).expect("verifier")),
        ),
        "ES256" => {
            let (r, s) = signature.split_at(32);
            let der = EcdsaSig::from_private_components(
                BigNum::from_slice(r).expect("r"),
                BigNum::from_slice(s).expect("s"),
            )
            .and_then(|sig| sig.to_der())
            .expect("der signature");
            (
                Floor::Digest(MessageDigest::sha256()),
                der,
                Box::new(jws::ES256.verifier_from_jwk(&jwk).expect("verifier")),
            )
        }
        "EdDSA" => (
            Floor::Oneshot,
            signature,
            Box::new(jws::EdDSA.verifier_from_jwk(&jwk).expect("verifier")),
        ),
        other => panic!("no bench case for {other}"),
    };
    Case {
        group,
        token,
        jwks,
        public_key,
        floor,
        floor_signature,
        josekit,
    }
}

fn cases() -> Vec<Case> {
    let rsa = RsaKeyPair::generate(2048).expect("rsa");
    let ec = EcKeyPair::generate(EcCurve::P256).expect("ec");
    let ed = EdKeyPair::generate(EdCurve::Ed25519).expect("ed");
    let rs256 = jws::RS256
        .signer_from_jwk(&rsa.to_jwk_private_key())
        .expect("signer");
    let es256 = jws::ES256
        .signer_from_jwk(&ec.to_jwk_private_key())
        .expect("signer");
    let eddsa = jws::EdDSA
        .signer_from_jwk(&ed.to_jwk_private_key())
        .expect("signer");
    vec![
        case("cold_rs256", "RS256", &rsa, &rs256),
        case("cold_es256", "ES256", &ec, &es256),
        case("cold_eddsa", "EdDSA", &ed, &eddsa),
    ]
}

fn raw_openssl(case: &Case, signing_input: &[u8]) -> bool {
    match &case.floor {
        Floor::Digest(md) => {
            let mut verifier = Verifier::new(*md, &case.public_key).expect("verifier");
            verifier.update(signing_input).expect("update");
            verifier.verify(&case.floor_signature).expect("verify")
        }
        Floor::Oneshot => Verifier::new_without_digest(&case.public_key)
            .expect("verifier")
            .verify_oneshot(&case.floor_signature, signing_input)
            .expect("verify"),
    }
}

struct Prepared {
    case: Case,
    signing_input: String,
    verifier: JwksVerifier,
}

impl Prepared {
    fn new(case: Case) -> Self {
        let verifier = JwksVerifier::builder()
            .jwks(&case.jwks)
            .issuer(ISSUER)
            .audience(RESOURCE)
            .require_typ("at+jwt")
            .build()
            .expect("verifier");
        let (signing_input, _) = case.token.rsplit_once('.').expect("three segments");
        let signing_input = signing_input.to_owned();
        let prepared = Self {
            case,
            signing_input,
            verifier,
        };
        // Every contender must accept the token, or the numbers compare nothing.
        assert!(prepared.raw_openssl());
        assert!(prepared.jwks_verifier());
        assert!(prepared.josekit_decode());
        assert!(prepared.jwks_verifier_and_map());
        prepared
    }

    fn raw_openssl(&self) -> bool {
        raw_openssl(&self.case, black_box(self.signing_input.as_bytes()))
    }

    fn jwks_verifier(&self) -> bool {
        block_on(self.verifier.verify(black_box(&self.case.token))).is_ok()
    }

    /// Verification plus the first read of the claims map, as a user-info mapping does.
    fn jwks_verifier_and_map(&self) -> bool {
        block_on(self.verifier.verify(black_box(&self.case.token)))
            .is_ok_and(|claims| claims.as_map().len() > 1)
    }

    fn josekit_decode(&self) -> bool {
        josekit::jwt::decode_with_verifier(black_box(&self.case.token), &*self.case.josekit).is_ok()
    }
}

fn cold(c: &mut Criterion, prepared: &[Prepared]) {
    for p in prepared {
        let mut group = c.benchmark_group(p.case.group);
        group.bench_function("raw_openssl", |b| b.iter(|| p.raw_openssl()));
        group.bench_function("jwks_verifier", |b| b.iter(|| p.jwks_verifier()));
        group.bench_function("jwks_verifier_and_map", |b| {
            b.iter(|| p.jwks_verifier_and_map())
        });
        group.bench_function("josekit_decode", |b| b.iter(|| p.josekit_decode()));
        group.finish();
    }
}

/// Rounds of interleaved batches taken by the ratio printouts.
const ROUNDS: usize = 60;

/// The mean time of one call of `f` over a batch of `n` calls, in seconds.
fn batch(n: u32, f: &dyn Fn() -> bool) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        black_box(f());
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}

/// Ratios to the floor from interleaved batches: on a shared machine the load changes between
/// criterion's back-to-back measurements, while batches taken in turn see the same load. The
/// fastest batch of each contender approximates its undisturbed cost.
fn print_ratios(prepared: &[Prepared], filter: Option<&str>) {
    const BATCH: u32 = 50;
    let batch = |f: &dyn Fn() -> bool| batch(BATCH, f);
    println!("\nRatios to raw_openssl (interleaved batches; min / median):");
    for p in prepared {
        if filter.is_some_and(|f| !p.case.group.contains(f)) {
            continue;
        }
        let mut times: [Vec<f64>; 4] = Default::default();
        for _ in 0..ROUNDS {
            times[0].push(batch(&|| p.raw_openssl()));
            times[1].push(batch(&|| p.jwks_verifier()));
            times[2].push(batch(&|| p.jwks_verifier_and_map()));
            times[3].push(batch(&|| p.josekit_decode()));
        }
        for t in &mut times {
            t.sort_by(f64::total_cmp);
        }
        let ratio = |i: usize| {
            let (min, median) = (
                times[i][0] / times[0][0],
                times[i][ROUNDS / 2] / times[0][ROUNDS / 2],
            );
            (min, median)
        };
        let line: Vec<String> = ["jwks_verifier", "jwks_verifier_and_map", "josekit_decode"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (min, median) = ratio(i + 1);
                format!("{name} {min:.3}x / {median:.3}x")
            })
            .collect();
        println!(
            "  {:<11} raw_openssl {:>7.2} µs | {}",
            p.case.group,
            times[0][0] * 1e6,
            line.join(" | ")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Cache hit

/// The RS256 case's user in a `TokenCache` filled to its default capacity.
struct CacheHit<'a> {
    cold: &'a Prepared,
    cache: TokenCache,
    now: u64,
}

impl<'a> CacheHit<'a> {
    fn new(cold: &'a Prepared) -> Self {
        let now = unix_now();
        let token = &cold.case.token;
        let claims = block_on(cold.verifier.verify(token)).expect("the token verifies");
        let info = default_user_info(&claims).expect("the token maps to a user");
        let expires_at = claims.expires_at().expect("the token has exp");

        let cache = TokenCache::new(TokenCache::DEFAULT_CAPACITY);
        // Other users' tokens of the same length and shape, differing in the signature's end
        // (the cache hashes the length, the end and the middle). They expire before ours, so
        // the evictions that fill every shard to its bound never pick ours.
        let (signing_input, signature) = token.rsplit_once('.').expect("three segments");
        let stem = &signature[..signature.len() - 16];
        let mut i: u64 = 0;
        while cache.len() < cache.capacity() && i < 4 * cache.capacity() as u64 {
            let other = AuthUser::new(
                UserInfo {
                    user_id: format!("user-{i}"),
                    ..UserInfo::default()
                },
                Default::default(),
                AccessToken::new(format!("{signing_input}.{stem}{i:016x}")),
            );
            cache.insert(other, now + 3_600 + i, now);
            i += 1;
        }
        cache.insert(
            AuthUser::new(info, claims, AccessToken::new(token.clone())),
            expires_at,
            now,
        );
        assert_eq!(cache.len(), cache.capacity(), "the cache is full");
        let hit = Self { cold, cache, now };
        assert!(hit.get(), "the token is a hit");
        hit
    }

    fn get(&self) -> bool {
        self.cache
            .get(black_box(&self.cold.case.token), self.now)
            .is_some()
    }
}

/// One request through an actix service, end to end: building the request, routing, the
/// middleware if any, a handler that answers 200.
struct Middleware {
    floor: Box<dyn Fn() -> bool>,
    hit: Box<dyn Fn() -> bool>,
    cold: Box<dyn Fn() -> bool>,
    /// A bad-signature token answered 401 from the refusal cache.
    refused_hit: Box<dyn Fn() -> bool>,
    /// The same with the cache off: a signature check on every request.
    refused_cold: Box<dyn Fn() -> bool>,
}

impl Middleware {
    fn new(cold: &Prepared) -> Self {
        let system = Rc::new(actix_rt::System::new());
        let header = HeaderValue::from_str(&format!("Bearer {}", cold.case.token)).expect("header");
        let request = move || {
            test::TestRequest::get()
                .uri("/mcp")
                .insert_header((AUTHORIZATION, header.clone()))
                .to_request()
        };
        let auth = || RequireAuth::new(cold.verifier.clone(), RESOURCE).expect("resource");
        // The same app each time; `Condition` switches the middleware off for the floor.
        let app = |auth: RequireAuth, enabled: bool| {
            system.block_on(test::init_service(
                App::new().service(
                    web::scope("/mcp")
                        .wrap(Condition::new(enabled, auth))
                        .route("", web::get().to(HttpResponse::Ok)),
                ),
            ))
        };
        let garbage = HeaderValue::from_str(&format!("Bearer {}", garbage(&cold.case.token)))
            .expect("header");
        let refused_request = move || {
            test::TestRequest::get()
                .uri("/mcp")
                .insert_header((AUTHORIZATION, garbage.clone()))
                .to_request()
        };
        let middleware = Self {
            floor: call(&system, app(auth(), false), request.clone()),
            hit: call(&system, app(auth(), true), request.clone()),
            cold: call(&system, app(auth().cache_capacity(0), true), request),
            refused_hit: call_refused(&system, app(auth(), true), refused_request.clone()),
            refused_cold: call_refused(
                &system,
                app(auth().cache_capacity(0), true),
                refused_request,
            ),
        };
        assert!((middleware.floor)() && (middleware.hit)() && (middleware.cold)());
        assert!((middleware.refused_hit)() && (middleware.refused_cold)());
        middleware
    }
}

fn call<S, R, B>(
    system: &Rc<actix_rt::SystemRunner>,
    app: S,
    request: impl Fn() -> R + 'static,
) -> Box<dyn Fn() -> bool>
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
{
    let system = Rc::clone(system);
    Box::new(move || {
        system.block_on(async {
            app.call(request())
                .await
                .is_ok_and(|res| res.status().is_success())
        })
    })
}

/// As [`call`], for a request that must be refused with 401.
fn call_refused<S, R, B>(
    system: &Rc<actix_rt::SystemRunner>,
    app: S,
    request: impl Fn() -> R + 'static,
) -> Box<dyn Fn() -> bool>
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
{
    let system = Rc::clone(system);
    Box::new(move || {
        system.block_on(async {
            app.call(request())
                .await
                .is_ok_and(|res| res.status() == actix_web::http::StatusCode::UNAUTHORIZED)
        })
    })
}

/// `token` with one character of its signature changed: well-formed, so a verifier checks the
/// signature before refusing it.
fn garbage(token: &str) -> String {
    let (signing_input, signature) = token.rsplit_once('.').expect("three segments");
    let mut signature = signature.as_bytes().to_vec();
    let middle = signature.len() / 2;
    signature[middle] = if signature[middle] == b'A' {
        b'B'
    } else {
        b'A'
    };
    format!(
        "{signing_input}.{}",
        String::from_utf8(signature).expect("ASCII")
    )
}

fn cache_hit(c: &mut Criterion, hit: &CacheHit<'_>, middleware: &Middleware) {
    let mut group: BenchmarkGroup<'_, WallTime> = c.benchmark_group("cache_hit");
    group.bench_function("raw_openssl", |b| b.iter(|| hit.cold.raw_openssl()));
    group.bench_function("jwks_verifier", |b| b.iter(|| hit.cold.jwks_verifier()));
    group.bench_function("token_cache_get", |b| b.iter(|| hit.get()));
    group.bench_function("middleware_floor", |b| b.iter(|| (middleware.floor)()));
    group.bench_function("middleware_hit", |b| b.iter(|| (middleware.hit)()));
    group.bench_function("middleware_cold", |b| b.iter(|| (middleware.cold)()));
    group.finish();
}

/// The hit beside the cold verification, from interleaved batches as in [`print_ratios`].
fn print_cache_ratios(hit: &CacheHit<'_>, middleware: &Middleware) {
    let contenders: [(&str, u32, &dyn Fn() -> bool); 6] = [
        ("raw_openssl", 50, &|| hit.cold.raw_openssl()),
        ("jwks_verifier", 50, &|| hit.cold.jwks_verifier()),
        ("token_cache_get", 5_000, &|| hit.get()),
        ("middleware_floor", 500, &*middleware.floor),
        ("middleware_hit", 500, &*middleware.hit),
        ("middleware_cold", 50, &*middleware.cold),
    ];
    let mut times: [Vec<f64>; 6] = Default::default();
    for _ in 0..ROUNDS {
        for (i, (_, n, f)) in contenders.iter().enumerate() {
            times[i].push(batch(*n, *f));
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let min = |i: usize| times[i][0];
    let median = |i: usize| times[i][ROUNDS / 2];
    let us = |secs: f64| secs * 1e6;
    println!("\nCache hit, RS256 token, 10 000 entries (interleaved batches; min / median):");
    println!(
        "  token_cache_get {:.3} µs / {:.3} µs | jwks_verifier {:.2} µs / {:.2} µs \
         | hit = 1/{:.0} / 1/{:.0} of jwks_verifier | jwks_verifier {:.3}x / {:.3}x raw_openssl",
        us(min(2)),
        us(median(2)),
        us(min(1)),
        us(median(1)),
        min(1) / min(2),
        median(1) / median(2),
        min(1) / min(0),
        median(1) / median(0),
    );
    println!(
        "  middleware      floor {:.2} µs / {:.2} µs | hit {:.2} µs / {:.2} µs \
         | cold {:.2} µs / {:.2} µs | hit = 1/{:.1} / 1/{:.1} of cold \
         | auth on a hit +{:.2} µs / +{:.2} µs",
        us(min(3)),
        us(median(3)),
        us(min(4)),
        us(median(4)),
        us(min(5)),
        us(median(5)),
        min(5) / min(4),
        median(5) / median(4),
        us(min(4) - min(3)),
        us(median(4) - median(3)),
    );
    let allocations: Vec<f64> = contenders
        .iter()
        .map(|(_, _, f)| allocations_per_call(200, *f))
        .collect();
    println!(
        "  allocations per call: token_cache_get {:.1} | middleware floor {:.1} | hit {:.1} \
         (auth on a hit: {:+.1}) | cold {:.1}",
        allocations[2],
        allocations[3],
        allocations[4],
        allocations[4] - allocations[3],
        allocations[5],
    );
    assert_eq!(allocations[2], 0.0, "the cache hit allocates");
}

// ---------------------------------------------------------------------------------------------
// Scope requirements per MCP tool

/// A cached token's `tools/call`, without and with tool requirements.
struct ToolScopes {
    without: Box<dyn Fn() -> bool>,
    with: Box<dyn Fn() -> bool>,
}

impl ToolScopes {
    fn new(cold: &Prepared) -> Self {
        let system = Rc::new(actix_rt::System::new());
        let header = HeaderValue::from_str(&format!("Bearer {}", cold.case.token)).expect("header");
        let body = web::Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"scope hierarchy","limit":10},"_meta":{"progressToken":7}}}"#,
        );
        let request = move || {
            test::TestRequest::post()
                .uri("/mcp")
                .insert_header((AUTHORIZATION, header.clone()))
                .insert_header(("content-type", "application/json"))
                .set_payload(body.clone())
                .to_request()
        };
        let app = |auth: RequireAuth| {
            system.block_on(test::init_service(App::new().service(
                web::scope("/mcp").wrap(auth).route(
                    "",
                    web::post().to(|body: web::Bytes| async move {
                        if body.len() > 100 {
                            HttpResponse::Ok().finish()
                        } else {
                            HttpResponse::BadRequest().finish()
                        }
                    }),
                ),
            )))
        };
        let auth = || RequireAuth::new(cold.verifier.clone(), RESOURCE).expect("resource");
        let tools = auth()
            .tool_scopes("delete_doc", ["write:docs"])
            .tool_scopes("search_docs", ["mcp:tools"])
            .tool_scopes("share_doc", ["share:docs"]);
        let scopes = Self {
            without: call(&system, app(auth()), request.clone()),
            with: call(&system, app(tools), request),
        };
        assert!((scopes.without)() && (scopes.with)());
        scopes
    }
}

fn tool_scopes(c: &mut Criterion, tools: &ToolScopes) {
    let mut group: BenchmarkGroup<'_, WallTime> = c.benchmark_group("tool_scopes");
    group.bench_function("post_hit", |b| b.iter(|| (tools.without)()));
    group.bench_function("post_hit_tool_scopes", |b| b.iter(|| (tools.with)()));
    group.finish();
}

/// The cost the tool check adds, from interleaved batches as in [`print_ratios`].
fn print_tool_ratios(tools: &ToolScopes) {
    let contenders: [(&str, u32, &dyn Fn() -> bool); 2] = [
        ("post_hit", 500, &*tools.without),
        ("post_hit_tool_scopes", 500, &*tools.with),
    ];
    let mut times: [Vec<f64>; 2] = Default::default();
    for _ in 0..ROUNDS {
        for (i, (_, n, f)) in contenders.iter().enumerate() {
            times[i].push(batch(*n, *f));
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let us = |secs: f64| secs * 1e6;
    let (min, median) = (|i: usize| times[i][0], |i: usize| times[i][ROUNDS / 2]);
    println!("\nTool scopes, a cached token's tools/call (interleaved batches; min / median):");
    println!(
        "  post_hit {:.2} µs / {:.2} µs | post_hit_tool_scopes {:.2} µs / {:.2} µs \
         | the tool check adds {:.2} µs / {:.2} µs (target <= 0.5 µs)",
        us(min(0)),
        us(median(0)),
        us(min(1)),
        us(median(1)),
        us(min(1) - min(0)),
        us(median(1) - median(0)),
    );
}

// ---------------------------------------------------------------------------------------------
// Tokens the proxy issues

const PROXY_PUBLIC_URL: &str = "http://127.0.0.1:8080";
const PROXY_CLIENT: &str = "bench-client";
const PROXY_REDIRECT: &str = "http://127.0.0.1:9/cb";
const PROXY_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-0123456789";

/// An `OAuthProxy` in issued mode in front of a local upstream (a fixed token answer carrying
/// the RS256 case's token, verified by the RS256 case's verifier), with its MCP scope: a token
/// issued through the real flow, and the requests that use it.
struct Issued {
    /// `/mcp` with the issued token, the token cache off: open, checks, user.
    mcp_cold: Box<dyn Fn() -> bool>,
    /// `/mcp` with the issued token, cached.
    mcp_hit: Box<dyn Fn() -> bool>,
    /// `/oauth/callback` (the upstream code exchange, the upstream token's verification, the
    /// mapping, the code sealed) then `/token` (the code opened and checked, the tokens
    /// issued), through the app.
    sign_in: Box<dyn Fn() -> bool>,
    /// The same upstream token request, sent directly with awc: what the exchange costs
    /// without the proxy.
    upstream_direct: Box<dyn Fn() -> bool>,
    /// `RequireAuth::cached_user` of the issued token: the lookup of a cache hit, the
    /// revocation check included, in the cache the middleware filled.
    cache_get: Box<dyn Fn() -> bool>,
    token_len: usize,
}

fn cookie_of(res: &ServiceResponse<impl actix_web::body::MessageBody>, name: &str) -> String {
    res.response()
        .cookies()
        .find(|c| c.name() == name)
        .map(|c| format!("{}={}", c.name(), c.value()))
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

fn location_param(res: &ServiceResponse<impl actix_web::body::MessageBody>, name: &str) -> String {
    let location = res.headers().get("location").expect("a redirect");
    let url = url::Url::parse(location.to_str().expect("ascii")).expect("a URL");
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

impl Issued {
    fn new(cold: &Prepared) -> Self {
        let system = Rc::new(actix_rt::System::new());
        let upstream = serve(
            json!({
                "access_token": cold.case.token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": "upstream-refresh-token",
            })
            .to_string(),
        );
        let proxy = OAuthProxy::builder()
            .public_url(PROXY_PUBLIC_URL)
            .auth_endpoint(format!("{upstream}/authorize"))
            .token_endpoint(format!("{upstream}/token"))
            .client_id("mcp-client-01HZX3")
            .client_secret("bench-secret")
            .verifier(cold.verifier.clone())
            .proxy_key(ProxyKey::generate())
            .static_client(PROXY_CLIENT, [PROXY_REDIRECT])
            .dynamic_registration(false)
            .consent_mode(ConsentMode::Off)
            .build()
            .expect("proxy");
        let app = |proxy: &OAuthProxy, auth: RequireAuth| {
            let proxy = proxy.clone();
            system.block_on(test::init_service(
                App::new().service(proxy.scope()).service(
                    web::scope("/mcp")
                        .wrap(auth)
                        .route("", web::get().to(HttpResponse::Ok)),
                ),
            ))
        };
        let flow = Rc::new(app(&proxy, proxy.require_auth()));

        // The sign-in, once, to find the transaction and the browser's binding cookie.
        let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(PROXY_VERIFIER.as_bytes()));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", PROXY_CLIENT),
                ("redirect_uri", PROXY_REDIRECT),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "s"),
            ])
            .finish();
        let res = system.block_on(test::call_service(
            &*flow,
            test::TestRequest::get()
                .uri(&format!("/authorize?{query}"))
                .to_request(),
        ));
        let state = location_param(&res, "state");
        let binding = cookie_of(&res, "mcp-oauth-binding");
        let callback = format!(
            "/oauth/callback?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("code", "upstream-code"), ("state", &state)])
                .finish()
        );
        let sign_in = {
            let (system, flow) = (Rc::clone(&system), Rc::clone(&flow));
            move || -> Option<String> {
                system.block_on(async {
                    let res = test::call_service(
                        &*flow,
                        test::TestRequest::get()
                            .uri(&callback)
                            .insert_header(("cookie", binding.as_str()))
                            .to_request(),
                    )
                    .await;
                    let code = location_param(&res, "code");
                    let res = test::call_service(
                        &*flow,
                        test::TestRequest::post()
                            .uri("/token")
                            .set_form([
                                ("grant_type", "authorization_code"),
                                ("client_id", PROXY_CLIENT),
                                ("code", &code),
                                ("redirect_uri", PROXY_REDIRECT),
                                ("code_verifier", PROXY_VERIFIER),
                            ])
                            .to_request(),
                    )
                    .await;
                    if !res.status().is_success() {
                        return None;
                    }
                    let body: serde_json::Value = test::read_body_json(res).await;
                    body["access_token"].as_str().map(str::to_owned)
                })
            }
        };
        let token = sign_in().expect("a token issued through the flow");
        assert_eq!(token.split('.').count(), 5, "an issued token");
        // Another token revoked, so that every hit below consults a revocation list that is
        // not empty (the slower of its two paths).
        let revoked = sign_in().expect("a second token");
        let res = system.block_on(test::call_service(
            &*flow,
            test::TestRequest::post()
                .uri("/revoke")
                .set_form([("token", revoked.as_str()), ("client_id", PROXY_CLIENT)])
                .to_request(),
        ));
        assert!(res.status().is_success(), "revoked: {}", res.status());

        let header = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
        let request = move || {
            test::TestRequest::get()
                .uri("/mcp")
                .insert_header((AUTHORIZATION, header.clone()))
                .to_request()
        };
        // The hit's middleware, kept to look its cache up alone: the entry is the issued
        // token's user as `RequireAuth` built it on the first request.
        let hit_auth = proxy.require_auth();
        let mcp_hit = call(&system, app(&proxy, hit_auth.clone()), request.clone());
        assert!(mcp_hit(), "the issued token cached");
        let user = hit_auth
            .cached_user(&token)
            .expect("the issued token's user, cached");
        assert_eq!(user.bearer_token().secret(), token);
        assert_eq!(
            user.upstream_access_token().secret(),
            cold.case.token,
            "an issued token's user, carrying the upstream token"
        );
        assert!(hit_auth.cached_user(&revoked).is_none());
        let cached = token.clone();
        let client = awc::Client::default();
        let token_url = format!("{upstream}/token");
        let direct_system = Rc::clone(&system);
        let issued = Self {
            mcp_cold: call(
                &system,
                app(&proxy, proxy.require_auth().cache_capacity(0)),
                request.clone(),
            ),
            mcp_hit,
            sign_in: Box::new(move || sign_in().is_some()),
            upstream_direct: Box::new(move || {
                direct_system.block_on(async {
                    let form = [
                        ("grant_type", "authorization_code"),
                        ("code", "upstream-code"),
                        ("redirect_uri", "http://127.0.0.1:8080/oauth/callback"),
                        ("code_verifier", PROXY_VERIFIER),
                        ("client_id", "mcp-client-01HZX3"),
                        ("client_secret", "bench-secret"),
                    ];
                    match client.post(&token_url).send_form(&form).await {
                        Ok(mut res) => res.body().await.is_ok_and(|b| !b.is_empty()),
                        Err(_) => false,
                    }
                })
            }),
            cache_get: Box::new(move || hit_auth.cached_user(black_box(&cached)).is_some()),
            token_len: token.len(),
        };
        assert!((issued.mcp_cold)() && (issued.mcp_hit)());
        assert!((issued.sign_in)() && (issued.upstream_direct)());
        issued
    }
}

fn issued(c: &mut Criterion, issued: &Issued, rs256: &Prepared, middleware: &Middleware) {
    let mut group: BenchmarkGroup<'_, WallTime> = c.benchmark_group("issued");
    group.bench_function("raw_openssl", |b| b.iter(|| rs256.raw_openssl()));
    group.bench_function("jwks_verifier", |b| b.iter(|| rs256.jwks_verifier()));
    group.bench_function("middleware_floor", |b| b.iter(|| (middleware.floor)()));
    group.bench_function("middleware_cold_rs256", |b| b.iter(|| (middleware.cold)()));
    group.bench_function("middleware_cold_issued", |b| b.iter(|| (issued.mcp_cold)()));
    group.bench_function("middleware_hit_issued", |b| b.iter(|| (issued.mcp_hit)()));
    group.bench_function("token_cache_get_issued", |b| {
        b.iter(|| (issued.cache_get)())
    });
    group.bench_function("sign_in_callback_and_token", |b| {
        b.iter(|| (issued.sign_in)())
    });
    group.bench_function("upstream_direct", |b| b.iter(|| (issued.upstream_direct)()));
    group.finish();
}

/// The issued token's cold open beside the cold RS256 verification, both through the
/// middleware with the cache off, from interleaved batches; and the sign-in overhead as the
/// difference of the medians of single calls, taken in turn.
fn print_issued_ratios(issued: &Issued, middleware: &Middleware) {
    let contenders: [(&str, u32, &dyn Fn() -> bool); 5] = [
        ("middleware_floor", 500, &*middleware.floor),
        ("middleware_cold_rs256", 50, &*middleware.cold),
        ("middleware_cold_issued", 50, &*issued.mcp_cold),
        ("middleware_hit_issued", 500, &*issued.mcp_hit),
        ("token_cache_get_issued", 5_000, &*issued.cache_get),
    ];
    let mut times: [Vec<f64>; 5] = Default::default();
    for _ in 0..ROUNDS {
        for (i, (_, n, f)) in contenders.iter().enumerate() {
            times[i].push(batch(*n, *f));
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let median = |i: usize| times[i][ROUNDS / 2];
    let us = |secs: f64| secs * 1e6;
    println!(
        "\nIssued tokens ({} bytes), through the middleware (interleaved batches; medians):",
        issued.token_len
    );
    println!(
        "  floor {:.2} µs | cold RS256 {:.2} µs | cold issued {:.2} µs | hit issued {:.2} µs \
         | token_cache_get {:.3} µs",
        us(median(0)),
        us(median(1)),
        us(median(2)),
        us(median(3)),
        us(median(4)),
    );
    println!(
        "  cold issued / cold RS256: {:.3} of the request, {:.3} of the auth (floor subtracted)",
        median(2) / median(1),
        (median(2) - median(0)) / (median(1) - median(0)),
    );
    let allocations: Vec<f64> = contenders
        .iter()
        .map(|(_, _, f)| allocations_per_call(200, *f))
        .collect();
    println!(
        "  allocations per call: floor {:.1} | cold RS256 {:.1} | cold issued {:.1} | hit issued \
         {:.1} (auth on a hit: {:+.1}) | token_cache_get {:.1}",
        allocations[0],
        allocations[1],
        allocations[2],
        allocations[3],
        allocations[3] - allocations[0],
        allocations[4],
    );
    assert_eq!(
        allocations[4], 0.0,
        "the issued cache hit (lookup and revocation check) allocates"
    );
    const CALLS: usize = 200;
    let (mut pair, mut direct) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
    for _ in 0..CALLS {
        let start = Instant::now();
        black_box((issued.sign_in)());
        pair.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        black_box((issued.upstream_direct)());
        direct.push(start.elapsed().as_secs_f64());
    }
    pair.sort_by(f64::total_cmp);
    direct.sort_by(f64::total_cmp);
    let p50 = |v: &[f64]| v[v.len() / 2] * 1e3;
    println!(
        "  sign-in (callback + token) p50 {:.3} ms | upstream direct p50 {:.3} ms | overhead {:.3} ms",
        p50(&pair),
        p50(&direct),
        p50(&pair) - p50(&direct),
    );
}

// ---------------------------------------------------------------------------------------------
// Refused tokens

/// A bad-signature RS256 token in the refusal cache of [`CacheHit`]'s full cache, beside 1 023
/// other refusals of the same shape (the refusal bound of a default cache).
struct RefusedHit<'a> {
    hit: &'a CacheHit<'a>,
    garbage: String,
}

impl<'a> RefusedHit<'a> {
    fn new(hit: &'a CacheHit<'a>) -> Self {
        let garbage = garbage(&hit.cold.case.token);
        let (signing_input, signature) = garbage.rsplit_once('.').expect("three segments");
        let stem = &signature[..signature.len() - 16];
        let cache = &hit.cache;
        for i in 0..4 * cache.refusal_capacity() as u64 {
            if cache.refused_len() + 1 >= cache.refusal_capacity() {
                break;
            }
            cache.insert_refused(&format!("{signing_input}.{stem}{i:016x}"), hit.now);
        }
        cache.insert_refused(&garbage, hit.now);
        let refused = Self { hit, garbage };
        assert!(refused.is_refused(), "the bad token is a refusal hit");
        refused
    }

    fn is_refused(&self) -> bool {
        self.hit
            .cache
            .is_refused(black_box(&self.garbage), self.hit.now)
    }
}

fn refused_hit(c: &mut Criterion, refused: &RefusedHit<'_>, middleware: &Middleware) {
    let mut group: BenchmarkGroup<'_, WallTime> = c.benchmark_group("refused_hit");
    group.bench_function("token_cache_get", |b| b.iter(|| refused.hit.get()));
    group.bench_function("token_cache_is_refused", |b| {
        b.iter(|| refused.is_refused())
    });
    group.bench_function("middleware_hit", |b| b.iter(|| (middleware.hit)()));
    group.bench_function("middleware_refused_hit", |b| {
        b.iter(|| (middleware.refused_hit)())
    });
    group.bench_function("middleware_refused_cold", |b| {
        b.iter(|| (middleware.refused_cold)())
    });
    group.finish();
}

/// A repeated bad token beside a cached valid one, from interleaved batches.
fn print_refused_ratios(refused: &RefusedHit<'_>, middleware: &Middleware) {
    let contenders: [(&str, u32, &dyn Fn() -> bool); 5] = [
        ("token_cache_get", 5_000, &|| refused.hit.get()),
        ("token_cache_is_refused", 5_000, &|| refused.is_refused()),
        ("middleware_hit", 500, &*middleware.hit),
        ("middleware_refused_hit", 500, &*middleware.refused_hit),
        ("middleware_refused_cold", 50, &*middleware.refused_cold),
    ];
    let mut times: [Vec<f64>; 5] = Default::default();
    for _ in 0..ROUNDS {
        for (i, (_, n, f)) in contenders.iter().enumerate() {
            times[i].push(batch(*n, *f));
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let min = |i: usize| times[i][0];
    let median = |i: usize| times[i][ROUNDS / 2];
    let us = |secs: f64| secs * 1e6;
    println!("\nRefused RS256 token, repeated (interleaved batches; min / median):");
    println!(
        "  cache           valid hit {:.3} µs / {:.3} µs | refusal hit {:.3} µs / {:.3} µs \
         | refusal = {:.2}x / {:.2}x the valid hit",
        us(min(0)),
        us(median(0)),
        us(min(1)),
        us(median(1)),
        min(1) / min(0),
        median(1) / median(0),
    );
    println!(
        "  middleware      valid hit {:.2} µs / {:.2} µs | refusal hit {:.2} µs / {:.2} µs \
         | refusal uncached {:.2} µs / {:.2} µs | refusal hit = {:.2}x / {:.2}x the valid hit, \
         1/{:.1} / 1/{:.1} of the uncached refusal",
        us(min(2)),
        us(median(2)),
        us(min(3)),
        us(median(3)),
        us(min(4)),
        us(median(4)),
        min(3) / min(2),
        median(3) / median(2),
        min(4) / min(3),
        median(4) / median(3),
    );
}

// ---------------------------------------------------------------------------------------------
// Forged tokens naming a fresh tenant

const ENTRA_CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
const KNOWN_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// Distinct tokens per contender, cycled: more than a criterion sample takes between two uses
/// of one token is not needed, since nothing is remembered about a refused token.
const POOL: usize = 4096;

/// Serves `body` to every request on 127.0.0.1, for the Entra verifier's first key fetch.
fn serve(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

/// A v2.0 access token of tenant `tid` as Entra issues it, for `host`.
fn entra_payload(host: &str, tid: &str, n: usize) -> serde_json::Value {
    let now = unix_now();
    json!({
        "aud": ENTRA_CLIENT,
        "azp": ENTRA_CLIENT,
        "iss": format!("{host}/{tid}/v2.0"),
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
        "name": "Ada Lovelace",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "preferred_username": "ada@contoso.com",
        "scp": "access_as_user",
        "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
        "tid": tid,
        "uti": format!("fqiBqXLPj0eQa82S{n:08x}"),
        "ver": "2.0",
    })
}

struct ForgedTenant {
    jwks: JwksVerifier,
    entra: providers::EntraIdVerifier,
    /// Exact-issuer tokens with a signature that does not verify.
    bad_signature: Vec<String>,
    /// Forged tokens of the tenant whose valid token the Entra verifier accepted.
    known: Vec<String>,
    /// Forged tokens, each of its own tenant.
    fresh: Vec<String>,
    next: Cell<usize>,
}

impl ForgedTenant {
    fn new() -> Self {
        let pairs: Vec<RsaKeyPair> = (0..4)
            .map(|_| RsaKeyPair::generate(2048).expect("rsa"))
            .collect();
        let keys: Vec<serde_json::Value> = pairs
            .iter()
            .enumerate()
            .map(|(i, pair)| {
                let mut jwk = pair.to_jwk_public_key();
                jwk.set_key_id(format!("k{i}"));
                jwk.set_key_use("sig");
                serde_json::Value::Object(jwk.into())
            })
            .collect();
        let jwks_json = json!({ "keys": keys }).to_string();
        let signer = jws::RS256
            .signer_from_jwk(&pairs[0].to_jwk_private_key())
            .expect("signer");
        let encode = |payload: &serde_json::Value| {
            let header = json!({ "alg": "RS256", "kid": "k0", "typ": "JWT" });
            format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(payload.to_string())
            )
        };
        let sign =
            |input: &str| URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()).expect("sign"));

        let host = serve(jwks_json.clone());
        let entra = providers::entra_id("organizations")
            .client(ENTRA_CLIENT, "entra-secret")
            .authority_host(&host)
            .verifier()
            .expect("entra verifier");
        let valid = encode(&entra_payload(&host, KNOWN_TENANT, 0));
        let valid = format!("{valid}.{}", sign(&valid));
        // The first token loads the keys (with a runtime, whatever the verifier fetches with).
        actix_rt::System::new()
            .block_on(entra.verify(&valid))
            .expect("a valid Entra token is accepted");
        // Well-formed, right length, signed by our key, but over another input.
        let forged_signature = sign("something else");
        let forge = |payload: &serde_json::Value| format!("{}.{forged_signature}", encode(payload));

        let jwks = JwksVerifier::builder()
            .jwks(&jwks_json)
            .issuer(format!("{host}/{KNOWN_TENANT}/v2.0"))
            .audience(ENTRA_CLIENT)
            .build()
            .expect("verifier");
        let bad_signature = (0..POOL)
            .map(|n| forge(&entra_payload(&host, KNOWN_TENANT, n)))
            .collect();
        let known = (0..POOL)
            .map(|n| forge(&entra_payload(&host, KNOWN_TENANT, n)))
            .collect();
        let fresh = (0..POOL)
            .map(|n| {
                let tid = format!("{:08x}-0000-4000-8000-{:012x}", n, n * 7919);
                forge(&entra_payload(&host, &tid, n))
            })
            .collect();
        let forged = Self {
            jwks,
            entra,
            bad_signature,
            known,
            fresh,
            next: Cell::new(0),
        };
        assert!(forged.jwks_bad_signature());
        assert!(forged.entra_known_tenant());
        assert!(forged.entra_fresh_tenant());
        forged
    }

    fn pick<'a>(&self, pool: &'a [String]) -> &'a str {
        let n = self.next.get();
        self.next.set((n + 1) % POOL);
        &pool[n]
    }

    /// True when the token was refused for its signature, as every contender must be.
    fn refused(result: Result<actix_mcp_oauth::Claims, actix_mcp_oauth::VerifyError>) -> bool {
        matches!(result, Err(actix_mcp_oauth::VerifyError::Signature))
    }

    fn jwks_bad_signature(&self) -> bool {
        let token = self.pick(&self.bad_signature);
        Self::refused(block_on(self.jwks.verify(black_box(token))))
    }

    fn entra_known_tenant(&self) -> bool {
        let token = self.pick(&self.known);
        Self::refused(block_on(self.entra.verify(black_box(token))))
    }

    fn entra_fresh_tenant(&self) -> bool {
        let token = self.pick(&self.fresh);
        Self::refused(block_on(self.entra.verify(black_box(token))))
    }
}

fn forged_tenant(c: &mut Criterion, forged: &ForgedTenant) {
    let mut group = c.benchmark_group("entra_forged_tenant");
    group.bench_function("jwks_bad_signature", |b| {
        b.iter(|| forged.jwks_bad_signature())
    });
    group.bench_function("entra_known_tenant", |b| {
        b.iter(|| forged.entra_known_tenant())
    });
    group.bench_function("entra_fresh_tenant", |b| {
        b.iter(|| forged.entra_fresh_tenant())
    });
    group.finish();
}

/// The fresh-tenant refusal beside the normal one, from interleaved batches as in
/// [`print_ratios`].
fn print_forged_ratios(forged: &ForgedTenant) {
    const BATCH: u32 = 50;
    let contenders: [&dyn Fn() -> bool; 3] = [
        &|| forged.jwks_bad_signature(),
        &|| forged.entra_known_tenant(),
        &|| forged.entra_fresh_tenant(),
    ];
    let mut times: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (i, f) in contenders.iter().enumerate() {
            times[i].push(batch(BATCH, *f));
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let min = |i: usize| times[i][0];
    let median = |i: usize| times[i][ROUNDS / 2];
    println!(
        "\nForged RS256 tokens, bad signature (interleaved batches; min / median, ratios to \
         jwks_bad_signature):"
    );
    println!(
        "  jwks_bad_signature {:.2} µs / {:.2} µs | entra_known_tenant {:.3}x / {:.3}x \
         | entra_fresh_tenant {:.3}x / {:.3}x",
        min(0) * 1e6,
        median(0) * 1e6,
        min(1) / min(0),
        median(1) / median(0),
        min(2) / min(0),
        median(2) / median(0),
    );
}

/// Criterion's benchmark filter (the first argument that is neither a flag nor a flag's value).
fn positional_filter(args: &[String]) -> Option<String> {
    const TAKES_VALUE: &[&str] = &[
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--profile-time",
        "--plotting-backend",
        "--output-format",
        "--color",
        "--format",
    ];
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if TAKES_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            return Some(arg.clone());
        }
    }
    None
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Criterion runs each function once, as a test, unless `cargo bench` passed `--bench`
    // (and no `--test`); skip the long summary then.
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let quick = !has("--bench") || has("--test") || has("--list");
    let filter = positional_filter(&args);
    let prepared: Vec<Prepared> = cases().into_iter().map(Prepared::new).collect();

    let mut criterion = Criterion::default().configure_from_args();
    cold(&mut criterion, &prepared);
    let rs256 = prepared
        .iter()
        .find(|p| p.case.group == "cold_rs256")
        .expect("the RS256 case");
    let hit = CacheHit::new(rs256);
    let middleware = Middleware::new(rs256);
    cache_hit(&mut criterion, &hit, &middleware);
    let issued_tokens = Issued::new(rs256);
    issued(&mut criterion, &issued_tokens, rs256, &middleware);
    let refused = RefusedHit::new(&hit);
    refused_hit(&mut criterion, &refused, &middleware);
    let tools = ToolScopes::new(rs256);
    tool_scopes(&mut criterion, &tools);
    let forged = ForgedTenant::new();
    forged_tenant(&mut criterion, &forged);
    criterion.final_summary();
    if !quick {
        print_ratios(&prepared, filter.as_deref());
        if filter.as_deref().is_none_or(|f| "cache_hit".contains(f)) {
            print_cache_ratios(&hit, &middleware);
        }
        if filter.as_deref().is_none_or(|f| "refused_hit".contains(f)) {
            print_refused_ratios(&refused, &middleware);
        }
        if filter
            .as_deref()
            .is_none_or(|f| "issued".contains(f) || f.starts_with("issued"))
        {
            print_issued_ratios(&issued_tokens, &middleware);
        }
        if filter.as_deref().is_none_or(|f| "tool_scopes".contains(f)) {
            print_tool_ratios(&tools);
        }
        if filter
            .as_deref()
            .is_none_or(|f| "entra_forged_tenant".contains(f))
        {
            print_forged_ratios(&forged);
        }
    }
}
