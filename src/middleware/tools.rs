//! Scope requirements per MCP tool: which tool a `POST` calls, read from the JSON-RPC body
//! without building it (one pass over the bytes that checks the grammar and reads only
//! `method` and `params.name`, with a borrowed serde parse for the bodies it leaves alone),
//! and the requirements and challenges of each tool, prepared once.
//!
//! Only a `RequireAuth` with tool requirements reads bodies: the body (at most
//! `max_tool_call_bytes`) is read, scanned and handed back to the handler unchanged. A
//! JSON-RPC batch (an array, which MCP 2025-06-18 dropped but older clients send) is checked
//! as a whole: it needs every scope any of its calls needs. A body that is not JSON-RPC is
//! refused (400 `invalid_request`) rather than passed on unchecked: a handler whose parser
//! were more lenient than this one must not see a tool call this check did not. For the same
//! reason a body with a `Content-Encoding` other than `identity` is refused (415): this check
//! would read the compressed bytes while the handler read what they decode to.
//!
//! A refusal names everything at once: the 403 lists the scopes the token holds and every
//! scope the request (the route and each call of a batch) needs that it lacks, so that a
//! client re-authorizing with exactly that list keeps what it had and gets one consent page
//! (MCP 2025-11-25, "Scope Challenge Handling": existing and newly required scopes).

use std::{borrow::Cow, fmt};

use actix_web::{dev::ServiceRequest, web::BytesMut, HttpMessage};
use futures::StreamExt;
use serde::{
    de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor},
    Deserialize, Deserializer,
};

use crate::{
    challenge::{AuthError, BearerErrorCode, Challenge},
    logged::Logged,
    scope::ScopeModel,
    AuthUser,
};

/// The largest body read to find the tool unless configured otherwise; a larger one is refused.
pub(super) const DEFAULT_TOOL_CALL_BYTES: usize = 4 * 1024 * 1024;
/// The ceiling of `max_tool_call_bytes`: the whole body is held while it is checked.
pub(super) const MAX_TOOL_CALL_BYTES: usize = 64 * 1024 * 1024;

/// One required scope, and every scope that satisfies it (itself, and those implying it).
#[derive(Debug, Clone)]
pub(super) struct Requirement {
    pub(super) scope: Box<str>,
    satisfied_by: Box<[Box<str>]>,
}

impl Requirement {
    pub(super) fn new(scope: &str, model: Option<&ScopeModel>) -> Self {
        let satisfied_by = match model {
            Some(model) => model.satisfying(scope),
            None => vec![scope.to_owned()],
        };
        Self {
            scope: scope.into(),
            satisfied_by: satisfied_by.into_iter().map(Into::into).collect(),
        }
    }

    pub(super) fn met(&self, user: &AuthUser) -> bool {
        user.scopes
            .iter()
            .any(|held| self.satisfied_by.iter().any(|s| **s == **held))
    }
}

/// What calling one tool needs: the route's requirements and the tool's.
#[derive(Debug)]
pub(super) struct ToolRule {
    requirements: Vec<Requirement>,
}

/// The tools with requirements of their own. A list, not a hash map: servers name a few
/// tools here, and comparing a short name with each costs less than hashing it.
#[derive(Debug, Default)]
pub(super) struct ToolRules {
    rules: Vec<(Box<str>, ToolRule)>,
}

/// What the scan of a body found.
pub(super) enum Scan<'a> {
    /// No call to a tool with requirements.
    Free,
    /// A call of this tool (no allocation for the common, single message).
    Call(&'a ToolRule),
    /// Calls of these tools, in a batch.
    Calls(Vec<&'a ToolRule>),
    /// Not JSON-RPC, or too long.
    Unreadable(&'static str),
}

/// A JSON-RPC message as far as the check needs it; every other member is skipped unparsed.
/// A member given twice is an error (serde's derive), so no later parser can read another
/// `method` than this one did.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

/// `params.name` when `params` is an object and `name` a string; any other `params` (an
/// array, a scalar) or `name` (not a string) reads as no name. One pass over `params`:
/// `arguments`, however large, is skipped, not parsed twice.
struct Params<'a> {
    name: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ParamsVisitor)
    }
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut name: Option<Option<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key::<ParamsKey>()? {
            if key.is_name {
                if name.is_some() {
                    return Err(de::Error::duplicate_field("name"));
                }
                name = Some(map.next_value::<MaybeStr<'de>>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Params {
            name: name.flatten(),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Params { name: None })
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Params { name: None })
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Params { name: None })
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Params { name: None })
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Params { name: None })
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Params { name: None })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Params { name: None })
    }
}

/// A key of `params`, compared with `name` as it is read: serde's `Cow<str>` would copy
/// every key into a `String` first.
struct ParamsKey {
    is_name: bool,
}

impl<'de> Deserialize<'de> for ParamsKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ParamsKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
                Ok(ParamsKey {
                    is_name: key == "name",
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// A string, borrowed when it has no escapes; anything else reads as `None`.
struct MaybeStr<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for MaybeStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Owned(s.to_owned()))))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_map(map)?;
                Ok(MaybeStr(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_seq(seq)?;
                Ok(MaybeStr(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl ToolRules {
    /// The rules of `tools` (each with its scopes), on top of the route's `route` scopes.
    pub(super) fn new(
        tools: &[(String, Vec<String>)],
        route: &[String],
        model: Option<&ScopeModel>,
    ) -> Self {
        let mut rules: Vec<(Box<str>, ToolRule)> = Vec::new();
        for (tool, _) in tools {
            if rules.iter().any(|(t, _)| **t == **tool) {
                continue;
            }
            let mut all: Vec<&str> = Vec::new();
            // A tool named twice needs what every setting of it says.
            let all_settings = tools.iter().filter(|(t, _)| t == tool).flat_map(|(_, s)| s);
            for scope in route.iter().chain(all_settings) {
                if !all.contains(&scope.as_str()) {
                    all.push(scope);
                }
            }
            rules.push((
                tool.as_str().into(),
                ToolRule {
                    requirements: all.iter().map(|s| Requirement::new(s, model)).collect(),
                },
            ));
        }
        Self { rules }
    }

    /// Which configured tools `body` calls.
    pub(super) fn scan<'a>(&'a self, body: &[u8]) -> Scan<'a> {
        match quick(body) {
            Some(found) => self.rule_of(found.method, found.name),
            None => self.scan_parsed(body),
        }
    }

    /// [`Self::scan`] through serde: the path for every body the fast scan leaves alone,
    /// and the reference the fast scan is tested against.
    fn scan_parsed<'a>(&'a self, body: &[u8]) -> Scan<'a> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            let Ok(batch) = serde_json::from_slice::<Vec<Message<'_>>>(body) else {
                return Scan::Unreadable("the body is not JSON-RPC");
            };
            let mut calls = Vec::new();
            for message in &batch {
                match self.rule(message) {
                    Ok(Some(rule)) => calls.push(rule),
                    Ok(None) => {}
                    Err(why) => return Scan::Unreadable(why),
                }
            }
            return if calls.is_empty() {
                Scan::Free
            } else {
                Scan::Calls(calls)
            };
        }
        match serde_json::from_slice::<Message<'_>>(body) {
            Ok(message) => match self.rule(&message) {
                Ok(Some(rule)) => Scan::Call(rule),
                Ok(None) => Scan::Free,
                Err(why) => Scan::Unreadable(why),
            },
            Err(_) => Scan::Unreadable("the body is not JSON-RPC"),
        }
    }

    fn rule_of(&self, method: Option<&[u8]>, name: Option<&[u8]>) -> Scan<'_> {
        if method != Some(b"tools/call") {
            return Scan::Free;
        }
        let Some(name) = name else {
            return Scan::Unreadable("a tools/call without a tool name");
        };
        match self.rules.iter().find(|(tool, _)| tool.as_bytes() == name) {
            Some((_, rule)) => Scan::Call(rule),
            None => Scan::Free,
        }
    }

    fn rule(&self, message: &Message<'_>) -> Result<Option<&ToolRule>, &'static str> {
        if message.method.as_deref() != Some("tools/call") {
            return Ok(None);
        }
        let name = message
            .params
            .as_ref()
            .and_then(|p| p.name.as_deref())
            .ok_or("a tools/call without a tool name")?;
        Ok(self
            .rules
            .iter()
            .find(|(tool, _)| **tool == *name)
            .map(|(_, rule)| rule))
    }
}

/// The members of one JSON-RPC message the check reads, as raw bytes.
struct Found<'a> {
    method: Option<&'a [u8]>,
    name: Option<&'a [u8]>,
}

/// The fast path of [`ToolRules::scan`] for the common request, one JSON-RPC object: a single
/// pass over the bytes that checks the JSON grammar as it goes and builds nothing. It answers
/// only when it is sure to read the body as serde would; anything unusual (a batch, an escape
/// in a member name or in `method` or `params.name`, a `params` that is not an object, a
/// member given twice, deep nesting, any error) returns `None` and the body goes to the
/// serde path, which decides.
fn quick(body: &[u8]) -> Option<Found<'_>> {
    // Outside strings any byte past ASCII is a syntax error anyway; inside, serde checks
    // UTF-8 too. One check up front lets the scanner treat those bytes as opaque.
    std::str::from_utf8(body).ok()?;
    let mut s = Scanner { b: body, i: 0 };
    s.ws();
    let mut found = Found {
        method: None,
        name: None,
    };
    let (mut seen_method, mut seen_params) = (false, false);
    s.members(|s, key| {
        match key {
            b"method" => {
                if std::mem::replace(&mut seen_method, true) {
                    return None;
                }
                found.method = Some(s.plain_string()?);
            }
            b"params" => {
                if std::mem::replace(&mut seen_params, true) {
                    return None;
                }
                let mut seen_name = false;
                s.members(|s, key| {
                    if key == b"name" {
                        if std::mem::replace(&mut seen_name, true) {
                            return None;
                        }
                        found.name = Some(s.plain_string()?);
                        Some(())
                    } else {
                        s.value(0)
                    }
                })?;
            }
            _ => s.value(0)?,
        }
        Some(())
    })?;
    s.ws();
    (s.i == body.len()).then_some(found)
}

/// Nesting past this depth is left to serde (whose own limit is 128).
const QUICK_DEPTH: usize = 64;

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// An object (after leading whitespace), calling `member` with each key, positioned at
    /// its value; `member` must consume the value.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.sequence(b'{', b'}', |s| {
            let key = s.plain_string()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            member(s, key)
        })
    }

    /// `open`, items separated by commas (each read by `item`), `close`: an object's members
    /// or an array's values.
    fn sequence(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                byte if byte == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string without escapes, its bytes between the quotes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(&self.b[start..self.i - 1]);
                }
                b'\\' => return None,
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }

    /// Any string, escapes checked as serde checks them.
    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = self.b.get(self.i + 1..self.i + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 5;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A number in JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() && self.digits() == 0 {
            return None;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    /// Any value, checked and skipped.
    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > QUICK_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string(),
            b'{' => self.sequence(b'{', b'}', |s| {
                s.string()?;
                s.ws();
                s.eat(b':')?;
                s.ws();
                s.value(depth + 1)
            }),
            b'[' => self.sequence(b'[', b']', |s| s.value(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }
}

/// Every requirement of `calls` (each already holds the route's), each scope once.
pub(super) fn needs<'a>(calls: &[&'a ToolRule]) -> Vec<&'a Requirement> {
    let mut out: Vec<&Requirement> = Vec::new();
    for requirement in calls.iter().flat_map(|rule| &rule.requirements) {
        if !out.iter().any(|r| r.scope == requirement.scope) {
            out.push(requirement);
        }
    }
    out
}

/// Whether a request that needs `needed` may pass. Without a token: 401 asking for all of
/// `needed` (the scopes to request in the first authorization). With a token lacking some:
/// 403 `insufficient_scope` whose `scope` is what the token holds followed by what it lacks.
pub(super) fn admit(
    needed: &[&Requirement],
    user: Option<&AuthUser>,
    resource_metadata: &str,
) -> Result<(), AuthError> {
    let base = Challenge::builder().resource_metadata(resource_metadata);
    let Some(user) = user else {
        if needed.is_empty() {
            return Ok(());
        }
        let asked: Vec<&str> = needed.iter().map(|r| &*r.scope).collect();
        return Err(AuthError::MissingToken(base.scope(asked).build()));
    };
    let mut lacking = needed.iter().filter(|r| !r.met(user)).peekable();
    if lacking.peek().is_none() {
        return Ok(());
    }
    let mut scope: Vec<&str> = Vec::new();
    for s in user
        .scopes
        .iter()
        .map(String::as_str)
        .chain(lacking.map(|r| &*r.scope))
    {
        if !scope.contains(&s) {
            scope.push(s);
        }
    }
    log::debug!(
        "token of user {} lacks a scope the request needs",
        Logged(&user.user_id)
    );
    Err(AuthError::InsufficientScope(
        base.error(BearerErrorCode::InsufficientScope)
            .scope(scope)
            .build(),
    ))
}

/// The request's body, at most `limit` bytes, read whole; `None` when longer (or declared
/// longer) or broken off. The caller puts it back for the handler.
pub(super) async fn read_body(
    req: &mut ServiceRequest,
    limit: usize,
) -> Option<actix_web::web::Bytes> {
    if super::declared_length(req.headers()).is_some_and(|n| n > limit) {
        return None;
    }
    let mut payload = req.take_payload();
    let mut first: Option<actix_web::web::Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    let mut read = 0;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        read += chunk.len();
        if read > limit {
            return None;
        }
        // One chunk (the common case: a small JSON-RPC message) is kept without a copy.
        match (&mut first, &mut rest) {
            (None, None) => first = Some(chunk),
            (Some(head), None) => {
                let mut buf = BytesMut::with_capacity(head.len() + chunk.len());
                buf.extend_from_slice(head);
                buf.extend_from_slice(&chunk);
                rest = Some(buf);
            }
            (_, Some(buf)) => buf.extend_from_slice(&chunk),
        }
    }
    Some(match (first, rest) {
        (_, Some(buf)) => buf.freeze(),
        (Some(head), None) => head,
        (None, None) => actix_web::web::Bytes::new(),
    })
}

/// Panics when the fast scan reads `body` otherwise than serde does (the `tool_scan` fuzz
/// target): a body the fast scan answers for must get serde's verdict.
#[cfg(feature = "fuzzing")]
pub(crate) fn fast_scan_agrees(body: &[u8]) {
    thread_local! {
        static RULES: ToolRules = ToolRules::new(
            &[
                ("delete_file".into(), vec!["files:write".into()]),
                ("share".into(), vec!["files:share".into()]),
            ],
            &["mcp".into()],
            None,
        );
    }
    fn verdict(scan: Scan<'_>) -> String {
        let calls = match scan {
            Scan::Free => return "free".into(),
            Scan::Unreadable(why) => return format!("unreadable: {why}"),
            Scan::Call(rule) => vec![rule],
            Scan::Calls(rules) => rules,
        };
        let scopes: Vec<&str> = needs(&calls).iter().map(|r| &*r.scope).collect();
        scopes.join(" ")
    }
    RULES.with(|rules| {
        if quick(body).is_some() {
            assert_eq!(
                verdict(rules.scan(body)),
                verdict(rules.scan_parsed(body)),
                "the fast scan disagrees with serde"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ToolRules {
        ToolRules::new(
            &[
                ("delete_file".into(), vec!["files:write".into()]),
                ("share".into(), vec!["files:share".into()]),
            ],
            &["mcp".into()],
            None,
        )
    }

    const METADATA: &str = "https://r/.well-known/oauth-protected-resource";

    /// The scopes the calls found in `scan` need, route's first.
    fn called(scan: Scan<'_>) -> Vec<String> {
        let calls = match scan {
            Scan::Call(rule) => vec![rule],
            Scan::Calls(rules) => rules,
            Scan::Free => return vec![],
            Scan::Unreadable(why) => return vec![format!("unreadable: {why}")],
        };
        needs(&calls).iter().map(|r| r.scope.to_string()).collect()
    }

    fn user(scopes: &[&str]) -> AuthUser {
        let info = crate::UserInfo {
            user_id: "u".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        AuthUser::new(
            info,
            crate::Claims::new(serde_json::Map::new()),
            crate::secret::AccessToken::new("t"),
        )
    }

    /// The verdict on `body` for `user`: `Ok`, or the status and `WWW-Authenticate`.
    fn verdict(r: &ToolRules, body: &[u8], user: Option<&AuthUser>) -> Result<(), String> {
        let calls = match r.scan(body) {
            Scan::Call(rule) => vec![rule],
            Scan::Calls(rules) => rules,
            _ => panic!("no call in {}", String::from_utf8_lossy(body)),
        };
        admit(&needs(&calls), user, METADATA).map_err(|e| {
            use actix_web::ResponseError;
            let res = e.error_response();
            let www = res
                .headers()
                .get(actix_web::http::header::WWW_AUTHENTICATE)
                .expect("a challenge")
                .to_str()
                .unwrap()
                .to_owned();
            format!("{} {www}", res.status().as_u16())
        })
    }

    #[test]
    fn the_scan_finds_the_tool_wherever_name_sits_and_ignores_other_methods() {
        let r = rules();
        let call = br#"{"params":{"arguments":{"name":"x","deep":[1,{"a":"b"}]},"name":"delete_file"},"jsonrpc":"2.0","id":1,"method":"tools/call"}"#;
        assert_eq!(called(r.scan(call)), ["mcp", "files:write"]);
        assert!(called(r.scan(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)).is_empty());
        assert!(called(
            r.scan(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"other"}}"#)
        )
        .is_empty());
        // An escaped name is the same name.
        assert_eq!(
            called(r.scan(br#"{"method":"tools/call","params":{"name":"delete\u005ffile"}}"#)),
            ["mcp", "files:write"]
        );
    }

    #[test]
    fn a_call_is_admitted_with_every_scope_it_needs_and_refused_naming_held_and_lacking() {
        let r = rules();
        let call = br#"{"method":"tools/call","params":{"name":"delete_file"}}"#;
        assert_eq!(
            verdict(&r, call, Some(&user(&["mcp", "files:write"]))),
            Ok(())
        );
        // Lacking the route's scope and the tool's: one 403 naming both, after what it holds.
        assert_eq!(
            verdict(&r, call, Some(&user(&["notes:read"]))),
            Err(format!(
                r#"403 Bearer error="insufficient_scope", scope="notes:read mcp files:write", resource_metadata="{METADATA}""#
            ))
        );
        assert_eq!(
            verdict(&r, call, None),
            Err(format!(
                r#"401 Bearer scope="mcp files:write", resource_metadata="{METADATA}""#
            ))
        );
    }

    #[test]
    fn a_batch_needs_what_each_of_its_calls_needs_and_one_refusal_names_it_all() {
        let r = rules();
        let batch = br#"[{"method":"tools/call","params":{"name":"delete_file"}},{"method":"ping"},{"method":"tools/call","params":{"name":"share"}}]"#;
        assert_eq!(called(r.scan(batch)), ["mcp", "files:write", "files:share"]);
        // The first call is allowed, the second is not: the refusal still names both.
        assert_eq!(
            verdict(&r, batch, Some(&user(&["mcp", "files:write"]))),
            Err(format!(
                r#"403 Bearer error="insufficient_scope", scope="mcp files:write files:share", resource_metadata="{METADATA}""#
            ))
        );
        assert_eq!(
            verdict(&r, batch, None),
            Err(format!(
                r#"401 Bearer scope="mcp files:write files:share", resource_metadata="{METADATA}""#
            ))
        );
        assert_eq!(
            verdict(
                &r,
                batch,
                Some(&user(&["mcp", "files:write", "files:share"]))
            ),
            Ok(())
        );
    }

    #[test]
    fn what_is_not_json_rpc_is_unreadable_not_free() {
        let r = rules();
        for body in [
            &b"not json"[..],
            br#"{"method":"tools/call"}"#,
            br#"{"method":"tools/call","params":{"name":7}}"#,
            br#"{"method":"tools/call","method":"ping","params":{"name":"delete_file"}}"#,
            br#"{"method":"tools/call","params":{"name":"x","name":"delete_file"}}"#,
            br#"{"method":"tools/call","params":["delete_file"]}"#,
        ] {
            assert!(
                matches!(r.scan(body), Scan::Unreadable(_)),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// Bodies the fast scan must read exactly as serde does, and the seeds of the mutations.
    const SEEDS: &[&[u8]] = &[
        br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"delete_file","arguments":{"query":"a \"b\" \u00e9\n","limit":10,"deep":[1,-2.5e-3,0,true,false,null,{"x":[]}]},"_meta":{"progressToken":7}}}"#,
        br#"  {"method" : "tools/call" , "params" : { "name" : "share" } }  "#,
        br#"{"method":"tools/list","id":1}"#,
        br#"{"params":{"name":"delete_file"},"method":"tools/call"}"#,
        br#"{"method":"tools/call","params":{"name":"other","arguments":{"name":"delete_file"}}}"#,
        "{\"method\":\"tools/call\",\"params\":{\"name\":\"delete_file\",\"arguments\":{\"text\":\"d\u{e9}j\u{e0} vu\"}}}".as_bytes(),
        br#"{"method":"tools/call","params":{"arguments":{},"name":"delete_file"},"id":"x"}"#,
    ];

    /// The verdict as the tests compare it.
    fn verdict_of(scan: Scan<'_>) -> String {
        called(scan).join(" ")
    }

    #[test]
    fn the_fast_scan_reads_every_body_as_serde_does_or_leaves_it_to_serde() {
        let r = rules();
        let mut fast = 0;
        let mut total = 0;
        let mut check = |body: &[u8]| {
            total += 1;
            if quick(body).is_some() {
                fast += 1;
                assert_eq!(
                    verdict_of(r.scan(body)),
                    verdict_of(r.scan_parsed(body)),
                    "{}",
                    String::from_utf8_lossy(body)
                );
            }
        };
        for body in [
            &br#"{"method":"tools/call","method":"ping","params":{"name":"delete_file"}}"#[..],
            br#"{"method":"ping","method":"tools/call","params":{"name":"delete_file"}}"#,
            br#"{"method":"tools/call","params":{"name":"x","name":"delete_file"}}"#,
            br#"{"method":"tools/call","params":{"name":"delete_file"},"params":{"name":"x"}}"#,
            br#"{"method":"tools/call","params":{"name":"delete\u005ffile"}}"#,
            br#"{"met\u0068od":"tools/call","params":{"name":"delete_file"}}"#,
            br#"{"method":"tools/call","params":{"n\u0061me":"delete_file"}}"#,
            br#"{"method":null,"params":{"name":"delete_file"}}"#,
            br#"{"method":"tools/call","params":null}"#,
            br#"{"method":"tools/call","params":{"name":"delete_file"}} x"#,
            br#"{"method":"tools/call","params":{"name":"delete_file"},}"#,
            br#"{"method":"tools/call","params":{"name":"delete_file","a":01}}"#,
            br#"{"method":"tools/call","params":{"name":"delete_file","a":"\x"}}"#,
            "{\"method\":\"tools/call\",\"params\":{\"name\":\"delete_file\",\"a\":\"\t\"}}"
                .as_bytes(),
            br#"{"method":"tools/call","params":{"name":"delete_file","a":[1,]}}"#,
            br#"{"method":"tools/call","params":{"name":"delete_file","a":tru}}"#,
        ] {
            check(body);
        }
        // Mutations of the seeds: bytes replaced, inserted, removed, runs repeated, the end cut.
        const ALPHABET: &[u8] =
            b"{}[]\":,\\ 0123456789eE.-+tfnul/\n\t\r\x00\x1f\x7f\x80\xc3\xa9\xffamx_";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for seed in SEEDS {
            check(seed);
            for _ in 0..4000 {
                let mut body = seed.to_vec();
                for _ in 0..=next(3) {
                    let at = next(body.len() + 1);
                    let byte = ALPHABET[next(ALPHABET.len())];
                    match next(5) {
                        0 if at < body.len() => body[at] = byte,
                        1 => body.insert(at, byte),
                        2 if at < body.len() => {
                            body.remove(at);
                        }
                        3 => {
                            let end = (at + 1 + next(8)).min(body.len());
                            let run = body[at.min(end)..end].to_vec();
                            body.splice(at..at, run);
                        }
                        _ => body.truncate(at),
                    }
                }
                check(&body);
            }
        }
        // The fast path is taken, not just deferred: the seeds and a share of the mutations.
        assert!(
            fast * 10 > total,
            "{fast} of {total} bodies took the fast path"
        );
    }

    #[test]
    fn the_fast_scan_takes_a_plain_tool_call_and_defers_batches_and_escaped_names() {
        assert!(SEEDS.iter().all(|body| quick(body).is_some()));
        assert!(quick(br#"[{"method":"tools/call","params":{"name":"share"}}]"#).is_none());
        assert!(quick(br#"{"method":"tools/call","params":{"name":"sh\u0061re"}}"#).is_none());
        assert!(quick(br#"{"method":"tools/call","params":["share"]}"#).is_none());
    }
}
