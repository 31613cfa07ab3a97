//! The verified-token cache, on its own and behind `RequireAuth`, with a clock the test drives.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    sync::Arc,
    time::Duration,
};

use actix_mcp_oauth::{
    clock::ManualClock, middleware::TokenCache, secret::AccessToken, AuthUser, Claims, RequireAuth,
    UserInfo, VerifyError,
};
use actix_web::{
    http::{header::AUTHORIZATION, StatusCode},
    web, App, HttpResponse,
};
use serde_json::{json, Value};

use crate::fixtures::{ec, jwks, rsa, signed, Calls, Double, Reply, T0};

// Counts this thread's allocations, to prove that a cache hit allocates nothing. The library
// itself forbids `unsafe`; this test binary needs the one `unsafe impl` a global allocator takes,
// and only forwards to `System`. The allocator serves the whole binary, but the count is per
// thread and every test runs on a thread of its own, so the tests running beside
// `a_hit_does_not_allocate` cannot move its count.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Refuses `bad-*` tokens, finds `garbage-*` ones malformed, cannot reach its provider for `down-*` ones, and accepts the rest as
/// [`any_token`] does.
fn bad_or_down(token: &str) -> Result<Claims, VerifyError> {
    if token.starts_with("bad-") {
        Err(VerifyError::Signature)
    } else if token.starts_with("garbage-") {
        Err(VerifyError::Malformed("not a JWT"))
    } else if token.starts_with("down-") {
        Err(VerifyError::Unavailable("provider down".into()))
    } else {
        any_token(token)
    }
}

/// Accepts any token, with `exp` when the token is `exp-<seconds>`.
fn any_token(token: &str) -> Result<Claims, VerifyError> {
    let mut claims = json!({"sub": format!("user-{token}")});
    if let Some(exp) = token
        .strip_prefix("exp-")
        .and_then(|s| s.parse::<u64>().ok())
    {
        claims["exp"] = json!(exp);
    }
    // `fexp-<seconds>`: a fractional NumericDate, `<seconds>.5`.
    if let Some(exp) = token
        .strip_prefix("fexp-")
        .and_then(|s| s.parse::<u64>().ok())
    {
        claims["exp"] = json!(exp as f64 + 0.5);
    }
    match claims {
        Value::Object(map) => Ok(Claims::new(map)),
        _ => Err(VerifyError::Malformed("test claims")),
    }
}

fn user(token: &str) -> AuthUser {
    let info = UserInfo {
        user_id: format!("user-{token}"),
        ..Default::default()
    };
    AuthUser::new(info, Claims::default(), AccessToken::new(token))
}

async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().body(user.user_id.clone())
}

/// The service type of `init_service` cannot be named here (its request type lives in
/// actix-http), hence macros rather than functions.
macro_rules! app {
    ($auth:expr) => {
        actix_web::test::init_service(
            App::new().service(
                web::scope("/mcp")
                    .wrap($auth)
                    .route("/whoami", web::get().to(whoami)),
            ),
        )
        .await
    };
}

macro_rules! status_for {
    ($app:expr, $token:expr) => {{
        let req = actix_web::test::TestRequest::get()
            .uri("/mcp/whoami")
            .insert_header((AUTHORIZATION, format!("Bearer {}", $token)))
            .to_request();
        actix_web::test::call_service(&$app, req).await.status()
    }};
}

fn auth(calls: &Calls, clock: &Arc<ManualClock>) -> RequireAuth {
    RequireAuth::new(calls.verifier(any_token), "https://api.example.com/mcp")
        .expect("valid resource")
        .clock(clock.clone())
}

#[actix_web::test]
async fn a_cache_hit_skips_the_verifier() {
    let v = Calls::default();
    let app = app!(auth(&v, &ManualClock::at(T0)));
    let token = format!("exp-{}", T0 + 3600);
    for _ in 0..5 {
        assert_eq!(status_for!(app, &token), StatusCode::OK);
    }
    assert_eq!(v.count(), 1);
    assert_eq!(status_for!(app, "exp-9999999999"), StatusCode::OK);
    assert_eq!(v.count(), 2, "another token is verified on its own");
}

#[actix_web::test]
async fn clones_of_one_require_auth_share_the_cache() {
    let v = Calls::default();
    let shared = auth(&v, &ManualClock::at(T0));
    let first = app!(shared.clone());
    let second = app!(shared);
    assert_eq!(status_for!(first, "opaque"), StatusCode::OK);
    assert_eq!(status_for!(second, "opaque"), StatusCode::OK);
    assert_eq!(v.count(), 1);
}

#[actix_web::test]
async fn capacity_zero_disables_the_cache() {
    let v = Calls::default();
    let app = app!(auth(&v, &ManualClock::at(T0)).cache_capacity(0));
    for _ in 0..3 {
        assert_eq!(status_for!(app, "opaque"), StatusCode::OK);
    }
    assert_eq!(v.count(), 3);
}

#[actix_web::test]
async fn an_entry_is_not_served_once_its_token_expires() {
    let v = Calls::default();
    let clock = ManualClock::at(T0);
    let app = app!(auth(&v, &clock));
    let token = format!("exp-{}", T0 + 100);
    assert_eq!(status_for!(app, &token), StatusCode::OK);
    clock.set(T0 + 99);
    assert_eq!(status_for!(app, &token), StatusCode::OK);
    assert_eq!(v.count(), 1);
    clock.set(T0 + 100);
    assert_eq!(status_for!(app, &token), StatusCode::OK);
    assert_eq!(v.count(), 2, "at exp the verifier is asked again");
}

#[actix_web::test]
async fn a_fractional_exp_still_bounds_the_cache_entry() {
    let v = Calls::default();
    let clock = ManualClock::at(T0);
    let app = app!(auth(&v, &clock));
    let token = format!("fexp-{}", T0 + 100);
    assert_eq!(status_for!(app, &token), StatusCode::OK);
    clock.set(T0 + 99);
    assert_eq!(status_for!(app, &token), StatusCode::OK);
    assert_eq!(v.count(), 1);
    clock.set(T0 + 101);
    assert_eq!(status_for!(app, &token), StatusCode::OK);
    assert_eq!(
        v.count(),
        2,
        "past a fractional exp the verifier is asked again, not the cache for max TTL"
    );
}

#[actix_web::test]
async fn tokens_without_exp_expire_at_max_ttl() {
    let v = Calls::default();
    let clock = ManualClock::at(T0);
    let app = app!(auth(&v, &clock).cache_max_ttl(Duration::from_secs(60)));
    assert_eq!(status_for!(app, "opaque"), StatusCode::OK);
    clock.set(T0 + 59);
    assert_eq!(status_for!(app, "opaque"), StatusCode::OK);
    assert_eq!(v.count(), 1);
    clock.set(T0 + 60);
    assert_eq!(status_for!(app, "opaque"), StatusCode::OK);
    assert_eq!(v.count(), 2);
}

#[actix_web::test]
async fn max_ttl_also_caps_tokens_with_a_distant_exp() {
    let v = Calls::default();
    let clock = ManualClock::at(T0);
    let app = app!(auth(&v, &clock));
    let token = format!("exp-{}", T0 + 86_400);
    assert_eq!(status_for!(app, &token), StatusCode::OK);
    clock.set(T0 + 299);
    assert_eq!(status_for!(app, &token), StatusCode::OK);
    assert_eq!(v.count(), 1);
    clock.set(T0 + 300);
    assert_eq!(status_for!(app, &token), StatusCode::OK);
    assert_eq!(v.count(), 2, "the default max TTL is 5 minutes");
}

#[actix_web::test]
async fn a_repeated_refused_token_is_verified_once() {
    let v = Calls::default();
    let clock = ManualClock::at(T0);
    let app = app!(
        RequireAuth::new(v.verifier(bad_or_down), "https://api.example.com/mcp")
            .expect("valid resource")
            .clock(clock.clone())
    );
    for _ in 0..50 {
        assert_eq!(status_for!(app, "bad-token"), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(v.count(), 1, "the refusal was answered from memory");
    assert_eq!(status_for!(app, "bad-other"), StatusCode::UNAUTHORIZED);
    assert_eq!(v.count(), 2, "another bad token is verified on its own");
    clock.set(T0 + TokenCache::REFUSAL_TTL);
    assert_eq!(status_for!(app, "bad-token"), StatusCode::UNAUTHORIZED);
    assert_eq!(
        v.count(),
        3,
        "past the refusal TTL the verifier is asked again"
    );
}

#[actix_web::test]
async fn a_provider_outage_is_not_remembered_as_a_refusal() {
    let v = Calls::default();
    let app = app!(
        RequireAuth::new(v.verifier(bad_or_down), "https://api.example.com/mcp")
            .expect("valid resource")
            .clock(ManualClock::at(T0))
    );
    for _ in 0..3 {
        assert_eq!(
            status_for!(app, "down-token"),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(v.count(), 3, "each request tries the provider again");
}

#[actix_web::test]
async fn a_malformed_token_is_not_remembered_as_a_refusal() {
    let v = Calls::default();
    let app = app!(
        RequireAuth::new(v.verifier(bad_or_down), "https://api.example.com/mcp")
            .expect("valid resource")
            .clock(ManualClock::at(T0))
    );
    for _ in 0..3 {
        assert_eq!(status_for!(app, "garbage-token"), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        v.count(),
        3,
        "finding it malformed again is cheaper than remembering it"
    );
}

/// The key set the provider double serves, changed by the test while the server runs.
struct KeySet(Arc<std::sync::Mutex<Value>>);

impl KeySet {
    async fn serve(double: &Double, keys: Value) -> Self {
        let served = Arc::new(std::sync::Mutex::new(keys));
        let shared = Arc::clone(&served);
        double.on_fn("/jwks", None, move |_| {
            Reply::json(200, &shared.lock().unwrap())
        });
        Self(served)
    }

    fn publish(&self, keys: Value) {
        *self.0.lock().unwrap() = keys;
    }
}

#[actix_web::test]
async fn a_token_of_a_newly_published_key_is_accepted_once_the_key_set_is_refetched() {
    let double = Double::start().await;
    let keys = KeySet::serve(&double, jwks(&[("a", rsa())])).await;
    let clock = ManualClock::at(T0);
    let verifier = actix_mcp_oauth::JwksVerifier::builder()
        .jwks_url(double.url("/jwks"))
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone() as Arc<dyn actix_mcp_oauth::clock::Clock>)
        .build()
        .expect("valid verifier");
    let app = app!(RequireAuth::new(verifier, "https://api.example.com/mcp")
        .expect("valid resource")
        .clock(clock.clone()));
    let token = |kid: &str, key| {
        let claims = json!({"iss": "https://issuer.test", "sub": "user-1", "aud": "api",
                            "iat": T0, "exp": T0 + 3600});
        signed(kid, key, &claims)
    };

    assert_eq!(status_for!(app, token("a", rsa())), StatusCode::OK);
    assert_eq!(double.count("/jwks"), 1);
    // A token of a key the provider has not published yet, within the refetch interval (30 s)
    // of the last fetch: refused as unknown, without a refetch.
    clock.set(T0 + 25);
    let rotated = token("b", ec());
    assert_eq!(status_for!(app, &rotated), StatusCode::UNAUTHORIZED);
    assert_eq!(double.count("/jwks"), 1, "the refetch is rate-limited");

    // The provider publishes the key; the interval passes, well within the refusal TTL of
    // the first attempt. The token must reach the verifier again and trigger the refetch.
    keys.publish(jwks(&[("a", rsa()), ("b", ec())]));
    clock.set(T0 + 30);
    const { assert!(30 - 25 < TokenCache::REFUSAL_TTL) };
    assert_eq!(
        status_for!(app, &rotated),
        StatusCode::OK,
        "a refusal for an unknown key must not be remembered"
    );
    assert_eq!(double.count("/jwks"), 2, "the key set was refetched once");
    double.stop().await;
}

#[actix_web::test]
async fn a_token_not_yet_valid_is_accepted_once_its_time_comes() {
    let double = Double::start().await;
    let _keys = KeySet::serve(&double, jwks(&[("a", rsa())])).await;
    let clock = ManualClock::at(T0);
    let verifier = actix_mcp_oauth::JwksVerifier::builder()
        .jwks_url(double.url("/jwks"))
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone() as Arc<dyn actix_mcp_oauth::clock::Clock>)
        .build()
        .expect("valid verifier");
    let app = app!(RequireAuth::new(verifier, "https://api.example.com/mcp")
        .expect("valid resource")
        .clock(clock.clone()));
    // Minted by an issuer whose clock runs 65 s ahead of ours: 5 s past the 60 s leeway.
    let claims = json!({"iss": "https://issuer.test", "sub": "user-1", "aud": "api",
                        "iat": T0 + 65, "nbf": T0 + 65, "exp": T0 + 3600});
    let early = signed("a", rsa(), &claims);
    assert_eq!(status_for!(app, &early), StatusCode::UNAUTHORIZED);
    // Well within the refusal TTL of the first attempt.
    clock.set(T0 + 5);
    const { assert!(5 < TokenCache::REFUSAL_TTL) };
    assert_eq!(
        status_for!(app, &early),
        StatusCode::OK,
        "a refusal for not-yet-valid must not be remembered"
    );
    double.stop().await;
}

#[actix_web::test]
async fn a_token_refused_by_the_user_mapping_is_remembered_too() {
    let v = Calls::default();
    let app =
        app!(auth(&v, &ManualClock::at(T0)).user_info(|_| Err(VerifyError::InvalidClaim("email"))));
    for _ in 0..5 {
        assert_eq!(status_for!(app, "opaque"), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(v.count(), 1);
}

#[test]
fn a_refusal_hit_does_not_allocate() {
    let cache = TokenCache::new(TokenCache::DEFAULT_CAPACITY);
    let token = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.{}",
        "p".repeat(600),
        "s".repeat(342)
    );
    cache.insert_refused(&token, T0);
    let before = allocations();
    let hits = (0..100).filter(|_| cache.is_refused(&token, T0)).count();
    let after = allocations();
    assert_eq!(hits, 100);
    assert_eq!(after - before, 0, "a refusal hit allocated");
}

#[test]
fn get_serves_until_expiry_and_not_after() {
    let cache = TokenCache::new(10);
    cache.insert(user("tok"), T0 + 10, T0);
    assert_eq!(
        cache.get("tok", T0 + 9).map(|u| u.user_id.clone()),
        Some("user-tok".to_owned())
    );
    assert!(cache.get("tok", T0 + 10).is_none());
    assert!(cache.get("tok", T0 + 1000).is_none());
}

#[test]
fn an_already_expired_entry_is_not_stored() {
    let cache = TokenCache::new(10);
    cache.insert(user("tok"), T0, T0);
    assert!(cache.is_empty());
}

#[test]
fn the_bound_holds() {
    for capacity in [1, 3, 17, 100] {
        let cache = TokenCache::new(capacity);
        for i in 0..capacity * 20 {
            cache.insert(user(&format!("token-{i}")), T0 + 1000 + i as u64, T0);
            assert!(
                cache.len() <= capacity,
                "capacity {capacity}: {}",
                cache.len()
            );
        }
        // With keys spread at random over the shards, a full cache holds most of its capacity.
        assert!(
            cache.len() * 2 >= capacity,
            "capacity {capacity}: {}",
            cache.len()
        );
        let last = format!("token-{}", capacity * 20 - 1);
        assert!(
            cache.get(&last, T0).is_some(),
            "the newest entry is always kept"
        );
    }
}

#[test]
fn a_zero_capacity_cache_stores_nothing() {
    let cache = TokenCache::new(0);
    cache.insert(user("tok"), T0 + 10, T0);
    assert!(cache.is_empty());
    assert!(cache.get("tok", T0).is_none());
}

#[test]
fn tokens_sharing_the_hashed_bytes_are_told_apart_by_full_equality() {
    // Same length, same end, same middle: only the first byte differs.
    let tail = "x".repeat(99);
    let (first, second) = (format!("A{tail}"), format!("B{tail}"));
    let cache = TokenCache::new(10);
    cache.insert(user(&first), T0 + 10, T0);
    assert!(
        cache.get(&second, T0).is_none(),
        "never another token's user"
    );
    assert_eq!(
        cache.get(&first, T0).map(|u| u.user_id.clone()),
        Some(format!("user-{first}"))
    );
    // A prefix or an extension of the token is a different token.
    assert!(cache.get(&first[..99], T0).is_none());
    assert!(cache.get(&format!("{first}x"), T0).is_none());
}

#[test]
fn a_hit_does_not_allocate() {
    let cache = TokenCache::new(TokenCache::DEFAULT_CAPACITY);
    let token = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.{}",
        "p".repeat(600),
        "s".repeat(342)
    );
    cache.insert(user(&token), T0 + 10, T0);
    let before = allocations();
    let mut hits = 0;
    for _ in 0..100 {
        if let Some(user) = cache.get(&token, T0) {
            hits += usize::from(user.bearer_token().secret().len() == token.len());
        }
    }
    let after = allocations();
    assert_eq!(hits, 100);
    assert_eq!(after - before, 0, "a hit allocated");
}

#[test]
fn the_allocation_counter_sees_allocations() {
    // Guards the test above: a counter that never moves would prove nothing.
    let before = allocations();
    let boxed = std::hint::black_box(Box::new(7_u64));
    assert!(allocations() > before);
    drop(boxed);
}
