//! GitHub organisation and team membership as an access rule, against a stand-in answering in
//! the shapes of GitHub's membership API: members pass, non-members and pending invitations get
//! 403, an API that is down gives 503 (never a pass), and answers are kept for the TTL.

use std::{sync::Arc, time::Duration};

use actix_mcp_oauth::{
    access::AccessPolicy, clock::ManualClock, providers, providers::GitHub, proxy::ConsentMode,
    ProxyKey, RequireAuth,
};
use actix_web::{http::StatusCode, test, App};
use serde_json::{json, Value};

use crate::fixtures::{call, Double, Reply, T0};

const CLIENT: &str = "Iv1.8a61f9b3a7aba766";
const SECRET: &str = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
const CHECK: &str = "/applications/Iv1.8a61f9b3a7aba766/token";
const TOKEN: &str = "gho_16C7e42F292c6912E7710c838347Ae178B4a";
const ORG: &str = "/user/memberships/orgs/acme";
const TEAM: &str = "/orgs/acme/teams/platform/memberships/octocat";

fn preset(github: &Double, clock: Arc<ManualClock>) -> GitHub {
    providers::github()
        .client(CLIENT, SECRET)
        .api_url(github.url(""))
        .user_agent("mcp-test-app")
        .clock(clock)
}

/// The token check and `/user` for `TOKEN` (octocat, id 583231), as GitHub answers them.
fn answer_the_token(github: &Double) {
    answer_a_token(
        github,
        TOKEN,
        "octocat",
        583231,
        &["read:user", "user:email", "read:org"],
    );
}

/// The token check and `/user` for `token`, of the user `login` (`id`), granted `scopes`.
fn answer_a_token(github: &Double, token: &str, login: &str, id: u64, scopes: &[&str]) {
    github.on(
        CHECK,
        Some(token),
        Reply::json(
            200,
            &json!({
                "scopes": scopes,
                "app": {"client_id": CLIENT},
                "expires_at": null,
                "user": {"login": login, "id": id},
            }),
        ),
    );
    github.on(
        "/user",
        Some(token),
        Reply::json(200, &json!({"login": login, "id": id, "email": null})),
    );
}

fn membership(state: &str) -> Value {
    membership_as(state, "member")
}

fn membership_as(state: &str, role: &str) -> Value {
    json!({
        "url": "https://api.github.com/orgs/acme/memberships/octocat",
        "state": state,
        "role": role,
        "organization_url": "https://api.github.com/orgs/acme",
        "organization": {"login": "acme", "id": 1},
        "user": {"login": "octocat", "id": 583231},
    })
}

/// `RequireAuth` of the GitHub preset's proxy, admitting the members `rule` names.
async fn guarded(
    github: &Double,
    clock: Arc<ManualClock>,
    rule: impl FnOnce(&GitHub) -> providers::GitHubMembership,
) -> (RequireAuth, Vec<String>) {
    let preset = preset(github, clock);
    let policy = AccessPolicy::builder()
        .allow(rule(&preset).cache_ttl(Duration::from_secs(60)))
        .build()
        .unwrap();
    let proxy = preset
        .builder()
        .unwrap()
        .access_policy(policy)
        // These tests send GitHub's own tokens to `/mcp`, as a client of the proxy's issued
        // mode never would: the policy is the same for both.
        .accept_upstream_tokens(true)
        .public_url("https://mcp.example.com")
        .proxy_key(ProxyKey::generate())
        .build()
        .unwrap();
    // What the proxy asks the provider for is what it advertises.
    let app = test::init_service(App::new().service(proxy.scope())).await;
    let req = test::TestRequest::get()
        .uri("/.well-known/oauth-protected-resource/mcp")
        .to_request();
    let document: Value = test::call_and_read_body_json(&app, req).await;
    let scopes = document["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    (proxy.require_auth(), scopes)
}

#[actix_web::test]
async fn an_active_org_member_passes_with_the_users_token_and_the_answer_is_kept_for_the_ttl() {
    let clock = ManualClock::at(T0);
    let github = Double::start().await;
    answer_the_token(&github);
    github.on(ORG, Some(TOKEN), Reply::json(200, &membership("active")));
    let (auth, scopes) = guarded(&github, clock.clone(), |g| g.org_members("acme").unwrap()).await;
    assert_eq!(scopes, ["read:user", "user:email", "read:org"]);

    let res = call(&auth, TOKEN).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.user);
    assert_eq!(res.user["username"], "octocat");
    let asked = &github.seen(ORG)[0];
    assert_eq!(asked.method, "GET");
    assert_eq!(
        asked.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(asked.header("user-agent"), Some("mcp-test-app"));

    for _ in 0..3 {
        assert_eq!(call(&auth, TOKEN).await.status, StatusCode::OK);
    }
    assert_eq!(github.count(ORG), 1, "the answer is kept");
    clock.advance(60);
    // The token itself is still cached (5 minutes), the membership answer is not.
    github.on(
        ORG,
        Some(TOKEN),
        Reply::json(404, &json!({"message": "Not Found"})),
    );
    let res = call(&auth, TOKEN).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "removed from the org");
    assert_eq!(github.count(ORG), 2);
    github.stop().await;
}

#[actix_web::test]
async fn a_non_member_a_pending_invitation_and_a_restricted_org_get_403_access_denied() {
    for (status, body) in [
        (404, json!({"message": "Not Found"})),
        (200, membership("pending")),
        (200, membership_as("active", "billing_manager")),
        (200, membership_as("active", "something_new")),
        (
            403,
            json!({"message": "Although you appear to have the correct authorization credentials, the `acme` organization has enabled OAuth App access restrictions"}),
        ),
    ] {
        let github = Double::start().await;
        answer_the_token(&github);
        github.on(ORG, None, Reply::json(status, &body));
        let (auth, _) = guarded(&github, ManualClock::at(T0), |g| {
            g.org_members("acme").unwrap()
        })
        .await;
        let res = call(&auth, TOKEN).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{status} {body}");
        assert_eq!(res.user["error"], "access_denied");
        assert_eq!(
            res.challenge, None,
            "no challenge: signing in again would not help"
        );
        assert!(!res.user.to_string().contains(TOKEN));
        github.stop().await;
    }
}

#[actix_web::test]
async fn github_down_or_rate_limiting_is_503_never_a_pass_and_is_not_kept() {
    for reply in [
        Reply::json(502, &json!({"message": "Bad gateway"})),
        Reply::new(
            403,
            &[("x-ratelimit-remaining", "0")],
            r#"{"message":"API rate limit exceeded"}"#,
        ),
        Reply::json(200, &json!(["not", "an", "object"])),
    ] {
        let github = Double::start().await;
        answer_the_token(&github);
        github.on(ORG, None, reply);
        let (auth, _) = guarded(&github, ManualClock::at(T0), |g| {
            g.org_members("acme").unwrap()
        })
        .await;
        let res = call(&auth, TOKEN).await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.user["error"], "temporarily_unavailable");
        // Back up: asked again, not served a kept failure.
        github.on(ORG, None, Reply::json(200, &membership("active")));
        assert_eq!(call(&auth, TOKEN).await.status, StatusCode::OK);
        assert_eq!(github.count(ORG), 2);
        github.stop().await;
    }
}

#[actix_web::test]
async fn team_membership_is_asked_by_login_and_only_an_active_member_passes() {
    let github = Double::start().await;
    answer_the_token(&github);
    github.on(
        TEAM,
        Some(TOKEN),
        Reply::json(200, &json!({"state": "active", "role": "maintainer"})),
    );
    let (auth, scopes) = guarded(&github, ManualClock::at(T0), |g| {
        g.team_members("acme", "platform").unwrap()
    })
    .await;
    assert!(scopes.contains(&"read:org".to_owned()));
    assert_eq!(call(&auth, TOKEN).await.status, StatusCode::OK);
    assert_eq!(github.count(TEAM), 1);
    github.stop().await;

    for (status, body) in [
        (404, json!({"message": "Not Found"})),
        (200, json!({"state": "pending", "role": "member"})),
    ] {
        let other = Double::start().await;
        answer_the_token(&other);
        other.on(TEAM, Some(TOKEN), Reply::json(status, &body));
        let (auth, _) = guarded(&other, ManualClock::at(T0), |g| {
            g.team_members("acme", "platform").unwrap()
        })
        .await;
        let res = call(&auth, TOKEN).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{status} {body}");
        assert_eq!(res.user["error"], "access_denied", "{status} {body}");
        assert_eq!(other.count(TEAM), 1, "the team endpoint was asked");
        assert_eq!(other.count(ORG), 0, "not the organisation's");
        other.stop().await;
    }
}

#[actix_web::test]
async fn answers_are_per_user_two_users_of_one_org_one_a_member() {
    const MEMBER: &str = "gho_member0000000000000000000000000000";
    const OUTSIDER: &str = "gho_outsider00000000000000000000000000";
    let github = Double::start().await;
    let scopes = ["read:user", "user:email", "read:org"];
    answer_a_token(&github, MEMBER, "ada", 1, &scopes);
    answer_a_token(&github, OUTSIDER, "eve", 2, &scopes);
    // The same URL for both: GitHub answers by the token's user.
    github.on(ORG, Some(MEMBER), Reply::json(200, &membership("active")));
    github.on(
        ORG,
        Some(OUTSIDER),
        Reply::json(404, &json!({"message": "Not Found"})),
    );
    let (auth, _) = guarded(&github, ManualClock::at(T0), |g| {
        g.org_members("acme").unwrap()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(call(&auth, MEMBER).await.status, StatusCode::OK);
        assert_eq!(call(&auth, OUTSIDER).await.status, StatusCode::FORBIDDEN);
    }
    let asked: Vec<_> = github
        .seen(ORG)
        .iter()
        .map(|s| s.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(
        asked,
        [format!("Bearer {MEMBER}"), format!("Bearer {OUTSIDER}")],
        "each user asked about once, with their own token, then kept"
    );
    github.stop().await;
}

#[actix_web::test]
async fn a_token_without_read_org_is_refused_without_asking_and_nothing_is_kept() {
    const OLD: &str = "gho_granted0before0the0rule000000000000";
    let github = Double::start().await;
    answer_a_token(
        &github,
        OLD,
        "octocat",
        583231,
        &["read:user", "user:email"],
    );
    answer_the_token(&github);
    github.on(ORG, None, Reply::json(200, &membership("active")));
    let (auth, _) = guarded(&github, ManualClock::at(T0), |g| {
        g.org_members("acme").unwrap()
    })
    .await;
    let res = call(&auth, OLD).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.user["error"], "access_denied");
    assert_eq!(
        github.count(ORG),
        0,
        "GitHub is not asked with a token that may not ask"
    );
    // The same user signs in again and gets read:org: admitted at once, no "no" was kept.
    assert_eq!(call(&auth, TOKEN).await.status, StatusCode::OK);
    assert_eq!(github.count(ORG), 1);
    // ... and a kept "yes" does not let the old token through either.
    assert_eq!(call(&auth, OLD).await.status, StatusCode::FORBIDDEN);
    github.stop().await;
}

#[actix_web::test]
async fn answers_about_the_token_401_and_403_refuse_that_request_and_are_not_kept() {
    for (status, body) in [
        (401, json!({"message": "Bad credentials"})),
        (
            403,
            json!({"message": "the `acme` organization has enabled OAuth App access restrictions"}),
        ),
    ] {
        let github = Double::start().await;
        answer_the_token(&github);
        github.on(ORG, None, Reply::json(status, &body));
        let (auth, _) = guarded(&github, ManualClock::at(T0), |g| {
            g.org_members("acme").unwrap()
        })
        .await;
        let res = call(&auth, TOKEN).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{status}");
        assert_eq!(res.user["error"], "access_denied");
        // The token is good again (or the organisation approved the app): asked afresh.
        github.on(ORG, None, Reply::json(200, &membership("active")));
        assert_eq!(call(&auth, TOKEN).await.status, StatusCode::OK, "{status}");
        assert_eq!(github.count(ORG), 2, "{status}: the refusal was not kept");
        github.stop().await;
    }
}

#[actix_web::test]
async fn the_proxy_asks_github_for_read_org_at_sign_in() {
    let github = Double::start().await;
    let preset = preset(&github, ManualClock::at(T0));
    let policy = AccessPolicy::builder()
        .allow(preset.org_members("acme").unwrap())
        .build()
        .unwrap();
    let proxy = preset
        .builder()
        .unwrap()
        .access_policy(policy)
        // These tests send GitHub's own tokens to `/mcp`, as a client of the proxy's issued
        // mode never would: the policy is the same for both.
        .accept_upstream_tokens(true)
        .public_url("https://mcp.example.com")
        .proxy_key(ProxyKey::generate())
        // Straight to GitHub: no consent page between (only the operator's client signs in).
        .dynamic_registration(false)
        .static_client("operator-cli", ["http://127.0.0.1:33418/callback"])
        .consent_mode(ConsentMode::Off)
        .build()
        .unwrap();
    let app = test::init_service(App::new().service(proxy.scope())).await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "operator-cli")
        .append_pair("redirect_uri", "http://127.0.0.1:33418/callback")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "s1")
        .finish();
    let req = test::TestRequest::get()
        .uri(&format!("/authorize?{query}"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert!(res.status().is_redirection(), "{}", res.status());
    let location =
        url::Url::parse(res.headers().get("location").unwrap().to_str().unwrap()).unwrap();
    assert_eq!(
        location.as_str().split('?').next(),
        Some("https://github.com/login/oauth/authorize")
    );
    let scope = location
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        scope.split(' ').any(|s| s == "read:org"),
        "upstream scope: {scope}"
    );
    github.stop().await;
}

#[actix_web::test]
async fn org_and_team_names_are_path_segments() {
    let github = Double::start().await;
    let preset = preset(&github, ManualClock::at(T0));
    for bad in ["", "acme/other", "../user", "a b", "a?b"] {
        assert!(preset.org_members(bad).is_err(), "{bad}");
        assert!(preset.team_members("acme", bad).is_err(), "{bad}");
    }
    github.stop().await;
}
