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
    any::Any,
    future::Future,
    pin::Pin,
    rc::Rc,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};

use ::rmcp::transport::streamable_http_server::session::{
    local::{LocalSessionManager, SessionConfig},
    SessionId, SessionManager,
};
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

use super::session_table::{Owner, Table, Unbound};
use crate::{
    clock::{Clock, SystemClock},
    http::OutageLog,
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
/// The content type of a stream of server-to-client events (a `GET`, or the answer to a
/// `POST` that the server streams).
const EVENT_STREAM: &str = "text/event-stream";

const DEFAULT_MAX_SESSIONS: usize = 10_000;
const DEFAULT_MAX_SESSIONS_PER_USER: usize = 16;

/// Middleware that binds each MCP session to the user who opened it (feature `rmcp`).
///
/// Built from the session manager given to rmcp-actix-web, so that every session the binding
/// lets go is closed there too. Wrap the MCP scope with it *inside*
/// [`RequireAuth`](crate::RequireAuth) (actix runs the last `wrap` first, so `.wrap(binding)`
/// goes before `.wrap(proxy.require_auth())`):
///
/// ```no_run
/// use std::sync::Arc;
///
/// use actix_mcp_oauth::SessionBinding;
/// use rmcp_actix_web::transport::LocalSessionManager;
///
/// # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
/// let sessions = Arc::new(LocalSessionManager::default());
/// let binding = SessionBinding::builder(sessions.clone()).build()?;
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
/// - Server-to-client traffic on a stream (`GET`, or the SSE answer to a `POST`) counts as
///   use: a client that only listens, or waits on a long tool call, is not idle.
/// - A request without an [`AuthUser`] (the middleware outside `RequireAuth`, or an anonymous
///   request under [`allow_anonymous`](crate::RequireAuth::allow_anonymous)) is answered `500`
///   and logged: sessions are never left unguarded by a wrong order.
///
/// Memory is bounded, in the binding and in the session manager: at most
/// [`max_sessions`](SessionBindingBuilder::max_sessions) sessions, at most
/// [`max_sessions_per_user`](SessionBindingBuilder::max_sessions_per_user) per user, and a
/// session unused for [`idle_timeout`](SessionBindingBuilder::idle_timeout) (by default the
/// session manager's own `keep_alive`) is dropped. Every session the binding drops or refuses
/// is closed in the session manager, so rmcp never holds a session the binding has let go.
/// Past the per-user bound the user's own least recently used session goes, so one user
/// opening sessions in a loop only ever loses their own. Past the global bound (idle sessions
/// dropped first) a new session is refused with `503` and closed rather than evicting anyone
/// else's: many accounts acting together (`max_sessions / max_sessions_per_user` of them, 625
/// with the defaults) cannot push other users out of their sessions, only be told to retry.
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
    close: Closer,
    /// "Full", logged once per interval: a flood of `initialize` is not a line each.
    full: OutageLog,
}

type Closer = Box<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;

impl std::fmt::Debug for SessionBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.shared.lock();
        f.debug_struct("SessionBinding")
            .field("sessions", &table.len())
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
    close: Closer,
}

impl SessionBinding {
    /// A builder for the sessions of `sessions`, the session manager given to
    /// rmcp-actix-web, with the defaults: 10 000 sessions, 16 per user, idle after the session
    /// manager's `keep_alive` (rmcp's [`LocalSessionManager`]: its
    /// `session_config.keep_alive`, five minutes unless changed; any other session manager,
    /// or one that never ends idle sessions: five minutes).
    pub fn builder<M: SessionManager>(sessions: Arc<M>) -> SessionBindingBuilder {
        let idle_timeout = keep_alive_of(&*sessions).max(Duration::from_secs(1));
        let close: Closer = Box::new(move |id: String| {
            let sessions = Arc::clone(&sessions);
            Box::pin(async move {
                let id: SessionId = id.into();
                if let Err(e) = sessions.close_session(&id).await {
                    log::debug!("closing an MCP session the binding let go failed: {e}");
                }
            })
        });
        SessionBindingBuilder {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_per_owner: DEFAULT_MAX_SESSIONS_PER_USER,
            idle_timeout,
            clock: Arc::new(SystemClock),
            close,
        }
    }

    /// How many sessions are bound now.
    pub fn len(&self) -> usize {
        self.shared.lock().len()
    }

    /// Whether no session is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How long the session manager keeps an idle session: rmcp's `LocalSessionManager` says;
/// for the others (and when it keeps them for ever) rmcp's default.
fn keep_alive_of(sessions: &dyn Any) -> Duration {
    sessions
        .downcast_ref::<LocalSessionManager>()
        .and_then(|local| local.session_config.keep_alive)
        .unwrap_or(SessionConfig::DEFAULT_KEEP_ALIVE)
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

    /// How long an unused session is kept (default: the session manager's `keep_alive`, see
    /// [`SessionBinding::builder`]); it is then refused with `404` and closed. Longer than
    /// rmcp's own `keep_alive` serves no purpose: rmcp has ended the session by then, and
    /// its owner would get rmcp's `500` for it instead of the `404` that makes a client
    /// open a new one. Shorter ends idle sessions sooner.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
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
                full: OutageLog::new("new MCP sessions are refused"),
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

    /// Ends `ids` in the session manager, in the background (the request does not wait).
    fn close(&self, ids: Vec<String>) {
        for id in ids {
            actix_web::rt::spawn((self.close)(id));
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
        let mut owner = None;
        if let Some(id) = &claimed {
            let mut dropped = Vec::new();
            let now = self.shared.clock.now();
            owner = self
                .shared
                .lock()
                .admit(id, |owner| owner.is(&user), now, &mut dropped);
            self.shared.close(dropped);
            if owner.is_none() {
                log::debug!("refused an MCP session id the signed-in user does not own");
                return answer_now(req, not_found());
            }
        }
        let deleting = req.method() == Method::DELETE;
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
                                shared.full.record(
                                    now,
                                    "the session binding is full of live sessions \
                                     (max_sessions)",
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
            let (Some(id), Some(owner)) = (claimed, owner) else {
                return Ok(res.map_into_left_body());
            };
            let event_stream = res
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(EVENT_STREAM.as_bytes()));
            if status.is_success() && event_stream {
                let touch = Touch {
                    shared: Arc::clone(&shared),
                    id,
                    owner,
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

/// Refreshes a binding's last use when its event stream carries an event, at most once a
/// second.
struct Touch {
    shared: Arc<Shared>,
    id: String,
    owner: Owner,
    last: u64,
}

/// An event stream's body, counting each chunk the server sends as use of the session.
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
    use ::rmcp::transport::streamable_http_server::session::never::NeverSessionManager;

    use super::*;

    fn idle_secs(binding: &SessionBinding) -> u64 {
        binding.shared.lock().idle_secs
    }

    fn local(keep_alive: Option<Duration>) -> Arc<LocalSessionManager> {
        let mut sessions = LocalSessionManager::default();
        sessions.session_config.keep_alive = keep_alive;
        Arc::new(sessions)
    }

    #[test]
    fn the_idle_timeout_is_the_session_managers_keep_alive() {
        let of = |sessions| idle_secs(&SessionBinding::builder(sessions).build().unwrap());
        assert_eq!(of(Arc::new(LocalSessionManager::default())), 300);
        assert_eq!(of(local(Some(Duration::from_secs(90)))), 90);
        // A session manager that never ends idle sessions: the binding still does.
        assert_eq!(of(local(None)), 300);
        assert_eq!(of(local(Some(Duration::from_millis(200)))), 1);
        let other = SessionBinding::builder(Arc::new(NeverSessionManager::default()));
        assert_eq!(idle_secs(&other.build().unwrap()), 300);
        let set = SessionBinding::builder(local(Some(Duration::from_secs(90))))
            .idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        assert_eq!(idle_secs(&set), 30);
    }

    #[test]
    fn zero_bounds_are_configuration_errors() {
        let builder = || SessionBinding::builder(Arc::new(LocalSessionManager::default()));
        assert!(builder().max_sessions(0).build().is_err());
        assert!(builder().max_sessions_per_user(0).build().is_err());
        assert!(builder()
            .idle_timeout(Duration::from_millis(10))
            .build()
            .is_err());
        let binding = builder().build().expect("defaults build");
        assert!(binding.is_empty());
    }
}
