//! GitHub organisation and team membership as an access rule: [`GitHubMembership`].

use std::{collections::HashMap, fmt, sync::Arc, sync::Mutex, time::Duration};

use actix_web::http::{header, StatusCode};
use futures::future::LocalBoxFuture;
use serde_json::{Map, Value};

use super::{ACCEPT, API_VERSION};
use crate::{
    access::AccessCheck,
    clock::Clock,
    http::{api_client, Busy, FlightOutcome, Flights, Rate},
    logged::Logged,
    validate::is_path_segment,
    verify::api::{classify, send},
    AuthUser, VerifyError,
};

/// How long an answer is kept by default: a user removed from the organisation keeps access
/// this long, and a user added waits this long.
const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
/// The most users whose answers are kept; past it, expired answers go, then all of them.
const DEFAULT_CAPACITY: usize = 10_000;
/// The scopes that let a token read memberships (`write:org` and `admin:org` include it).
const ORG_SCOPES: [&str; 3] = ["read:org", "write:org", "admin:org"];

/// Admits the active members of a GitHub organisation, or of one of its teams, asking GitHub's
/// API with the user's own token; made by [`GitHub::org_members`](super::GitHub::org_members)
/// and [`GitHub::team_members`](super::GitHub::team_members), used with
/// [`AccessPolicyBuilder::allow`](crate::access::AccessPolicyBuilder::allow).
///
/// - Organisation: `GET /user/memberships/orgs/{org}`, admitting the roles `admin` and
///   `member` (a `billing_manager` is not one of the organisation's people); team:
///   `GET /orgs/{org}/teams/{team}/memberships/{login}`, admitting `member` and `maintainer`.
///   A membership whose `state` is `pending` (an invitation not yet accepted) does not admit.
/// - Both need the `read:org` scope, which the proxy then asks for. A token granted without it
///   (before the rule was added) is refused without asking GitHub, until the user signs in
///   again; the log says so.
/// - An organisation with OAuth app access restrictions answers 403 until an owner approves the
///   app (Organisation settings → Third-party access); that refuses, with a warning in the log.
/// - Answers about the user (member, or not: 404) are kept per user for
///   [`cache_ttl`](Self::cache_ttl), at most [`cache_capacity`](Self::cache_capacity) users.
///   Answers about the token (401: revoked or invalid; 403: the app not approved) refuse that
///   request and are not kept. A GitHub that is down, rate limits or answers 5xx gives no
///   answer: nothing is kept, and the request gets 503, never a pass.
/// - The calls share the preset's bounds, with a budget of their own: requests with one token
///   while its question is asked wait for that answer instead of asking again, at most
///   [`GitHub::max_calls_in_flight`](super::GitHub::max_calls_in_flight) questions run at once
///   and new ones start no faster than [`GitHub::max_call_rate`](super::GitHub::max_call_rate);
///   past either bound the request gets 503 at once (the outage is logged once per interval).
pub struct GitHubMembership {
    target: Target,
    api: String,
    user_agent: String,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    ttl: u64,
    capacity: usize,
    /// user id → (admitted, kept until).
    answers: Mutex<HashMap<String, (bool, u64)>>,
    /// The questions asked now, one per token, and their budget.
    flights: Flights<Result<bool, VerifyError>>,
}

/// The outcome of one question, shared by the requests that waited on it.
impl FlightOutcome for Result<bool, VerifyError> {
    fn busy(why: Busy) -> Self {
        Err(VerifyError::Unavailable(format!(
            "GitHub membership: {why}"
        )))
    }

    fn abandoned() -> Self {
        Err(VerifyError::Unavailable(
            "the GitHub membership call this request waited on was abandoned".into(),
        ))
    }
}

/// How the preset bounds the membership calls: as many at once, as fast.
pub(super) struct Bounds {
    pub(super) max_in_flight: usize,
    pub(super) rate: Rate,
}

enum Target {
    Org(String),
    Team { org: String, team: String },
}

impl GitHubMembership {
    pub(super) fn new(
        org: String,
        team: Option<String>,
        api: String,
        user_agent: String,
        timeout: Duration,
        clock: Arc<dyn Clock>,
        bounds: Bounds,
    ) -> Self {
        Self {
            target: match team {
                None => Target::Org(org),
                Some(team) => Target::Team { org, team },
            },
            api,
            user_agent,
            timeout,
            clock,
            ttl: DEFAULT_TTL.as_secs(),
            capacity: DEFAULT_CAPACITY,
            answers: Mutex::new(HashMap::new()),
            flights: Flights::new(bounds.max_in_flight, bounds.rate),
        }
    }

    /// How long an answer about a user is kept (default 5 minutes); whole seconds, 0 asks
    /// GitHub on every request.
    #[must_use]
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.as_secs();
        self
    }

    /// The most users whose answers are kept (default 10 000).
    #[must_use]
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    fn url(&self, user: &AuthUser) -> Option<String> {
        let api = &self.api;
        match &self.target {
            Target::Org(org) => Some(format!("{api}/user/memberships/orgs/{org}")),
            Target::Team { org, team } => {
                let login = user.username.as_deref().filter(|l| is_path_segment(l))?;
                Some(format!("{api}/orgs/{org}/teams/{team}/memberships/{login}"))
            }
        }
    }

    fn cached(&self, user_id: &str, now: u64) -> Option<bool> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers
            .get(user_id)
            .filter(|(_, until)| *until > now)
            .map(|(admitted, _)| *admitted)
    }

    fn keep(&self, user_id: &str, admitted: bool, now: u64) {
        if self.ttl == 0 || self.capacity == 0 {
            return;
        }
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if answers.len() >= self.capacity && !answers.contains_key(user_id) {
            answers.retain(|_, (_, until)| *until > now);
            if answers.len() >= self.capacity {
                answers.clear();
            }
        }
        answers.insert(user_id.to_owned(), (admitted, now.saturating_add(self.ttl)));
    }

    async fn ask(&self, user: &AuthUser) -> Result<bool, VerifyError> {
        // Checked before the cache: the answer kept for this user came with another token, and
        // this one may not be allowed to ask.
        if !user.scopes.iter().any(|s| ORG_SCOPES.contains(&s.as_str())) {
            log::warn!(
                "{}: user {}'s token was granted without read:org, so GitHub cannot be asked;                  refused until they sign in again (the proxy asks for read:org)",
                self.describe(),
                Logged(&user.user_id)
            );
            return Err(VerifyError::Rejected("the token lacks read:org".into()));
        }
        let now = self.clock.now();
        if let Some(admitted) = self.cached(&user.user_id, now) {
            return Ok(admitted);
        }
        let Some(url) = self.url(user) else {
            log::debug!(
                "no GitHub login for user {}: not a team member",
                Logged(&user.user_id)
            );
            return Ok(false);
        };
        let token = user.upstream_access_token().secret();
        self.flights
            .run(token.as_bytes(), || self.ask_github(user, url, now))
            .await
    }

    /// The question itself, made once for every request with the same token waiting on it.
    async fn ask_github(
        &self,
        user: &AuthUser,
        url: String,
        now: u64,
    ) -> Result<bool, VerifyError> {
        let req = api_client()
            .get(url)
            .bearer_auth(user.upstream_access_token().secret())
            .insert_header((header::ACCEPT, ACCEPT))
            .insert_header(("X-GitHub-Api-Version", API_VERSION))
            .insert_header((header::USER_AGENT, self.user_agent.as_str()));
        let answer = send("GitHub membership", req, None, self.timeout).await?;
        let admitted = match classify("GitHub membership", &answer, &[401, 403, 404]) {
            Ok(membership) => self.admits_membership(&membership),
            Err(e) if e.is_unavailable() => return Err(e),
            // Not a member (or a team the user cannot see): an answer about the user.
            Err(_) if answer.status == StatusCode::NOT_FOUND => false,
            // About the token, not the user: refused now, not kept, so that the user's next
            // token (or the organisation's approval of the app) is asked about afresh.
            Err(e) => {
                if answer.status == StatusCode::FORBIDDEN {
                    log::warn!(
                        "GitHub refused the membership check of {} (403): has the organisation \
                         approved this OAuth app? ({e})",
                        self.describe()
                    );
                } else {
                    log::debug!(
                        "GitHub refused the token of user {}: {e}",
                        Logged(&user.user_id)
                    );
                }
                return Err(e);
            }
        };
        self.keep(&user.user_id, admitted, now);
        Ok(admitted)
    }

    /// An active membership with a role that makes the user one of the organisation's people:
    /// an organisation's `admin` or `member` (not a `billing_manager`, who sees only billing),
    /// a team's `member` or `maintainer`.
    fn admits_membership(&self, membership: &Map<String, Value>) -> bool {
        let roles: &[&str] = match self.target {
            Target::Org(_) => &["admin", "member"],
            Target::Team { .. } => &["member", "maintainer"],
        };
        let field = |name| membership.get(name).and_then(Value::as_str);
        field("state") == Some("active") && field("role").is_some_and(|r| roles.contains(&r))
    }
}

impl AccessCheck for GitHubMembership {
    fn admits<'a>(&'a self, user: &'a AuthUser) -> LocalBoxFuture<'a, Result<bool, VerifyError>> {
        Box::pin(self.ask(user))
    }

    fn required_scopes(&self) -> Vec<String> {
        vec!["read:org".into()]
    }

    fn describe(&self) -> String {
        match &self.target {
            Target::Org(org) => format!("GitHub organisation {org}"),
            Target::Team { org, team } => format!("GitHub team {org}/{team}"),
        }
    }
}

impl fmt::Debug for GitHubMembership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubMembership")
            .field("of", &self.describe())
            .field("api", &self.api)
            .field("cache_ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}
