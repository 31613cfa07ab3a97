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
//! The ratio `jwks_verifier / raw_openssl` is the number that matters; absolute times depend on
//! the machine. After criterion's report the bench prints these ratios measured from interleaved
//! batches, which stay meaningful when other processes load the machine.

use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix_mcp_oauth::{JwksVerifier, TokenVerifier};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::Criterion;
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

const ISSUER: &str = "https://id.example.com/";

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

/// A realistic access token: the registered claims plus what providers usually add.
fn payload() -> serde_json::Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
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
        let verifier = JwksVerifier::from_jwks(&case.jwks)
            .issuer(ISSUER)
            .audience("https://mcp.example.com/mcp")
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

/// Ratios to the floor from interleaved batches: on a shared machine the load changes between
/// criterion's back-to-back measurements, while batches taken in turn see the same load. The
/// fastest batch of each contender approximates its undisturbed cost.
fn print_ratios(prepared: &[Prepared], filter: Option<&str>) {
    const ROUNDS: usize = 60;
    const BATCH: u32 = 50;
    fn batch(f: impl Fn() -> bool) -> f64 {
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(f());
        }
        start.elapsed().as_secs_f64() / f64::from(BATCH)
    }
    println!("\nRatios to raw_openssl (interleaved batches; min / median):");
    for p in prepared {
        if filter.is_some_and(|f| !p.case.group.contains(f)) {
            continue;
        }
        let mut times: [Vec<f64>; 4] = Default::default();
        for _ in 0..ROUNDS {
            times[0].push(batch(|| p.raw_openssl()));
            times[1].push(batch(|| p.jwks_verifier()));
            times[2].push(batch(|| p.jwks_verifier_and_map()));
            times[3].push(batch(|| p.josekit_decode()));
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
    // Under `cargo test --benches` criterion runs each function once; skip the long summary.
    let quick = args.iter().any(|a| a == "--test" || a == "--list");
    let filter = positional_filter(&args);
    let prepared: Vec<Prepared> = cases().into_iter().map(Prepared::new).collect();

    let mut criterion = Criterion::default().configure_from_args();
    cold(&mut criterion, &prepared);
    // The cache-hit group joins here when the token cache lands.
    criterion.final_summary();
    if !quick {
        print_ratios(&prepared, filter.as_deref());
    }
}
