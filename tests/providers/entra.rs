//! The Entra ID preset against a stand-in for Microsoft's v2.0 key endpoint, with v2.0 access
//! tokens (`tid`, `ver`) of one or several tenants: issuer per tenant, audience, version, key
//! rotation, and how often the keys are fetched.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use actix_mcp_oauth::{
    clock::ManualClock,
    providers,
    providers::{EntraId, EntraIdVerifier},
    ProxyKey, RequireAuth, TokenVerifier, VerifyError,
};
use actix_web::http::StatusCode;
use futures::FutureExt as _;
use serde_json::{json, Value};

use crate::fixtures::{call, key_set, shared_key, signed, Double, Key, Reply, KID, T0};

const CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
const TENANT_A: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TENANT_B: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
/// The Azure CLI's client id: a client app that can get tokens for any API a user consents to.
const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// The verifier of a multi-tenant app, at the time `clock` reads.
fn multi_tenant(host: &str, clock: Arc<ManualClock>) -> EntraIdVerifier {
    providers::entra_id("organizations")
        .client(CLIENT, "entra-secret")
        .authority_host(host)
        .clock(clock)
        .verifier()
        .unwrap()
}

fn auth(preset: EntraId) -> RequireAuth {
    preset
        .builder()
        .unwrap()
        .public_url("https://mcp.example.com")
        .proxy_key(ProxyKey::generate())
        // The preset's verifier is under test: its provider's tokens go to /mcp directly.
        .accept_upstream_tokens(true)
        .build()
        .unwrap()
        .require_auth()
}

/// A v2.0 access token for our API, as Entra issues it, from tenant `tid`.
fn claims(host: &str, tid: &str) -> Value {
    claims_at(host, tid, T0)
}

/// [`claims`] issued at `now`.
fn claims_at(host: &str, tid: &str, now: u64) -> Value {
    json!({
        "aud": CLIENT,
        "iss": format!("{host}/{tid}/v2.0"),
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
        "aio": "AWQAm/8TAAAA",
        // The proxy signs users in as its own app: the token's client is ours.
        "azp": CLIENT,
        "azpacr": "0",
        "name": "Ada Lovelace",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "preferred_username": "ada@contoso.com",
        "rh": "0.AAAA",
        "scp": "access_as_user",
        "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
        "tid": tid,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0",
    })
}

#[actix_web::test]
async fn a_single_tenant_app_accepts_its_v2_tokens_and_nothing_else() {
    let ms = Double::start().await;
    let key = shared_key();
    let keys_path = format!("/{TENANT_A}/discovery/v2.0/keys");
    ms.on(&keys_path, None, Reply::json(200, &key_set(&[(KID, key)])));
    let host = ms.url("");
    let auth = auth(
        providers::entra_id(TENANT_A)
            .client(CLIENT, "entra-secret")
            .authority_host(&host)
            .clock(ManualClock::at(T0)),
    );

    let good = call(&auth, &signed(KID, key, &claims(&host, TENANT_A))).await;
    assert_eq!(good.status, StatusCode::OK);
    assert_eq!(
        good.user["user_id"],
        "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA"
    );
    assert_eq!(good.user["username"], "ada@contoso.com");
    assert_eq!(good.user["name"], "Ada Lovelace");
    assert_eq!(good.user["scopes"], json!(["access_as_user"]));
    assert_eq!(good.user["claims"]["tid"], TENANT_A);

    let mut app_id_uri = claims(&host, TENANT_A);
    app_id_uri["aud"] = json!(format!("api://{CLIENT}"));
    assert_eq!(
        call(&auth, &signed(KID, key, &app_id_uri)).await.status,
        StatusCode::OK
    );

    let mut refused: Vec<(&str, Value)> = Vec::new();
    refused.push(("another tenant", claims(&host, TENANT_B)));
    let mut graph = claims(&host, TENANT_A);
    graph["aud"] = json!(GRAPH);
    refused.push(("a Graph token", graph));
    let mut v1 = claims(&host, TENANT_A);
    v1["ver"] = json!("1.0");
    refused.push(("a v1.0 token with the v2 issuer", v1.clone()));
    v1["iss"] = json!(format!("https://sts.windows.net/{TENANT_A}/"));
    refused.push(("a v1.0 token", v1));
    let mut no_tid = claims(&host, TENANT_A);
    no_tid.as_object_mut().unwrap().remove("tid");
    refused.push(("no tid", no_tid));
    let mut common_issuer = claims(&host, TENANT_A);
    common_issuer["iss"] = json!(format!("{host}/common/v2.0"));
    refused.push(("the un-templated issuer", common_issuer));
    let mut expired = claims(&host, TENANT_A);
    expired["exp"] = json!(T0 - 3600);
    refused.push(("expired", expired));
    // The app's own v2.0 ID token, as the token endpoint returns it beside the access token:
    // same issuer, audience (the client id), keys and `ver`, but no `scp` or `roles`.
    let mut id_token = claims(&host, TENANT_A);
    for claim in ["scp", "azp", "azpacr"] {
        id_token.as_object_mut().unwrap().remove(claim);
    }
    id_token["nonce"] = json!("n-0S6_WzA2Mj");
    refused.push(("an ID token", id_token));
    // A token another client app got for our API, for the same user.
    let mut other_client = claims(&host, TENANT_A);
    other_client["azp"] = json!(AZURE_CLI);
    refused.push(("another client's token", other_client));
    let mut no_client = claims(&host, TENANT_A);
    no_client.as_object_mut().unwrap().remove("azp");
    refused.push(("a token naming no client", no_client));
    // App-only tokens (client credentials) grant application permissions and no scopes: no
    // user signed in to them, whether or not the optional `idtyp` claim says so.
    let mut app_only = claims(&host, TENANT_A);
    app_only.as_object_mut().unwrap().remove("scp");
    app_only["roles"] = json!(["Tools.Run"]);
    refused.push(("an app-only token", app_only.clone()));
    app_only["idtyp"] = json!("app");
    refused.push(("an app-only token with idtyp", app_only));
    for (what, payload) in refused {
        let res = call(&auth, &signed(KID, key, &payload)).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{what}");
    }
    // A user's token that also carries app roles is a user's token.
    let mut with_roles = claims(&host, TENANT_A);
    with_roles["roles"] = json!(["Tools.Admin"]);
    let res = call(&auth, &signed(KID, key, &with_roles)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.user["roles"], json!(["Tools.Admin"]));
    assert_eq!(ms.count(&keys_path), 1, "the keys were fetched once");
    ms.stop().await;
}

#[actix_web::test]
async fn other_clients_app_only_tokens_and_id_tokens_are_refused_with_their_reason() {
    let ms = Double::start().await;
    let key = shared_key();
    let keys_path = format!("/{TENANT_A}/discovery/v2.0/keys");
    ms.on(&keys_path, None, Reply::json(200, &key_set(&[(KID, key)])));
    let host = ms.url("");
    let preset = || {
        providers::entra_id(TENANT_A)
            .client(CLIENT, "entra-secret")
            .authority_host(&host)
            .clock(ManualClock::at(T0))
    };
    let verifier = preset().verifier().unwrap();
    let verify = |payload: Value| {
        let token = signed(KID, key, &payload);
        let verifier = verifier.clone();
        async move { verifier.verify(&token).await }
    };

    let mut other_client = claims(&host, TENANT_A);
    other_client["azp"] = json!(AZURE_CLI);
    assert_eq!(
        verify(other_client.clone()).await.unwrap_err(),
        VerifyError::OtherClient("azp")
    );
    let mut no_client = claims(&host, TENANT_A);
    no_client.as_object_mut().unwrap().remove("azp");
    assert_eq!(
        verify(no_client).await.unwrap_err(),
        VerifyError::InvalidClaim("azp")
    );
    let mut app_only = claims(&host, TENANT_A);
    app_only.as_object_mut().unwrap().remove("scp");
    app_only["roles"] = json!(["Tools.Run"]);
    assert!(matches!(
        verify(app_only).await.unwrap_err(),
        VerifyError::NotAccessToken(reason) if reason.contains("application-only")
    ));
    let mut id_token = claims(&host, TENANT_A);
    id_token.as_object_mut().unwrap().remove("scp");
    id_token["nonce"] = json!("n-0S6_WzA2Mj");
    assert!(matches!(
        verify(id_token).await.unwrap_err(),
        VerifyError::NotAccessToken(_)
    ));

    // The opt-out accepts other clients' tokens for our API, and still no app-only token.
    let any_client = preset().any_client().verifier().unwrap();
    assert!(any_client
        .verify(&signed(KID, key, &other_client))
        .await
        .is_ok());
    ms.stop().await;
}

#[actix_web::test]
async fn a_multi_tenant_app_checks_each_tokens_issuer_against_its_own_tid() {
    let ms = Double::start().await;
    let key = shared_key();
    let keys_path = "/organizations/discovery/v2.0/keys";
    ms.on(keys_path, None, Reply::json(200, &key_set(&[(KID, key)])));
    let host = ms.url("");
    let preset = || {
        providers::entra_id("organizations")
            .client(CLIENT, "entra-secret")
            .authority_host(&host)
            .clock(ManualClock::at(T0))
    };
    let auth_any = auth(preset());

    for tid in [TENANT_A, TENANT_B] {
        let res = call(&auth_any, &signed(KID, key, &claims(&host, tid))).await;
        assert_eq!(res.status, StatusCode::OK, "{tid}");
        assert_eq!(res.user["claims"]["tid"], tid);
    }
    // A token of tenant B that claims tenant A's issuer (or the other way round).
    let mut mismatched = claims(&host, TENANT_B);
    mismatched["iss"] = json!(format!("{host}/{TENANT_A}/v2.0"));
    assert_eq!(
        call(&auth_any, &signed(KID, key, &mismatched)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Made-up tenants with a forged signature: refused, and they cost no key fetch.
    let stranger = Key::generate("ES256");
    for i in 0..10 {
        let tid = format!("00000000-0000-0000-0000-{i:012}");
        let res = call(&auth_any, &signed(KID, &stranger, &claims(&host, &tid))).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(ms.count(keys_path), 1, "every tenant shares one key fetch");

    let auth_listed = auth(preset().allowed_tenants([TENANT_A]));
    assert_eq!(
        call(&auth_listed, &signed(KID, key, &claims(&host, TENANT_A)))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&auth_listed, &signed(KID, key, &claims(&host, TENANT_B)))
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "a tenant outside the allowed list"
    );
    ms.stop().await;
}

#[actix_web::test]
async fn rotated_keys_are_fetched_on_an_unknown_kid_at_most_every_30_seconds() {
    let ms = Double::start().await;
    let old = shared_key();
    let new = Key::generate("ES256");
    let newest = Key::generate("ES256");
    let keys_path = format!("/{TENANT_A}/discovery/v2.0/keys");
    ms.on(&keys_path, None, Reply::json(200, &key_set(&[(KID, old)])));
    let host = ms.url("");
    let clock = ManualClock::at(T0);
    let auth = auth(
        providers::entra_id(TENANT_A)
            .client(CLIENT, "entra-secret")
            .authority_host(&host)
            .clock(clock.clone()),
    );
    assert_eq!(
        call(&auth, &signed(KID, old, &claims(&host, TENANT_A)))
            .await
            .status,
        StatusCode::OK
    );

    clock.advance(31);
    ms.on(
        &keys_path,
        None,
        Reply::json(200, &key_set(&[(KID, old), ("k2", &new)])),
    );
    let rotated = call(&auth, &signed("k2", &new, &claims(&host, TENANT_A))).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(ms.count(&keys_path), 2);

    // Another unknown kid right after: no new fetch yet.
    ms.on(
        &keys_path,
        None,
        Reply::json(200, &key_set(&[(KID, old), ("k2", &new), ("k3", &newest)])),
    );
    let too_soon = call(&auth, &signed("k3", &newest, &claims(&host, TENANT_A))).await;
    assert_eq!(too_soon.status, StatusCode::UNAUTHORIZED);
    assert_eq!(ms.count(&keys_path), 2);
    clock.advance(30);
    let later = call(&auth, &signed("k3", &newest, &claims(&host, TENANT_A))).await;
    assert_eq!(later.status, StatusCode::OK);
    assert_eq!(ms.count(&keys_path), 3);
    ms.stop().await;
}

#[actix_web::test]
async fn an_outage_is_503_before_keys_are_loaded_and_stale_keys_serve_after() {
    let ms = Double::start().await;
    let key = shared_key();
    let keys_path = format!("/{TENANT_A}/discovery/v2.0/keys");
    ms.on(&keys_path, None, Reply::new(500, &[], "oops"));
    let host = ms.url("");
    let clock: Arc<ManualClock> = ManualClock::at(T0);
    let auth = auth(
        providers::entra_id(TENANT_A)
            .client(CLIENT, "entra-secret")
            .authority_host(&host)
            .clock(clock.clone()),
    );
    let token = |now: u64| {
        let mut c = claims(&host, TENANT_A);
        c["exp"] = json!(now + 3600);
        signed(KID, key, &c)
    };
    assert_eq!(
        call(&auth, &token(T0)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call(&auth, &token(T0)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        ms.count(&keys_path),
        1,
        "a failed fetch is not retried at once"
    );

    clock.advance(30);
    ms.on(&keys_path, None, Reply::json(200, &key_set(&[(KID, key)])));
    assert_eq!(call(&auth, &token(T0 + 30)).await.status, StatusCode::OK);
    assert_eq!(ms.count(&keys_path), 2);

    // An hour on the keys are stale; the provider is down again, and the old keys keep serving.
    clock.advance(3600);
    ms.on(&keys_path, None, Reply::new(503, &[], "down"));
    assert_eq!(call(&auth, &token(T0 + 3630)).await.status, StatusCode::OK);
    // The refresh runs beside the request that the stale keys served.
    for _ in 0..1000 {
        if ms.count(&keys_path) >= 3 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ms.count(&keys_path), 3);
    ms.stop().await;
}

#[actix_web::test]
async fn concurrent_first_requests_share_one_key_fetch() {
    let ms = Double::start().await;
    let key = shared_key();
    let keys_path = format!("/{TENANT_A}/discovery/v2.0/keys");
    ms.on(&keys_path, None, Reply::json(200, &key_set(&[(KID, key)])));
    let host = ms.url("");
    let verifier = providers::entra_id(TENANT_A)
        .client(CLIENT, "entra-secret")
        .authority_host(&host)
        .clock(ManualClock::at(T0))
        .verifier()
        .unwrap();
    let token = signed(KID, key, &claims(&host, TENANT_A));
    // Anyone can write a token naming our (public) tenant: before any keys are loaded, a burst
    // of them must not turn into a burst of fetches from Microsoft.
    let results = futures::future::join_all((0..20).map(|_| verifier.verify(&token))).await;
    for result in results {
        assert_eq!(result.unwrap().get_str("tid"), Some(TENANT_A));
    }
    assert_eq!(
        ms.count(&keys_path),
        1,
        "the waiting requests joined the first fetch"
    );
}

#[actix_web::test]
async fn made_up_tenants_cost_no_fetch_and_cannot_crowd_out_a_real_one() {
    let ms = Double::start().await;
    let microsoft = shared_key();
    let forger = Key::generate("ES256");
    let keys_path = "/organizations/discovery/v2.0/keys";
    ms.on(
        keys_path,
        None,
        Reply::json(200, &key_set(&[(KID, microsoft)])),
    );
    let host = ms.url("");
    let clock = ManualClock::at(T0);
    let verifier = multi_tenant(&host, clock.clone());
    let mut now = T0;
    let real = |at| signed(KID, microsoft, &claims_at(&host, TENANT_A, at));
    assert!(verifier.verify(&real(now)).await.is_ok());
    let mut fetches = 1;
    assert_eq!(ms.count(keys_path), fetches);

    // More tenants than any per-tenant table would hold, each forged after the refetch interval
    // has passed: no rate limit stands between these tokens and a fetch, so a fetch they caused
    // would show. An unknown `kid` every hundred tenants may fetch, and does; that also keeps
    // the keys younger than their hour, so that no refresh is due either.
    for i in 0..1100 {
        clock.advance(31);
        now += 31;
        let tid = format!("00000000-0000-0000-0000-{i:012}");
        let forged = signed(KID, &forger, &claims_at(&host, &tid, now));
        assert_eq!(
            verifier.verify(&forged).await.unwrap_err(),
            VerifyError::Signature
        );
        assert_eq!(ms.count(keys_path), fetches, "tenant {tid} fetched");
        if i % 100 == 0 {
            let unknown_key = signed(&format!("k-{i}"), &forger, &claims_at(&host, &tid, now));
            assert_eq!(
                verifier.verify(&unknown_key).await.unwrap_err(),
                VerifyError::UnknownKey
            );
            fetches += 1;
            assert_eq!(
                ms.count(keys_path),
                fetches,
                "an unknown kid past the refetch interval fetched"
            );
        }
    }
    assert!(verifier.verify(&real(now)).await.is_ok());
    assert_eq!(
        ms.count(keys_path),
        fetches,
        "the real tenant kept its keys"
    );
    ms.stop().await;
}

#[actix_web::test]
async fn a_request_dropped_during_the_first_fetch_does_not_cancel_it() {
    let ms = Double::start().await;
    let key = shared_key();
    let keys_path = "/organizations/discovery/v2.0/keys";
    ms.on(
        keys_path,
        None,
        Reply {
            delay: Some(Duration::from_millis(300)),
            ..Reply::json(200, &key_set(&[(KID, key)]))
        },
    );
    let host = ms.url("");
    let verifier = multi_tenant(&host, ManualClock::at(T0));
    let token = signed(KID, key, &claims(&host, TENANT_A));
    // Polled once: it starts the fetch and waits; then its client goes away.
    assert!(verifier.verify(&token).now_or_never().is_none());

    // The fetch completes with no one waiting for it, and its keys are kept.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !format!("{verifier:?}").contains("keys: 1") {
        assert!(Instant::now() < deadline, "the fetch never completed");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(ms.count(keys_path), 1);
    ms.stop().await;
}
