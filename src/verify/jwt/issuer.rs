//! [`IssuerPolicy`]: the `iss` a token must name, one fixed issuer or one per tenant.

use std::fmt;

use crate::validate::{invalid, is_path_segment, secure_url, ConfigError};
use crate::verify::VerifyError;

/// The placeholder of a per-tenant issuer template.
const PLACEHOLDER: &str = "{tenant}";

/// Which `iss` a [`JwksVerifier`](crate::JwksVerifier) accepts; set with
/// [`JwksVerifierBuilder::issuer_policy`](crate::verify::JwksVerifierBuilder::issuer_policy).
///
/// Most issuers have one identifier: [`IssuerPolicy::exact`], which
/// [`JwksVerifierBuilder::issuer`](crate::verify::JwksVerifierBuilder::issuer) sets for you.
///
/// A multi-tenant provider signs the tokens of all its tenants with one key set but names the
/// tenant in the issuer, as Microsoft Entra ID does with
/// `https://login.microsoftonline.com/{tenant}/v2.0` and the tenant's id in the `tid` claim.
/// [`IssuerPolicy::per_tenant`] accepts such tokens: `{tenant}` is filled with the value of
/// the named claim, and `iss` must equal the result, byte for byte.
///
/// The claim is read from the payload only after its signature has been verified, so a token
/// cannot pick a tenant its signer did not vouch for; and since every tenant shares the one
/// key set, a token naming a tenant never seen before costs what any other token costs. A
/// token without the claim, or whose claim is not a plain path segment (letters, digits,
/// `-`, `.`, `_`, `~`; not empty, `.` or `..`), is refused as [`VerifyError::Issuer`].
///
/// A per-tenant policy accepts every tenant the signer issues tokens for. To let in only some
/// of them, check the claim in the verified [`Claims`](crate::Claims) as well.
///
/// ```
/// use actix_mcp_oauth::{verify::IssuerPolicy, JwksVerifier};
///
/// let host = "https://login.microsoftonline.com";
/// let verifier = JwksVerifier::builder().jwks_url(format!("{host}/organizations/discovery/v2.0/keys"))
///     .issuer_policy(IssuerPolicy::per_tenant(format!("{host}/{{tenant}}/v2.0"), "tid"))
///     .audience("api://my-app")
///     .build()?;
/// # Ok::<(), actix_mcp_oauth::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct IssuerPolicy(Rule);

#[derive(Clone, PartialEq, Eq)]
enum Rule {
    Exact(String),
    PerTenant { template: String, claim: String },
}

impl IssuerPolicy {
    /// Tokens must name `issuer` in `iss`, compared as an exact string: no normalisation, so
    /// a trailing slash matters.
    pub fn exact(issuer: impl Into<String>) -> Self {
        Self(Rule::Exact(issuer.into()))
    }

    /// Tokens must name `template` in `iss`, with `{tenant}` replaced by the value of the
    /// string claim `claim` of the same, verified, payload.
    ///
    /// The template must hold `{tenant}` exactly once, no other braces, and otherwise be an
    /// `https` URL (`http` on loopback only); [`build`](crate::verify::JwksVerifierBuilder::build)
    /// checks it.
    pub fn per_tenant(template: impl Into<String>, claim: impl Into<String>) -> Self {
        Self(Rule::PerTenant {
            template: template.into(),
            claim: claim.into(),
        })
    }

    /// Checks the policy and puts it in the form the per-token check uses.
    pub(crate) fn compile(self) -> Result<Issuer, ConfigError> {
        match self.0 {
            Rule::Exact(issuer) if issuer.is_empty() => Err(ConfigError::Missing("issuer")),
            Rule::Exact(issuer) => Ok(Issuer::Exact(issuer)),
            Rule::PerTenant { template, claim } => {
                if template.is_empty() {
                    return Err(ConfigError::Missing("issuer"));
                }
                let (prefix, suffix) = template
                    .split_once(PLACEHOLDER)
                    .filter(|(_, suffix)| !suffix.contains(PLACEHOLDER))
                    .ok_or_else(|| {
                        invalid("issuer", "the template must hold `{tenant}` exactly once")
                    })?;
                if [prefix, suffix]
                    .iter()
                    .any(|part| part.contains(['{', '}']))
                {
                    return Err(invalid(
                        "issuer",
                        "`{tenant}` is the only placeholder of the template",
                    ));
                }
                secure_url("issuer", &format!("{prefix}tenant{suffix}"))?;
                if claim.is_empty() {
                    return Err(invalid("issuer", "the tenant claim name is empty"));
                }
                Ok(Issuer::PerTenant(Template {
                    prefix: prefix.to_owned(),
                    suffix: suffix.to_owned(),
                    claim,
                }))
            }
        }
    }
}

impl fmt::Debug for IssuerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Rule::Exact(issuer) => f.debug_tuple("Exact").field(issuer).finish(),
            Rule::PerTenant { template, claim } => f
                .debug_struct("PerTenant")
                .field("template", template)
                .field("claim", claim)
                .finish(),
        }
    }
}

/// A checked [`IssuerPolicy`].
#[derive(Clone)]
pub(crate) enum Issuer {
    Exact(String),
    PerTenant(Template),
}

/// A per-tenant issuer split around its placeholder, so that matching a token allocates
/// nothing.
#[derive(Clone)]
pub(crate) struct Template {
    prefix: String,
    suffix: String,
    claim: String,
}

impl Template {
    /// The claim whose value fills the placeholder.
    pub(crate) fn claim(&self) -> &str {
        &self.claim
    }

    /// Whether `iss` is the template filled with `tenant`, a plain path segment.
    pub(crate) fn check(&self, iss: &str, tenant: Option<&str>) -> Result<(), VerifyError> {
        let filled = tenant.filter(|t| is_path_segment(t)).is_some_and(|tenant| {
            iss.strip_prefix(self.prefix.as_str())
                .and_then(|rest| rest.strip_suffix(self.suffix.as_str()))
                == Some(tenant)
        });
        if filled {
            Ok(())
        } else {
            Err(VerifyError::Issuer)
        }
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issuer::Exact(issuer) => fmt::Debug::fmt(issuer, f),
            Issuer::PerTenant(t) => write!(
                f,
                "\"{}{PLACEHOLDER}{}\" ({PLACEHOLDER} = {})",
                t.prefix, t.suffix, t.claim
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "https://login.example/{tenant}/v2.0";

    fn template() -> Template {
        match IssuerPolicy::per_tenant(TEMPLATE, "tid").compile().unwrap() {
            Issuer::PerTenant(t) => t,
            Issuer::Exact(_) => unreachable!("a per-tenant policy compiles to a template"),
        }
    }

    #[test]
    fn a_template_matches_only_the_issuer_of_the_given_tenant() {
        let t = template();
        assert_eq!(t.claim(), "tid");
        assert!(t
            .check("https://login.example/t-1/v2.0", Some("t-1"))
            .is_ok());
        for (iss, tenant) in [
            ("https://login.example/t-2/v2.0", Some("t-1")),
            ("https://login.example/t-1/v2.0", None),
            ("https://login.example/t-1/v2.0/", Some("t-1")),
            ("https://login.example//v2.0", Some("")),
            ("https://login.example/../v2.0", Some("..")),
            ("https://login.example/a/b/v2.0", Some("a/b")),
            ("https://login.example/a%2Fb/v2.0", Some("a%2Fb")),
            ("https://login.example/a?b/v2.0", Some("a?b")),
        ] {
            assert_eq!(
                t.check(iss, tenant).unwrap_err(),
                VerifyError::Issuer,
                "{iss}"
            );
        }
    }
}
