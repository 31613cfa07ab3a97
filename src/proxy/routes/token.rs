//! `POST /token`: opens the sealed code or refresh token and checks what it is bound to.
//!
//! In issued mode (the default) it answers the proxy's own tokens: the code carries what the
//! callback obtained and verified upstream, and a refresh goes upstream with the upstream
//! refresh token sealed inside the client's. In passthrough mode the grant is forwarded to
//! the upstream with the proxy's credentials and its answer passed on.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::{json, Value};

use super::{read_body, replay_unavailable, Params, ProxyState, State};
use crate::proxy::{
    clients,
    config::{ProxyConfig, ResourceForwarding, TokenMode},
    error::{no_store, OAuthError},
    issued,
    seal::{Sealed, MAX_SEALED_BYTES},
    state::{
        random_id, CarriedToken, ClientBinding, Code, Identity, IssuedAccess, IssuedRefresh,
        UpstreamTokens, REFRESH_TTL,
    },
    upstream::ProviderAnswer,
};
use crate::{logged::Logged, secret::AccessToken, AuthUser};

pub(crate) async fn token(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let body = read_body(payload, cfg.limits.token_body)
        .await
        .map_err(|e| OAuthError::InvalidRequest(e.into()))?;
    let params = Params::parse(&body);
    params.check_repeated(&[])?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::InvalidRequest("`grant_type` is required".into()))?;
    if !cfg.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::UnsupportedGrantType(
            format!("`{}` is not supported", truncate(grant_type)).into(),
        ));
    }
    let client = match clients::authenticate(
        cfg,
        &req,
        params.get("client_id"),
        params.get("client_secret"),
    )
    .await
    {
        Ok(client) => client,
        Err(refusal) => return refusal.answer(),
    };
    // RFC 8707 §2.2: the token request names the same resource as the authorization request.
    cfg.check_resource(params.get("resource"))?;

    match cfg.token_mode {
        TokenMode::Passthrough => passthrough(&state, &params, grant_type, &client.binding).await,
        _ if grant_type == "authorization_code" => {
            let (code, until) = redeem(cfg, &params, &client.binding)?;
            let Some(grant) = code.grant else {
                return Err(OAuthError::InvalidGrant(
                    "the code is invalid or has expired".into(),
                ));
            };
            first_use(cfg, &code.id, until).await?;
            issue(
                cfg,
                &client.binding,
                grant.scopes.clone(),
                grant.scopes,
                grant.identity,
                grant.tokens,
            )
        }
        _ => refresh(&state, &params, &client.binding).await,
    }
}

/// Passthrough mode: the grant goes upstream with the proxy's credentials, and the upstream's
/// answer comes back as it is.
async fn passthrough(
    state: &ProxyState,
    params: &Params,
    grant_type: &str,
    client: &ClientBinding,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let mut form: Vec<(&str, &str)> = Vec::new();
    let code: Code;
    let upstream_code: String;
    match grant_type {
        "authorization_code" => {
            let until;
            (code, until) = redeem(cfg, params, client)?;
            upstream_code = code.upstream_code.ok_or_else(|| {
                OAuthError::InvalidGrant("the code is invalid or has expired".into())
            })?;
            // Used once here too: a replay never reaches the upstream.
            first_use(cfg, &code.id, until).await?;
            let verifier = params.get("code_verifier").unwrap_or_default();
            form.extend([
                ("grant_type", "authorization_code"),
                ("code", upstream_code.as_str()),
                ("redirect_uri", cfg.callback.as_str()),
                ("code_verifier", verifier),
            ]);
        }
        _ => {
            let refresh = params
                .get("refresh_token")
                .ok_or_else(|| OAuthError::InvalidRequest("`refresh_token` is required".into()))?;
            form.extend([("grant_type", "refresh_token"), ("refresh_token", refresh)]);
            if let Some(scope) = params.get("scope") {
                form.push(("scope", scope));
            }
        }
    }
    if cfg.resource_forwarding == ResourceForwarding::AsIs {
        form.push(("resource", &cfg.resource));
    }
    state
        .upstream
        .post_form(cfg, client, &cfg.token_endpoint, form)
        .await?
        .into_token_response()
}

/// The refresh grant in issued mode: the refresh token is the client's own, for this resource,
/// used once; the upstream is refreshed (or its access token verified again when it issued no
/// refresh token), the user mapped again, and a new pair answered.
async fn refresh(
    state: &ProxyState,
    params: &Params,
    client: &ClientBinding,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let sealed = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::InvalidRequest("`refresh_token` is required".into()))?;
    let (refresh, expires_at) = cfg
        .sealer
        .open_expiring::<IssuedRefresh>(sealed)
        .map_err(|e| {
            log::debug!("refresh token refused: {e}");
            OAuthError::InvalidGrant("the refresh token is invalid or has expired".into())
        })?;
    if refresh.client != *client {
        return Err(OAuthError::InvalidGrant(
            "the refresh token was issued to another client".into(),
        ));
    }
    if refresh.resource != cfg.resource {
        return Err(OAuthError::InvalidGrant(
            "the refresh token was issued for another resource".into(),
        ));
    }
    // RFC 6749 §6: a narrower set of the scopes granted, or all of them; never more. Names
    // the model does not define are left out, as at `/authorize` (mcp-remote asks for
    // `openid email profile` on every refresh), and so is `offline_access`; a defined scope
    // passes when the grant holds it or a scope implying it (`files:read` under
    // `files:write` is narrowing). The narrowing holds for this access token only: the new
    // refresh token carries the grant as the client's narrowing left it, unchanged
    // ("identical", RFC 6749 §6); only what the provider withdraws leaves it.
    let asked = params
        .get("scope")
        .map(|asked| narrowed(cfg, &refresh.scopes, asked))
        .transpose()?;
    let now = cfg.clock.now();
    // Reserved before the upstream call, so a concurrent replay is refused, and recorded
    // until the refresh token expires: after that it is refused anyway. Released again when
    // the refresh fails before anything was spent upstream, so that an outage of the
    // provider does not end the session.
    let until = expires_at.unwrap_or_else(|| now.saturating_add(REFRESH_TTL.as_secs()));
    if !cfg
        .replay
        .first_use(&refresh.id, until, now)
        .await
        .map_err(replay_unavailable)?
    {
        return Err(OAuthError::InvalidGrant(
            "the refresh token was used already".into(),
        ));
    }
    let id = refresh.id.clone();
    match refresh_reserved(state, refresh, client, asked, now).await {
        Ok(answer) => Ok(answer),
        Err(Failed {
            error,
            spent: false,
        }) if is_transient(&error) => {
            cfg.replay.release(&id, cfg.clock.now()).await;
            cfg.upstream_calls.outage(
                now,
                &format!("a refresh failed for now and may be retried: {error}"),
            );
            Err(OAuthError::TemporarilyUnavailable(
                "the identity provider is unavailable: retry the refresh in a moment".into(),
            ))
        }
        Err(Failed { error, spent }) => {
            if spent && is_transient(&error) {
                log::warn!(
                    "a refresh failed after the identity provider answered new tokens, so the \
                     refresh token is spent and the client must sign in again: {error}"
                );
            }
            Err(error)
        }
    }
}

/// A failure that is the provider's or its keys' (unreachable, timing out, failing), not the
/// refresh token's: the same refresh may work moments later. A deterministic failure of this
/// server (a token too large to carry) is not: retrying would fail the same way.
fn is_transient(e: &OAuthError) -> bool {
    matches!(
        e,
        OAuthError::Unavailable(_)
            | OAuthError::TemporarilyUnavailable(_)
            | OAuthError::BadGateway(_)
    )
}

/// Why a reserved refresh failed, and whether the upstream refresh token was spent by then:
/// once the provider answered new tokens it may have rotated its refresh token, so the old
/// one (the one sealed in the client's refresh token) must not be offered for a retry.
struct Failed {
    error: OAuthError,
    spent: bool,
}

/// The refresh once its id is reserved: upstream, verification, policy, new tokens.
async fn refresh_reserved(
    state: &ProxyState,
    refresh: IssuedRefresh,
    client: &ClientBinding,
    asked: Option<Vec<String>>,
    now: u64,
) -> Result<HttpResponse, Failed> {
    let cfg = &state.cfg;
    let spent = refresh.upstream_refresh_token.is_some();
    let unspent = |error| Failed {
        error,
        spent: false,
    };
    let failed = |error| Failed { error, spent };
    let (tokens, upstream_scope) = match (
        refresh.upstream_refresh_token,
        refresh.upstream_access_token,
    ) {
        (Some(upstream_refresh), _) => {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", upstream_refresh.as_str()),
            ];
            if cfg.resource_forwarding == ResourceForwarding::AsIs {
                form.push(("resource", &cfg.resource));
            }
            let (mut tokens, upstream_scope) = state
                .upstream
                .post_form(cfg, client, &cfg.token_endpoint, form)
                .await
                .and_then(|answer| answer.into_tokens(now))
                .map_err(unspent)?;
            // A provider that does not rotate its refresh tokens keeps the one it issued.
            tokens.refresh_token.get_or_insert(upstream_refresh);
            (tokens, upstream_scope)
        }
        (None, Some(access_token)) => (
            UpstreamTokens {
                access_token,
                refresh_token: None,
                expires_at: None,
            },
            None,
        ),
        (None, None) => {
            return Err(unspent(OAuthError::InvalidGrant(
                "the refresh token is invalid or has expired".into(),
            )))
        }
    };
    // From here on, with an upstream refresh token, the provider has answered new tokens:
    // every failure is `spent`.
    let (claims, user) = cfg
        .verify_upstream(&tokens.access_token, now, |e| {
            log::debug!("the upstream access token of a refresh was refused: {e}");
            OAuthError::InvalidGrant("the identity provider no longer accepts this sign-in".into())
        })
        .await
        .map_err(failed)?;
    // The access policy again, with the user as `/mcp` would see it: a user removed from
    // the server since signing in gets no new tokens.
    let admitted = AuthUser::new(
        user.clone(),
        claims.clone(),
        AccessToken::new(tokens.access_token.as_str()),
    );
    if let Err(e) = cfg.admit_refresh(&admitted).await {
        log::info!(
            "refresh of user {} not admitted by the access policy",
            Logged(&admitted.user_id)
        );
        return Err(failed(e));
    }
    let identity = issued::identity(&claims, user, &tokens.access_token);
    // What the provider still grants bounds the refreshed scopes too (a user may have
    // withdrawn one at the provider since); a narrower scope asked for passes when what is
    // still granted satisfies it (`files:read` under `files:write`, whose upstream scopes
    // are not `files:read`'s). A scope the provider withdrew leaves the grant the new
    // refresh token carries as well: a later answer without `scope` (RFC 6749 §5.1: "as
    // asked") must not bring it back. The client's own narrowing does not (RFC 6749 §6).
    let still = cfg.granted(refresh.scopes, upstream_scope.as_deref());
    let scopes = match asked {
        None => still.clone(),
        Some(asked) => asked
            .into_iter()
            .filter(|s| cfg.model.satisfies(&still, s))
            .collect(),
    };
    issue(cfg, client, scopes, still, identity, tokens).map_err(failed)
}

/// The scopes of a refresh's `scope` parameter, checked against the grant `granted`.
fn narrowed(cfg: &ProxyConfig, granted: &[String], asked: &str) -> Result<Vec<String>, OAuthError> {
    let defined: Vec<String> = cfg
        .model
        .ordered(&asked.split(' ').map(str::to_owned).collect::<Vec<_>>());
    if defined.is_empty() {
        return Ok(granted.to_vec());
    }
    if let Some(wider) = defined.iter().find(|s| !cfg.model.satisfies(granted, s)) {
        return Err(OAuthError::InvalidScope(
            format!(
                "`{}` was not granted to this refresh token: sign in again to get it",
                Logged(wider)
            )
            .into(),
        ));
    }
    Ok(defined)
}

/// The proxy's answer: an access token for this resource with `scopes`, that lives as long
/// as the upstream token does, capped by `access_token_ttl`, and a refresh token bound to the
/// client carrying the grant `grant` (wider than `scopes` after a narrowed refresh).
fn issue(
    cfg: &ProxyConfig,
    client: &ClientBinding,
    scopes: Vec<String>,
    grant: Vec<String>,
    identity: Identity,
    tokens: UpstreamTokens,
) -> Result<HttpResponse, OAuthError> {
    let now = cfg.clock.now();
    let cap = cfg.access_token_ttl.as_secs();
    // The soonest of what the upstream answered, what its verified token says, and our cap.
    let lifetime = [tokens.expires_at, identity.exp]
        .into_iter()
        .flatten()
        .fold(cap, |lifetime, exp| lifetime.min(exp.saturating_sub(now)));
    if lifetime == 0 {
        return Err(OAuthError::InvalidGrant(
            "the identity provider's token has expired".into(),
        ));
    }
    let seal_failed = |_| OAuthError::ServerError("the token could not be sealed".into());
    // RFC 6749 §3.3: `scope` is one or more scope tokens, so a grant of none has no `scope`.
    let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
    let refresh = IssuedRefresh {
        client: client.clone(),
        scopes: grant,
        resource: cfg.resource.clone(),
        upstream_access_token: tokens
            .refresh_token
            .is_none()
            .then(|| tokens.access_token.clone()),
        upstream_refresh_token: tokens.refresh_token,
        id: random_id(),
    };
    let access = IssuedAccess {
        iss: cfg.base.clone(),
        aud: cfg.resource.clone(),
        client: client.clone(),
        scopes,
        identity,
        upstream_access_token: CarriedToken::of(&tokens.access_token),
        iat: now,
        exp: now.saturating_add(lifetime),
        id: random_id(),
    };
    let access_token = cfg
        .sealer
        .seal_for(&access, Duration::from_secs(lifetime))
        .map_err(seal_failed)?;
    if access_token.len() > MAX_SEALED_BYTES {
        log::warn!(
            "an issued access token would be {} bytes, too long to open: the upstream token \
             or the claims are too large",
            access_token.len()
        );
        return Err(OAuthError::ServerError(
            "the identity provider's token is too large to carry".into(),
        ));
    }
    let mut doc = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
    });
    if let Some(scope) = scope {
        doc["scope"] = Value::String(scope);
    }
    if cfg.grant_types.iter().any(|g| g == "refresh_token") {
        doc["refresh_token"] = Value::String(cfg.sealer.seal(&refresh).map_err(seal_failed)?);
    }
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    Ok(res.json(doc))
}

/// Records the code's id until the code expires: a code is redeemed once on this instance.
async fn first_use(cfg: &ProxyConfig, id: &str, until: u64) -> Result<(), OAuthError> {
    let now = cfg.clock.now();
    if cfg
        .replay
        .first_use(id, until, now)
        .await
        .map_err(replay_unavailable)?
    {
        Ok(())
    } else {
        Err(OAuthError::InvalidGrant("the code was used already".into()))
    }
}

/// Opens the code and checks it against this request: same client, same redirect URI, and a
/// PKCE verifier that matches the challenge. Answers the code and its expiry.
fn redeem(
    cfg: &ProxyConfig,
    params: &Params,
    client: &ClientBinding,
) -> Result<(Code, u64), OAuthError> {
    let sealed = params
        .get("code")
        .ok_or_else(|| OAuthError::InvalidRequest("`code` is required".into()))?;
    let (code, expires_at) = cfg.sealer.open_expiring::<Code>(sealed).map_err(|e| {
        log::debug!("code refused: {e}");
        OAuthError::InvalidGrant("the code is invalid or has expired".into())
    })?;
    if code.client != *client {
        return Err(OAuthError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    if code.resource != cfg.resource {
        return Err(OAuthError::InvalidGrant(
            "the code was issued for another resource".into(),
        ));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri != code.redirect_uri => {
            return Err(OAuthError::InvalidGrant(
                "`redirect_uri` differs from the authorization request".into(),
            ))
        }
        None if code.redirect_uri_sent => {
            return Err(OAuthError::InvalidRequest(
                "`redirect_uri` is required".into(),
            ))
        }
        _ => {}
    }
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::InvalidRequest("`code_verifier` is required".into()))?;
    // RFC 7636 §4.6, checked here as well as upstream: some providers ignore PKCE silently.
    if URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes())) != code.code_challenge {
        return Err(OAuthError::InvalidGrant("PKCE verification failed".into()));
    }
    let ttl = Code::TTL.map_or(0, |ttl| ttl.as_secs());
    Ok((
        code,
        expires_at.unwrap_or_else(|| cfg.clock.now().saturating_add(ttl)),
    ))
}

/// A client-chosen value echoed in an error description is kept short.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
