use super::*;
use crate::verify::FnVerifier;

/// The MCP scope is not under test here: a verifier that refuses everything.
fn refuse() -> impl TokenVerifier {
    FnVerifier::new(|_token: String| async { Err(VerifyError::Rejected("test".into())) })
}

fn valid() -> OAuthProxyBuilder {
    OAuthProxy::builder()
        .public_url("https://mcp.example.com")
        .auth_endpoint("https://idp.example/authorize")
        .token_endpoint("https://idp.example/token")
        .client_id("upstream-id")
        .client_secret("hunter2")
        .verifier(refuse())
        .proxy_key(ProxyKey::from_bytes(&[1; 32]).unwrap())
}

fn field(err: ConfigError) -> &'static str {
    match err {
        ConfigError::Missing(f) => f,
        ConfigError::Invalid { field, .. }
        | ConfigError::InvalidUrl { field, .. }
        | ConfigError::InsecureUrl { field, .. } => field,
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_valid_configuration_builds_with_the_secure_defaults() {
    let proxy = valid().mcp_path("/mcp/").build().unwrap();
    let c = &proxy.cfg;
    assert_eq!(c.base, "https://mcp.example.com");
    assert_eq!(proxy.cfg.resource, "https://mcp.example.com/mcp");
    assert_eq!(c.callback, "https://mcp.example.com/oauth/callback");
    assert_eq!(c.scopes, ["openid", "email", "profile"]);
    assert_eq!(c.grant_types, ["authorization_code", "refresh_token"]);
    assert_eq!(c.credentials.method(), ClientAuthMethod::ClientSecretPost);
    assert_eq!(c.resource_forwarding, ResourceForwarding::Omit);
    let shown = format!("{proxy:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        valid().proxy_keys([]).build().is_ok(),
        "no key: a random one and a warning"
    );
}

#[test]
fn each_required_setting_is_named_when_missing() {
    type Strip = fn(OAuthProxyBuilder) -> OAuthProxyBuilder;
    let cases: [(&str, Strip); 3] = [
        ("public_url", |b| OAuthProxyBuilder {
            public_url: None,
            ..b
        }),
        ("client_id", |b| OAuthProxyBuilder {
            client_id: None,
            ..b
        }),
        ("verifier", |b| OAuthProxyBuilder {
            verifier: None,
            ..b
        }),
    ];
    for (name, strip) in cases {
        assert_eq!(field(strip(valid()).build().unwrap_err()), name);
    }
    let no_token = OAuthProxyBuilder {
        token_endpoint: None,
        ..valid()
    };
    assert_eq!(field(no_token.build().unwrap_err()), "token_endpoint");
}

#[test]
fn insecure_or_odd_settings_are_refused() {
    let cases: Vec<(OAuthProxyBuilder, &str)> = vec![
        (valid().public_url("http://mcp.example.com"), "public_url"),
        (
            valid().public_url("https://mcp.example.com/app"),
            "public_url",
        ),
        (
            valid().public_url("https://mcp.example.com/?x=1"),
            "public_url",
        ),
        (
            valid().auth_endpoint("http://idp.example/authorize"),
            "auth_endpoint",
        ),
        (valid().token_endpoint("not a url"), "token_endpoint"),
        (
            valid().revocation_endpoint("ftp://idp.example/r"),
            "revocation_endpoint",
        ),
        (valid().issuer("http://idp.example"), "issuer"),
        (valid().client_id("  "), "client_id"),
        (valid().client_secret(""), "client_secret"),
        (valid().mcp_path("mcp"), "mcp_path"),
        (valid().mcp_path("/"), "mcp_path"),
        (valid().mcp_path("/a/../b"), "mcp_path"),
        (valid().mcp_path("/mcp?x"), "mcp_path"),
        (valid().scopes(["openid", "two words"]), "scopes"),
        (valid().grant_types(["password"]), "grant_types"),
        (valid().grant_types(["refresh_token"]), "grant_types"),
        (
            valid().extra_authorize_params([("state", "x")]),
            "extra_authorize_params",
        ),
        (
            valid().extra_authorize_params([("redirect_uri", "x")]),
            "extra_authorize_params",
        ),
        (
            valid()
                .resource_forwarding(ResourceForwarding::As("audience".into()))
                .extra_authorize_params([("audience", "x")]),
            "extra_authorize_params",
        ),
        (
            valid().resource_forwarding(ResourceForwarding::As("client_id".into())),
            "resource_forwarding",
        ),
        (
            valid().static_client("cli", ["javascript:alert(1)"]),
            "static_client",
        ),
        (
            valid().static_client("cli", Vec::<String>::new()),
            "static_client",
        ),
        (
            valid()
                .static_client("cli", ["https://a.example/cb"])
                .static_client("cli", ["https://b.example/cb"]),
            "static_client",
        ),
        (valid().upstream_timeout(Duration::ZERO), "upstream_timeout"),
    ];
    for (builder, name) in cases {
        let shown = format!("{builder:?}");
        assert_eq!(field(builder.build().unwrap_err()), name, "{shown}");
    }
    let public = OAuthProxyBuilder {
        client_secret: None,
        ..valid().client_auth_method(ClientAuthMethod::ClientSecretBasic)
    };
    assert_eq!(field(public.build().unwrap_err()), "client_auth_method");
}

#[test]
fn consent_off_needs_closed_registration_and_closed_registration_needs_static_clients_or_documents()
{
    let off = valid().consent_mode(ConsentMode::Off);
    let err = off.build().unwrap_err();
    assert!(
        err.to_string().contains("dynamic_registration(false)"),
        "{err}"
    );
    assert_eq!(
        field(valid().dynamic_registration(false).build().unwrap_err()),
        "dynamic_registration"
    );
    let closed = valid()
        .dynamic_registration(false)
        .static_client("cli", ["http://127.0.0.1/cb"])
        .consent_mode(ConsentMode::Off)
        .build()
        .unwrap();
    assert!(!closed.cfg.dynamic_registration);
    // Metadata-document clients alone, set explicitly, are enough to sign in with.
    let documents_only = valid()
        .dynamic_registration(false)
        .client_documents(crate::proxy::ClientDocuments::default())
        .build()
        .unwrap();
    assert!(!documents_only.cfg.dynamic_registration);
    assert!(documents_only.cfg.documents.is_some());
    assert_eq!(
        field(
            valid()
                .dynamic_registration(false)
                .client_documents(crate::proxy::ClientDocuments::off())
                .build()
                .unwrap_err()
        ),
        "dynamic_registration"
    );
    assert_eq!(closed.cfg.consent.mode, ConsentMode::Off);
    assert!(
        closed.cfg.documents.is_none(),
        "Off means static clients only"
    );
    // Metadata-document clients are anyone's, like registered ones.
    let documents = valid()
        .dynamic_registration(false)
        .static_client("cli", ["http://127.0.0.1/cb"])
        .client_documents(crate::proxy::ClientDocuments::default())
        .consent_mode(ConsentMode::Off);
    assert_eq!(field(documents.build().unwrap_err()), "consent_mode");
}

#[test]
fn consent_settings_are_checked_and_cookies_follow_the_public_scheme() {
    let proxy = valid().build().unwrap();
    assert_eq!(proxy.cfg.consent.mode, ConsentMode::Remember);
    assert_eq!(proxy.cfg.consent.remember_for, DEFAULT_REMEMBER);
    assert_eq!(proxy.cfg.consent.branding.server_name, "mcp.example.com");
    assert!(proxy.cfg.secure_cookies);
    let local = valid().public_url("http://127.0.0.1:3000").build().unwrap();
    assert!(!local.cfg.secure_cookies);
    for bad in [Duration::ZERO, MAX_REMEMBER + Duration::from_secs(1)] {
        assert_eq!(
            field(valid().remember_consent_for(bad).build().unwrap_err()),
            "remember_consent_for"
        );
    }
    let bad_colour = valid().consent_branding(ConsentBranding::new().accent_color("red"));
    assert_eq!(
        field(bad_colour.build().unwrap_err()),
        "consent_branding.accent_color"
    );
}

#[test]
fn https_and_loopback_http_are_accepted() {
    assert!(secure_url("x", "https://example.com/a").is_ok());
    assert!(secure_url("x", "http://127.0.0.1:8080").is_ok());
    assert!(secure_url("x", "http://localhost:3000/mcp").is_ok());
    assert!(secure_url("x", "http://[::1]:3000").is_ok());
}

#[test]
fn plain_http_elsewhere_and_odd_urls_are_refused() {
    assert!(matches!(
        secure_url("x", "http://example.com"),
        Err(ConfigError::InsecureUrl { .. })
    ));
    assert!(matches!(
        secure_url("x", "http://127.0.0.1.evil.com"),
        Err(ConfigError::InsecureUrl { .. })
    ));
    assert!(secure_url("x", "/relative").is_err());
    assert!(secure_url("x", "ftp://example.com").is_err());
    assert!(secure_url("x", "https://example.com/#frag").is_err());
}

#[test]
fn without_a_model_the_upstream_scopes_are_the_mcp_scopes_but_offline_access() {
    let proxy = valid()
        .scopes(["openid", "email", "offline_access"])
        .build()
        .unwrap();
    let c = &proxy.cfg;
    assert_eq!(c.model.names().collect::<Vec<_>>(), ["openid", "email"]);
    assert_eq!(c.model.default_scopes(), ["openid", "email"]);
    // `offline_access` is how this provider issues refresh tokens: asked when one is wanted.
    assert_eq!(c.scopes, ["openid", "email"]);
    assert_eq!(c.offline_access, OfflineAccess::Scope);
    assert_eq!(
        c.upstream_scopes(c.model.default_scopes(), true),
        "openid email offline_access"
    );
    assert_eq!(
        c.upstream_scopes(c.model.default_scopes(), false),
        "openid email"
    );
    // Parameters set explicitly stay the way, and the scope stays where it was put.
    let params = OfflineAccess::Params(vec![("access_type".into(), "offline".into())]);
    let proxy = valid()
        .scopes(["openid", "offline_access"])
        .offline_access(params.clone())
        .build()
        .unwrap();
    assert_eq!(proxy.cfg.scopes, ["openid", "offline_access"]);
    assert_eq!(proxy.cfg.offline_access, params);
}

#[test]
fn with_a_model_the_provider_is_asked_for_the_base_and_the_requested_scopes_upstream() {
    let model = crate::scope::ScopeModel::builder()
        .scope("files:read", "Read your files", ["drive.readonly"])
        .scope(
            "files:write",
            "Change your files",
            ["drive", "drive.readonly"],
        )
        .default_scopes(["files:read"])
        .build()
        .unwrap();
    let proxy = valid()
        .scope_model(model)
        .offline_access(OfflineAccess::Scope)
        .build()
        .unwrap();
    let c = &proxy.cfg;
    let write = ["files:write".to_owned()];
    assert_eq!(
        c.upstream_scopes(&write, true),
        "openid email profile drive drive.readonly offline_access"
    );
    assert_eq!(
        c.upstream_scopes(c.model.default_scopes(), false),
        "openid email profile drive.readonly"
    );
    assert!(c.wants_offline(false), "issued mode refreshes upstream");
    let doc = proxy.cfg.protected.document().to_string();
    assert!(
        doc.contains(r#""scopes_supported":["files:read","files:write"]"#),
        "{doc}"
    );
}

#[test]
fn offline_access_parameters_may_not_set_what_the_proxy_sets() {
    let err = valid()
        .offline_access(OfflineAccess::Params(vec![("scope".into(), "x".into())]))
        .build()
        .unwrap_err();
    assert_eq!(field(err), "extra_authorize_params");
}
