//! The registered claims (`iss`, `exp`, `nbf`, `iat`, `aud`), the claims that tell an access
//! token from other JWTs (`nonce`, `typ`, `gty`) and those naming its client (`azp`, `cid`,
//! `appid`, `client_id`), parsed into a borrowed typed struct and checked by our own code. The
//! rest of the payload is not parsed here, except the tenant claim of a per-tenant issuer.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::issuer::Issuer;
use super::Policy;
use crate::verify::client::{Named, CLIENT_CLAIMS};
use crate::verify::VerifyError;

/// 9999-12-31T23:59:59Z. A NumericDate beyond it is nonsense (`1e20`) rather than a long-lived
/// token, and refusing it keeps the float arithmetic below exact.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// The registered claims we check, borrowed from the payload. Every field takes any JSON type
/// so that a wrong type is reported as that claim's error, not as a malformed payload; a claim
/// given twice is malformed.
#[derive(Deserialize)]
pub(super) struct Registered<'a> {
    #[serde(default, borrow)]
    iss: Field<'a>,
    #[serde(default, borrow)]
    exp: Field<'a>,
    #[serde(default, borrow)]
    nbf: Field<'a>,
    #[serde(default, borrow)]
    iat: Field<'a>,
    #[serde(default, borrow)]
    aud: Audience<'a>,
    /// `nonce` and the hashes of what an ID token was issued with: OpenID Connect defines them
    /// for ID tokens only. Present at all (whatever the value) means an ID token.
    #[serde(default, deserialize_with = "super::present")]
    nonce: bool,
    #[serde(default, deserialize_with = "super::present")]
    at_hash: bool,
    #[serde(default, deserialize_with = "super::present")]
    c_hash: bool,
    #[serde(default, deserialize_with = "super::present")]
    s_hash: bool,
    /// Keycloak's token kind: `Bearer` in access tokens, `ID` in ID tokens.
    #[serde(default, borrow)]
    typ: Field<'a>,
    /// Auth0's grant type: `client-credentials` in machine-to-machine tokens.
    #[serde(default, borrow)]
    gty: Field<'a>,
    #[serde(default, borrow)]
    azp: Field<'a>,
    #[serde(default, borrow)]
    cid: Field<'a>,
    #[serde(default, borrow)]
    appid: Field<'a>,
    #[serde(default, borrow)]
    client_id: Field<'a>,
}

/// Keycloak's `typ` values for tokens that are not access tokens.
const NOT_ACCESS_TOKEN_KINDS: [&str; 4] = ["ID", "Refresh", "Offline", "Logout"];

impl Registered<'_> {
    /// Refuses what is not an access token: an ID token (`nonce`, `at_hash`, `c_hash`,
    /// `s_hash`, or Keycloak's `typ` `ID`, ...)
    /// and, when `policy` says so, a machine-to-machine token.
    fn check_kind(&self, policy: &Policy) -> Result<(), VerifyError> {
        let id_token_claim = [
            (
                self.nonce,
                "an OpenID Connect ID token (it carries `nonce`)",
            ),
            (
                self.at_hash,
                "an OpenID Connect ID token (it carries `at_hash`)",
            ),
            (
                self.c_hash,
                "an OpenID Connect ID token (it carries `c_hash`)",
            ),
            (
                self.s_hash,
                "an OpenID Connect ID token (it carries `s_hash`)",
            ),
        ];
        if let Some((_, reason)) = id_token_claim.iter().find(|(present, _)| *present) {
            return Err(VerifyError::NotAccessToken(reason));
        }
        if let Field::Str(typ) = &self.typ {
            if NOT_ACCESS_TOKEN_KINDS
                .iter()
                .any(|kind| typ.eq_ignore_ascii_case(kind))
            {
                return Err(VerifyError::NotAccessToken(
                    "the `typ` claim names an ID, refresh or logout token",
                ));
            }
        }
        if policy.refuse_client_credentials
            && matches!(&self.gty, Field::Str(gty) if gty == "client-credentials")
        {
            return Err(VerifyError::NotAccessToken(
                "a machine-to-machine token (`gty` is `client-credentials`): no user signed in",
            ));
        }
        Ok(())
    }

    fn client_claims(&self) -> impl Iterator<Item = (&'static str, Named<'_>)> {
        let fields = [&self.azp, &self.cid, &self.appid, &self.client_id];
        CLIENT_CLAIMS.into_iter().zip(fields).map(|(name, field)| {
            let named = match field {
                Field::Absent => Named::Absent,
                Field::Str(id) => Named::Id(id),
                _ => Named::NotAString,
            };
            (name, named)
        })
    }
}

/// One claim's value, reduced to what the checks need.
#[derive(Default)]
enum Field<'a> {
    #[default]
    Absent,
    Str(Cow<'a, str>),
    /// A non-negative integer, kept exact for [`Claims::expires_at`](crate::Claims::expires_at).
    Int(u64),
    Num(f64),
    /// `null`, a boolean, an array or an object.
    Other,
}

#[derive(Default)]
enum Audience<'a> {
    #[default]
    Absent,
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
    /// Not a string or an array of strings.
    Invalid,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor(PhantomData))
    }
}

struct FieldVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
    type Value = Field<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'a>, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Field<'a>, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Field<'a>, E> {
        Ok(Field::Int(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Field<'a>, E> {
        Ok(Field::Num(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Field<'a>, E> {
        Ok(Field::Num(v))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Field<'a>, E> {
        Ok(Field::Other)
    }

    fn visit_unit<E>(self) -> Result<Field<'a>, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(AudienceVisitor(PhantomData))? {
            Some(audience) => audience,
            None => Audience::Invalid,
        })
    }
}

struct AudienceVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for AudienceVisitor<'a> {
    /// `None`: a value of the wrong type, consumed.
    type Value = Option<Audience<'a>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        let mut valid = true;
        while let Some(item) = seq.next_element::<Field<'a>>()? {
            match item {
                Field::Str(aud) => all.push(aud),
                _ => valid = false,
            }
        }
        Ok(valid.then_some(Audience::Many(all)))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Audience::One(Cow::Borrowed(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Audience::One(Cow::Owned(v.to_owned()))))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// The registered-claim checks. `iss` and `exp` are required; `nbf` and `iat` are checked when
/// present; `aud` when audiences are configured; then the token must be an access token, and
/// name the configured client if it names any. Returns `exp`, rounded down to whole seconds.
///
/// `payload` is the verified JSON object `claims` was parsed from; a per-tenant issuer reads
/// its tenant claim from it.
pub(super) fn check_claims(
    claims: &Registered<'_>,
    payload: &[u8],
    policy: &Policy,
    now: u64,
) -> Result<Option<u64>, VerifyError> {
    let now = now as f64;
    let leeway = policy.leeway as f64;

    let exp = numeric_date(&claims.exp, "exp")?.ok_or(VerifyError::InvalidClaim("exp"))?;
    // RFC 7519 §4.1.4: the token is valid only *before* `exp`.
    if now >= exp + leeway {
        return Err(VerifyError::Expired);
    }
    for (field, name) in [(&claims.nbf, "nbf"), (&claims.iat, "iat")] {
        if let Some(at) = numeric_date(field, name)? {
            if at > now + leeway {
                return Err(VerifyError::NotYetValid);
            }
        }
    }

    match (&claims.iss, &policy.issuer) {
        (Field::Str(iss), Issuer::Exact(issuer)) if iss == issuer => {}
        (Field::Str(iss), Issuer::PerTenant(template)) => {
            let tenant = string_claim(payload, template.claim())?;
            template.check(iss, tenant.as_deref())?;
        }
        (Field::Str(_) | Field::Absent, _) => return Err(VerifyError::Issuer),
        _ => return Err(VerifyError::InvalidClaim("iss")),
    }

    if !policy.audiences.is_empty() {
        let accepted = |aud: &str| policy.audiences.iter().any(|a| a == aud);
        let ok = match &claims.aud {
            Audience::Absent => false,
            Audience::One(aud) => accepted(aud),
            Audience::Many(auds) => auds.iter().any(|aud| accepted(aud)),
            Audience::Invalid => return Err(VerifyError::InvalidClaim("aud")),
        };
        if !ok {
            return Err(VerifyError::Audience);
        }
    }
    claims.check_kind(policy)?;
    if let Some(rule) = &policy.client {
        rule.check(claims.client_claims())?;
    }
    // A fractional `exp` is kept rounded down, so the cache stops serving the token no later
    // than it expires; dropping it would let the cache serve it for its whole maximum TTL.
    Ok(Some(match claims.exp {
        Field::Int(exp) => exp,
        _ => exp.floor() as u64,
    }))
}

/// The value of the claim `name` when it is a string; `None` when it is absent or of another
/// type. A second pass over the payload, taken only by per-tenant issuers and only once the
/// signature has verified; a claim given twice is malformed, as for the registered claims.
fn string_claim<'a>(payload: &'a [u8], name: &str) -> Result<Option<Cow<'a, str>>, VerifyError> {
    let mut json = serde_json::Deserializer::from_slice(payload);
    let field = ClaimSeed { name }
        .deserialize(&mut json)
        .and_then(|field| json.end().map(|()| field))
        .map_err(|_| VerifyError::Malformed("payload is not a JSON object"))?;
    Ok(match field {
        Field::Str(value) => Some(value),
        _ => None,
    })
}

/// Reads one claim of a JSON object, skipping the others.
struct ClaimSeed<'n> {
    name: &'n str,
}

impl<'de, 'n> DeserializeSeed<'de> for ClaimSeed<'n> {
    type Value = Field<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'n> Visitor<'de> for ClaimSeed<'n> {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        let mut found = None;
        while let Some(is_it) = map.next_key_seed(KeyIs(self.name))? {
            if !is_it {
                map.next_value::<IgnoredAny>()?;
            } else if found.is_some() {
                return Err(de::Error::custom("claim given twice"));
            } else {
                found = Some(map.next_value::<Field<'de>>()?);
            }
        }
        Ok(found.unwrap_or_default())
    }
}

/// A map key compared with a name, without copying it.
struct KeyIs<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim name")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// A NumericDate claim: absent, or a finite number of seconds in `0..=9999-12-31`.
fn numeric_date(field: &Field<'_>, name: &'static str) -> Result<Option<f64>, VerifyError> {
    let at = match field {
        Field::Absent => return Ok(None),
        Field::Int(at) => *at as f64,
        Field::Num(at) => *at,
        Field::Str(_) | Field::Other => return Err(VerifyError::InvalidClaim(name)),
    };
    if at.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&at) {
        Ok(Some(at))
    } else {
        Err(VerifyError::InvalidClaim(name))
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use serde_json::{json, Value};

    use crate::Claims;

    use super::super::testing::*;
    use super::*;

    #[test]
    fn a_payload_with_a_registered_claim_twice_is_malformed() {
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "kid": "rsa" }).to_string());
        let payload = format!(
            r#"{{"iss":"{ISS}","aud":"api","exp":{},"exp":{}}}"#,
            NOW + 600,
            NOW + 999_999
        );
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = signer("RS256").sign(input.as_bytes()).unwrap();
        let bad = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
        assert_eq!(
            check(&bad).unwrap_err(),
            VerifyError::Malformed("payload is not a JSON object")
        );
    }

    #[test]
    fn escaped_strings_compare_by_value_and_exp_is_kept_for_the_cache() {
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "kid": "rsa" }).to_string());
        let payload = format!(
            r#"{{"iss":"https:\/\/issuer.example","aud":["\u0061pi"],"exp":{}}}"#,
            NOW + 600
        );
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&payload));
        let signature = signer("RS256").sign(input.as_bytes()).unwrap();
        let claims = check(&format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))).unwrap();
        assert_eq!(claims.expires_at(), Some(NOW + 600));
        assert_eq!(claims.get_str("iss"), Some(ISS));
        let fractional = check(&token(
            "rsa",
            "RS256",
            &with("exp", json!(NOW as f64 + 600.5)),
        ))
        .unwrap();
        assert_eq!(fractional.expires_at(), Some(NOW + 600));
    }

    #[test]
    fn exp_is_required_and_must_be_a_sane_numeric_date() {
        for exp in [
            json!("1800000000"),
            json!(1e20),
            json!(-1),
            json!(null),
            json!(true),
            json!([NOW + 600]),
        ] {
            assert_eq!(
                check(&token("rsa", "RS256", &with("exp", exp.clone()))).unwrap_err(),
                VerifyError::InvalidClaim("exp"),
                "{exp}"
            );
        }
        assert_eq!(
            check(&token("rsa", "RS256", &without("exp"))).unwrap_err(),
            VerifyError::InvalidClaim("exp")
        );
        assert!(check(&token(
            "rsa",
            "RS256",
            &with("exp", json!((NOW + 600) as f64 + 0.5))
        ))
        .is_ok());
    }

    #[test]
    fn expiry_honours_the_leeway() {
        let t = |exp: u64| token("rsa", "RS256", &with("exp", json!(exp)));
        assert!(check(&t(NOW - 59)).is_ok());
        assert_eq!(check(&t(NOW - 60)).unwrap_err(), VerifyError::Expired);
        let strict = Policy {
            leeway: 0,
            ..policy()
        };
        assert_eq!(
            check_with(&t(NOW), &strict, key_set(), NOW).unwrap_err(),
            VerifyError::Expired
        );
        assert!(check_with(&t(NOW + 1), &strict, key_set(), NOW).is_ok());
    }

    #[test]
    fn nbf_and_iat_in_the_future_beyond_the_leeway_are_not_yet_valid() {
        for claim in ["nbf", "iat"] {
            assert!(check(&token("rsa", "RS256", &with(claim, json!(NOW + 60)))).is_ok());
            assert_eq!(
                check(&token("rsa", "RS256", &with(claim, json!(NOW + 61)))).unwrap_err(),
                VerifyError::NotYetValid
            );
            assert_eq!(
                check(&token("rsa", "RS256", &with(claim, json!("soon")))).unwrap_err(),
                VerifyError::InvalidClaim(claim)
            );
        }
        assert!(check(&token("rsa", "RS256", &without("iat"))).is_ok());
    }

    #[test]
    fn iss_must_match_exactly() {
        for iss in [
            json!("https://evil.example"),
            json!(format!("{ISS}/")),
            json!("HTTPS://issuer.example"),
        ] {
            assert_eq!(
                check(&token("rsa", "RS256", &with("iss", iss))).unwrap_err(),
                VerifyError::Issuer
            );
        }
        assert_eq!(
            check(&token("rsa", "RS256", &without("iss"))).unwrap_err(),
            VerifyError::Issuer
        );
        assert_eq!(
            check(&token("rsa", "RS256", &with("iss", json!(["x"])))).unwrap_err(),
            VerifyError::InvalidClaim("iss")
        );
    }

    #[test]
    fn aud_must_contain_a_configured_audience() {
        assert!(check(&token(
            "rsa",
            "RS256",
            &with("aud", json!(["other", "api"]))
        ))
        .is_ok());
        for aud in [json!("other"), json!([]), json!(["other"])] {
            assert_eq!(
                check(&token("rsa", "RS256", &with("aud", aud))).unwrap_err(),
                VerifyError::Audience
            );
        }
        assert_eq!(
            check(&token("rsa", "RS256", &without("aud"))).unwrap_err(),
            VerifyError::Audience
        );
        for aud in [json!(1), json!(["api", 2]), json!({ "api": true })] {
            assert_eq!(
                check(&token("rsa", "RS256", &with("aud", aud))).unwrap_err(),
                VerifyError::InvalidClaim("aud")
            );
        }
        let any_audience = Policy {
            audiences: vec![],
            ..policy()
        };
        assert!(check_with(
            &token("rsa", "RS256", &without("aud")),
            &any_audience,
            key_set(),
            NOW
        )
        .is_ok());
    }

    #[test]
    fn id_tokens_are_refused_by_their_nonce_or_keycloaks_typ_claim() {
        for nonce in [json!("n-0S6_WzA2Mj"), json!(""), json!(null), json!(7)] {
            assert_eq!(
                check(&token("rsa", "RS256", &with("nonce", nonce.clone()))).unwrap_err(),
                VerifyError::NotAccessToken("an OpenID Connect ID token (it carries `nonce`)"),
                "{nonce}"
            );
        }
        for hash in ["at_hash", "c_hash", "s_hash"] {
            let err = check(&token(
                "rsa",
                "RS256",
                &with(hash, json!("77QmUPtjPfzWtF2AnpK9RQ")),
            ))
            .unwrap_err();
            assert!(
                matches!(err, VerifyError::NotAccessToken(reason) if reason.contains(hash)),
                "{hash}"
            );
        }
        for kind in ["ID", "id", "Refresh", "Offline", "Logout"] {
            assert!(
                matches!(
                    check(&token("rsa", "RS256", &with("typ", json!(kind)))),
                    Err(VerifyError::NotAccessToken(_))
                ),
                "{kind}"
            );
        }
        for access in [json!("Bearer"), json!("bearer"), json!(1)] {
            assert!(check(&token("rsa", "RS256", &with("typ", access.clone()))).is_ok());
        }
        // The kind is checked after the signature and registered claims, so an expired ID
        // token is reported as expired.
        let mut expired = with("nonce", json!("n"));
        expired["exp"] = json!(NOW - 3600);
        assert_eq!(
            check(&token("rsa", "RS256", &expired)).unwrap_err(),
            VerifyError::Expired
        );
    }

    #[test]
    fn client_credentials_tokens_are_refused_only_when_asked() {
        let m2m = token("rsa", "RS256", &with("gty", json!("client-credentials")));
        assert!(check(&m2m).is_ok());
        let refusing = Policy {
            refuse_client_credentials: true,
            ..policy()
        };
        assert!(matches!(
            check_with(&m2m, &refusing, key_set(), NOW),
            Err(VerifyError::NotAccessToken(_))
        ));
        let user = token("rsa", "RS256", &with("gty", json!("authorization_code")));
        assert!(check_with(&user, &refusing, key_set(), NOW).is_ok());
        assert!(check_with(
            &token("rsa", "RS256", &good_payload()),
            &refusing,
            key_set(),
            NOW
        )
        .is_ok());
    }

    #[test]
    fn the_client_rule_reads_the_client_claims_of_the_payload() {
        let rule = |required| Policy {
            client: Some(crate::verify::client::ClientRule {
                id: "ours".into(),
                required,
            }),
            ..policy()
        };
        let run = |payload: &Value, policy: &Policy| {
            check_with(&token("rsa", "RS256", payload), policy, key_set(), NOW)
        };
        for name in CLIENT_CLAIMS {
            assert!(
                run(&with(name, json!("ours")), &rule(None)).is_ok(),
                "{name}"
            );
            assert_eq!(
                run(&with(name, json!("theirs")), &rule(None)).unwrap_err(),
                VerifyError::OtherClient(name)
            );
            assert_eq!(
                run(&with(name, json!(["ours"])), &rule(None)).unwrap_err(),
                VerifyError::InvalidClaim(name)
            );
        }
        let mut mixed = with("azp", json!("ours"));
        mixed["client_id"] = json!("theirs");
        assert_eq!(
            run(&mixed, &rule(None)).unwrap_err(),
            VerifyError::OtherClient("client_id")
        );
        assert!(run(&good_payload(), &rule(None)).is_ok());
        assert_eq!(
            run(&good_payload(), &rule(Some("azp"))).unwrap_err(),
            VerifyError::InvalidClaim("azp")
        );
        // The same rule as `check_client` over the claims map.
        for payload in [
            with("cid", json!("theirs")),
            with("appid", json!("ours")),
            good_payload(),
        ] {
            let claims = Claims::new(payload.as_object().unwrap().clone());
            assert_eq!(
                run(&payload, &rule(None)).map(drop),
                crate::verify::check_client(&claims, "ours")
            );
        }
    }
}
