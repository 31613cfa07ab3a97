//! Scope requirements per MCP tool: which tool a `POST` calls, read from the JSON-RPC body
//! without building it (a borrowed parse that skips everything but `method` and
//! `params.name`), and the requirements and challenges of each tool, prepared once.
//!
//! Only a `RequireAuth` with tool requirements reads bodies: the body (at most
//! [`MAX_TOOL_BODY`] bytes) is read, scanned and handed back to the handler unchanged. A
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

/// The largest body read to find the tool; a larger one is refused.
pub(super) const MAX_TOOL_BODY: usize = 4 * 1024 * 1024;

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
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "name" {
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

/// The request's body, at most [`MAX_TOOL_BODY`] bytes, read whole; `None` when longer or
/// broken off. The caller puts it back for the handler.
pub(super) async fn read_body(req: &mut ServiceRequest) -> Option<actix_web::web::Bytes> {
    let mut payload = req.take_payload();
    let mut first: Option<actix_web::web::Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    let mut read = 0;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        read += chunk.len();
        if read > MAX_TOOL_BODY {
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
}
