//! `RequireAuth::access_policy` in front of a route, and the same policy given to
//! `RemoteAuth` and `OAuthProxy`: the verifier is asked once per token (the cache), the policy
//! on every request, and a refusal is a 403 `access_denied` without a challenge.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use actix_mcp_oauth::{
    access::AccessPolicy, middleware::TokenCache, verify::FnVerifier, Claims, OAuthProxy, ProxyKey,
    RemoteAuth, RequireAuth,
};
use actix_web::http::StatusCode;
use serde_json::json;

use crate::fixtures::{call, Calls};

const RESOURCE: &str = "https://mcp.example.com/mcp";

/// Claims for the tokens `ada` and `eve`, with verified addresses.
fn user(token: &str) -> Result<Claims, actix_mcp_oauth::VerifyError> {
    let email = format!("{token}@example.com");
    let map = json!({"sub": token, "email": email, "email_verified": true, "roles": [token]});
    Ok(Claims::new(map.as_object().unwrap().clone()))
}

fn ada_only() -> AccessPolicy {
    AccessPolicy::builder()
        .allow_emails(["ada@example.com"])
        .build()
        .unwrap()
}

#[actix_web::test]
async fn the_policy_runs_on_every_request_and_the_verifier_once_per_token() {
    let calls = Calls::default();
    let checked = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&checked);
    let policy = AccessPolicy::builder()
        .allow_if(move |user| {
            seen.fetch_add(1, Ordering::SeqCst);
            user.roles.iter().any(|r| r == "ada")
        })
        .build()
        .unwrap();
    let auth = RequireAuth::new(calls.verifier(user), RESOURCE)
        .unwrap()
        .access_policy(policy);
    for _ in 0..3 {
        assert_eq!(call(&auth, "ada").await.status, StatusCode::OK);
    }
    let refused = call(&auth, "eve").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.user,
        json!({"error": "access_denied", "error_description": "This account may not use this server; ask its administrator for access."})
    );
    assert_eq!(refused.challenge, None);
    assert_eq!(calls.count(), 2, "each token verified once");
    assert_eq!(
        checked.load(Ordering::SeqCst),
        4,
        "the policy on every request"
    );
}

#[actix_web::test]
async fn a_token_cached_under_the_old_policy_is_refused_under_the_new_one() {
    // One cache for both, as a reload that keeps the verified tokens would have it.
    let cache = Arc::new(TokenCache::new(100));
    let calls = Calls::default();
    let before = RequireAuth::new(calls.verifier(user), RESOURCE)
        .unwrap()
        .token_cache(Arc::clone(&cache));
    assert_eq!(call(&before, "eve").await.status, StatusCode::OK);
    let after = RequireAuth::new(calls.verifier(user), RESOURCE)
        .unwrap()
        .token_cache(cache)
        .access_policy(ada_only());
    assert_eq!(call(&after, "eve").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        calls.count(),
        1,
        "served from the cache, refused by the policy"
    );
    assert_eq!(call(&after, "ada").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn remote_auth_and_the_proxy_pass_the_policy_to_their_bearer_check() {
    let verifier = || FnVerifier::new(|token: String| async move { user(&token) });
    let remote = RemoteAuth::builder(
        "https://mcp.example.com",
        "https://idp.example.com",
        verifier(),
    )
    .access_policy(ada_only())
    .build()
    .unwrap();
    let proxy = OAuthProxy::builder()
        .public_url("https://mcp.example.com")
        .auth_endpoint("https://idp.example.com/authorize")
        .token_endpoint("https://idp.example.com/token")
        .client_id("proxy-client")
        .verifier(verifier())
        .proxy_key(ProxyKey::generate())
        .access_policy(ada_only())
        // The verifier's own tokens at `/mcp`, where the proxy's issued ones would go.
        .accept_upstream_tokens(true)
        .build()
        .unwrap();
    for auth in [remote.require_auth(), proxy.require_auth()] {
        assert_eq!(call(&auth, "ada").await.status, StatusCode::OK);
        assert_eq!(call(&auth, "eve").await.status, StatusCode::FORBIDDEN);
    }
}
