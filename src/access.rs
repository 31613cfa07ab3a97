//! Who may use the server: [`AccessPolicy`], checked on every request and at sign-in.
//!
//! Without a policy, anyone the provider signs in is let in: with the Google preset that is
//! every Google account, with GitHub every GitHub user. A policy names who is admitted; a user
//! is admitted when **at least one** of its rules admits them:
//!
//! | rule | admits a user whose verified token has |
//! |---|---|
//! | [`allow_emails`](AccessPolicyBuilder::allow_emails) | a [verified email](verified_email) in the list (ASCII case ignored) |
//! | [`allow_email_domains`](AccessPolicyBuilder::allow_email_domains) | a [verified email](verified_email) `@` a listed domain (exactly, not its subdomains) |
//! | [`allow_google_hosted_domains`](AccessPolicyBuilder::allow_google_hosted_domains) | `hd`, the Google Workspace domain of the account, in the list, in claims Google issued (`iss` is `https://accounts.google.com`) |
//! | [`allow_entra_tenants`](AccessPolicyBuilder::allow_entra_tenants) | `tid`, the Entra ID tenant, in the list, with the issuer of that tenant (`https://login.microsoftonline.com/{tid}/v2.0` or `https://sts.windows.net/{tid}/`) |
//! | [`allow_if`](AccessPolicyBuilder::allow_if) | whatever your function says of the [`AuthUser`] |
//! | [`allow`](AccessPolicyBuilder::allow) | whatever an [`AccessCheck`] answers, such as GitHub organisation or team membership ([`GitHub::org_members`](crate::providers::GitHub::org_members), [`GitHub::team_members`](crate::providers::GitHub::team_members)) |
//!
//! An email rule never admits an address the provider has not verified: anyone can type any
//! address into an account at most providers. Google (token-info), GitHub (the primary verified
//! address) and Keycloak say `email_verified`; Okta and Auth0 access tokens carry no email
//! unless you add the claims; Entra ID's `email` is not verified, use the tenant rule there.
//! Even a verified address says only that its owner once read mail sent to it; see
//! [`verified_email`] for why a Google address counts only for `@gmail.com` and the account's
//! own Workspace domain, and prefer the hosted-domain rule for a Google Workspace.
//!
//! The claims a rule reads are trusted only from the provider that defines them: `hd` from
//! Google, `tid` from Entra ID's issuer for that tenant. Another provider's token that happens
//! to carry an `hd` or a `tid` (a custom claim anyone with admin rights there can add) is not
//! admitted by those rules.
//!
//! # Where it applies
//! - [`RequireAuth::access_policy`](crate::RequireAuth::access_policy) (and the same setter of
//!   [`OAuthProxyBuilder`](crate::proxy::OAuthProxyBuilder) and
//!   [`RemoteAuthBuilder`](crate::remote::RemoteAuthBuilder)) checks it on **every request**,
//!   after the token is verified and the scopes checked. A refused user gets `403` with
//!   `{"error":"access_denied",...}` and no `WWW-Authenticate` challenge (signing in again
//!   would not help, so a client should not try). Because the check runs per request, a token
//!   issued before the policy changed is refused once the server runs with the new policy.
//! - The proxy applies it at sign-in as well: a refused user gets the access-denied page at
//!   the callback (`/oauth/callback`) and the MCP client gets no authorization code, so no
//!   token.
//!
//! A rule that must ask someone (GitHub membership) and cannot get an answer makes the
//! request fail with `503` (`temporarily_unavailable`) unless another rule admits the user:
//! an outage never lets a user in.
//!
//! ```
//! use actix_mcp_oauth::access::AccessPolicy;
//!
//! # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
//! let policy = AccessPolicy::builder()
//!     .allow_emails(["ada@example.com"])
//!     .allow_email_domains(["example.org"])
//!     .allow_if(|user| user.roles.iter().any(|r| r == "mcp-users"))
//!     .build()?;
//! # let _ = policy; Ok(()) }
//! ```

use std::{fmt, sync::Arc};

use futures::future::LocalBoxFuture;
use serde_json::Value;

use crate::{
    clock::{Clock, SystemClock},
    http::OutageLog,
    logged::Logged,
    validate::{invalid, ConfigError},
    AuthUser, VerifyError,
};

/// A rule that needs to ask someone whether a user is admitted (a provider's API), for
/// [`AccessPolicyBuilder::allow`]. The GitHub preset's membership checks are ones.
pub trait AccessCheck: Send + Sync + 'static {
    /// `Ok(true)` admits the user, `Ok(false)` does not. [`VerifyError::Unavailable`] means no
    /// answer could be had (the request is then answered 503 unless another rule admits the
    /// user); any other error counts as not admitted, and is logged.
    fn admits<'a>(&'a self, user: &'a AuthUser) -> LocalBoxFuture<'a, Result<bool, VerifyError>>;

    /// The scopes the provider must grant for this check to work; the proxy adds them to the
    /// scopes it asks for (GitHub membership: `read:org`).
    fn required_scopes(&self) -> Vec<String> {
        Vec::new()
    }

    /// A short description for `Debug` and logs, such as `GitHub organisation acme`.
    fn describe(&self) -> String;
}

type Predicate = dyn Fn(&AuthUser) -> bool + Send + Sync;

/// One rule of a policy.
enum Rule {
    Emails(Vec<String>),
    EmailDomains(Vec<String>),
    HostedDomains(Vec<String>),
    Tenants(Vec<String>),
    Predicate(Arc<Predicate>),
    Check(Arc<dyn AccessCheck>),
}

/// Who may use the server; see the [module docs](self). Cheap to clone (two `Arc`s).
#[derive(Clone)]
pub struct AccessPolicy {
    rules: Arc<[Rule]>,
    /// "A check has no answer", logged once per interval: while GitHub is down every request
    /// fails the same way, and one line per request would bury the log.
    outages: Arc<OutageLog>,
}

/// Why a user was not let in, for the proxy's sign-in callback and the middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AccessRefusal {
    /// No rule admits the user (the reason is for logs, never for the response).
    Refused(String),
    /// A rule that could have admitted the user could not get an answer: 503, never a bypass.
    Unavailable,
}

impl AccessPolicy {
    /// Starts a policy; add at least one rule.
    pub fn builder() -> AccessPolicyBuilder {
        AccessPolicyBuilder::default()
    }

    /// The scopes the policy's checks need from the provider (GitHub membership: `read:org`).
    pub fn required_scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = Vec::new();
        for rule in self.rules.iter() {
            if let Rule::Check(check) = rule {
                for scope in check.required_scopes() {
                    if !scopes.contains(&scope) {
                        scopes.push(scope);
                    }
                }
            }
        }
        scopes
    }

    /// Whether the policy has an email rule ([`allow_emails`](AccessPolicyBuilder::allow_emails)
    /// or [`allow_email_domains`](AccessPolicyBuilder::allow_email_domains)), which needs a
    /// verified address: the GitHub preset then should ask for it
    /// ([`GitHub::verified_email`](crate::providers::GitHub::verified_email)).
    pub fn has_email_rule(&self) -> bool {
        self.rules
            .iter()
            .any(|rule| matches!(rule, Rule::Emails(_) | Rule::EmailDomains(_)))
    }

    /// Whether `user` may use the server: the rules that need no call first, then the checks in
    /// the order given, stopping at the first that admits.
    pub(crate) async fn check(&self, user: &AuthUser) -> Result<(), AccessRefusal> {
        if self.rules.iter().any(|rule| rule.admits_now(user)) {
            return Ok(());
        }
        let mut unavailable = false;
        for rule in self.rules.iter() {
            let Rule::Check(check) = rule else { continue };
            match check.admits(user).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if e.is_unavailable() => {
                    let reason = format!("{}: {e}", check.describe());
                    self.outages.record(SystemClock.now(), &reason);
                    unavailable = true;
                }
                Err(e) => log::debug!(
                    "access check ({}) refused: {}",
                    check.describe(),
                    Logged(&e.to_string())
                ),
            }
        }
        if unavailable {
            return Err(AccessRefusal::Unavailable);
        }
        // The id and address are the provider's claims: escaped, so that a claim cannot
        // forge a log record.
        let reason = format!(
            "user {} ({}) matches no rule of the access policy",
            Logged(&user.user_id),
            Logged(user.email.as_deref().unwrap_or("no email"))
        );
        log::info!("access refused: {reason}");
        Err(AccessRefusal::Refused(reason))
    }
}

impl fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rules.iter()).finish()
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Emails(list) => f.debug_tuple("Emails").field(list).finish(),
            Rule::EmailDomains(list) => f.debug_tuple("EmailDomains").field(list).finish(),
            Rule::HostedDomains(list) => f.debug_tuple("HostedDomains").field(list).finish(),
            Rule::Tenants(list) => f.debug_tuple("Tenants").field(list).finish(),
            Rule::Predicate(_) => f.write_str("Predicate"),
            Rule::Check(check) => f.debug_tuple("Check").field(&check.describe()).finish(),
        }
    }
}

impl Rule {
    /// Whether this rule admits `user` without asking anyone (`false` for a [`Rule::Check`]).
    fn admits_now(&self, user: &AuthUser) -> bool {
        let listed = |list: &[String], value: Option<&str>| {
            value.is_some_and(|v| list.iter().any(|item| item.eq_ignore_ascii_case(v)))
        };
        match self {
            Rule::Emails(list) => listed(list, verified_email(user)),
            Rule::EmailDomains(list) => {
                let domain = verified_email(user)
                    .and_then(|e| e.rsplit_once('@'))
                    .map(|p| p.1);
                listed(list, domain)
            }
            Rule::HostedDomains(list) => listed(list, google_hosted_domain(user)),
            Rule::Tenants(list) => listed(list, entra_tenant(user)),
            Rule::Predicate(f) => f(user),
            Rule::Check(_) => false,
        }
    }
}

/// Google's issuer, as its ID tokens and the Google preset's token-info claims name it (Google
/// documents both spellings).
const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// The Entra ID authority hosts whose v2.0 issuer is `https://{host}/{tid}/v2.0` (the public
/// cloud, US Government, China), and the v1.0 token issuers `https://{host}/{tid}/`.
const ENTRA_V2_HOSTS: [&str; 3] = [
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
];
const ENTRA_V1_HOSTS: [&str; 2] = ["sts.windows.net", "sts.chinacloudapi.cn"];

fn is_google(user: &AuthUser) -> bool {
    user.claims()
        .get_str("iss")
        .is_some_and(|iss| GOOGLE_ISSUERS.contains(&iss))
}

/// The user's email address, when an email rule may trust it; `None` otherwise. This is the
/// one rule [`allow_emails`](AccessPolicyBuilder::allow_emails) and
/// [`allow_email_domains`](AccessPolicyBuilder::allow_email_domains) apply, for use in your
/// own [`allow_if`](AccessPolicyBuilder::allow_if) predicates or handlers (where
/// [`UserInfo::email`](crate::UserInfo::email) is what your `user_info` mapping made of the
/// claims: the default mapping sets it only for a verified address, a mapping of your own may
/// set any):
///
/// - The provider must say it verified the address: `email_verified` is `true` (or the string
///   `"true"`, as some providers write it).
/// - From Google (`iss` is `https://accounts.google.com`), that is not enough: Google is
///   authoritative only for `@gmail.com` addresses and for Workspace accounts whose `hd` is the
///   address's domain. A Google account can be made for any address (verified once, by a
///   mail sent to it), and that account outlives the mailbox: someone who left
///   `example.com` keeps a "verified" `@example.com` Google account. So a Google address
///   counts only if it ends in `@gmail.com` or its domain equals `hd`.
///
/// ```
/// use actix_mcp_oauth::access::{verified_email, AccessPolicy};
///
/// # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
/// let policy = AccessPolicy::builder()
///     .allow_if(|user| verified_email(user).is_some_and(|e| e.ends_with(".example.org")))
///     .build()?;
/// # let _ = policy; Ok(()) }
/// ```
pub fn verified_email(user: &AuthUser) -> Option<&str> {
    let claims = user.claims();
    let verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let email = verified.then(|| claims.get_str("email")).flatten()?;
    if is_google(user) {
        let (_, domain) = email.rsplit_once('@')?;
        let authoritative = domain.eq_ignore_ascii_case("gmail.com")
            || claims
                .get_str("hd")
                .is_some_and(|hd| hd.eq_ignore_ascii_case(domain));
        if !authoritative {
            return None;
        }
    }
    Some(email)
}

/// `hd`, only when Google issued the claims: any other provider (or a user-defined claim in
/// Keycloak, Auth0, ...) may carry an `hd` of its choosing.
fn google_hosted_domain(user: &AuthUser) -> Option<&str> {
    is_google(user)
        .then(|| user.claims().get_str("hd"))
        .flatten()
}

/// `tid`, only when the issuer is Entra ID's for that very tenant.
fn entra_tenant(user: &AuthUser) -> Option<&str> {
    let claims = user.claims();
    let tid = claims.get_str("tid")?;
    let iss = claims.get_str("iss")?.strip_prefix("https://")?;
    let (host, rest) = iss.split_once('/')?;
    let named = if ENTRA_V2_HOSTS.contains(&host) {
        rest.strip_suffix("/v2.0")
    } else if ENTRA_V1_HOSTS.contains(&host) {
        rest.strip_suffix('/')
    } else {
        None
    };
    named
        .is_some_and(|t| t.eq_ignore_ascii_case(tid))
        .then_some(tid)
}

/// Builds an [`AccessPolicy`]; see the [module docs](self) for what each rule admits.
#[derive(Default)]
#[must_use]
pub struct AccessPolicyBuilder {
    rules: Vec<Rule>,
    error: Option<ConfigError>,
}

impl AccessPolicyBuilder {
    /// Admits these email addresses, when verified ([`verified_email`]). With the GitHub
    /// preset, also set [`GitHub::verified_email`](crate::providers::GitHub::verified_email).
    pub fn allow_emails<I, S>(self, emails: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.list("allow_emails", emails, Rule::Emails, |e| {
            matches!(e.split_once('@'), Some((local, domain)) if !local.is_empty() && is_domain(domain))
        })
    }

    /// Admits verified addresses at these domains (`example.com` admits `ada@example.com`, not
    /// `ada@eu.example.com`).
    pub fn allow_email_domains<I, S>(self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.list(
            "allow_email_domains",
            domains,
            Rule::EmailDomains,
            is_domain,
        )
    }

    /// Admits Google Workspace accounts of these domains (Google's `hd` claim, which the Google
    /// preset reads from userinfo: keep the `profile` scope and `fetch_profile(true)`, the
    /// defaults). Personal Gmail accounts have no `hd`. The claim counts only when `iss` is
    /// Google's (`https://accounts.google.com`, as the Google preset sets it): this is the rule
    /// to use for a Workspace, rather than an email domain rule.
    pub fn allow_google_hosted_domains<I, S>(self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.list(
            "allow_google_hosted_domains",
            domains,
            Rule::HostedDomains,
            is_domain,
        )
    }

    /// Admits users of these Entra ID tenants (the `tid` claim, a GUID), when `iss` is Entra
    /// ID's issuer for that same tenant (`https://login.microsoftonline.com/{tid}/v2.0`, the
    /// US Government and China clouds' equivalents, or the v1.0 `https://sts.windows.net/{tid}/`).
    ///
    /// This decides **who may use the server**: a user of another tenant holds a valid token
    /// and is refused as a user (`403 access_denied`, no challenge; the access-denied page at
    /// sign-in). The Entra preset's
    /// [`EntraId::allowed_tenants`](crate::providers::EntraId::allowed_tenants) is a
    /// verification setting instead: which tenants' issuers the verifier trusts at all, so a
    /// token of another tenant is an invalid token (`401 invalid_token`, and the client is
    /// asked to sign in again). Use this rule to say who may use a multi-tenant app; set the
    /// preset's list as well to keep other tenants' tokens from being verified at all. See
    /// docs/providers.md, "Entra ID".
    pub fn allow_entra_tenants<I, S>(self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.list("allow_entra_tenants", tenants, Rule::Tenants, is_guid)
    }

    /// Admits the users for whom `f` returns `true`; it sees the verified [`AuthUser`] with all
    /// its claims. The token is verified, but not every claim in it is: an address in the
    /// claims or in [`UserInfo::email`](crate::UserInfo::email) may be unverified, so test
    /// addresses with [`verified_email`], the rule
    /// the email rules apply. It runs on every request: keep it cheap, and for anything that
    /// needs a call, implement [`AccessCheck`] instead.
    pub fn allow_if<F>(mut self, f: F) -> Self
    where
        F: Fn(&AuthUser) -> bool + Send + Sync + 'static,
    {
        self.rules.push(Rule::Predicate(Arc::new(f)));
        self
    }

    /// Admits the users `check` admits (such as
    /// [`GitHub::org_members`](crate::providers::GitHub::org_members)).
    pub fn allow(mut self, check: impl AccessCheck) -> Self {
        self.rules.push(Rule::Check(Arc::new(check)));
        self
    }

    /// Checks the rules: at least one, and every list non-empty and well formed.
    pub fn build(self) -> Result<AccessPolicy, ConfigError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if self.rules.is_empty() {
            return Err(invalid(
                "access_policy",
                "give at least one rule (without a policy everyone the provider signs in is \
                 admitted)",
            ));
        }
        Ok(AccessPolicy {
            rules: self.rules.into(),
            outages: Arc::new(OutageLog::new("the access policy has no answer")),
        })
    }

    fn list<I, S>(
        mut self,
        field: &'static str,
        items: I,
        rule: fn(Vec<String>) -> Rule,
        valid: fn(&str) -> bool,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let items: Vec<String> = items
            .into_iter()
            .map(|s| s.into().trim().to_ascii_lowercase())
            .collect();
        if self.error.is_none() {
            if items.is_empty() {
                self.error = Some(invalid(field, "the list is empty"));
            } else if let Some(bad) = items.iter().find(|item| !valid(item)) {
                self.error = Some(invalid(field, &format!("`{bad}` is not well formed")));
            }
        }
        self.rules.push(rule(items));
        self
    }
}

impl fmt::Debug for AccessPolicyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessPolicyBuilder")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// A DNS name: dot-separated labels of letters, digits and `-`.
fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `8-4-4-4-12` hexadecimal digits, as Entra writes tenant ids.
fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use serde_json::json;

    use super::*;
    use crate::{secret::AccessToken, user::default_user_info, Claims};

    fn user(claims: Value) -> AuthUser {
        let Value::Object(map) = claims else {
            panic!("an object")
        };
        let claims = Claims::new(map);
        let info = default_user_info(&claims).expect("maps");
        AuthUser::new(info, claims, AccessToken::new("t"))
    }

    fn admits(policy: &AccessPolicy, claims: Value) -> Result<(), AccessRefusal> {
        futures::executor::block_on(policy.check(&user(claims)))
    }

    #[test]
    fn an_email_rule_admits_only_a_verified_listed_address() {
        let policy = AccessPolicy::builder()
            .allow_emails(["Ada@Example.com"])
            .build()
            .unwrap();
        let ada = |verified: Value| json!({"sub": "1", "email": "ada@EXAMPLE.com", "email_verified": verified});
        assert_eq!(admits(&policy, ada(json!(true))), Ok(()));
        assert_eq!(admits(&policy, ada(json!("true"))), Ok(()));
        for unverified in [json!(false), json!("false"), json!(null), json!(1)] {
            assert!(
                matches!(
                    admits(&policy, ada(unverified.clone())),
                    Err(AccessRefusal::Refused(_))
                ),
                "{unverified}"
            );
        }
        let other = json!({"sub": "2", "email": "eve@example.com", "email_verified": true});
        assert!(matches!(
            admits(&policy, other),
            Err(AccessRefusal::Refused(_))
        ));
        assert!(matches!(
            admits(&policy, json!({"sub": "3"})),
            Err(AccessRefusal::Refused(_))
        ));
    }

    #[test]
    fn a_domain_rule_admits_that_domain_and_not_its_subdomains_or_lookalikes() {
        let policy = AccessPolicy::builder()
            .allow_email_domains(["example.com"])
            .build()
            .unwrap();
        let email = |e: &str| json!({"sub": "1", "email": e, "email_verified": true});
        assert_eq!(admits(&policy, email("ada@example.com")), Ok(()));
        for refused in [
            "ada@eu.example.com",
            "ada@example.com.evil",
            "ada@evilexample.com",
            "example.com",
        ] {
            assert!(admits(&policy, email(refused)).is_err(), "{refused}");
        }
        let unverified = json!({"sub": "1", "email": "ada@example.com"});
        assert!(admits(&policy, unverified).is_err());
    }

    const GOOGLE: &str = "https://accounts.google.com";
    const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn hosted_domain_tenant_and_predicate_rules_read_their_claims() {
        let policy = AccessPolicy::builder()
            .allow_google_hosted_domains(["example.com"])
            .allow_entra_tenants(["72F988BF-86f1-41af-91ab-2d7cd011db47"])
            .allow_if(|u| u.roles.iter().any(|r| r == "mcp"))
            .build()
            .unwrap();
        let hd = |hd: &str| json!({"sub": "1", "iss": GOOGLE, "hd": hd});
        assert_eq!(admits(&policy, hd("example.com")), Ok(()));
        assert_eq!(admits(&policy, hd("EXAMPLE.com")), Ok(()));
        assert!(admits(&policy, hd("example.org")).is_err());
        let entra = format!("https://login.microsoftonline.com/{TID}/v2.0");
        let tid = json!({"sub": "1", "iss": entra, "tid": TID});
        assert_eq!(admits(&policy, tid), Ok(()));
        let v1 = json!({"sub": "1", "iss": format!("https://sts.windows.net/{TID}/"), "tid": TID});
        assert_eq!(admits(&policy, v1), Ok(()));
        let other = "00000000-86f1-41af-91ab-2d7cd011db47";
        let other_tid = json!({"sub": "1", "iss": format!("https://login.microsoftonline.com/{other}/v2.0"), "tid": other});
        assert!(admits(&policy, other_tid).is_err());
        assert_eq!(
            admits(&policy, json!({"sub": "1", "roles": ["mcp"]})),
            Ok(())
        );
        assert!(admits(&policy, json!({"sub": "1", "roles": ["other"]})).is_err());
    }

    #[test]
    fn hd_and_tid_count_only_from_the_provider_that_defines_them() {
        let policy = AccessPolicy::builder()
            .allow_google_hosted_domains(["example.com"])
            .allow_entra_tenants([TID])
            .build()
            .unwrap();
        // A Keycloak, Auth0 or any other provider's token with a custom `hd` claim.
        for iss in [
            None,
            Some("https://keycloak.example.com/realms/acme"),
            Some("https://accounts.google.com.evil.example"),
            Some("https://github.com"),
        ] {
            let mut claims = json!({"sub": "1", "hd": "example.com", "tid": TID});
            if let Some(iss) = iss {
                claims["iss"] = json!(iss);
            }
            assert!(admits(&policy, claims).is_err(), "{iss:?}");
        }
        // An Entra issuer for another tenant than the `tid` claims, or a lookalike host.
        for iss in [
            "https://login.microsoftonline.com/00000000-86f1-41af-91ab-2d7cd011db47/v2.0".into(),
            format!("https://login.microsoftonline.com/{TID}/v2.0/extra"),
            format!("https://login.microsoftonline.com.evil.example/{TID}/v2.0"),
            format!("https://evil.example/{TID}/v2.0"),
            format!("http://login.microsoftonline.com/{TID}/v2.0"),
            format!("https://sts.windows.net/{TID}"),
        ] {
            let claims = json!({"sub": "1", "iss": iss, "tid": TID});
            assert!(admits(&policy, claims).is_err(), "{iss}");
        }
    }

    #[test]
    fn a_google_address_counts_only_for_gmail_or_the_accounts_own_workspace_domain() {
        let policy = AccessPolicy::builder()
            .allow_email_domains(["example.com", "gmail.com"])
            .build()
            .unwrap();
        let google = |email: &str, hd: Option<&str>| {
            let mut claims =
                json!({"sub": "1", "iss": GOOGLE, "email": email, "email_verified": true});
            if let Some(hd) = hd {
                claims["hd"] = json!(hd);
            }
            user(claims)
        };
        let check = |u: &AuthUser| futures::executor::block_on(policy.check(u));
        // A personal Google account made for a company address: verified once, not Google's.
        let stale = google("ada@example.com", None);
        assert_eq!(verified_email(&stale), None);
        assert!(check(&stale).is_err());
        // ... or a Workspace account of another domain holding that address.
        let elsewhere = google("ada@example.com", Some("other.example"));
        assert_eq!(verified_email(&elsewhere), None);
        assert!(check(&elsewhere).is_err());
        let workspace = google("ada@example.com", Some("Example.com"));
        assert_eq!(verified_email(&workspace), Some("ada@example.com"));
        assert_eq!(check(&workspace), Ok(()));
        let gmail = google("ada@Gmail.com", None);
        assert_eq!(verified_email(&gmail), Some("ada@Gmail.com"));
        assert_eq!(check(&gmail), Ok(()));
        // Unverified is never enough, not even at gmail.com.
        let unverified = user(json!({"sub": "1", "iss": GOOGLE, "email": "ada@gmail.com"}));
        assert_eq!(verified_email(&unverified), None);
        // Other providers' verified addresses count as they are.
        let keycloak = user(json!({"sub": "1", "iss": "https://kc.example/realms/a",
            "email": "ada@example.com", "email_verified": true}));
        assert_eq!(verified_email(&keycloak), Some("ada@example.com"));
    }

    /// An `AccessCheck` answering what it is told, counting its calls.
    struct Answer(Result<bool, VerifyError>, AtomicU32);

    impl AccessCheck for Answer {
        fn admits<'a>(&'a self, _: &'a AuthUser) -> LocalBoxFuture<'a, Result<bool, VerifyError>> {
            self.1.fetch_add(1, Ordering::Relaxed);
            Box::pin(futures::future::ready(self.0.clone()))
        }
        fn required_scopes(&self) -> Vec<String> {
            vec!["read:org".into()]
        }
        fn describe(&self) -> String {
            "test".into()
        }
    }

    #[test]
    fn a_check_without_an_answer_is_unavailable_never_a_bypass() {
        let down = || {
            Answer(
                Err(VerifyError::Unavailable("down".into())),
                AtomicU32::new(0),
            )
        };
        let policy = AccessPolicy::builder().allow(down()).build().unwrap();
        assert_eq!(
            admits(&policy, json!({"sub": "1"})),
            Err(AccessRefusal::Unavailable)
        );
        // Another rule that admits wins; one that does not leaves the outage visible.
        let policy = AccessPolicy::builder()
            .allow(down())
            .allow_if(|u| u.user_id == "1")
            .build()
            .unwrap();
        assert_eq!(admits(&policy, json!({"sub": "1"})), Ok(()));
        assert_eq!(
            admits(&policy, json!({"sub": "2"})),
            Err(AccessRefusal::Unavailable)
        );
        let rejected = Answer(Err(VerifyError::Rejected("no".into())), AtomicU32::new(0));
        let policy = AccessPolicy::builder().allow(rejected).build().unwrap();
        assert!(matches!(
            admits(&policy, json!({"sub": "1"})),
            Err(AccessRefusal::Refused(_))
        ));
        let yes = Answer(Ok(true), AtomicU32::new(0));
        let policy = AccessPolicy::builder()
            .allow(yes)
            .allow(Answer(Ok(true), AtomicU32::new(0)))
            .build()
            .unwrap();
        assert_eq!(admits(&policy, json!({"sub": "1"})), Ok(()));
        assert_eq!(policy.required_scopes(), ["read:org"]);
    }

    #[test]
    fn rules_that_need_no_call_are_tried_before_checks() {
        let check = Arc::new(Answer(Ok(true), AtomicU32::new(0)));
        struct Shared(Arc<Answer>);
        impl AccessCheck for Shared {
            fn admits<'a>(
                &'a self,
                u: &'a AuthUser,
            ) -> LocalBoxFuture<'a, Result<bool, VerifyError>> {
                self.0.admits(u)
            }
            fn describe(&self) -> String {
                "shared".into()
            }
        }
        let policy = AccessPolicy::builder()
            .allow(Shared(check.clone()))
            .allow_if(|u| u.user_id == "1")
            .build()
            .unwrap();
        assert_eq!(admits(&policy, json!({"sub": "1"})), Ok(()));
        assert_eq!(check.1.load(Ordering::Relaxed), 0);
        assert_eq!(admits(&policy, json!({"sub": "2"})), Ok(()));
        assert_eq!(check.1.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn bad_rules_are_refused_at_build() {
        assert!(AccessPolicy::builder().build().is_err());
        let empty: [&str; 0] = [];
        assert!(AccessPolicy::builder().allow_emails(empty).build().is_err());
        assert!(AccessPolicy::builder()
            .allow_emails(["not-an-email"])
            .build()
            .is_err());
        assert!(AccessPolicy::builder()
            .allow_email_domains(["@example.com"])
            .build()
            .is_err());
        assert!(AccessPolicy::builder()
            .allow_email_domains(["a..b"])
            .build()
            .is_err());
        assert!(AccessPolicy::builder()
            .allow_entra_tenants(["contoso.com"])
            .build()
            .is_err());
        assert!(AccessPolicy::builder()
            .allow_emails([" ada@example.com "])
            .build()
            .is_ok());
    }

    #[test]
    fn an_outage_of_a_check_is_logged_once_per_interval_not_per_request() {
        use crate::http::Written;
        let down = Answer(
            Err(VerifyError::Unavailable("down".into())),
            AtomicU32::new(0),
        );
        let policy = AccessPolicy::builder().allow(down).build().unwrap();
        let now = SystemClock.now();
        for _ in 0..100 {
            assert_eq!(
                admits(&policy, json!({"sub": "1"})),
                Err(AccessRefusal::Unavailable)
            );
        }
        // The hundred failures were one line: the next within the interval is counted, the
        // first after it is the summary of all of them.
        assert_eq!(policy.outages.record(now, "probe"), Written::Counted);
        assert_eq!(
            policy
                .outages
                .record(now + OutageLog::INTERVAL + 5, "probe"),
            Written::Summary(100)
        );
    }

    #[test]
    fn claims_in_the_refusal_are_escaped() {
        let policy = AccessPolicy::builder()
            .allow_emails(["ada@example.com"])
            .build()
            .unwrap();
        let refused = admits(
            &policy,
            json!({"sub": "1\nINFO access granted to admin", "email": "e\u{1b}[31m", "email_verified": true}),
        );
        let Err(AccessRefusal::Refused(reason)) = refused else {
            panic!("{refused:?}")
        };
        assert!(
            !reason.contains('\n') && !reason.contains('\u{1b}'),
            "{reason}"
        );
        assert!(
            reason.contains(r"user 1\nINFO access granted to admin (e\u{1b}[31m)"),
            "{reason}"
        );
    }
}
