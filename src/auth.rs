//! Authority: a listener's one mode, and the [`Decision`] it reaches for a request.
//!
//! Every outcome is explained by the mode plus one [`Reason`]. Connection authority is
//! all a decision grants: having connected gives a client the [`Scopes`] of its
//! [`Grant`] and nothing more.
//!
//! | mode | credential travels in | checked against |
//! | --- | --- | --- |
//! | `query-token` | `?token=` only | one secret, held as a [`HeldSecret`] (a length-hiding constant-time comparison) |
//! | `bearer` | `Authorization: Bearer`, or the subprotocol form | one secret like `query-token`, or only its SHA-256 ([`Digest`]) |
//! | `jwt` | `Authorization: Bearer`, or the subprotocol form | HS256 signature, `exp`, `nbf`, `iat`, `iss`, `aud` |
//! | `store` | `?token=`, `Authorization: Bearer` or the subprotocol form (exactly one) | the store's SHA-256 digests, by hash lookup; status, expiry and scopes |

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::bearer;
use crate::date;
use crate::jwt::{self, JwtError};
use crate::outcome::{Mode, Reason};
use crate::request::Common;
use crate::scope::Scopes;
use crate::secret::{self, Credential, Digest, HeldSecret, Presented, Secret, TokenError};
use crate::store::{Status, StoreView};

/// The managed token a connection was accepted with: what logs and programs may know
/// of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// What an accepted request is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// `valid-token` or `token-check-disabled`.
    pub reason: Reason,
    /// What the connection may do.
    pub scopes: Scopes,
    /// Who the credential names (a JWT's `sub`), for the backend.
    pub subject: Option<String>,
    /// When the credential stops being valid; the session is closed then.
    pub expires: Option<SystemTime>,
    /// The managed token, in `store` mode.
    pub token: Option<TokenRef>,
}

impl Grant {
    fn full(reason: Reason) -> Grant {
        Grant {
            reason,
            scopes: Scopes::ALL,
            subject: None,
            expires: None,
            token: None,
        }
    }
}

/// What the authority decided for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let the connection through.
    Accept(Grant),
    /// Refuse it.
    Reject(Reason),
}

impl Decision {
    /// Accepted, or rejected for a reason: what an answer tells of it.
    pub fn outcome(&self) -> Result<(), Reason> {
        match self {
            Decision::Accept(_) => Ok(()),
            Decision::Reject(reason) => Err(*reason),
        }
    }
}

enum Verifier {
    /// One secret, held for a constant-time comparison.
    Secret(HeldSecret),
    /// One secret known only by its SHA-256 digest (`--auth-token-sha256`).
    Digest(Digest),
    /// A JWT key and the claims rules.
    Jwt { key: Secret, rules: jwt::Rules },
    /// The token store.
    Store(Arc<StoreView>),
}

impl Verifier {
    fn secret(secret: &Secret) -> Result<Verifier, TokenError> {
        HeldSecret::new(secret)
            .map(Verifier::Secret)
            .ok_or(TokenError::TooLong)
    }
}

/// A listener's authority: its mode, what it checks against, and whether it enforces.
pub struct Authority {
    mode: Mode,
    verifier: Verifier,
    enforce: bool,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("mode", &self.mode)
            .field("enforce", &self.enforce)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// `?token=` checked against one secret. With `enforce` false
    /// (`--no-token-check`) every well-formed request is accepted, with reason
    /// `token-check-disabled`; so in every mode. Fails for a secret longer than
    /// [`secret::MAX_HELD_SECRET`] bytes.
    pub fn query_token(secret: &Secret, enforce: bool) -> Result<Authority, TokenError> {
        Ok(Authority {
            mode: Mode::QueryToken,
            verifier: Verifier::secret(secret)?,
            enforce,
        })
    }

    /// A bearer credential checked against one secret.
    pub fn bearer(secret: &Secret, enforce: bool) -> Result<Authority, TokenError> {
        Ok(Authority {
            mode: Mode::Bearer,
            verifier: Verifier::secret(secret)?,
            enforce,
        })
    }

    /// A bearer credential checked against the SHA-256 digest of one secret.
    pub fn bearer_digest(digest: Digest, enforce: bool) -> Authority {
        Authority {
            mode: Mode::Bearer,
            verifier: Verifier::Digest(digest),
            enforce,
        }
    }

    /// A bearer credential that is an HS256 JWT under `key`.
    pub fn jwt(key: Secret, rules: jwt::Rules, enforce: bool) -> Authority {
        Authority {
            mode: Mode::Jwt,
            verifier: Verifier::Jwt { key, rules },
            enforce,
        }
    }

    /// Managed tokens from the token store, presented as `?token=`, `Bearer` or the
    /// subprotocol form: exactly one.
    pub fn store(view: Arc<StoreView>, enforce: bool) -> Authority {
        Authority {
            mode: Mode::Store,
            verifier: Verifier::Store(view),
            enforce,
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether credentials are checked (false under `--no-token-check`).
    pub fn enforced(&self) -> bool {
        self.enforce
    }

    /// Decides a request at time `now`. A credential that cannot be read one way is
    /// refused in every mode, checked or not: it is not a question of credentials.
    pub fn decide(&self, request: &Common<'_>, now: SystemTime) -> Decision {
        let query =
            || secret::from_query(request.query.as_bytes()).or(Err(Reason::MalformedRequest));
        let header = || bearer::credential(request.headers).or(Err(Reason::MalformedCredential));
        let presented = match self.mode {
            Mode::QueryToken => query(),
            Mode::Bearer | Mode::Jwt => {
                header().map(|h| h.map_or(Presented::Missing, Presented::One))
            }
            Mode::Store => query().and_then(|query| match (query, header()?) {
                (Presented::Missing, Some(credential)) => Ok(Presented::One(credential)),
                (query, None) => Ok(query),
                // Two places, two credentials: which one counts is never guessed.
                (_, Some(_)) => Err(Reason::MalformedCredential),
            }),
        };
        let presented = match presented {
            Ok(presented) => presented,
            Err(reason) => return Decision::Reject(reason),
        };
        if !self.enforce {
            return Decision::Accept(Grant::full(Reason::TokenCheckDisabled));
        }
        let credential = match presented {
            Presented::Missing => return Decision::Reject(Reason::MissingToken),
            Presented::Duplicate => return Decision::Reject(Reason::DuplicateToken),
            Presented::One(credential) => credential,
        };
        let matches = match &self.verifier {
            Verifier::Secret(held) => held.matches(&credential),
            Verifier::Digest(digest) => credential.digest().matches(digest),
            Verifier::Jwt { key, rules } => return jwt_decision(&credential, key, rules, now),
            Verifier::Store(view) => return store_decision(&credential, view, now),
        };
        if matches {
            Decision::Accept(Grant::full(Reason::ValidToken))
        } else {
            Decision::Reject(Reason::InvalidToken)
        }
    }
}

fn store_decision(credential: &Credential<'_>, view: &StoreView, now: SystemTime) -> Decision {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let store = view.current();
    let Some(entry) = store.lookup(&credential.digest()) else {
        return Decision::Reject(Reason::InvalidToken);
    };
    match entry.status(now) {
        Status::Revoked => Decision::Reject(Reason::RevokedToken),
        Status::Expired => Decision::Reject(Reason::ExpiredToken),
        Status::Active => Decision::Accept(Grant {
            reason: Reason::ValidToken,
            scopes: entry.scopes,
            subject: None,
            expires: entry.expires.and_then(date::system_time),
            token: Some(TokenRef {
                id: entry.id.clone(),
                name: entry.name.clone(),
            }),
        }),
    }
}

fn jwt_decision(
    credential: &Credential<'_>,
    key: &Secret,
    rules: &jwt::Rules,
    now: SystemTime,
) -> Decision {
    let now = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let verified = match credential.as_bytes() {
        Some(bytes) => jwt::verify(bytes, key, rules, now),
        None => jwt::verify(credential.to_secret().expose(), key, rules, now),
    };
    match verified {
        Ok(claims) => Decision::Accept(Grant {
            reason: Reason::ValidToken,
            scopes: Scopes::ALL,
            subject: claims.subject,
            expires: Duration::try_from_secs_f64(claims.expires)
                .ok()
                .and_then(|d| UNIX_EPOCH.checked_add(d)),
            token: None,
        }),
        Err(e) => Decision::Reject(match e {
            JwtError::Malformed => Reason::MalformedToken,
            JwtError::Signature => Reason::InvalidSignature,
            JwtError::Expired => Reason::ExpiredToken,
            JwtError::NotYetValid => Reason::NotYetValid,
            JwtError::WrongAudience => Reason::WrongAudience,
            JwtError::WrongIssuer => Reason::WrongIssuer,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Common, Header};

    const SECRET: &str = "correct-horse-battery-staple";

    fn common<'a>(target: &'a str, headers: &'a [Header<'a>]) -> Common<'a> {
        Common {
            target,
            query: crate::form::query_of(target),
            host: b"localhost",
            origin: None,
            headers,
        }
    }

    fn decide(enforce: bool, target: &str) -> Decision {
        let auth = Authority::query_token(&Secret::new(SECRET), enforce).unwrap();
        auth.decide(&common(target, &[]), SystemTime::now())
    }

    fn valid() -> Decision {
        Decision::Accept(Grant::full(Reason::ValidToken))
    }

    fn disabled() -> Decision {
        Decision::Accept(Grant::full(Reason::TokenCheckDisabled))
    }

    #[test]
    fn query_token_enforced() {
        let cases = [
            ("/?token=correct-horse-battery-staple", valid()),
            ("/x?a=1&token=correct-horse-battery-staple", valid()),
            ("/?token=correct%2Dhorse-battery-staple", valid()),
            ("/", Decision::Reject(Reason::MissingToken)),
            ("/?token=", Decision::Reject(Reason::MissingToken)),
            ("/?token=wrong", Decision::Reject(Reason::InvalidToken)),
            (
                "/?token=correct-horse-battery-stapl",
                Decision::Reject(Reason::InvalidToken),
            ),
            (
                "/?token=correct-horse-battery-staplee",
                Decision::Reject(Reason::InvalidToken),
            ),
            (
                "/?token=correct+horse",
                Decision::Reject(Reason::InvalidToken),
            ),
            (
                "/?token=correct-horse-battery-staple&tok%65n=x",
                Decision::Reject(Reason::DuplicateToken),
            ),
            ("/?token=%zz", Decision::Reject(Reason::MalformedRequest)),
        ];
        for (target, want) in cases {
            assert_eq!(decide(true, target), want, "{target}");
        }
    }

    #[test]
    fn query_token_not_enforced() {
        assert_eq!(decide(false, "/"), disabled());
        assert_eq!(decide(false, "/?token=wrong"), disabled());
        assert_eq!(decide(false, "/?token=a&token=b"), disabled());
        assert_eq!(
            decide(false, "/?token=%4"),
            Decision::Reject(Reason::MalformedRequest)
        );
    }

    fn h<'a>(name: &'a str, value: &'a str) -> Header<'a> {
        Header {
            name,
            value: value.as_bytes(),
        }
    }

    #[test]
    fn bearer_mode() {
        let auth = Authority::bearer(&Secret::new(SECRET), true).unwrap();
        let run = |target: &str, headers: &[Header<'_>]| {
            auth.decide(&common(target, headers), SystemTime::now())
        };
        let good = format!("Bearer {SECRET}");
        let offer = format!("chat, {}", bearer::subprotocol_for(SECRET.as_bytes()));
        let header = h("Authorization", &good);
        let proto = h("Sec-WebSocket-Protocol", &offer);
        assert_eq!(run("/", &[header]), valid());
        assert_eq!(
            run("/", &[h("authorization", &good.to_lowercase())]),
            valid()
        );
        assert_eq!(run("/", &[proto]), valid());
        // The query is never consulted.
        let query = format!("/?token={SECRET}");
        assert_eq!(run(&query, &[]), Decision::Reject(Reason::MissingToken));
        assert_eq!(run("/?token=%zz", &[header]), valid());
        let wrong = h("Authorization", "Bearer wrong");
        assert_eq!(run("/", &[wrong]), Decision::Reject(Reason::InvalidToken));
        let basic = h("Authorization", "Basic eDp5");
        assert_eq!(run("/", &[basic]), Decision::Reject(Reason::MissingToken));
        let both = [header, proto];
        assert_eq!(
            run("/", &both),
            Decision::Reject(Reason::MalformedCredential)
        );
        let two = h("Authorization", "Bearer a b");
        assert_eq!(
            run("/", &[two]),
            Decision::Reject(Reason::MalformedCredential)
        );
        let off = Authority::bearer(&Secret::new(SECRET), false).unwrap();
        assert_eq!(off.decide(&common("/", &[]), SystemTime::now()), disabled());
    }

    #[test]
    fn bearer_digest_mode() {
        let auth = Authority::bearer_digest(Secret::new(SECRET).digest(), true);
        let good = format!("Bearer {SECRET}");
        let run = |v: &str| auth.decide(&common("/", &[h("Authorization", v)]), SystemTime::now());
        assert_eq!(run(&good), valid());
        assert_eq!(run("Bearer nope"), Decision::Reject(Reason::InvalidToken));
    }

    #[test]
    fn jwt_mode() {
        let key = b"0123456789abcdef0123456789abcdef";
        let rules = jwt::Rules {
            issuer: None,
            audience: None,
            leeway: 0,
        };
        let auth = Authority::jwt(Secret::new(key.to_vec()), rules, true);
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = jwt::encode(
            br#"{"alg":"HS256"}"#,
            br#"{"sub":"alice","exp":1800000100}"#,
            key,
        );
        let value = format!("Bearer {token}");
        let headers = [h("Authorization", &value)];
        let got = auth.decide(&common("/", &headers), now);
        assert_eq!(
            got,
            Decision::Accept(Grant {
                reason: Reason::ValidToken,
                scopes: Scopes::ALL,
                subject: Some("alice".into()),
                expires: Some(UNIX_EPOCH + Duration::from_secs(1_800_000_100)),
                token: None,
            })
        );
        let later = now + Duration::from_secs(100);
        assert_eq!(
            auth.decide(&common("/", &headers), later),
            Decision::Reject(Reason::ExpiredToken)
        );
        let junk = [h("Authorization", "Bearer not-a-jwt")];
        assert_eq!(
            auth.decide(&common("/", &junk), now),
            Decision::Reject(Reason::MalformedToken)
        );
    }

    #[test]
    fn store_mode() {
        use crate::store::{Entry, Store};
        let now = 1_800_000_000u64;
        let entry = |id: &str, token: &str, scopes, expires, revoked| Entry {
            id: id.into(),
            digest: Secret::new(token).digest(),
            scopes,
            created: now - 100,
            expires,
            revoked,
            name: format!("name-{id}"),
        };
        let view = Arc::new(StoreView::new(Store::new(vec![
            entry(
                "0000000a",
                "active-token-0000",
                Scopes::READ,
                Some(now + 50),
                None,
            ),
            entry(
                "0000000b",
                "revoked-token-000",
                Scopes::ALL,
                None,
                Some(now - 1),
            ),
            entry(
                "0000000c",
                "expired-token-000",
                Scopes::ALL,
                Some(now),
                None,
            ),
        ])));
        let auth = Authority::store(view, true);
        let at = UNIX_EPOCH + Duration::from_secs(now);
        let run = |target: &str, headers: &[Header<'_>]| auth.decide(&common(target, headers), at);
        match run("/?token=active-token-0000", &[]) {
            Decision::Accept(grant) => {
                assert_eq!(grant.scopes, Scopes::READ);
                assert_eq!(
                    grant.token.as_ref().map(|t| t.id.as_str()),
                    Some("0000000a")
                );
                assert_eq!(
                    grant.expires,
                    Some(UNIX_EPOCH + Duration::from_secs(now + 50))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run("/", &[h("Authorization", "Bearer active-token-0000")]),
            Decision::Accept(_)
        ));
        assert_eq!(
            run("/?token=nope-nope-nope-nope", &[]),
            Decision::Reject(Reason::InvalidToken)
        );
        assert_eq!(
            run("/?token=revoked-token-000", &[]),
            Decision::Reject(Reason::RevokedToken)
        );
        assert_eq!(
            run("/?token=expired-token-000", &[]),
            Decision::Reject(Reason::ExpiredToken)
        );
        assert_eq!(run("/", &[]), Decision::Reject(Reason::MissingToken));
        assert_eq!(
            run(
                "/?token=active-token-0000",
                &[h("Authorization", "Bearer active-token-0000")]
            ),
            Decision::Reject(Reason::MalformedCredential)
        );
        assert_eq!(
            run("/?token=a&token=b", &[]),
            Decision::Reject(Reason::DuplicateToken)
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let auth = Authority::jwt(Secret::new(SECRET), jwt::Rules::default(), true);
        let printed = format!("{auth:?}");
        assert!(!printed.contains(SECRET));
        assert!(printed.contains("Jwt"));
    }
}
