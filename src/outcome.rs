//! The fixed vocabulary every outcome is explained in: a [`Reason`] word for logs and
//! error bodies, and the HTTP [`Status`] a rejection is answered with.

use std::fmt;

/// Why a connection was accepted or rejected. Each word means one thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The credential matched.
    ValidToken,
    /// `--no-token-check`: accepted without looking at the credential.
    TokenCheckDisabled,
    /// No credential, or an empty one.
    MissingToken,
    /// A credential that does not match.
    InvalidToken,
    /// More than one credential.
    DuplicateToken,
    /// A token whose time has passed.
    ExpiredToken,
    /// A managed token that was revoked.
    RevokedToken,
    /// A valid credential without a scope the connection needs (`exec`).
    InsufficientScope,
    /// A wrong, used or expired pairing code.
    InvalidCode,
    /// Pairing paused after too many wrong codes.
    RateLimited,
    /// A request with a body but no `Content-Length`.
    LengthRequired,
    /// A request body over the limit.
    BodyTooLarge,
    /// The token store could not be written.
    StoreFailed,
    /// A signed token not valid yet (`nbf`, or `iat` in the future).
    NotYetValid,
    /// A signed token not made with HS256 and this listener's key.
    InvalidSignature,
    /// A signed token naming another audience.
    WrongAudience,
    /// A signed token from another issuer.
    WrongIssuer,
    /// A signed token that is not a well-formed JWT.
    MalformedToken,
    /// Credential headers that cannot be read one way: both forms at once, a repeated
    /// header, or a `Bearer` value without exactly one token.
    MalformedCredential,
    /// Not parseable as HTTP/1.1, ambiguous, or a bad field value.
    MalformedRequest,
    /// A method other than GET.
    MethodNotAllowed,
    /// A GET without a WebSocket upgrade.
    NotWebsocket,
    /// `Sec-WebSocket-Version` other than 13.
    UnsupportedVersion,
    /// The request head is larger than the limit.
    HeadTooLarge,
    /// The request head did not arrive within the deadline.
    HandshakeTimeout,
    /// The Host header names something this listener does not serve.
    HostDenied,
    /// The Origin header names a page that is not allowed.
    OriginDenied,
    /// A path under `/_wsgate/` that does not exist.
    NotFound,
    /// The connection limit is reached.
    TooManyConnections,
    /// The backend could not be started or reached.
    BackendFailed,
    /// A reserved endpoint answered (health).
    Served,
}

impl Reason {
    /// Every reason, for tables and tests.
    pub const ALL: &'static [Reason] = &[
        Reason::ValidToken,
        Reason::TokenCheckDisabled,
        Reason::MissingToken,
        Reason::InvalidToken,
        Reason::DuplicateToken,
        Reason::ExpiredToken,
        Reason::NotYetValid,
        Reason::InvalidSignature,
        Reason::WrongAudience,
        Reason::WrongIssuer,
        Reason::MalformedToken,
        Reason::MalformedCredential,
        Reason::MalformedRequest,
        Reason::MethodNotAllowed,
        Reason::NotWebsocket,
        Reason::UnsupportedVersion,
        Reason::HeadTooLarge,
        Reason::HandshakeTimeout,
        Reason::HostDenied,
        Reason::OriginDenied,
        Reason::NotFound,
        Reason::TooManyConnections,
        Reason::BackendFailed,
        Reason::RevokedToken,
        Reason::InsufficientScope,
        Reason::InvalidCode,
        Reason::RateLimited,
        Reason::LengthRequired,
        Reason::BodyTooLarge,
        Reason::StoreFailed,
        Reason::Served,
    ];

    /// The word used in logs and error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ValidToken => "valid-token",
            Reason::TokenCheckDisabled => "token-check-disabled",
            Reason::MissingToken => "missing-token",
            Reason::InvalidToken => "invalid-token",
            Reason::DuplicateToken => "duplicate-token",
            Reason::ExpiredToken => "expired-token",
            Reason::RevokedToken => "revoked-token",
            Reason::InsufficientScope => "insufficient-scope",
            Reason::InvalidCode => "invalid-code",
            Reason::RateLimited => "rate-limited",
            Reason::LengthRequired => "length-required",
            Reason::BodyTooLarge => "body-too-large",
            Reason::StoreFailed => "store-failed",
            Reason::NotYetValid => "not-yet-valid",
            Reason::InvalidSignature => "invalid-signature",
            Reason::WrongAudience => "wrong-audience",
            Reason::WrongIssuer => "wrong-issuer",
            Reason::MalformedToken => "malformed-token",
            Reason::MalformedCredential => "malformed-credential",
            Reason::MalformedRequest => "malformed-request",
            Reason::MethodNotAllowed => "method-not-allowed",
            Reason::NotWebsocket => "not-websocket",
            Reason::UnsupportedVersion => "unsupported-version",
            Reason::HeadTooLarge => "head-too-large",
            Reason::HandshakeTimeout => "handshake-timeout",
            Reason::HostDenied => "host-denied",
            Reason::OriginDenied => "origin-denied",
            Reason::NotFound => "not-found",
            Reason::TooManyConnections => "too-many-connections",
            Reason::BackendFailed => "backend-failed",
            Reason::Served => "served",
        }
    }

    /// The status a rejection for this reason is answered with.
    pub fn status(self) -> Status {
        match self {
            Reason::ValidToken | Reason::TokenCheckDisabled => Status::SwitchingProtocols,
            Reason::Served => Status::Ok,
            Reason::MalformedRequest | Reason::MalformedCredential => Status::BadRequest,
            Reason::MissingToken
            | Reason::InvalidToken
            | Reason::DuplicateToken
            | Reason::ExpiredToken
            | Reason::RevokedToken
            | Reason::InvalidCode
            | Reason::NotYetValid
            | Reason::InvalidSignature
            | Reason::WrongAudience
            | Reason::WrongIssuer
            | Reason::MalformedToken => Status::Unauthorized,
            Reason::HostDenied | Reason::OriginDenied | Reason::InsufficientScope => {
                Status::Forbidden
            }
            Reason::RateLimited => Status::TooManyRequests,
            Reason::LengthRequired => Status::LengthRequired,
            Reason::BodyTooLarge => Status::PayloadTooLarge,
            Reason::StoreFailed => Status::InternalServerError,
            Reason::NotFound => Status::NotFound,
            Reason::MethodNotAllowed => Status::MethodNotAllowed,
            Reason::HandshakeTimeout => Status::RequestTimeout,
            Reason::NotWebsocket | Reason::UnsupportedVersion => Status::UpgradeRequired,
            Reason::HeadTooLarge => Status::HeaderFieldsTooLarge,
            Reason::BackendFailed => Status::BadGateway,
            Reason::TooManyConnections => Status::ServiceUnavailable,
        }
    }

    /// The short machine-readable code in an error body (`{"error":"…"}`).
    pub fn error_code(self) -> &'static str {
        match self {
            Reason::InsufficientScope => return "insufficient_scope",
            Reason::InvalidCode => return "invalid_code",
            Reason::RateLimited => return "rate_limited",
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
        }
    }
}
