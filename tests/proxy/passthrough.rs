//! Passthrough mode at `/mcp`: the provider's own tokens reach the MCP endpoint, verified with
//! the provider's preset verifier, and the tokens it must refuse even so are refused there,
//! not only by the verifier on its own.

use actix_mcp_oauth::{clock::ManualClock, providers};
use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::fixtures::*;

#[path = "../common/jose.rs"]
mod jose;

const API: &str = "https://mcp.example.test/mcp";
const KID: &str = "passthrough-k1";

#[actix_web::test]
async fn passthrough_mcp_refuses_id_tokens_client_credentials_tokens_and_other_apps_tokens() {
    let up = Upstream::start().await;
    let idp = Double::start().await;
    let signing = jose::Key::generate("ES256");
    let mut set = jose::jwks(&[(KID, &signing)]);
    set["keys"][0]["alg"] = json!("ES256");
    idp.on("/.well-known/jwks.json", None, Reply::json(200, &set));
    let auth0 = providers::auth0(idp.url(""), API)
        .client(UPSTREAM_CLIENT_ID, UPSTREAM_SECRET)
        .clock(ManualClock::at(T0));
    let issuer = auth0.issuer().unwrap();
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .verifier(auth0.verifier().unwrap())
            .build()
            .unwrap(),
    )
    .await;
    // An access token of a user of our application, as Auth0 issues it for the API.
    let claims = |extra: Value| {
        let mut claims = json!({
            "iss": issuer, "sub": "auth0|user-1", "aud": [API, format!("{issuer}userinfo")],
            "iat": T0 - 5, "exp": T0 + 3600, "azp": UPSTREAM_CLIENT_ID,
            "scope": "openid email",
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        jose::signed(KID, &signing, &claims)
    };

    let ours = claims(json!({}));
    let me = mcp_as(&proxy, &ours).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(me.json()["bearer_token"], ours.as_str());

    let refused = [
        ("an ID token", claims(json!({"nonce": "n-0S6_WzA2Mj"}))),
        (
            "a machine-to-machine token of our own client",
            claims(json!({"gty": "client-credentials", "sub": "client@clients"})),
        ),
        (
            "a user's token obtained by another application",
            claims(json!({"azp": "another-app"})),
        ),
    ];
    for (what, token) in refused {
        let res = mcp_as(&proxy, &token).await;
        assert_eq!(
            res.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            res.text()
        );
        let challenge = res.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{what}: {challenge}"
        );
    }
    assert_eq!(
        idp.count("/.well-known/jwks.json"),
        1,
        "each refusal is the claims' own: the key set, fetched once, is not fetched again"
    );
    idp.stop().await;
    up.stop().await;
}
