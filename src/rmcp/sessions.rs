//! [`SessionBinding`]: an MCP session belongs to the user who opened it.
//!
//! Under the older MCP protocol revisions the streamable HTTP transport keeps a session per
//! client, named by the `Mcp-Session-Id` header the server sends in answer to `initialize`.
//! rmcp checks only that the session exists: any signed-in user who learns an id could post into
//! that session, read its stream (`GET`, with `Last-Event-ID` to replay what was missed) or end
//! it (`DELETE`). This middleware records who opened each session and answers every other user
//! exactly as for a session that does not exist (`404`), so an id reveals nothing either.
//!
//! Requests of the newer, sessionless revisions carry no session id and pass untouched.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    rc::Rc,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};

use ::rmcp::transport::streamable_http_server::session::{SessionId, SessionManager};
use actix_web::{
    body::{BodySize, BoxBody, EitherBody, MessageBody},
    dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform},
    http::{
        header::{self, HeaderName, HeaderValue},
        Method, StatusCode,
    },
    web::Bytes,
    HttpMessage, HttpResponse,
};
use futures::future::{ready, BoxFuture, Ready};

use crate::{
    clock::{Clock, SystemClock},
    middleware::drain_small_body,
    validate::invalid,
    AuthUser, ConfigError,
};

/// The header naming the session, in requests and in the answer to `initialize` (a
/// `HeaderName`, so that looking it up parses no name on every request).
const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
/// What rmcp answers for an unknown session; a foreign one gets the same.
const NOT_FOUND_BODY: &str = "Not Found: Session not found";
/// Its content type, as rmcp-actix-web passes it on.
const NOT_FOUND_TYPE: &str = "application/octet-stream";

const DEFAULT_MAX_SESSIONS: usize = 10_000;
const DEFAULT_MAX_SESSIONS_PER_USER: usize = 16;
/// Above rmcp's own idle timeout (five minutes for its `LocalSessionManager`), so a session
/// rmcp still keeps is never refused to its owner for being idle.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Middleware that binds each MCP session to the user who opened it (feature `rmcp`).
///
/// Wrap the MCP scope with it *inside* [`RequireAuth`](crate::RequireAuth) (actix runs the last
/// `wrap` first, so `.wrap(binding)` goes before `.wrap(proxy.require_auth())`):
///
/// ```no_run
/// use std::sync::Arc;
///
/// use actix_mcp_oauth::SessionBinding;
/// use rmcp_actix_web::transport::LocalSessionManager;
///
/// # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
/// let sessions = Arc::new(LocalSessionManager::default());
/// let binding = SessionBinding::builder().closing(sessions.clone()).build()?;
/// // StreamableHttpService::builder().session_manager(sessions)...
/// // web::scope("/mcp").wrap(binding.clone()).wrap(proxy.require_auth()).service(mcp.scope())
/// # let _ = binding;
/// # Ok(())
/// # }
/// ```
///
/// - A response carrying a new `Mcp-Session-Id` binds that session to the request's user
///   (the issuer and the user id of the [`AuthUser`]).
/// - A request naming a session is passed on only when its user owns that session; any other
///   user, an unknown id, or an id this process has forgotten gets `404 Not Found`, which MCP
///   clients answer by opening a new session.
/// - A successful `DELETE`, or the transport's own "session not found" `404`, forgets the
///   session; any other `404` (a JSON-RPC "method not found", a route of yours) does not.
/// - A session id already bound is never bound again by another response (should the
///   transport reissue one, the session stays its first owner's and the new answer is `503`).
/// - Server-to-client traffic on a `GET` stream counts as use: a client that only listens is
///   not idle.
/// - A request without an [`AuthUser`] (the middleware outside `RequireAuth`, or an anonymous
///   request under [`allow_anonymous`](crate::RequireAuth::allow_anonymous)) is answered `500`
///   and logged: sessions are never left unguarded by a wrong order.
///
/// Memory is bounded: at most [`max_sessions`](SessionBindingBuilder::max_sessions) bindings,
/// at most [`max_sessions_per_user`](SessionBindingBuilder::max_sessions_per_user) per user, and
/// a binding unused for [`idle_timeout`](SessionBindingBuilder::idle_timeout) is dropped. Past the
/// per-user bound the user's own least recently used session goes, so one user opening sessions
/// in a loop only ever loses their own. Past the global bound (idle bindings dropped first) a
/// new session is refused with `503` rather than evicting anyone else's: many accounts acting
/// together cannot push other users out of their sessions, only be told to retry. With
/// [`closing`](SessionBindingBuilder::closing) every binding dropped or refused closes its
/// session in the session manager too.
///
/// The bindings live in this process: clones share them (build it once, outside the
/// `HttpServer::new` closure), replicas do not. Behind a load balancer, route a session to the
/// replica that opened it, as rmcp's in-memory sessions already require.
#[derive(Clone)]
pub struct SessionBinding {
    shared: Arc<Shared>,
}

struct Shared {
    table: Mutex<Table>,
    clock: Arc<dyn Clock>,
    close: Option<Closer>,
}

type Closer = Box<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;

impl std::fmt::Debug for SessionBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.shared.lock();
        f.debug_struct("SessionBinding")
            .field("sessions", &table.by_id.len())
            .field("max_sessions", &table.max_sessions)
            .field("max_sessions_per_user", &table.max_per_owner)
            .field("idle_timeout_secs", &table.idle_secs)
            .finish()
    }
}

/// Builds a [`SessionBinding`]; every bound has a default (see the setters).
pub struct SessionBindingBuilder {
    max_sessions: usize,
    max_per_owner: usize,
    idle_timeout: Duration,
    clock: Arc<dyn Clock>,
    close: Option<Closer>,
}

impl SessionBinding {
    /// A builder with the defaults: 10 000 sessions, 16 per user, 30 minutes idle.
    pub fn builder() -> SessionBindingBuilder {
        SessionBindingBuilder {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_per_owner: DEFAULT_MAX_SESSIONS_PER_USER,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            clock: Arc::new(SystemClock),
            close: None,
        }
    }

    /// How many sessions are bound now.
    pub fn len(&self) -> usize {
        self.shared.lock().by_id.len()
    }

    /// Whether no session is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionBindingBuilder {
    /// The most sessions bound at once, over all users (default 10 000).
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    /// The most sessions one user holds at once (default 16); a further `initialize` drops the
    /// user's least recently used session.
    pub fn max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_per_owner = max;
        self
    }

    /// How long an unused binding is kept (default 30 minutes). Keep it at or above the
    /// session manager's own idle timeout (`keep_alive`), or idle sessions are refused to
    /// their owners before the session manager ends them.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Closes a session in `sessions` (the session manager given to rmcp-actix-web) whenever
    /// its binding is dropped for a bound, so the sessions themselves stay bounded too.
    pub fn closing<M: SessionManager>(mut self, sessions: Arc<M>) -> Self {
        self.close = Some(Box::new(move |id: String| {
            let sessions = Arc::clone(&sessions);
            Box::pin(async move {
                let id: SessionId = id.into();
                if let Err(e) = sessions.close_session(&id).await {
                    log::debug!("closing an evicted MCP session failed: {e}");
                }
            })
        }));
        self
    }

    /// The clock idle timeouts are measured with (the system clock unless a test drives it).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the bounds: each must be at least 1 (idle timeout: at least one second).
    pub fn build(self) -> Result<SessionBinding, ConfigError> {
        if self.max_sessions == 0 {
            return Err(invalid("max_sessions", "must be at least 1"));
        }
        if self.max_per_owner == 0 {
            return Err(invalid("max_sessions_per_user", "must be at least 1"));
        }
        if self.idle_timeout.as_secs() == 0 {
            return Err(invalid("idle_timeout", "must be at least one second"));
        }
        Ok(SessionBinding {
            shared: Arc::new(Shared {
                table: Mutex::new(Table::new(
                    self.max_sessions,
                    self.max_per_owner.min(self.max_sessions),
                    self.idle_timeout.as_secs(),
                )),
                clock: self.clock,
                close: self.close,
            }),
        })
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // The table is consistent after every statement that can panic; a poisoned lock only
        // means another request panicked while holding it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self, ids: Vec<String>) {
        let Some(close) = &self.close else { return };
        for id in ids {
            actix_web::rt::spawn(close(id));
        }
    }
}

/// Who owns a session: the issuer (when the token names one) and the user id, so that equal
/// user ids at two issuers of one verifier are still two users.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Owner(Arc<(Option<String>, String)>);

impl Owner {
    fn of(user: &AuthUser) -> Self {
        let issuer = user.claims().get_str("iss").map(str::to_owned);
        Self(Arc::new((issuer, user.user_id.clone())))
    }

    /// Whether `user` is this owner; copies nothing, so checking a request costs no allocation.
    fn is(&self, user: &AuthUser) -> bool {
        let (issuer, id) = &*self.0;
        *id == user.user_id && issuer.as_deref() == user.claims().get_str("iss")
    }
}

struct Entry {
    owner: Owner,
    /// When last used, in seconds: for the idle timeout.
    last_used: u64,
    /// The order of last use, for least-recently-used eviction within one second.
    used_seq: u64,
}

/// Why a new session was not bound.
#[derive(Debug, PartialEq, Eq)]
enum Unbound {
    /// Its id is bound to another user already.
    Taken,
    /// The table is full of live bindings; the idle ones dropped on the way are given back.
    Full(Vec<String>),
}

/// The bindings and their bounds; every operation is given the time.
struct Table {
    by_id: HashMap<String, Entry>,
    per_owner: HashMap<Owner, usize>,
    max_sessions: usize,
    max_per_owner: usize,
    idle_secs: u64,
    seq: u64,
}

impl Table {
    fn new(max_sessions: usize, max_per_owner: usize, idle_secs: u64) -> Self {
        Self {
            by_id: HashMap::new(),
            per_owner: HashMap::new(),
            max_sessions,
            max_per_owner,
            idle_secs,
            seq: 0,
        }
    }

    /// Whether session `id` may be used now by the user `is_owner` recognises as its owner;
    /// refreshes its last use. An idle binding is removed and returned in `dropped` (to be
    /// closed).
    fn admit(
        &mut self,
        id: &str,
        is_owner: impl FnOnce(&Owner) -> bool,
        now: u64,
        dropped: &mut Vec<String>,
    ) -> bool {
        let Some(entry) = self.by_id.get_mut(id) else {
            return false;
        };
        if now.saturating_sub(entry.last_used) >= self.idle_secs {
            self.remove(id);
            dropped.push(id.to_owned());
            return false;
        }
        if !is_owner(&entry.owner) {
            return false;
        }
        entry.last_used = now;
        self.seq += 1;
        entry.used_seq = self.seq;
        true
    }

    /// Binds `id` to `owner`, returning the sessions dropped to stay within the bounds, or why
    /// it cannot be bound (the new session must then be closed, not served).
    fn bind(&mut self, id: String, owner: Owner, now: u64) -> Result<Vec<String>, Unbound> {
        if let Some(entry) = self.by_id.get(&id) {
            // A session id is never reissued by the transport. If one were, the session stays
            // with its first owner: handing it to whoever answered last would let a response
            // take a session from its user.
            return if entry.owner == owner {
                Ok(Vec::new())
            } else {
                Err(Unbound::Taken)
            };
        }
        let mut dropped = Vec::new();
        if self.per_owner.get(&owner).copied().unwrap_or(0) >= self.max_per_owner {
            if let Some(oldest) = self.least_recently_used(&owner) {
                self.remove(&oldest);
                dropped.push(oldest);
            }
        }
        if self.by_id.len() >= self.max_sessions {
            let idle_secs = self.idle_secs;
            let idle: Vec<String> = self
                .by_id
                .iter()
                .filter(|(_, e)| now.saturating_sub(e.last_used) >= idle_secs)
                .map(|(id, _)| id.clone())
                .collect();
            for id in idle {
                self.remove(&id);
                dropped.push(id);
            }
        }
        if self.by_id.len() >= self.max_sessions {
            return Err(Unbound::Full(dropped));
        }
        *self.per_owner.entry(owner.clone()).or_insert(0) += 1;
        self.seq += 1;
        self.by_id.insert(
            id,
            Entry {
                owner,
                last_used: now,
                used_seq: self.seq,
            },
        );
        Ok(dropped)
    }

    /// Server-to-client traffic of `owner` on session `id`: its last use is now.
    fn touch(&mut self, id: &str, owner: &Owner, now: u64) {
        if let Some(entry) = self.by_id.get_mut(id) {
            if entry.owner == *owner {
                entry.last_used = entry.last_used.max(now);
            }
        }
    }

    fn least_recently_used(&self, of: &Owner) -> Option<String> {
        self.by_id
            .iter()
            .filter(|(_, e)| e.owner == *of)
            .min_by_key(|(_, e)| e.used_seq)
            .map(|(id, _)| id.clone())
    }

    fn remove(&mut self, id: &str) {
        let Some(entry) = self.by_id.remove(id) else {
            return;
        };
        if let Some(count) = self.per_owner.get_mut(&entry.owner) {
            *count -= 1;
            if *count == 0 {
                self.per_owner.remove(&entry.owner);
            }
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionBinding
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionBindingService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionBindingService {
            service: Rc::new(service),
            shared: Arc::clone(&self.shared),
        }))
    }
}

/// The per-worker service of [`SessionBinding`].
pub struct SessionBindingService<S> {
    service: Rc<S>,
    shared: Arc<Shared>,
}

type Answer<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

impl<S, B> Service<ServiceRequest> for SessionBindingService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Answer<B>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // The owner is built only when a session is claimed or opened: a stateless request
        // (or one that opens no session) pays for no copy of the user id.
        let Some(user) = req.extensions().get::<AuthUser>().cloned() else {
            // Preflight requests never get here when CORS is outside; anything else without a
            // user means the middleware order is wrong, and sessions must not go unguarded.
            log::error!(
                "SessionBinding saw a request without an AuthUser: wrap the MCP scope with \
                 `.wrap(binding)` before `.wrap(proxy.require_auth())` so that RequireAuth runs first"
            );
            return answer_now(req, HttpResponse::InternalServerError().finish());
        };
        let claimed = match req.headers().get(&SESSION_HEADER).map(HeaderValue::to_str) {
            None => None,
            Some(Ok(id)) => Some(id.to_owned()),
            Some(Err(_)) => return answer_now(req, not_found()),
        };
        if let Some(id) = &claimed {
            let mut dropped = Vec::new();
            let now = self.shared.clock.now();
            let admitted = self
                .shared
                .lock()
                .admit(id, |owner| owner.is(&user), now, &mut dropped);
            self.shared.close(dropped);
            if !admitted {
                log::debug!("refused an MCP session id the signed-in user does not own");
                return answer_now(req, not_found());
            }
        }
        let deleting = req.method() == Method::DELETE;
        let streaming = req.method() == Method::GET;
        let shared = Arc::clone(&self.shared);
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let res = service.call(req).await?;
            let status = res.status();
            if let Some(id) = &claimed {
                if deleting && status.is_success() {
                    shared.lock().remove(id);
                } else if status == StatusCode::NOT_FOUND {
                    let (unknown, read) = session_not_found(res).await?;
                    if unknown {
                        shared.lock().remove(id);
                    }
                    return Ok(read);
                }
            }
            let opened = res
                .headers()
                .get(&SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|id| claimed.as_deref() != Some(*id))
                .map(str::to_owned);
            if let Some(id) = opened {
                let now = shared.clock.now();
                let bound = shared.lock().bind(id.clone(), Owner::of(&user), now);
                match bound {
                    Ok(dropped) => shared.close(dropped),
                    Err(unbound) => {
                        match unbound {
                            Unbound::Taken => log::error!(
                                "the MCP transport answered a session id that is bound to \
                                 another user: refused, the session stays with its owner"
                            ),
                            Unbound::Full(dropped) => {
                                log::warn!(
                                    "a new MCP session was refused: the session binding is \
                                     full of live sessions (max_sessions)"
                                );
                                shared.close(dropped);
                                shared.close(vec![id]);
                            }
                        }
                        let (req, _) = res.into_parts();
                        let busy = HttpResponse::ServiceUnavailable()
                            .insert_header(("retry-after", "5"))
                            .finish();
                        return Ok(ServiceResponse::new(req, busy).map_into_right_body());
                    }
                }
            }
            if let (true, Some(id), true) = (streaming, &claimed, status.is_success()) {
                let touch = Touch {
                    shared: Arc::clone(&shared),
                    id: id.clone(),
                    owner: Owner::of(&user),
                    last: shared.clock.now(),
                };
                // Boxed as the right side: the left one keeps the transport's body type.
                return Ok(res.map_body(|_, body| {
                    EitherBody::right(BoxBody::new(Touching {
                        body: BoxBody::new(body),
                        touch,
                    }))
                }));
            }
            Ok(res.map_into_left_body())
        })
    }
}

/// Whether a `404` of the transport is its "session not found" (exactly rmcp's answer, not a
/// JSON-RPC "method not found" or a route of yours), and the same answer with its body read.
async fn session_not_found<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> Result<(bool, ServiceResponse<EitherBody<B>>), actix_web::Error> {
    let size = res.response().body().size();
    let octets = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == NOT_FOUND_TYPE.as_bytes());
    let sized_alike = size == BodySize::Sized(NOT_FOUND_BODY.len() as u64);
    if !(octets && (sized_alike || size == BodySize::Stream)) {
        return Ok((false, res.map_into_left_body()));
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    // rmcp streams it; anything much longer is not that answer (and a 404 all the same).
    let bytes: Bytes = match actix_web::body::to_bytes_limited(body, 1024).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            return Err(actix_web::error::ErrorInternalServerError(
                e.into().to_string(),
            ))
        }
        Err(_) => Bytes::new(),
    };
    let unknown = bytes == NOT_FOUND_BODY.as_bytes();
    let res = head.set_body(BoxBody::new(bytes));
    Ok((
        unknown,
        ServiceResponse::new(req, res).map_into_right_body(),
    ))
}

/// Refreshes a binding's last use when its `GET` stream carries an event, at most once a
/// second.
struct Touch {
    shared: Arc<Shared>,
    id: String,
    owner: Owner,
    last: u64,
}

/// A `GET` stream's body, counting each chunk the server sends as use of the session.
struct Touching {
    body: BoxBody,
    touch: Touch,
}

impl MessageBody for Touching {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let next = Pin::new(&mut this.body).poll_next(cx);
        if let Poll::Ready(Some(Ok(_))) = &next {
            let touch = &mut this.touch;
            let now = touch.shared.clock.now();
            if now > touch.last {
                touch.last = now;
                touch.shared.lock().touch(&touch.id, &touch.owner, now);
            }
        }
        next
    }
}

/// The transport's own answer for an unknown session, to the byte: rmcp's body, as
/// `application/octet-stream` the way rmcp-actix-web passes it on (this middleware reads that
/// answer to recognise it, so the transport's copy leaves here with the same length header).
fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type(NOT_FOUND_TYPE)
        .body(NOT_FOUND_BODY)
}

/// `res` at once, after reading a small request body (as `RequireAuth` does for its
/// refusals), so that the connection stays open exactly as it would after the transport's own
/// answer.
fn answer_now<B>(
    mut req: ServiceRequest,
    res: HttpResponse,
) -> Pin<Box<dyn Future<Output = Answer<B>>>>
where
    B: MessageBody + 'static,
{
    Box::pin(async move {
        drain_small_body(&mut req).await;
        Ok(req.into_response(res).map_into_right_body())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(id: &str) -> Owner {
        Owner(Arc::new((Some("https://issuer.example".into()), id.into())))
    }

    #[test]
    fn only_the_owner_is_admitted() {
        let mut t = Table::new(10, 10, 60);
        assert_eq!(t.bind("s1".into(), owner("ada"), 0), Ok(vec![]));
        let mut dropped = Vec::new();
        assert!(t.admit("s1", |o| *o == owner("ada"), 1, &mut dropped));
        assert!(!t.admit("s1", |o| *o == owner("bob"), 1, &mut dropped));
        assert!(!t.admit("unknown", |o| *o == owner("ada"), 1, &mut dropped));
        assert!(dropped.is_empty());
    }

    #[test]
    fn a_bound_id_is_never_bound_to_another_user() {
        let mut t = Table::new(10, 10, 60);
        t.bind("s1".into(), owner("ada"), 0).unwrap();
        assert_eq!(t.bind("s1".into(), owner("bob"), 1), Err(Unbound::Taken));
        assert!(t.admit("s1", |o| *o == owner("ada"), 2, &mut Vec::new()));
        assert!(!t.admit("s1", |o| *o == owner("bob"), 2, &mut Vec::new()));
        assert_eq!(t.bind("s1".into(), owner("ada"), 3), Ok(vec![]));
        assert_eq!(t.per_owner[&owner("ada")], 1);
    }

    #[test]
    fn the_same_user_id_at_another_issuer_is_another_user() {
        let mut t = Table::new(10, 10, 60);
        t.bind("s1".into(), owner("ada"), 0).unwrap();
        let elsewhere = Owner(Arc::new((
            Some("https://other.example".into()),
            "ada".into(),
        )));
        assert!(!t.admit("s1", |o| *o == elsewhere, 1, &mut Vec::new()));
    }

    #[test]
    fn an_idle_binding_is_dropped_and_refused() {
        let mut t = Table::new(10, 10, 60);
        t.bind("s1".into(), owner("ada"), 0).unwrap();
        let mut dropped = Vec::new();
        assert!(t.admit("s1", |o| *o == owner("ada"), 59, &mut dropped));
        assert!(!t.admit("s1", |o| *o == owner("ada"), 119, &mut dropped));
        assert_eq!(dropped, ["s1"]);
        assert!(t.by_id.is_empty() && t.per_owner.is_empty());
    }

    #[test]
    fn stream_traffic_keeps_a_binding_from_going_idle() {
        let mut t = Table::new(10, 10, 60);
        t.bind("s1".into(), owner("ada"), 0).unwrap();
        t.touch("s1", &owner("ada"), 50);
        t.touch("s1", &owner("bob"), 100);
        assert!(t.admit("s1", |o| *o == owner("ada"), 105, &mut Vec::new()));
        assert!(!t.admit("s1", |o| *o == owner("ada"), 200, &mut Vec::new()));
    }

    #[test]
    fn a_user_past_the_per_user_bound_loses_their_own_oldest_session() {
        let mut t = Table::new(100, 2, 600);
        t.bind("bob-1".into(), owner("bob"), 0).unwrap();
        t.bind("ada-1".into(), owner("ada"), 1).unwrap();
        t.bind("ada-2".into(), owner("ada"), 2).unwrap();
        assert_eq!(
            t.bind("ada-3".into(), owner("ada"), 3),
            Ok(vec!["ada-1".into()])
        );
        assert_eq!(t.per_owner[&owner("ada")], 2);
        assert!(t.admit("bob-1", |o| *o == owner("bob"), 4, &mut Vec::new()));
    }

    #[test]
    fn when_full_of_live_sessions_a_new_one_is_refused_and_nobody_is_evicted() {
        let mut t = Table::new(3, 3, 600);
        for i in 0..3u64 {
            t.bind(format!("s{i}"), owner(&format!("user{i}")), 5)
                .unwrap();
        }
        for i in 3..50u64 {
            // Many accounts, each within its own quota: none pushes another user out.
            assert_eq!(
                t.bind(format!("s{i}"), owner(&format!("user{i}")), 5),
                Err(Unbound::Full(vec![]))
            );
        }
        assert_eq!(t.by_id.len(), 3);
        for i in 0..3u64 {
            assert!(t.admit(
                &format!("s{i}"),
                |o| *o == owner(&format!("user{i}")),
                6,
                &mut Vec::new()
            ));
        }
        let total: usize = t.per_owner.values().sum();
        assert_eq!(total, t.by_id.len());
        // At the global bound, a user's second session is refused too (their first stays).
        assert_eq!(
            t.bind("s0-b".into(), owner("user0"), 7),
            Err(Unbound::Full(vec![]))
        );
        assert!(t.by_id.contains_key("s0"));
    }

    #[test]
    fn when_full_idle_bindings_go_before_live_ones() {
        let mut t = Table::new(2, 2, 10);
        t.bind("old".into(), owner("ada"), 0).unwrap();
        t.bind("live".into(), owner("bob"), 15).unwrap();
        let dropped = t.bind("new".into(), owner("carol"), 16);
        assert_eq!(dropped, Ok(vec!["old".into()]));
        assert!(t.by_id.contains_key("live") && t.by_id.contains_key("new"));
    }

    #[test]
    fn zero_bounds_are_configuration_errors() {
        assert!(SessionBinding::builder().max_sessions(0).build().is_err());
        assert!(SessionBinding::builder()
            .max_sessions_per_user(0)
            .build()
            .is_err());
        assert!(SessionBinding::builder()
            .idle_timeout(Duration::from_millis(10))
            .build()
            .is_err());
        let binding = SessionBinding::builder().build().expect("defaults build");
        assert!(binding.is_empty());
    }
}
