//! What `JwksVerifier` accepts besides a good signature: an access token, not an ID token or
//! another kind of JWT; a token issued to our client when one is configured; and a verifier
//! only when it is told which audience to require (or, explicitly, none).

use actix_mcp_oauth::{
    clock::ManualClock, verify::check_client, Claims, ConfigError, JwksVerifier, TokenVerifier,
    VerifyError,
};
use serde_json::{json, Value};

use crate::fixtures::{jwks, rsa, sign, T0};

const ISS: &str = "https://issuer.token-kinds.test";
const AUD: &str = "mcp-api-token-kinds";
const CLIENT: &str = "our-app";
const KID: &str = "rsa-token-kinds";

fn builder() -> actix_mcp_oauth::verify::JwksVerifierBuilder {
    JwksVerifier::builder()
        .jwks(jwks(&[(KID, rsa())]).to_string())
        .issuer(ISS)
        .clock(ManualClock::at(T0))
}

fn access_token_claims() -> Value {
    json!({
        "iss": ISS, "sub": "user-7", "aud": AUD, "exp": T0 + 600, "iat": T0 - 10,
        "scope": "openid mcp:tools",
    })
}

fn with(claim: &str, value: Value) -> Value {
    let mut payload = access_token_claims();
    payload[claim] = value;
    payload
}

fn token(typ: Option<&str>, payload: &Value) -> String {
    let mut header = json!({ "alg": "RS256", "kid": KID });
    if let Some(typ) = typ {
        header["typ"] = json!(typ);
    }
    sign(&header, payload, rsa(), "RS256")
}

async fn verify(verifier: &JwksVerifier, token: &str) -> Result<Claims, VerifyError> {
    verifier.verify(token).await
}

#[actix_web::test]
async fn access_tokens_pass_whatever_access_token_typ_their_header_names() {
    let verifier = builder().audience(AUD).build().unwrap();
    for typ in [
        None,
        Some("at+jwt"),
        Some("application/at+jwt"),
        Some("AT+JWT"),
        Some("JWT"),
    ] {
        let claims = verify(&verifier, &token(typ, &access_token_claims()))
            .await
            .unwrap_or_else(|e| panic!("{typ:?}: {e}"));
        assert_eq!(claims.get_str("sub"), Some("user-7"));
    }
    // Keycloak's access tokens say what they are in a `typ` claim.
    assert!(verify(
        &verifier,
        &token(Some("JWT"), &with("typ", json!("Bearer")))
    )
    .await
    .is_ok());
}

#[actix_web::test]
async fn id_tokens_and_other_jwts_are_refused_as_not_access_tokens() {
    let verifier = builder().audience(AUD).build().unwrap();
    let id_token = with("nonce", json!("n-0S6_WzA2Mj"));
    let refused = [
        ("an ID token", token(None, &id_token)),
        ("an ID token typed JWT", token(Some("JWT"), &id_token)),
        ("an ID token typed at+jwt", token(Some("at+jwt"), &id_token)),
        (
            "a Keycloak ID token",
            token(Some("JWT"), &with("typ", json!("ID"))),
        ),
        (
            "a Keycloak refresh token",
            token(Some("JWT"), &with("typ", json!("Refresh"))),
        ),
        (
            "a logout token",
            token(Some("logout+jwt"), &access_token_claims()),
        ),
        (
            "a security event token",
            token(Some("secevent+jwt"), &access_token_claims()),
        ),
    ];
    for (what, token) in refused {
        let err = verify(&verifier, &token).await.unwrap_err();
        assert!(
            matches!(err, VerifyError::NotAccessToken(_)),
            "{what}: {err:?}"
        );
        assert!(!err.to_string().contains(&token), "{what}: {err}");
    }
    assert_eq!(
        verify(&verifier, &token(None, &id_token))
            .await
            .unwrap_err()
            .to_string(),
        "not a user's access token: an OpenID Connect ID token (it carries `nonce`)"
    );
    // With a required `typ`, that type is the check instead.
    let typed = builder()
        .audience(AUD)
        .require_typ("application/vnd.example+jwt")
        .build()
        .unwrap();
    assert!(verify(
        &typed,
        &token(Some("vnd.example+jwt"), &access_token_claims())
    )
    .await
    .is_ok());
    assert_eq!(
        verify(&typed, &token(Some("at+jwt"), &access_token_claims()))
            .await
            .unwrap_err(),
        VerifyError::InvalidClaim("typ")
    );
}

#[actix_web::test]
async fn with_a_client_id_a_token_naming_another_client_is_refused_and_one_naming_none_passes() {
    let verifier = builder().audience(AUD).client_id(CLIENT).build().unwrap();
    for claim in ["azp", "cid", "appid", "client_id"] {
        let ours = token(None, &with(claim, json!(CLIENT)));
        assert!(verify(&verifier, &ours).await.is_ok(), "{claim}");
        let theirs = token(None, &with(claim, json!("their-app")));
        let err = verify(&verifier, &theirs).await.unwrap_err();
        assert_eq!(err, VerifyError::OtherClient(claim));
        assert_eq!(
            err.to_string(),
            format!("token issued to another client (`{claim}`)")
        );
    }
    assert!(
        verify(&verifier, &token(None, &access_token_claims()))
            .await
            .is_ok(),
        "a token naming no client passes the generic check"
    );
    // Every client claim is checked, not only the first.
    let mut mixed = with("azp", json!(CLIENT));
    mixed["client_id"] = json!("their-app");
    assert_eq!(
        verify(&verifier, &token(None, &mixed)).await.unwrap_err(),
        VerifyError::OtherClient("client_id")
    );
    // Without a client id, the client is not checked (the audience is).
    let unbound = builder().audience(AUD).build().unwrap();
    let claims = verify(&unbound, &token(None, &with("azp", json!("their-app"))))
        .await
        .unwrap();
    assert_eq!(claims.client_id(), Some("their-app"));
    assert_eq!(
        check_client(&claims, CLIENT),
        Err(VerifyError::OtherClient("azp"))
    );
}

#[actix_web::test]
async fn a_verifier_needs_an_audience_or_an_explicit_any_audience() {
    let err = builder().build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "`audience`: required: set the audience your tokens carry with `.audience(..)` (your \
         API identifier, or the client id for providers that use it), or accept any audience \
         with `.any_audience()`, which is risky"
    );
    let any = builder().any_audience().build().unwrap();
    let elsewhere = with("aud", json!("some-other-api"));
    assert!(verify(&any, &token(None, &elsewhere)).await.is_ok());
    let mut no_aud = access_token_claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert!(verify(&any, &token(None, &no_aud)).await.is_ok());
    // Still no ID token.
    assert!(matches!(
        verify(&any, &token(None, &with("nonce", json!("n")))).await,
        Err(VerifyError::NotAccessToken(_))
    ));
    assert!(matches!(
        builder().audience(AUD).any_audience().build(),
        Err(ConfigError::Invalid {
            field: "audience",
            ..
        })
    ));
}
