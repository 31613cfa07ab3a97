//! `GET /oauth/callback`: the upstream sends the browser back here; the client gets its own
//! sealed code, bound to its client id and redirect URI.
//!
//! In issued mode the upstream code is redeemed here, not at `/token`: the callback is the
//! last step the user's browser sees, so the verified and mapped user is known while the
//! proxy can still answer the user: a user the access policy refuses gets the access-denied
//! page and the client no code; a token the verifier refuses goes back to the client as an
//! RFC 6749 §4.1.2.1 error redirect. The code handed to the client then carries what `/token` needs:
//! the upstream tokens and the verified user, sealed and compressed.

use actix_web::{http::StatusCode, HttpRequest, HttpResponse};
use url::Url;

use super::{error_page, Params, ProxyState, State};
use crate::proxy::{
    config::{ResourceForwarding, TokenMode},
    cookies,
    error::{redirect_with, OAuthError},
    issued,
    seal::MAX_SEALED_BYTES,
    state::{random_id, BindingNonce, Code, Transaction, UpstreamGrant},
    upstream::ProviderAnswer,
};
use crate::{logged::Logged, secret::AccessToken, AuthUser};

pub(crate) async fn callback(state: State, req: HttpRequest) -> HttpResponse {
    let cfg = &state.cfg;
    let params = Params::parse(req.query_string().as_bytes());
    let refuse = |e: OAuthError| error_page(StatusCode::BAD_REQUEST, &e);

    let Some(sealed) = params.get("state") else {
        return refuse(OAuthError::InvalidRequest(
            "the sign-in answer has no `state`".into(),
        ));
    };
    let txn = match cfg.sealer.open::<Transaction>(sealed) {
        Ok(txn) => txn,
        Err(e) => {
            log::debug!("callback transaction refused: {e}");
            return refuse(OAuthError::InvalidRequest(
                "this sign-in is invalid or has expired".into(),
            ));
        }
    };
    // The confused-deputy defense, second half: the transaction belongs to the browser that
    // approved it. A link to the upstream carrying someone else's transaction (approved in the
    // attacker's browser) comes back here without the binding cookie, and stops here.
    let bound = cookies::open_all::<BindingNonce>(cfg, &req)
        .iter()
        .any(|nonce| nonce.matches(&txn.browser));
    if !bound {
        log::debug!("callback refused: the browser binding is missing or different");
        return error_page(
            StatusCode::FORBIDDEN,
            &OAuthError::AccessDenied(
                "this sign-in was started in another browser (or its cookie expired): start it \
                 again from your application, in this browser"
                    .into(),
            ),
        );
    }
    let Ok(redirect) = Url::parse(&txn.redirect_uri) else {
        return refuse(OAuthError::InvalidRequest(
            "the redirect URI is not a URI".into(),
        ));
    };
    if let (Some(expected), Some(iss)) = (&cfg.upstream_issuer, params.get("iss")) {
        // RFC 9207: an answer naming another issuer is a mix-up attack or a misconfiguration.
        if iss != expected {
            log::warn!(
                "callback `iss` {} differs from the configured upstream issuer",
                Logged(iss)
            );
            return refuse(OAuthError::InvalidRequest(
                "the sign-in answer comes from another identity provider".into(),
            ));
        }
    }
    let client_state = txn.state.as_deref();
    if params.check_repeated(&[]).is_err() {
        return OAuthError::InvalidRequest("the identity provider repeated a parameter".into())
            .redirect(&redirect, client_state, &cfg.base);
    }

    if let Some(error) = params.get("error") {
        // The provider's code and text are its own vocabulary and may carry its internals
        // (request ids, tenant names): the client gets our code and our text, the log the
        // provider's.
        log::debug!(
            "upstream authorization error `{}`: {}",
            Logged(error),
            Logged(params.get("error_description").unwrap_or(""))
        );
        return authorization_error(error).redirect(&redirect, client_state, &cfg.base);
    }
    let Some(upstream_code) = params.get("code") else {
        return OAuthError::ServerError("the identity provider returned no code".into()).redirect(
            &redirect,
            client_state,
            &cfg.base,
        );
    };
    let (upstream_code, grant) = match (cfg.token_mode, txn.upstream_verifier.as_deref()) {
        (TokenMode::Passthrough, _) => (Some(upstream_code.to_owned()), None),
        (_, Some(verifier)) => match sign_in(&state, upstream_code, verifier, &txn).await {
            Ok((grant, user)) => {
                // Who may use the server: a refused user is told so here, in the browser, and
                // the client gets no code at all.
                if let Err(page) = cfg.admit(&user).await {
                    log::info!(
                        "sign-in of user {} refused by the access policy",
                        Logged(&user.user_id)
                    );
                    return page;
                }
                (None, Some(grant))
            }
            Err(e) => {
                log::debug!("sign-in refused at the callback: {e}");
                return e.redirect(&redirect, client_state, &cfg.base);
            }
        },
        // Sealed before a switch to issued mode: the upstream has the client's challenge.
        (_, None) => {
            return OAuthError::InvalidRequest("this sign-in has expired: start again".into())
                .redirect(&redirect, client_state, &cfg.base)
        }
    };
    let code = Code {
        upstream_code,
        grant,
        client: txn.client,
        redirect_uri: txn.redirect_uri.clone(),
        redirect_uri_sent: txn.redirect_uri_sent,
        code_challenge: txn.code_challenge,
        resource: cfg.resource.clone(),
        id: random_id(),
    };
    match cfg.sealer.seal(&code) {
        // A code that `/token` would refuse as too long to open is not handed out: the client
        // gets a clear error now rather than `invalid_grant` later.
        Ok(sealed) if sealed.len() > MAX_SEALED_BYTES => {
            log::warn!(
                "the upstream code or tokens are too long to seal into a client code ({} bytes)",
                sealed.len()
            );
            OAuthError::ServerError("the identity provider's code is too long".into()).redirect(
                &redirect,
                client_state,
                &cfg.base,
            )
        }
        Ok(sealed) => redirect_with(
            &redirect,
            &[
                ("code", Some(&sealed)),
                ("state", client_state),
                ("iss", Some(&cfg.base)),
            ],
        ),
        Err(_) => OAuthError::ServerError("the code could not be sealed".into()).redirect(
            &redirect,
            client_state,
            &cfg.base,
        ),
    }
}

/// Redeems `upstream_code` with the proxy's PKCE `verifier`, verifies the upstream access
/// token with the configured verifier, and maps the user: what the client's code will carry.
async fn sign_in(
    state: &ProxyState,
    upstream_code: &str,
    verifier: &str,
    txn: &Transaction,
) -> Result<(UpstreamGrant, AuthUser), OAuthError> {
    let cfg = &state.cfg;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", upstream_code),
        ("redirect_uri", cfg.callback.as_str()),
        ("code_verifier", verifier),
    ];
    if cfg.resource_forwarding == ResourceForwarding::AsIs {
        form.push(("resource", &cfg.resource));
    }
    let (tokens, upstream_scope) = state
        .upstream
        .post_form(cfg, &txn.client, &cfg.token_endpoint, form)
        .await?
        .into_tokens(cfg.clock.now())
        .map_err(|e| match e {
            // The client did nothing wrong: its user signed in, the proxy could not finish.
            OAuthError::InvalidGrant(_) => {
                OAuthError::ServerError("the identity provider refused to redeem its code".into())
            }
            other => other,
        })?;
    let (claims, user) = cfg
        .verify_upstream(&tokens.access_token, cfg.clock.now(), |e| {
            log::warn!("the upstream access token of a sign-in was refused: {e}");
            OAuthError::AccessDenied(
                "the identity provider's token is not accepted by this server".into(),
            )
        })
        .await?;
    // The user as the access policy sees it at /mcp: the provider's token is the upstream one.
    let admitted = AuthUser::new(
        user.clone(),
        claims.clone(),
        AccessToken::new(tokens.access_token.as_str()),
    );
    let grant = UpstreamGrant {
        identity: issued::identity(&claims, user, &tokens.access_token),
        tokens,
        // Requested and approved on the consent page, and backed by what the provider
        // answered it granted: its answer is authoritative (a user may untick a scope on the
        // provider's own page). The provider's own spelling stays in the claims.
        scopes: cfg.granted(
            txn.scopes
                .clone()
                .unwrap_or_else(|| cfg.model.default_scopes().to_vec()),
            upstream_scope.as_deref(),
        ),
    };
    Ok((grant, admitted))
}

/// The provider's authorization error (RFC 6749 §4.1.2.1) as ours: the user's refusal stays
/// one, a provider that cannot serve now says so, and anything else is the proxy's failure to
/// get a sign-in, never the client's.
fn authorization_error(upstream: &str) -> OAuthError {
    match upstream {
        "access_denied" => OAuthError::AccessDenied("the sign-in was refused".into()),
        "temporarily_unavailable" => OAuthError::TemporarilyUnavailable(
            "the identity provider is unavailable, try again later".into(),
        ),
        _ => OAuthError::ServerError("the identity provider could not complete the sign-in".into()),
    }
}
