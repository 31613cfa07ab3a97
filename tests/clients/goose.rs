//! Goose: rmcp's OAuth client with a client metadata document for its client id
//! (aaif-goose/goose#8550; the document is `documentation/static/oauth/client-metadata.json`
//! of that repository), which requires `iss` in the authorization response when the server
//! advertises it (RFC 9207; aaif-goose/goose#10677, #10981). The document is served over https
//! from a certificate authority made in the test.

use rmcp::transport::auth::{AuthorizationRequest, OAuthState};
use serde_json::json;

use crate::fixtures::*;

const PATH: &str = "/oauth/client-metadata.json";
/// Goose's callback: the registered `http://localhost/oauth_callback` on a port of the moment.
const CALLBACK: &str = "http://localhost:41877/oauth_callback";

#[actix_web::test]
async fn goose_with_only_a_metadata_document_signs_in_checks_iss_and_refreshes() {
    row("Goose", || async {
        let docs = Documents::start().await;
        let client_id = docs.serve(
            PATH,
            json!({
                "client_name": "Goose",
                "redirect_uris": ["http://localhost/oauth_callback"],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": "openid profile email",
                "code_challenge_methods_supported": ["S256"],
            }),
        );
        // Metadata documents only: no registration endpoint to fall back on.
        let site = Site::start(|b| {
            b.client_documents(docs.settings())
                .dynamic_registration(false)
        })
        .await;
        let metadata = get(&site.url("/.well-known/oauth-authorization-server"))
            .await
            .json();
        assert_eq!(metadata["client_id_metadata_document_supported"], true);
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            true
        );
        assert!(
            metadata.get("registration_endpoint").is_none(),
            "{metadata}"
        );

        let mut state = OAuthState::new(site.mcp().as_str(), None)
            .await
            .expect("auth state");
        state
            .start_authorization(
                AuthorizationRequest::new(CALLBACK).with_client_metadata_url(client_id.clone()),
            )
            .await
            .expect("discovery and the authorization URL");
        let OAuthState::Session(session) = &state else {
            panic!("start_authorization leaves a session");
        };
        let authorize = session.get_authorization_url().to_owned();
        let url = url::Url::parse(&authorize).unwrap();
        let sent_id = url
            .query_pairs()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned());
        assert_eq!(sent_id.as_deref(), Some(client_id.as_str()), "{authorize}");

        let callback = sign_in(&authorize, CALLBACK).await;
        // RFC 9207: the issuer the metadata names, byte for byte.
        assert_eq!(callback.param("iss").as_deref(), Some(site.issuer()));
        // rmcp refuses a response without it, as Goose does since aaif-goose/goose#10678.
        session
            .handle_callback_url(callback.url.as_str())
            .await
            .expect("the code exchange, `iss` checked");
        state.complete_authorization().await.expect("authorized");
        let OAuthState::Authorized(manager) = state else {
            panic!("complete_authorization leaves an authorized manager");
        };
        let access_token = manager.get_access_token().await.expect("an access token");
        assert_tools_reachable(&site, &access_token).await;
        // rmcp's own refresh (with `resource`, no `scope`), as Goose runs it when the token
        // expires: the new access token reaches the tools too.
        manager.refresh_token().await.expect("rmcp's refresh");
        let new_token = manager
            .get_access_token()
            .await
            .expect("the refreshed token");
        assert_ne!(new_token, access_token);
        assert_tools_reachable(&site, &new_token).await;
        assert!(docs.hits(PATH) >= 1, "the proxy fetched the document");
        site.stop().await;
        docs.stop().await;
    })
    .await;
}
