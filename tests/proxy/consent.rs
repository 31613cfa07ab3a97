//! The consent step: the confused-deputy defense. An attacker who registers a client gets no
//! code unless the user approves it on the consent page, in the user's own browser.

use std::time::Duration;

use actix_mcp_oauth::{
    clock::ManualClock, proxy::ConsentBranding, proxy::ConsentMode, proxy::ConsentView,
};
use actix_web::http::StatusCode;
use serde_json::json;

use crate::fixtures::*;

const ATTACKER_REDIRECT: &str = "https://attacker.example/cb";
const ATTACKER_VERIFIER: &str = "attacker-verifier-attacker-verifier-attacker-verifier";

async fn start(
    builder: impl FnOnce(
        actix_mcp_oauth::proxy::OAuthProxyBuilder,
    ) -> actix_mcp_oauth::proxy::OAuthProxyBuilder,
) -> (Upstream, ProxyServer, std::sync::Arc<ManualClock>) {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let proxy =
        ProxyServer::start(builder(up.proxy(&key(1), clock.clone())).build().unwrap()).await;
    (up, proxy, clock)
}

async fn register_as(proxy: &ProxyServer, name: &str, redirect_uris: &[&str]) -> String {
    let res = post_json(
        &proxy.url("/register"),
        &json!({"client_name": name, "redirect_uris": redirect_uris}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    res.json()["client_id"].as_str().unwrap().to_owned()
}

/// The link an attacker sends: its own client, redirect URI, PKCE challenge and state.
fn attacker_link(attacker: &str) -> String {
    authorize_query(
        attacker,
        &[
            ("redirect_uri", Some(ATTACKER_REDIRECT)),
            ("code_challenge", Some(&challenge(ATTACKER_VERIFIER))),
            ("state", Some("attacker-state")),
        ],
    )
}

fn assert_hardened(res: &Answer) {
    let csp = res.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
}

#[actix_web::test]
async fn the_attack_stops_at_the_consent_page_unless_the_victim_approves() {
    let (up, proxy, _) = start(|b| b).await;

    // The victim signed in before with a client they use: approved, remembered, and the
    // upstream keeps a session, so it answers any authorization at once, code included,
    // without asking anything. A proxy that went straight upstream would be a confused
    // deputy.
    let victim = Browser::new();
    let legit = register(&proxy, &[CLIENT_REDIRECT]).await;
    code_in(&proxy, &victim, &legit).await;
    assert!(victim.cookie(CONSENT_COOKIE).is_some());
    assert!(victim.cookie(BINDING_COOKIE).is_some());
    let upstream_visits = up.count("/authorize");

    // The attacker registers its own client, under a name the victim trusts, and sends the
    // victim a link.
    let attacker = register_as(&proxy, "Claude", &[ATTACKER_REDIRECT]).await;
    let link = attacker_link(&attacker);
    let auth = victim.get(&proxy.url(&format!("/authorize?{link}"))).await;

    // The victim's browser is sent to the consent page, not upstream, and not to the attacker.
    assert_eq!(auth.status, StatusCode::SEE_OTHER, "{}", auth.text());
    let to_page = auth.location.clone().unwrap();
    assert_eq!(to_page.host_str(), Some("mcp.example.test"));
    assert_eq!(to_page.path(), "/consent");
    assert_eq!(auth.set_cookie(BINDING_COOKIE), None);
    let page = victim.get(&at(&proxy, &to_page)).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(text.contains("attacker.example"), "the real host is shown");
    assert!(text.contains("Claude"));
    assert!(
        text.contains("not verified"),
        "the name is not taken at its word"
    );
    assert!(text.contains("id=\"approve\"") && text.contains("id=\"deny\""));
    assert_eq!(
        up.count("/authorize"),
        upstream_visits,
        "the flow stops at the page: nothing went upstream, no code exists"
    );

    // The attacker cannot press Approve for the victim: a post from another site or browser
    // lacks the victim's CSRF cookie.
    let fields = [
        ("request", page.form_field("request")),
        ("csrf", page.form_field("csrf")),
    ];
    let elsewhere = Browser::new();
    let forged = elsewhere
        .post_form(
            &proxy.url("/consent"),
            &[
                ("request", &fields[0].1),
                ("csrf", &fields[1].1),
                ("action", "approve"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.location.is_none());

    // The victim denies: the attacker gets `access_denied` and no code.
    let denied = decide(&proxy, &victim, &page, "deny").await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER);
    assert!(denied
        .location
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with(ATTACKER_REDIRECT));
    assert_eq!(denied.query("error").as_deref(), Some("access_denied"));
    assert_eq!(denied.query("code"), None);
    assert_eq!(up.count("/authorize"), upstream_visits);

    // What the page stands in front of: had the victim approved, the code would have gone to
    // the attacker. Consent is the only gate, which is why it is never skipped for a client
    // the browser has not approved.
    let approved = decide(&proxy, &victim, &page, "approve").await;
    let back = through_upstream(&proxy, &victim, &approved).await;
    assert!(back
        .location
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with(ATTACKER_REDIRECT));
    assert!(back.query("code").is_some());

    // And the page cannot be switched off while anyone can register.
    let off = up
        .proxy(&key(1), ManualClock::at(T0))
        .consent_mode(ConsentMode::Off)
        .build();
    assert!(off.is_err());
    up.stop().await;
}

#[actix_web::test]
async fn a_callback_in_another_browser_is_refused_with_403() {
    let (up, proxy, _) = start(|b| b).await;
    let legit = register(&proxy, &[CLIENT_REDIRECT]).await;
    let attacker = register_as(&proxy, "Claude", &[ATTACKER_REDIRECT]).await;

    // The attacker approves its own client in its own browser, then sends the victim the
    // upstream link. The upstream has the victim's session and answers at once.
    let attacker_browser = Browser::new();
    let sent = to_upstream(&proxy, &attacker_browser, &attacker_link(&attacker)).await;
    let upstream = get(sent.location.as_ref().unwrap().as_str()).await;
    let callback = upstream.location.clone().unwrap();

    // A victim with no binding cookie, and one whose binding cookie is its own.
    let fresh = Browser::new();
    let signed_in = Browser::new();
    code_in(&proxy, &signed_in, &legit).await;
    let redeemed = up.count("/token");
    let forged = Browser::new();
    let attackers = attacker_browser.cookie(BINDING_COOKIE).unwrap();
    forged.set_cookie(BINDING_COOKIE, &tampered(&attackers)[1]);
    for victim in [&fresh, &signed_in, &forged] {
        let res = victim.get(&at(&proxy, &callback)).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
        assert!(res.location.is_none(), "never a redirect, so never a code");
        assert!(res.header("content-type").unwrap().starts_with("text/html"));
        assert!(res.text().contains("another browser"));
        assert_hardened(&res);
    }
    assert_eq!(
        up.count("/token"),
        redeemed,
        "no code was redeemed for them"
    );

    // The browser that approved finishes its own flow.
    let own = attacker_browser.get(&at(&proxy, &callback)).await;
    assert_eq!(own.status, StatusCode::FOUND);
    assert!(own.query("code").is_some());
    up.stop().await;
}

#[actix_web::test]
async fn a_forged_tampered_foreign_or_cross_client_consent_cookie_does_not_skip_the_page() {
    let (up, proxy, clock) = start(|b| b).await;
    let legit = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    code_in(&proxy, &browser, &legit).await;
    let remembered = browser.cookie(CONSENT_COOKIE).unwrap();

    // The same client is not asked again.
    let again = browser
        .get(&proxy.url(&format!("/authorize?{}", authorize_query(&legit, &[]))))
        .await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert_eq!(
        again.query("client_id").as_deref(),
        Some(UPSTREAM_CLIENT_ID)
    );

    // Another client with the very same redirect URI is.
    let other = register(&proxy, &[CLIENT_REDIRECT]).await;
    consent_page(&proxy, &browser, &authorize_query(&other, &[])).await;

    // A consent cookie that was tampered with, sealed by another deployment's key, of another
    // kind, or under a name without the `__Host-` prefix counts for nothing.
    let foreign = ProxyServer::start(up.proxy(&key(2), clock.clone()).build().unwrap()).await;
    let foreign_browser = Browser::new();
    let foreign_client = register(&foreign, &[CLIENT_REDIRECT]).await;
    code_in(&foreign, &foreign_browser, &foreign_client).await;
    let mut forged: Vec<(&str, String)> = tampered(&remembered)
        .into_iter()
        .map(|t| (CONSENT_COOKIE, t))
        .collect();
    forged.push((
        CONSENT_COOKIE,
        foreign_browser.cookie(CONSENT_COOKIE).unwrap(),
    ));
    forged.push((CONSENT_COOKIE, browser.cookie(BINDING_COOKIE).unwrap()));
    forged.push((CONSENT_COOKIE, browser.cookie(CSRF_COOKIE).unwrap()));
    forged.push(("mcp-oauth-consent", remembered.clone()));
    for (name, value) in forged {
        let b = Browser::new();
        b.set_cookie(name, &value);
        consent_page(&proxy, &b, &authorize_query(&legit, &[])).await;
    }
    foreign.stop().await;
    up.stop().await;
}

#[actix_web::test]
async fn a_consent_post_without_the_right_csrf_token_and_cookie_is_refused() {
    let (up, proxy, clock) = start(|b| b).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let query = authorize_query(&client_id, &[]);
    let a = Browser::new();
    let page = consent_page(&proxy, &a, &query).await;
    let request = page.form_field("request");
    let csrf = page.form_field("csrf");
    let cookie = a.cookie(CSRF_COOKIE).unwrap();
    let b = Browser::new();
    let b_page = consent_page(&proxy, &b, &query).await;
    assert_ne!(
        b_page.form_field("csrf"),
        csrf,
        "each browser has its own token"
    );

    let post = |browser: Browser, form: Vec<(&'static str, String)>| {
        let url = proxy.url("/consent");
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post_form(&url, &pairs).await
        }
    };
    let with_cookie = |value: &str| {
        let browser = Browser::new();
        browser.set_cookie(CSRF_COOKIE, value);
        browser
    };
    let form = |csrf: Option<&str>, action: &str| {
        let mut form = vec![("request", request.clone()), ("action", action.to_owned())];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf.to_owned()));
        }
        form
    };
    let refused = vec![
        ("no token", with_cookie(&cookie), form(None, "approve")),
        (
            "a wrong token",
            with_cookie(&cookie),
            form(Some("guess"), "approve"),
        ),
        ("no token, deny", with_cookie(&cookie), form(None, "deny")),
        (
            "no cookie (a cross-site post)",
            Browser::new(),
            form(Some(&csrf), "approve"),
        ),
        (
            "another browser's token",
            with_cookie(&cookie),
            form(Some(&b_page.form_field("csrf")), "approve"),
        ),
        (
            "a tampered cookie",
            with_cookie(&tampered(&cookie)[1]),
            form(Some(&csrf), "approve"),
        ),
        (
            "a cookie of another kind",
            with_cookie(&request),
            form(Some(&csrf), "approve"),
        ),
    ];
    for (case, browser, form) in refused {
        let res = post(browser, form).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{case}: {}", res.text());
        assert!(res.location.is_none(), "{case}");
        assert!(res.set_cookies().is_empty(), "{case}");
        assert_hardened(&res);
    }
    assert_eq!(up.count("/authorize"), 0);

    // Ten minutes on, the page's token and request have expired.
    clock.advance(10 * 60);
    let late = decide(&proxy, &a, &page, "approve").await;
    assert_eq!(late.status, StatusCode::FORBIDDEN);
    // A fresh page gives a fresh token, but the old request stays expired.
    let fresh = consent_page(&proxy, &a, &query).await;
    let stale = a
        .post_form(
            &proxy.url("/consent"),
            &[
                ("request", &request),
                ("csrf", &fresh.form_field("csrf")),
                ("action", "approve"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    assert!(stale.text().contains("expired"));
    assert_eq!(up.count("/authorize"), 0);

    // The real thing goes through.
    let ok = decide(&proxy, &a, &fresh, "approve").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    assert_eq!(ok.query("client_id").as_deref(), Some(UPSTREAM_CLIENT_ID));
    up.stop().await;
}

#[actix_web::test]
async fn the_page_and_every_consent_answer_forbid_framing_caching_and_referrers() {
    let (up, proxy, _) = start(|b| b.consent_mode(ConsentMode::Always)).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let query = authorize_query(&client_id, &[]);
    let browser = Browser::new();

    let auth = browser
        .get(&proxy.url(&format!("/authorize?{query}")))
        .await;
    assert_hardened(&auth);
    let page = browser
        .get(&at(&proxy, auth.location.as_ref().unwrap()))
        .await;
    assert_hardened(&page);
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(!csp.contains("script-src"), "no script at all: {csp}");
    assert!(!csp.contains("img-src"), "no logo, no images: {csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    let text = page.text();
    assert!(text.contains(&format!("<style nonce=\"{nonce}\">")));
    for external in ["<script", "<link", "src=", "<iframe", "url("] {
        assert!(!text.contains(external), "{external} in the page");
    }
    let again = browser
        .get(&at(&proxy, auth.location.as_ref().unwrap()))
        .await;
    assert!(
        !again
            .header("content-security-policy")
            .unwrap()
            .contains(nonce),
        "a fresh nonce per answer"
    );

    let approved = decide(&proxy, &browser, &page, "approve").await;
    assert_hardened(&approved);
    let denied = decide(&proxy, &browser, &page, "deny").await;
    assert_hardened(&denied);
    let refused = Browser::new()
        .post_form(&proxy.url("/consent"), &[("action", "approve")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_hardened(&refused);
    up.stop().await;
}

#[actix_web::test]
async fn cookies_are_host_prefixed_secure_http_only_and_lax_with_an_https_public_url() {
    let (up, proxy, _) = start(|b| b).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let page = consent_page(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let approved = decide(&proxy, &browser, &page, "approve").await;
    let cookies = [
        (page.set_cookie(CSRF_COOKIE), 600),
        (approved.set_cookie(BINDING_COOKIE), 600),
        (approved.set_cookie(CONSENT_COOKIE), 7 * 24 * 3600),
    ];
    for (cookie, max_age) in cookies {
        let cookie = cookie.expect("set");
        let attributes: Vec<&str> = cookie.split("; ").skip(1).collect();
        assert!(cookie.starts_with("__Host-"), "{cookie}");
        for expected in [
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            &format!("Max-Age={max_age}"),
        ] {
            assert!(attributes.contains(&expected), "{expected} in {cookie}");
        }
        assert!(!cookie.contains("Domain"), "host-only: {cookie}");
    }
    up.stop().await;
}

#[actix_web::test]
async fn cookies_have_plain_names_and_no_secure_on_a_loopback_http_public_url() {
    let (up, proxy, _) = start(|b| b.public_url("http://127.0.0.1:8080")).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let page = consent_page(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let approved = decide(&proxy, &browser, &page, "approve").await;
    let all: Vec<String> = [page.set_cookies(), approved.set_cookies()].concat();
    assert_eq!(all.len(), 3, "{all:?}");
    for cookie in &all {
        assert!(!cookie.starts_with("__Host-"), "{cookie}");
        assert!(!cookie.contains("Secure"), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    }
    assert!(browser.cookie("mcp-oauth-binding").is_some());
    // The flow completes with them.
    let back = through_upstream(&proxy, &browser, &approved).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text());
    assert!(back.query("code").is_some());
    up.stop().await;
}

#[actix_web::test]
async fn deny_redirects_to_the_client_with_access_denied_its_state_and_iss() {
    let (up, proxy, _) = start(|b| b).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let query = authorize_query(&client_id, &[]);
    let page = consent_page(&proxy, &browser, &query).await;
    let denied = decide(&proxy, &browser, &page, "deny").await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER);
    assert!(denied
        .location
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with(CLIENT_REDIRECT));
    assert_eq!(denied.query("error").as_deref(), Some("access_denied"));
    assert_eq!(denied.query("state").as_deref(), Some("client-state-42"));
    assert_eq!(denied.query("iss").as_deref(), Some(PUBLIC_URL));
    assert_eq!(denied.query("code"), None);
    assert!(
        denied.set_cookies().is_empty(),
        "nothing bound, nothing remembered"
    );
    assert_eq!(up.count("/authorize"), 0);
    // A refusal is not remembered: the next attempt asks again.
    consent_page(&proxy, &browser, &query).await;

    let nonsense = browser
        .post_form(
            &proxy.url("/consent"),
            &[
                ("request", &page.form_field("request")),
                ("csrf", &page.form_field("csrf")),
                ("action", "maybe"),
            ],
        )
        .await;
    assert_eq!(nonsense.status, StatusCode::BAD_REQUEST);
    assert!(nonsense.location.is_none());
    up.stop().await;
}

#[actix_web::test]
async fn a_remembered_approval_skips_the_page_but_still_binds_the_browser() {
    let loopback = "http://127.0.0.1:50000/cb";
    let (up, proxy, _) = start(|b| b).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT, loopback]).await;
    let browser = Browser::new();
    code_in(&proxy, &browser, &client_id).await;

    let query = authorize_query(&client_id, &[]);
    let again = browser
        .get(&proxy.url(&format!("/authorize?{query}")))
        .await;
    assert_eq!(again.status, StatusCode::FOUND, "{}", again.text());
    assert_eq!(
        again.query("client_id").as_deref(),
        Some(UPSTREAM_CLIENT_ID)
    );
    assert!(again.set_cookie(BINDING_COOKIE).is_some());
    let back = through_upstream(&proxy, &browser, &again).await;
    assert_eq!(back.status, StatusCode::FOUND);
    assert!(back.query("code").is_some());
    // Skipping the page does not skip the binding: another browser is still refused.
    let sent = browser
        .get(&proxy.url(&format!("/authorize?{query}")))
        .await;
    let elsewhere = through_upstream(&proxy, &Browser::new(), &sent).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);

    // Per redirect URI: the loopback one is asked about once, then whatever port the native
    // client picks next.
    let on = |port: u16| {
        authorize_query(
            &client_id,
            &[("redirect_uri", Some(&format!("http://127.0.0.1:{port}/cb")))],
        )
    };
    let page = consent_page(&proxy, &browser, &on(50000)).await;
    decide(&proxy, &browser, &page, "approve").await;
    let other_port = browser
        .get(&proxy.url(&format!("/authorize?{}", on(50001))))
        .await;
    assert_eq!(
        other_port.status,
        StatusCode::FOUND,
        "{}",
        other_port.text()
    );
    // Both approvals are in the one cookie.
    let first = browser
        .get(&proxy.url(&format!("/authorize?{query}")))
        .await;
    assert_eq!(first.status, StatusCode::FOUND);
    up.stop().await;
}

#[actix_web::test]
async fn always_mode_asks_every_time_and_remembers_nothing() {
    let (up, proxy, _) = start(|b| b.consent_mode(ConsentMode::Always)).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let (_, _) = code_in(&proxy, &browser, &client_id).await;
    assert!(browser.cookie(CONSENT_COOKIE).is_none());
    let page = consent_page(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    assert!(!page.text().contains("will not ask again"));
    up.stop().await;
}

#[actix_web::test]
async fn an_expired_remembered_approval_asks_again() {
    let (up, proxy, clock) = start(|b| b.remember_consent_for(Duration::from_secs(3600))).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let query = authorize_query(&client_id, &[]);
    let page = consent_page(&proxy, &browser, &query).await;
    assert!(page.text().contains("will not ask again for 1 day"));
    let approved = decide(&proxy, &browser, &page, "approve").await;
    assert!(approved
        .set_cookie(CONSENT_COOKIE)
        .unwrap()
        .contains("Max-Age=3600"));

    clock.advance(3599);
    let remembered = browser
        .get(&proxy.url(&format!("/authorize?{query}")))
        .await;
    assert_eq!(remembered.status, StatusCode::FOUND);
    clock.advance(1);
    consent_page(&proxy, &browser, &query).await;
    up.stop().await;
}

#[actix_web::test]
async fn the_page_shows_the_full_redirect_host_warns_about_odd_ones_and_escapes_everything() {
    let (up, proxy, _) = start(|b| b).await;
    let hostile = "<script>alert(1)</script> \"Claude\" & co";
    let lookalike = "https://claude.ai.evil.example:8443/cb";
    let custom = "cursor://anysphere.cursor-retrieval/oauth/callback";
    let loopback = "http://127.0.0.1:33418/cb";
    let client_id = register_as(&proxy, hostile, &[lookalike, custom, loopback]).await;
    let show = |uri: &str| authorize_query(&client_id, &[("redirect_uri", Some(uri))]);

    let page = consent_page(&proxy, &Browser::new(), &show(lookalike)).await;
    let text = page.text();
    assert!(text.contains("<html lang=\"en\">"));
    assert!(text.contains("<h1>"));
    assert!(text.contains(">claude.ai.evil.example:8443</p>"), "{text}");
    assert!(text.contains(lookalike));
    assert!(!text.contains("role=\"alert\""), "https: no warning");
    assert!(!text.contains("<script>"));
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt; &quot;Claude&quot; &amp; co"));
    for scope in ["openid", "email", "profile"] {
        assert!(text.contains(&format!("<code>{scope}</code>")), "{scope}");
    }
    assert!(text.contains(
        "<button type=\"submit\" id=\"approve\" name=\"action\" value=\"approve\">Approve</button>"
    ));
    assert!(text.contains(
        "<button type=\"submit\" id=\"deny\" name=\"action\" value=\"deny\">Deny</button>"
    ));

    let page = consent_page(&proxy, &Browser::new(), &show(custom)).await;
    let text = page.text();
    assert!(text.contains(">anysphere.cursor-retrieval</p>"));
    assert!(text.contains("role=\"alert\""));
    assert!(text.contains("not a web address"));

    let page = consent_page(&proxy, &Browser::new(), &show(loopback)).await;
    let text = page.text();
    assert!(text.contains(">127.0.0.1:33418</p>"));
    assert!(text.contains("on this computer"));
    assert!(!text.contains("role=\"alert\""));
    up.stop().await;
}

#[actix_web::test]
async fn a_replacement_template_gets_escaped_values_and_its_form_works() {
    let (up, proxy, _) = start(|b| {
        b.consent_template(|v: &ConsentView| {
            format!(
                "<!doctype html><html lang=\"en\"><head><title>Sign in</title>\
                 <style nonce=\"{nonce}\">body{{color:{text}}}</style></head><body><main>\
                 <h1>{client} wants {server}</h1><p id=\"host\">{host}</p>\
                 <form method=\"post\" action=\"{action}\">{hidden}\
                 <button type=\"submit\" id=\"approve\" name=\"action\" value=\"approve\">Yes</button>\
                 <button type=\"submit\" id=\"deny\" name=\"action\" value=\"deny\">No</button>\
                 </form></main></body></html>",
                nonce = v.style_nonce,
                text = v.text_color,
                client = v.client_name,
                server = v.server_name,
                host = v.redirect_host,
                action = v.form_action,
                hidden = v.hidden_inputs,
            )
        })
    })
    .await;
    let client_id = register_as(&proxy, "<img src=x onerror=alert(1)>", &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let page = consent_page(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let text = page.text();
    assert!(text.contains("<h1>&lt;img src=x onerror=alert(1)&gt; wants mcp.example.test</h1>"));
    assert!(text.contains("<p id=\"host\">client.example</p>"));
    assert!(!text.contains("<img"));
    assert_hardened(&page);
    let approved = decide(&proxy, &browser, &page, "approve").await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    assert_eq!(
        approved.query("client_id").as_deref(),
        Some(UPSTREAM_CLIENT_ID)
    );
    up.stop().await;
}

#[actix_web::test]
async fn branding_names_the_server_shows_the_logo_and_allows_only_its_origin() {
    let (up, proxy, _) = start(|b| {
        b.consent_branding(
            ConsentBranding::new()
                .server_name("Acme <notes>")
                .logo_url("https://static.acme.example/img/logo.png")
                .accent_color("#7c3aed")
                .background_color("#000")
                .text_color("#fafafa"),
        )
    })
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let page = consent_page(&proxy, &Browser::new(), &authorize_query(&client_id, &[])).await;
    let text = page.text();
    assert!(text.contains("to use Acme &lt;notes&gt; with your account"));
    assert!(text.contains(
        "<img class=\"logo\" src=\"https://static.acme.example/img/logo.png\" alt=\"Acme &lt;notes&gt; logo\">"
    ));
    assert!(text.contains("background:#7c3aed") && text.contains("background:#000"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("img-src https://static.acme.example;"),
        "{csp}"
    );
    up.stop().await;
}

#[actix_web::test]
async fn static_clients_are_asked_about_too_and_named_as_configured() {
    let (up, proxy, _) = start(|b| b.static_client("my-cli", [CLIENT_REDIRECT])).await;
    let page = consent_page(&proxy, &Browser::new(), &authorize_query("my-cli", &[])).await;
    let text = page.text();
    assert!(text.contains("Allow my-cli to use"));
    assert!(text.contains("configured by the operator"));
    assert!(!text.contains("not verified"));
    up.stop().await;
}

#[actix_web::test]
async fn off_needs_closed_registration_which_serves_static_clients_only_still_bound() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let open = ProxyServer::start(up.proxy(&key(1), clock.clone()).build().unwrap()).await;
    let registered = register(&open, &[CLIENT_REDIRECT]).await;
    let err = up
        .proxy(&key(1), clock.clone())
        .static_client("my-cli", [CLIENT_REDIRECT])
        .consent_mode(ConsentMode::Off)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("consent_mode"), "{err}");

    let closed = ProxyServer::start(
        up.proxy(&key(1), clock)
            .dynamic_registration(false)
            .static_client("my-cli", [CLIENT_REDIRECT])
            .consent_mode(ConsentMode::Off)
            .build()
            .unwrap(),
    )
    .await;
    let metadata = get(&closed.url("/.well-known/oauth-authorization-server")).await;
    assert!(metadata.json().get("registration_endpoint").is_none());
    let res = post_json(
        &closed.url("/register"),
        &json!({"redirect_uris": [CLIENT_REDIRECT]}),
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    // Ids registered while registration was open no longer count.
    let res = get(&closed.url(&format!("/authorize?{}", authorize_query(&registered, &[])))).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);

    // The static client goes straight upstream, and the binding still holds.
    let browser = Browser::new();
    let sent = browser
        .get(&closed.url(&format!("/authorize?{}", authorize_query("my-cli", &[]))))
        .await;
    assert_eq!(sent.status, StatusCode::FOUND);
    assert_eq!(sent.query("client_id").as_deref(), Some(UPSTREAM_CLIENT_ID));
    let elsewhere = through_upstream(&closed, &Browser::new(), &sent).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    let (code, _) = code_in(&closed, &browser, "my-cli").await;
    assert_eq!(
        redeem(&closed, "my-cli", &code).await.status,
        StatusCode::OK
    );
    up.stop().await;
}

#[actix_web::test]
async fn a_consent_request_that_is_tampered_or_of_another_kind_is_a_400_page() {
    let (up, proxy, _) = start(|b| b).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let page = consent_page(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let request = page.form_field("request");
    let csrf = page.form_field("csrf");
    let mut bad = tampered(&request);
    bad.push(client_id.clone());
    bad.push("garbage".into());
    for value in &bad {
        let shown = browser
            .get(&proxy.url(&format!("/consent?request={value}")))
            .await;
        assert_eq!(shown.status, StatusCode::BAD_REQUEST);
        let posted = browser
            .post_form(
                &proxy.url("/consent"),
                &[("request", value), ("csrf", &csrf), ("action", "approve")],
            )
            .await;
        assert_eq!(posted.status, StatusCode::BAD_REQUEST);
        assert!(posted.location.is_none());
    }
    let nothing = browser.get(&proxy.url("/consent")).await;
    assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
    // The request on the page is not a transaction: used as the upstream `state`, it does
    // not open.
    let res = browser
        .get(&proxy.url(&format!("/oauth/callback?code=x&state={request}")))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(up.count("/authorize"), 0);
    up.stop().await;
}

#[actix_web::test]
async fn two_sign_ins_in_flight_in_one_browser_both_finish() {
    let (up, proxy, _) = start(|b| b.consent_mode(ConsentMode::Always)).await;
    let one = register(&proxy, &[CLIENT_REDIRECT]).await;
    let two = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    // Two consent tabs open at once: one CSRF token serves both.
    let page_one = consent_page(&proxy, &browser, &authorize_query(&one, &[])).await;
    let page_two = consent_page(&proxy, &browser, &authorize_query(&two, &[])).await;
    let sent_one = decide(&proxy, &browser, &page_one, "approve").await;
    let sent_two = decide(&proxy, &browser, &page_two, "approve").await;
    assert_eq!(
        sent_one.status,
        StatusCode::SEE_OTHER,
        "{}",
        sent_one.text()
    );
    assert_eq!(
        sent_two.status,
        StatusCode::SEE_OTHER,
        "{}",
        sent_two.text()
    );
    // Both transactions carry the browser's one binding, whichever callback comes first.
    let back_two = through_upstream(&proxy, &browser, &sent_two).await;
    let back_one = through_upstream(&proxy, &browser, &sent_one).await;
    assert_eq!(back_one.status, StatusCode::FOUND, "{}", back_one.text());
    assert_eq!(back_two.status, StatusCode::FOUND, "{}", back_two.text());
    let code_one = back_one.query("code").unwrap();
    assert_eq!(redeem(&proxy, &one, &code_one).await.status, StatusCode::OK);
    up.stop().await;
}

/// `GET /authorize?query` with the browser's cookies, as a navigation another site started.
async fn cross_site_get(proxy: &ProxyServer, browser: &Browser, query: &str) -> Answer {
    let cookies: Vec<String> = [CONSENT_COOKIE, BINDING_COOKIE, CSRF_COOKIE]
        .iter()
        .filter_map(|name| browser.cookie(name).map(|v| format!("{name}={v}")))
        .collect();
    let res = http()
        .get(proxy.url(&format!("/authorize?{query}")))
        .insert_header(("cookie", cookies.join("; ")))
        .insert_header(("sec-fetch-site", "cross-site"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status,
        location: location.map(|l| url::Url::parse(&l).unwrap()),
        headers: res.headers().clone(),
        body: Vec::new(),
    }
}

#[actix_web::test]
async fn a_cross_site_navigation_to_a_remembered_approval_is_asked_again() {
    let (up, proxy, _) = start(|b| b).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    code_in(&proxy, &browser, &client_id).await;
    let query = authorize_query(&client_id, &[]);
    // The same browser, the same request: remembered when the user's own application opened it.
    let own = browser
        .get(&proxy.url(&format!("/authorize?{query}")))
        .await;
    assert_eq!(own.status, StatusCode::FOUND);
    assert_eq!(own.query("client_id").as_deref(), Some(UPSTREAM_CLIENT_ID));
    // Another site's link: the page again.
    let linked = cross_site_get(&proxy, &browser, &query).await;
    assert_eq!(linked.status, StatusCode::SEE_OTHER);
    assert_eq!(linked.location.unwrap().path(), "/consent");
    up.stop().await;
}

#[actix_web::test]
async fn a_remembered_approval_is_bound_to_the_resource_and_the_scopes() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let first = ProxyServer::start(up.proxy(&key(1), clock.clone()).build().unwrap()).await;
    // Replicas with the same key, serving other scopes or another resource.
    let fewer_scopes = ProxyServer::start(
        up.proxy(&key(1), clock.clone())
            .scopes(["openid", "email"])
            .build()
            .unwrap(),
    )
    .await;
    let other_resource = ProxyServer::start(
        up.proxy(&key(1), clock.clone())
            .mcp_path("/other")
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&first, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    code_in(&first, &browser, &client_id).await;
    let query = authorize_query(&client_id, &[]);
    let same = browser
        .get(&first.url(&format!("/authorize?{query}")))
        .await;
    assert_eq!(same.status, StatusCode::FOUND, "remembered where approved");
    for proxy in [&fewer_scopes, &other_resource] {
        let res = browser
            .get(&proxy.url(&format!("/authorize?{query}")))
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
        assert_eq!(res.location.unwrap().path(), "/consent");
    }
    up.stop().await;
}

#[actix_web::test]
async fn a_client_that_only_listens_on_this_computer_is_warned_about() {
    let (up, proxy, _) = start(|b| b).await;
    let local = register_as(&proxy, "Claude", &["http://127.0.0.1:50000/cb"]).await;
    let query = authorize_query(
        &local,
        &[("redirect_uri", Some("http://127.0.0.1:50000/cb"))],
    );
    let page = consent_page(&proxy, &Browser::new(), &query).await;
    assert!(page.text().contains("id=\"local-only\""), "{}", page.text());
    let web = register_as(&proxy, "Claude", &[CLIENT_REDIRECT]).await;
    let page = consent_page(&proxy, &Browser::new(), &authorize_query(&web, &[])).await;
    assert!(!page.text().contains("id=\"local-only\""));
    up.stop().await;
}

#[actix_web::test]
async fn the_page_carries_css_that_keeps_approve_inert_until_the_user_has_been_there_and_no_script()
{
    let (up, proxy, _) = start(|b| b).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let page = consent_page(&proxy, &Browser::new(), &authorize_query(&client_id, &[])).await;
    let html = page.text();
    // Whether a browser honours it is checked in the e2e suite (a click at once does nothing,
    // one after the delay approves); here, that the rules are on the page.
    assert!(html.contains("#approve{"), "{html}");
    assert!(
        html.contains("pointer-events:none;opacity:.55}"),
        "inert at rest: {html}"
    );
    assert!(
        html.contains(
            "main:hover #approve,main:focus-within #approve{animation:arm .8s linear forwards}"
        ),
        "armed only once the user is on the page: {html}"
    );
    assert!(
        html.contains("@keyframes arm{from,99.9%{pointer-events:none;opacity:.55}to{pointer-events:auto;opacity:1}}"),
        "{html}"
    );
    assert!(!html.contains("<script"), "no script");
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        !csp.contains("script-src"),
        "the CSP allows no script: {csp}"
    );
    up.stop().await;
}
