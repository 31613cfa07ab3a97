//! Scope requirements per MCP tool: which tool a `POST` calls, read from the JSON-RPC body
//! without building it (a borrowed parse that skips everything but `method` and
//! `params.name`), and the requirements and challenges of each tool, prepared once.
//!
//! Only a `RequireAuth` with tool requirements reads bodies: the body (at most
//! [`MAX_TOOL_BODY`] bytes) is read, scanned and handed back to the handler unchanged. A
//! JSON-RPC batch (an array, which MCP 2025-06-18 dropped but older clients send) is checked
//! as a whole: it needs every scope any of its calls needs. A body that is not JSON-RPC is
//! refused (400 `invalid_request`) rather than passed on unchecked: a handler whose parser
//! were more lenient than this one must not see a tool call this check did not.

use std::{borrow::Cow, collections::HashMap};

use actix_web::{dev::ServiceRequest, web::BytesMut, HttpMessage};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    challenge::{BearerErrorCode, Challenge},
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

/// What calling one tool needs: the route's requirements and the tool's, and the challenges
/// that name all of them.
#[derive(Debug)]
pub(super) struct ToolRule {
    requirements: Vec<Requirement>,
    /// 403 `insufficient_scope` with every scope the call needs.
    pub(super) insufficient: Challenge,
    /// 401 for a call without a token, asking for the same scopes.
    pub(super) missing: Challenge,
}

/// The tools with requirements of their own.
#[derive(Debug, Default)]
pub(super) struct ToolRules {
    rules: HashMap<Box<str>, ToolRule>,
}

/// What the scan of a body found.
pub(super) enum Scan<'a> {
    /// No call to a tool with requirements.
    Free,
    /// Calls to these tools (one, or several in a batch).
    Calls(Vec<&'a ToolRule>),
    /// Not JSON-RPC, or too long.
    Unreadable(&'static str),
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

impl ToolRules {
    /// The rules of `tools` (each with its scopes), on top of the route's `route` scopes,
    /// with challenges pointing at `resource_metadata`.
    pub(super) fn new(
        tools: &[(String, Vec<String>)],
        route: &[String],
        model: Option<&ScopeModel>,
        resource_metadata: &str,
    ) -> Self {
        let mut rules = HashMap::new();
        for (tool, scopes) in tools {
            let mut all: Vec<&str> = Vec::new();
            // A tool named twice needs what both settings say.
            let earlier = tools.iter().filter(|(t, _)| t == tool).flat_map(|(_, s)| s);
            for scope in route.iter().chain(earlier).chain(scopes) {
                if !all.contains(&scope.as_str()) {
                    all.push(scope);
                }
            }
            let base = Challenge::builder().resource_metadata(resource_metadata);
            rules.insert(
                tool.as_str().into(),
                ToolRule {
                    requirements: all.iter().map(|s| Requirement::new(s, model)).collect(),
                    insufficient: base
                        .clone()
                        .error(BearerErrorCode::InsufficientScope)
                        .scope(&all)
                        .build(),
                    missing: base.scope(&all).build(),
                },
            );
        }
        Self { rules }
    }

    /// Which configured tools `body` calls.
    pub(super) fn scan<'a>(&'a self, body: &[u8]) -> Scan<'a> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        let found = if first == Some(&b'[') {
            match serde_json::from_slice::<Vec<Message<'_>>>(body) {
                Ok(batch) => batch
                    .iter()
                    .map(|m| self.rule(m))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|rules| rules.into_iter().flatten().collect::<Vec<_>>()),
                Err(_) => Err("the body is not JSON-RPC"),
            }
        } else {
            match serde_json::from_slice::<Message<'_>>(body) {
                Ok(message) => self.rule(&message).map(|rule| rule.into_iter().collect()),
                Err(_) => Err("the body is not JSON-RPC"),
            }
        };
        match found {
            Ok(calls) if calls.is_empty() => Scan::Free,
            Ok(calls) => Scan::Calls(calls),
            Err(why) => Scan::Unreadable(why),
        }
    }

    fn rule(&self, message: &Message<'_>) -> Result<Option<&ToolRule>, &'static str> {
        if message.method.as_deref() != Some("tools/call") {
            return Ok(None);
        }
        let params = message.params.ok_or("a tools/call without params")?;
        let name = serde_json::from_str::<CallParams<'_>>(params.get())
            .ok()
            .and_then(|p| p.name)
            .ok_or("a tools/call without a tool name")?;
        Ok(self.rules.get(&*name))
    }
}

impl ToolRule {
    /// Whether `user` holds every scope of the call.
    pub(super) fn admits(&self, user: &AuthUser) -> bool {
        self.requirements.iter().all(|r| r.met(user))
    }
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
            "https://r/.well-known/oauth-protected-resource",
        )
    }

    fn called(scan: Scan<'_>) -> Vec<String> {
        match scan {
            Scan::Calls(rules) => rules
                .iter()
                .map(|r| r.insufficient.header_value().to_str().unwrap().to_owned())
                .collect(),
            Scan::Free => vec![],
            Scan::Unreadable(why) => vec![format!("unreadable: {why}")],
        }
    }

    #[test]
    fn the_scan_finds_the_tool_wherever_name_sits_and_ignores_other_methods() {
        let r = rules();
        let call = br#"{"params":{"arguments":{"name":"x","deep":[1,{"a":"b"}]},"name":"delete_file"},"jsonrpc":"2.0","id":1,"method":"tools/call"}"#;
        let found = called(r.scan(call));
        assert_eq!(found.len(), 1);
        assert!(found[0].contains(r#"scope="mcp files:write""#), "{found:?}");
        assert!(called(r.scan(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)).is_empty());
        assert!(called(
            r.scan(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"other"}}"#)
        )
        .is_empty());
        // An escaped name is the same name.
        assert_eq!(
            called(r.scan(br#"{"method":"tools/call","params":{"name":"delete\u005ffile"}}"#))
                .len(),
            1
        );
    }

    #[test]
    fn a_batch_needs_what_each_of_its_calls_needs() {
        let r = rules();
        let batch = br#"[{"method":"tools/call","params":{"name":"delete_file"}},{"method":"ping"},{"method":"tools/call","params":{"name":"share"}}]"#;
        assert_eq!(called(r.scan(batch)).len(), 2);
    }

    #[test]
    fn what_is_not_json_rpc_is_unreadable_not_free() {
        let r = rules();
        for body in [
            &b"not json"[..],
            br#"{"method":"tools/call"}"#,
            br#"{"method":"tools/call","params":{"name":7}}"#,
            br#"{"method":"tools/call","method":"ping","params":{"name":"delete_file"}}"#,
        ] {
            assert!(
                matches!(r.scan(body), Scan::Unreadable(_)),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
