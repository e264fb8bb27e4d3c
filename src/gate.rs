//! The whole decision for one request head, as a pure function: route, then Host and
//! Origin policy, then the listener's authority. The server only does what the
//! [`Verdict`] says.

use std::time::SystemTime;

use crate::auth::{Authority, Decision, Grant};
use crate::outcome::Reason;
use crate::policy::Policy;
use crate::request::{self, Common, PairRequest, Request, Route, Upgrade};
use crate::scope::Scopes;

/// Everything a listener checks before a byte reaches the backend.
#[derive(Debug)]
pub struct Gate {
    /// Host and Origin rules.
    pub policy: Policy,
    /// The listener's authority mode.
    pub authority: Authority,
    /// Scopes every upgrade needs (`exec` when the backend is a program).
    pub required: Scopes,
    /// Whether `/_wsgate/console` is served (`--console`, `--no-console`); when it is
    /// not, the path is not found, like any unknown reserved path.
    pub console: bool,
}

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'r> {
    /// Answer the health endpoint.
    Health,
    /// Answer the credential check endpoint with this decision.
    Check(Decision),
    /// The pairing endpoint.
    Pair(PairRequest, Common<'r>),
    /// Serve the console page.
    Console,
    /// Upgrade and relay to the backend.
    Accept {
        /// The validated upgrade.
        upgrade: Upgrade<'r>,
        /// What the connection is given.
        grant: Grant,
    },
    /// Answer with this reason's status and close.
    Reject(Reason),
}

impl Gate {
    /// A decision, refused when it lacks a scope every connection here needs.
    fn scoped(&self, decision: Decision) -> Decision {
        match decision {
            Decision::Accept(grant) if !grant.scopes.contains(self.required) => {
                Decision::Reject(Reason::InsufficientScope)
            }
            decision => decision,
        }
    }

    /// Decides a parsed request at time `now`.
    pub fn decide<'r>(&self, request: &'r Request<'r>, now: SystemTime) -> Verdict<'r> {
        let route = match request::route(request) {
            Ok(route) => route,
            Err(reason) => return Verdict::Reject(reason),
        };
        let common = match &route {
            Route::Health(common)
            | Route::Check(common)
            | Route::Pair(common, _)
            | Route::Console(common) => common,
            Route::Upgrade(upgrade) => &upgrade.common,
        };
        if let Err(reason) = self.policy.check(common.host, common.origin) {
            return Verdict::Reject(reason);
        }
        match route {
            Route::Health(_) => Verdict::Health,
            Route::Check(common) => {
                Verdict::Check(self.scoped(self.authority.decide(&common, now)))
            }
            Route::Pair(common, request) => Verdict::Pair(request, common),
            Route::Console(_) if self.console => Verdict::Console,
            Route::Console(_) => Verdict::Reject(Reason::NotFound),
            Route::Upgrade(upgrade) => {
                match self.scoped(self.authority.decide(&upgrade.common, now)) {
                    Decision::Accept(grant) => Verdict::Accept { upgrade, grant },
                    Decision::Reject(reason) => Verdict::Reject(reason),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Head, header_storage, parse};
    use crate::secret::Secret;

    fn verdict(head: &str) -> Result<Reason, Reason> {
        verdict_with(head, true)
    }

    fn verdict_with(head: &str, console: bool) -> Result<Reason, Reason> {
        let gate = Gate {
            policy: Policy::default(),
            authority: Authority::query_token(&Secret::new("0123456789abcdef"), true).unwrap(),
            required: Scopes::NONE,
            console,
        };
        let mut storage = header_storage();
        let Ok(Head::Complete { request, .. }) = parse(head.as_bytes(), &mut storage) else {
            return Err(Reason::MalformedRequest);
        };
        match gate.decide(&request, SystemTime::now()) {
            Verdict::Health | Verdict::Pair(..) | Verdict::Console => Ok(Reason::Served),
            Verdict::Check(Decision::Accept(grant)) => Ok(grant.reason),
            Verdict::Check(Decision::Reject(reason)) => Err(reason),
            Verdict::Accept { grant, .. } => Ok(grant.reason),
            Verdict::Reject(reason) => Err(reason),
        }
    }

    fn upgrade(target: &str, host: &str, extra: &str) -> String {
        format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        )
    }

    #[test]
    fn order_of_checks() {
        let ok = "/?token=0123456789abcdef";
        assert_eq!(
            verdict(&upgrade(ok, "localhost", "")),
            Ok(Reason::ValidToken)
        );
        assert_eq!(
            verdict(&upgrade("/", "localhost", "")),
            Err(Reason::MissingToken)
        );
        // Policy before authority: a page on another origin learns nothing about tokens.
        assert_eq!(
            verdict(&upgrade("/", "evil.example", "")),
            Err(Reason::HostDenied)
        );
        assert_eq!(
            verdict(&upgrade(
                ok,
                "localhost",
                "Origin: https://evil.example\r\n"
            )),
            Err(Reason::OriginDenied)
        );
        assert_eq!(
            verdict(&upgrade(ok, "localhost", "Origin: null\r\n")),
            Err(Reason::OriginDenied)
        );
        assert_eq!(
            verdict(&upgrade(
                ok,
                "localhost",
                "Origin: http://localhost:5173\r\n"
            )),
            Ok(Reason::ValidToken)
        );
        assert_eq!(
            verdict("GET /_wsgate/healthz HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"),
            Ok(Reason::Served)
        );
        assert_eq!(
            verdict("GET /_wsgate/healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
            Err(Reason::HostDenied)
        );
        let check = |target: &str, host: &str| {
            verdict(&format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n"))
        };
        assert_eq!(
            check("/_wsgate/auth/check?token=0123456789abcdef", "localhost"),
            Ok(Reason::ValidToken)
        );
        assert_eq!(
            check("/_wsgate/auth/check?token=nope", "localhost"),
            Err(Reason::InvalidToken)
        );
        assert_eq!(
            check("/_wsgate/auth/check", "evil.example"),
            Err(Reason::HostDenied)
        );
    }

    #[test]
    fn console_on_and_off() {
        let get = |target: &str, host: &str, console: bool| {
            verdict_with(
                &format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
                console,
            )
        };
        assert_eq!(
            get("/_wsgate/console", "127.0.0.1:7", true),
            Ok(Reason::Served)
        );
        // Off, it is any unknown reserved path.
        assert_eq!(
            get("/_wsgate/console", "127.0.0.1:7", false),
            get("/_wsgate/unknown", "127.0.0.1:7", false)
        );
        assert_eq!(
            get("/_wsgate/console", "127.0.0.1:7", false),
            Err(Reason::NotFound)
        );
        // Host and Origin apply to the page like to any reserved path.
        assert_eq!(
            get("/_wsgate/console", "evil.example", true),
            Err(Reason::HostDenied)
        );
        assert_eq!(
            verdict(
                "GET /_wsgate/console HTTP/1.1\r\nHost: localhost\r\nOrigin: https://evil.example\r\n\r\n"
            ),
            Err(Reason::OriginDenied)
        );
        // No credential is needed for the page, and one that is wrong changes nothing.
        assert_eq!(
            get("/_wsgate/console?token=wrong", "localhost", true),
            Ok(Reason::Served)
        );
    }

    #[test]
    fn required_scopes() {
        let gate = Gate {
            policy: Policy::default(),
            authority: Authority::query_token(&Secret::new("0123456789abcdef"), true).unwrap(),
            required: Scopes::EXEC,
            console: false,
        };
        let grant = |grants| {
            Decision::Accept(Grant {
                reason: Reason::ValidToken,
                scopes: grants,
                subject: None,
                expires: None,
                token: None,
            })
        };
        assert_eq!(gate.scoped(grant(Scopes::ALL)), grant(Scopes::ALL));
        assert_eq!(
            gate.scoped(grant(Scopes::READ_WRITE)),
            Decision::Reject(Reason::InsufficientScope)
        );
        let rejected = Decision::Reject(Reason::MissingToken);
        assert_eq!(gate.scoped(rejected.clone()), rejected);
    }
}
