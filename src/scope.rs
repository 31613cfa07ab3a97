//! The scopes an MCP server defines: [`ScopeModel`].
//!
//! An MCP scope is a name this server grants (`files:read`), with a description the consent
//! page shows and the upstream scopes the identity provider must grant for it
//! (`https://www.googleapis.com/auth/drive.readonly`). The model also names the **default
//! set**, granted to a client that asks for no scope (or for none the server defines), and
//! optionally a hierarchy: `files:write` implies `files:read`, so a token granted
//! `files:write` passes where `files:read` is required.
//!
//! What the model means at each step:
//! - `scopes_supported` (both metadata documents) lists the model's scopes; `offline_access`
//!   is never listed, but is accepted in a request and mapped onto the provider's way of
//!   issuing refresh tokens ([`OfflineAccess`](crate::proxy::OfflineAccess)). In issued mode
//!   the proxy asks the provider for one on every sign-in (its own refresh tokens need it),
//!   and the consent page says a refresh token will be issued.
//! - `/authorize` keeps the requested scopes the model defines and drops the others, so a
//!   client asking for `openid email profile` still signs in (RFC 6749 §3.3: the token
//!   answer's `scope` says what was granted); no `scope`, or none the model defines, means
//!   the default set.
//! - The provider is asked for the upstream scopes of what was requested, and an MCP scope is
//!   granted only when the provider granted all of its upstream scopes.
//! - [`RequireAuth`](crate::RequireAuth) checks required scopes with the hierarchy; its 401
//!   challenge asks for the route's required scopes when it has any, else for the default
//!   set, and its 403 lists the token's scopes followed by those the request lacks.
//! - A refresh may ask for a narrower `scope`: names the model does not define are ignored, a
//!   scope implied by a granted one is narrower, a defined scope not granted is refused.
//!
//! ```
//! use actix_mcp_oauth::scope::ScopeModel;
//!
//! # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
//! let scopes = ScopeModel::builder()
//!     .scope("files:read", "Read your files", ["https://www.googleapis.com/auth/drive.readonly"])
//!     .scope("files:write", "Change and delete your files", ["https://www.googleapis.com/auth/drive"])
//!     .implies("files:write", ["files:read"])
//!     .default_scopes(["files:read"])
//!     .build()?;
//! assert!(scopes.satisfies(&["files:write".to_owned()], "files:read"));
//! # Ok(()) }
//! ```

use std::{collections::HashSet, fmt, sync::Arc};

use crate::validate::{invalid, is_scope_token, ConfigError};

/// The scope OpenID Connect uses to ask for a refresh token (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The MCP scopes a server defines; build one with [`ScopeModel::builder`]. Cloning is cheap.
#[derive(Clone)]
pub struct ScopeModel {
    inner: Arc<Inner>,
}

struct Inner {
    scopes: Vec<Definition>,
    default: Vec<String>,
}

struct Definition {
    name: String,
    description: Option<String>,
    upstream: Vec<String>,
    /// Every scope this one implies, directly or through others (itself excluded).
    implies: Vec<String>,
}

impl fmt::Debug for ScopeModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeModel")
            .field("scopes", &self.names().collect::<Vec<_>>())
            .field("default", &self.inner.default)
            .finish()
    }
}

/// What a client's `scope` parameter asks of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requested {
    /// The model's scopes among those asked for, or the default set.
    pub(crate) scopes: Vec<String>,
    /// `offline_access` was among them.
    pub(crate) offline: bool,
}

impl ScopeModel {
    /// A builder with no scope defined.
    pub fn builder() -> ScopeModelBuilder {
        ScopeModelBuilder::default()
    }

    /// The model of a server that defines no MCP scopes of its own: each of `upstream` (but
    /// `offline_access`) is an MCP scope of the same name that needs itself upstream, and all
    /// of them are the default set. This is what `OAuthProxyBuilder::scopes` alone gives.
    pub(crate) fn mirror(upstream: &[String]) -> Self {
        let mut scopes: Vec<Definition> = Vec::new();
        for name in upstream {
            if name == OFFLINE_ACCESS || scopes.iter().any(|d| &d.name == name) {
                continue;
            }
            scopes.push(Definition {
                name: name.clone(),
                description: known_description(name).map(str::to_owned),
                upstream: vec![name.clone()],
                implies: Vec::new(),
            });
        }
        let default = scopes.iter().map(|d| d.name.clone()).collect();
        Self {
            inner: Arc::new(Inner { scopes, default }),
        }
    }

    /// The scopes defined, in the order they were defined: `scopes_supported`.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.inner.scopes.iter().map(|d| d.name.as_str())
    }

    /// The default set: what a client that asks for no scope of this model is granted.
    pub fn default_scopes(&self) -> &[String] {
        &self.inner.default
    }

    /// The description of `scope`, shown on the consent page.
    pub fn description(&self, scope: &str) -> Option<&str> {
        self.find(scope)?.description.as_deref()
    }

    /// The upstream scopes `scope` needs (empty for an unknown scope).
    pub fn upstream_scopes(&self, scope: &str) -> &[String] {
        self.find(scope).map_or(&[], |d| &d.upstream)
    }

    /// Whether a token granted `held` may do what needs `required`: it holds `required`, or a
    /// scope that implies it.
    pub fn satisfies(&self, held: &[String], required: &str) -> bool {
        held.iter().any(|h| {
            h == required
                || self
                    .find(h)
                    .is_some_and(|d| d.implies.iter().any(|i| i == required))
        })
    }

    /// `required` and every scope that implies it: any one of them satisfies the requirement.
    pub(crate) fn satisfying(&self, required: &str) -> Vec<String> {
        let mut out = vec![required.to_owned()];
        out.extend(
            self.inner
                .scopes
                .iter()
                .filter(|d| d.implies.iter().any(|i| i == required))
                .map(|d| d.name.clone()),
        );
        out
    }

    /// What a client's `scope` parameter asks for: the defined scopes among them, in the
    /// model's order; unknown ones dropped; the default set when none is left.
    pub(crate) fn requested(&self, scope: Option<&str>) -> Requested {
        let asked: Vec<&str> = scope
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        let offline = asked.contains(&OFFLINE_ACCESS);
        let mut scopes: Vec<String> = self
            .names()
            .filter(|name| asked.contains(name))
            .map(str::to_owned)
            .collect();
        if scopes.is_empty() {
            scopes = self.inner.default.clone();
        }
        Requested { scopes, offline }
    }

    /// `scopes` in the model's order, each once, unknown ones dropped.
    pub(crate) fn ordered<'a>(&self, scopes: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let wanted: HashSet<&str> = scopes.into_iter().map(String::as_str).collect();
        self.names()
            .filter(|n| wanted.contains(n))
            .map(str::to_owned)
            .collect()
    }

    /// The scopes of `scopes` whose upstream scopes are all in `granted` (the provider's
    /// answer, each scope in both of its spellings; see [`upstream_granted`]).
    pub(crate) fn backed(&self, scopes: &[String], granted: &HashSet<String>) -> Vec<String> {
        scopes
            .iter()
            .filter(|s| self.upstream_scopes(s).iter().all(|u| granted.contains(u)))
            .cloned()
            .collect()
    }

    fn find(&self, scope: &str) -> Option<&Definition> {
        self.inner.scopes.iter().find(|d| d.name == scope)
    }
}

/// The scopes in a provider's `scope` answer, each also under its other spelling in
/// `aliases` (`(short, long)` pairs: Google answers `email` as
/// `https://www.googleapis.com/auth/userinfo.email`).
pub(crate) fn upstream_granted(answer: &str, aliases: &[(String, String)]) -> HashSet<String> {
    let mut set = HashSet::new();
    // Space-separated (RFC 6749 §3.3); GitHub's form answer separates with commas.
    for scope in answer.split([' ', ',']).filter(|s| !s.is_empty()) {
        for (short, long) in aliases {
            if scope == short {
                set.insert(long.clone());
            } else if scope == long {
                set.insert(short.clone());
            }
        }
        set.insert(scope.to_owned());
    }
    set
}

/// What the crate can say about the OpenID scopes, for a model mirrored from upstream scopes.
pub(crate) fn known_description(scope: &str) -> Option<&'static str> {
    match scope {
        "openid" => Some("Confirm who you are"),
        "email" => Some("See your email address"),
        "profile" => Some("See your name and profile picture"),
        OFFLINE_ACCESS => Some("Keep access while you are away (refresh tokens)"),
        _ => None,
    }
}

/// Builds a [`ScopeModel`]; [`build`](Self::build) checks it.
#[derive(Debug, Default)]
#[must_use]
pub struct ScopeModelBuilder {
    scopes: Vec<(String, String, Vec<String>)>,
    implies: Vec<(String, Vec<String>)>,
    default: Option<Vec<String>>,
}

impl ScopeModelBuilder {
    /// Defines the MCP scope `name`: what the consent page says it allows (`description`),
    /// and the upstream scopes the provider must grant for it (none for a scope that only
    /// this server enforces).
    pub fn scope<I, S>(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        upstream: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.push((
            name.into(),
            description.into(),
            upstream.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// `scope` implies each of `implied`: a token granted `scope` satisfies a requirement of
    /// any of them (and of what they imply in turn).
    pub fn implies<I, S>(mut self, scope: impl Into<String>, implied: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.implies
            .push((scope.into(), implied.into_iter().map(Into::into).collect()));
        self
    }

    /// The default set: granted to a client that asks for no scope, or for none defined here
    /// (default: every scope defined). Keep it minimal; tools that need more ask for it with
    /// a 403 `insufficient_scope` challenge, and clients step up.
    pub fn default_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.default = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Checks the model: at least one scope; scope names and upstream scopes are RFC 6749
    /// scope tokens; no name twice, none named `offline_access` (the proxy handles it);
    /// descriptions not empty; implications and the default set name defined scopes.
    pub fn build(self) -> Result<ScopeModel, ConfigError> {
        if self.scopes.is_empty() {
            return Err(invalid("scope_model", "define at least one scope"));
        }
        let mut scopes: Vec<Definition> = Vec::new();
        for (name, description, upstream) in self.scopes {
            if !is_scope_token(&name) {
                return Err(invalid(
                    "scope_model",
                    &format!("`{name}` is not a scope token"),
                ));
            }
            if name == OFFLINE_ACCESS {
                return Err(invalid(
                    "scope_model",
                    "`offline_access` is not an MCP scope: the proxy accepts it and asks the \
                     provider for a refresh token its own way",
                ));
            }
            if scopes.iter().any(|d| d.name == name) {
                return Err(invalid(
                    "scope_model",
                    &format!("`{name}` is defined twice"),
                ));
            }
            if description.trim().is_empty() {
                return Err(invalid(
                    "scope_model",
                    &format!("`{name}` needs a description for the consent page"),
                ));
            }
            if let Some(bad) = upstream.iter().find(|u| !is_scope_token(u)) {
                return Err(invalid(
                    "scope_model",
                    &format!("`{name}`: the upstream scope `{bad}` is not a scope token"),
                ));
            }
            scopes.push(Definition {
                name,
                description: Some(description),
                upstream,
                implies: Vec::new(),
            });
        }
        let defined = |s: &str| scopes.iter().any(|d| d.name == s);
        let mut direct: Vec<(String, Vec<String>)> = Vec::new();
        for (scope, implied) in self.implies {
            if let Some(bad) = std::iter::once(&scope)
                .chain(&implied)
                .find(|s| !defined(s))
            {
                return Err(invalid(
                    "scope_model",
                    &format!("`implies` names `{bad}`, which is not a defined scope"),
                ));
            }
            if implied.contains(&scope) {
                return Err(invalid(
                    "scope_model",
                    &format!("`{scope}` cannot imply itself"),
                ));
            }
            direct.push((scope, implied));
        }
        let default = match self.default {
            Some(default) => {
                if let Some(bad) = default.iter().find(|s| !defined(s)) {
                    return Err(invalid(
                        "scope_model",
                        &format!("the default set names `{bad}`, which is not a defined scope"),
                    ));
                }
                default
            }
            None => scopes.iter().map(|d| d.name.clone()).collect(),
        };
        // The transitive closure of the implications, once: checks then look up one list.
        for def in &mut scopes {
            let mut seen: Vec<String> = Vec::new();
            let mut todo = vec![def.name.clone()];
            while let Some(next) = todo.pop() {
                for (scope, implied) in &direct {
                    if *scope == next {
                        for i in implied {
                            if *i != def.name && !seen.contains(i) {
                                seen.push(i.clone());
                                todo.push(i.clone());
                            }
                        }
                    }
                }
            }
            def.implies = seen;
        }
        Ok(ScopeModel {
            inner: Arc::new(Inner { scopes, default }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ScopeModel {
        ScopeModel::builder()
            .scope("files:read", "Read your files", ["drive.readonly"])
            .scope("files:write", "Change your files", ["drive"])
            .scope("files:admin", "Share your files", ["drive", "drive.acl"])
            .implies("files:admin", ["files:write"])
            .implies("files:write", ["files:read"])
            .default_scopes(["files:read"])
            .build()
            .expect("valid model")
    }

    #[test]
    fn unknown_scopes_are_dropped_and_none_left_means_the_default_set() {
        let m = model();
        let asked = m.requested(Some("openid files:write email offline_access"));
        assert_eq!(asked.scopes, ["files:write"]);
        assert!(asked.offline);
        assert_eq!(m.requested(None).scopes, ["files:read"]);
        assert_eq!(
            m.requested(Some("openid email profile")).scopes,
            ["files:read"]
        );
        assert!(!m.requested(Some("")).offline);
    }

    #[test]
    fn the_hierarchy_is_transitive_and_one_way() {
        let m = model();
        let held = |s: &str| vec![s.to_owned()];
        assert!(m.satisfies(&held("files:admin"), "files:read"));
        assert!(m.satisfies(&held("files:write"), "files:read"));
        assert!(!m.satisfies(&held("files:read"), "files:write"));
        assert_eq!(
            m.satisfying("files:read"),
            ["files:read", "files:write", "files:admin"]
        );
    }

    #[test]
    fn a_scope_is_backed_only_when_every_upstream_scope_was_granted() {
        let m = model();
        let asked: Vec<String> = ["files:read", "files:admin"].map(String::from).to_vec();
        let granted = upstream_granted("drive drive.readonly", &[]);
        assert_eq!(m.backed(&asked, &granted), ["files:read"]);
    }

    #[test]
    fn aliases_match_either_spelling() {
        let aliases = [(
            "email".to_owned(),
            "https://www.googleapis.com/auth/userinfo.email".to_owned(),
        )];
        let granted = upstream_granted(
            "openid https://www.googleapis.com/auth/userinfo.email",
            &aliases,
        );
        assert!(granted.contains("email"));
        let granted = upstream_granted("email", &aliases);
        assert!(granted.contains("https://www.googleapis.com/auth/userinfo.email"));
    }

    #[test]
    fn the_builder_refuses_what_cannot_work() {
        let bad = [
            ScopeModel::builder(),
            ScopeModel::builder().scope("a b", "x", [""; 0]),
            ScopeModel::builder().scope("a", " ", [""; 0]),
            ScopeModel::builder()
                .scope("a", "x", [""; 0])
                .scope("a", "y", [""; 0]),
            ScopeModel::builder().scope("offline_access", "x", [""; 0]),
            ScopeModel::builder().scope("a", "x", ["bad\"scope"]),
            ScopeModel::builder()
                .scope("a", "x", [""; 0])
                .implies("a", ["b"]),
            ScopeModel::builder()
                .scope("a", "x", [""; 0])
                .implies("a", ["a"]),
            ScopeModel::builder()
                .scope("a", "x", [""; 0])
                .default_scopes(["b"]),
        ];
        for (i, builder) in bad.into_iter().enumerate() {
            assert!(
                matches!(
                    builder.build(),
                    Err(ConfigError::Invalid {
                        field: "scope_model",
                        ..
                    })
                ),
                "case {i} was accepted"
            );
        }
    }

    #[test]
    fn a_mirrored_model_never_lists_offline_access() {
        let m = ScopeModel::mirror(&["openid", "email", "offline_access"].map(String::from));
        assert_eq!(m.names().collect::<Vec<_>>(), ["openid", "email"]);
        assert_eq!(m.default_scopes(), ["openid", "email"]);
        assert_eq!(m.upstream_scopes("email"), ["email"]);
    }
}
