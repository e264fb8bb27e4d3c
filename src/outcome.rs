//! The fixed vocabulary every outcome is explained in: the listener's [`Mode`], a
//! [`Reason`] word for logs and error bodies, and the HTTP [`Status`] a rejection is
//! answered with.

use std::fmt;

/// How a listener authenticates requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One secret, presented as `?token=`.
    QueryToken,
    /// One secret, presented in `Authorization: Bearer` or the subprotocol form.
    Bearer,
    /// HS256-signed JWTs, presented like `Bearer`.
    Jwt,
    /// Managed tokens from the token store, presented in the query or as `Bearer`.
    Store,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 4] = [Mode::QueryToken, Mode::Bearer, Mode::Jwt, Mode::Store];

    /// The mode's name in `--auth`, logs, health output and the runtime file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::QueryToken => "query-token",
            Mode::Bearer => "bearer",
            Mode::Jwt => "jwt",
            Mode::Store => "store",
        }
    }

    /// Whether credentials may travel in headers (and errors follow RFC 6750).
    pub fn uses_headers(self) -> bool {
        matches!(self, Mode::Bearer | Mode::Jwt | Mode::Store)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Defines [`Reason`] from one table: each variant with its doc, its word and the
/// status a rejection for it is answered with; [`Reason::ALL`], [`Reason::as_str`] and
/// [`Reason::status`] are generated from it, so none can miss a reason.
macro_rules! reasons {
    ($($(#[doc = $doc:literal])* $name:ident = $word:literal, $status:ident;)*) => {
        /// Why a connection was accepted or rejected. Each word means one thing.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[doc = $doc])* $name,)*
        }

        impl Reason {
            /// Every reason, in the table's order.
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)*];

            /// The word used in logs and error bodies.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$name => $word,)*
                }
            }

            /// The status a rejection for this reason is answered with (101 and 200 for
            /// the reasons that accept or serve).
            pub fn status(self) -> Status {
                match self {
                    $(Reason::$name => Status::$status,)*
                }
            }
        }
    };
}

reasons! {
    /// The credential matched.
    ValidToken = "valid-token", SwitchingProtocols;
    /// `--no-token-check`: accepted without looking at the credential.
    TokenCheckDisabled = "token-check-disabled", SwitchingProtocols;
    /// No credential, or an empty one.
    MissingToken = "missing-token", Unauthorized;
    /// A credential that does not match.
    InvalidToken = "invalid-token", Unauthorized;
    /// More than one credential.
    DuplicateToken = "duplicate-token", Unauthorized;
    /// A token whose time has passed.
    ExpiredToken = "expired-token", Unauthorized;
    /// A managed token that was revoked.
    RevokedToken = "revoked-token", Unauthorized;
    /// A valid credential without a scope the connection needs (`exec`).
    InsufficientScope = "insufficient-scope", Forbidden;
    /// A wrong, used or expired pairing code.
    InvalidCode = "invalid-code", Unauthorized;
    /// Pairing paused after too many wrong codes.
    RateLimited = "rate-limited", TooManyRequests;
    /// A request with a body but no `Content-Length`.
    LengthRequired = "length-required", LengthRequired;
    /// A request body over the limit.
    BodyTooLarge = "body-too-large", PayloadTooLarge;
    /// A pairing asked to hand its token to a page whose origin is not an
    /// `--allow-origin` entry.
    ReturnDenied = "return-denied", Forbidden;
    /// The token store could not be written.
    StoreFailed = "store-failed", InternalServerError;
    /// A signed token not valid yet (`nbf`, or `iat` in the future).
    NotYetValid = "not-yet-valid", Unauthorized;
    /// A signed token not made with HS256 and this listener's key.
    InvalidSignature = "invalid-signature", Unauthorized;
    /// A signed token naming another audience.
    WrongAudience = "wrong-audience", Unauthorized;
    /// A signed token from another issuer.
    WrongIssuer = "wrong-issuer", Unauthorized;
    /// A signed token that is not a well-formed JWT.
    MalformedToken = "malformed-token", Unauthorized;
    /// Credential headers that cannot be read one way: both forms at once, a repeated
    /// header, or a `Bearer` value without exactly one token.
    MalformedCredential = "malformed-credential", BadRequest;
    /// Not parseable as HTTP/1.1, ambiguous, or a bad field value.
    MalformedRequest = "malformed-request", BadRequest;
    /// A method other than GET.
    MethodNotAllowed = "method-not-allowed", MethodNotAllowed;
    /// A GET without a WebSocket upgrade.
    NotWebsocket = "not-websocket", UpgradeRequired;
    /// `Sec-WebSocket-Version` other than 13.
    UnsupportedVersion = "unsupported-version", UpgradeRequired;
    /// The request head is larger than the limit.
    HeadTooLarge = "head-too-large", HeaderFieldsTooLarge;
    /// The request head did not arrive within the deadline.
    HandshakeTimeout = "handshake-timeout", RequestTimeout;
    /// The Host header names something this listener does not serve.
    HostDenied = "host-denied", Forbidden;
    /// The Origin header names a page that is not allowed.
    OriginDenied = "origin-denied", Forbidden;
    /// A path under `/_wsgate/` that does not exist.
    NotFound = "not-found", NotFound;
    /// The connection limit is reached.
    TooManyConnections = "too-many-connections", ServiceUnavailable;
    /// The backend could not be started or reached.
    BackendFailed = "backend-failed", BadGateway;
    /// The upstream refused or reset the connection, or answered anything but a valid
    /// 101.
    UpstreamFailed = "upstream-failed", BadGateway;
    /// The upstream did not connect and answer within `--upstream-timeout`.
    UpstreamTimeout = "upstream-timeout", GatewayTimeout;
    /// A reserved endpoint answered (health).
    Served = "served", Ok;
}

impl Reason {
    /// The short machine-readable code in an error body (`{"error":"…"}`).
    pub fn error_code(self) -> &'static str {
        match self {
            Reason::InsufficientScope => return "insufficient_scope",
            Reason::InvalidCode => return "invalid_code",
            Reason::RateLimited => return "rate_limited",
            Reason::ReturnDenied => return "return_denied",
            _ => {}
        }
        match self.status() {
            Status::BadRequest => "invalid_request",
            Status::Unauthorized => "invalid_token",
            Status::Forbidden => "forbidden",
            Status::NotFound => "not_found",
            Status::MethodNotAllowed => "method_not_allowed",
            Status::RequestTimeout => "request_timeout",
            Status::UpgradeRequired => "upgrade_required",
            Status::HeaderFieldsTooLarge => "request_header_fields_too_large",
            Status::BadGateway => "backend_failed",
            Status::GatewayTimeout => "backend_timeout",
            Status::InternalServerError => "internal_error",
            Status::TooManyRequests => "rate_limited",
            Status::LengthRequired => "length_required",
            Status::PayloadTooLarge => "payload_too_large",
            Status::NoContent => "none",
            Status::ServiceUnavailable => "unavailable",
            Status::SwitchingProtocols | Status::Ok => "none",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP statuses wsgate answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 101: the upgrade succeeded.
    SwitchingProtocols,
    /// 200: a reserved endpoint answered.
    Ok,
    /// 204: a preflight answered.
    NoContent,
    /// 400
    BadRequest,
    /// 401
    Unauthorized,
    /// 403
    Forbidden,
    /// 404
    NotFound,
    /// 405
    MethodNotAllowed,
    /// 408
    RequestTimeout,
    /// 411
    LengthRequired,
    /// 413
    PayloadTooLarge,
    /// 426
    UpgradeRequired,
    /// 429
    TooManyRequests,
    /// 431
    HeaderFieldsTooLarge,
    /// 500
    InternalServerError,
    /// 502
    BadGateway,
    /// 503
    ServiceUnavailable,
    /// 504
    GatewayTimeout,
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::SwitchingProtocols => 101,
            Status::Ok => 200,
            Status::NoContent => 204,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::LengthRequired => 411,
            Status::PayloadTooLarge => 413,
            Status::TooManyRequests => 429,
            Status::UpgradeRequired => 426,
            Status::HeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
            Status::BadGateway => 502,
            Status::ServiceUnavailable => 503,
            Status::GatewayTimeout => 504,
        }
    }

    /// The reason phrase.
    pub fn phrase(self) -> &'static str {
        match self {
            Status::SwitchingProtocols => "Switching Protocols",
            Status::Ok => "OK",
            Status::NoContent => "No Content",
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::LengthRequired => "Length Required",
            Status::PayloadTooLarge => "Content Too Large",
            Status::TooManyRequests => "Too Many Requests",
            Status::UpgradeRequired => "Upgrade Required",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
            Status::BadGateway => "Bad Gateway",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::GatewayTimeout => "Gateway Timeout",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_word_means_one_thing() {
        let mut words: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert!(
            words
                .iter()
                .all(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        );
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), Reason::ALL.len());
        for reason in Reason::ALL {
            assert_eq!(reason.to_string(), reason.as_str());
            let code = reason.status().code();
            assert!(matches!(code, 101 | 200) || code >= 400, "{reason}: {code}");
        }
    }
}
