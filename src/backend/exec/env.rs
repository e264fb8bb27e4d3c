//! A program's environment: the daemon's own without its secrets, plus CGI-style
//! variables as websocketd gives them, without a credential, plus wsgate's own.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt as _;

use crate::backend::Opening;
use crate::form;
use crate::redact::{self, Secrets};
use crate::secret::PARAM;

/// Header fields not passed on for a reason other than secrets (those are
/// [`redact::SENSITIVE_HEADERS`]): the handshake's key, which is the gate's business,
/// and `Proxy`, which would become `HTTP_PROXY` ("httpoxy").
const NOT_PASSED: [&str; 2] = ["sec-websocket-key", "proxy"];

/// The daemon's environment as every program inherits it: without any `WSGATE_*`
/// variable (the token may be one) and without any variable that holds one of the
/// daemon's secrets.
pub fn base(
    vars: impl Iterator<Item = (OsString, OsString)>,
    secrets: &Secrets,
) -> Vec<(OsString, OsString)> {
    vars.filter(|(name, value)| {
        !name.as_encoded_bytes().starts_with(b"WSGATE_") && !secrets.holds(value.as_encoded_bytes())
    })
    .collect()
}

/// A program's environment: `base` plus CGI-style variables as websocketd gives them
/// (the credential pair left out of the query, header fields as
/// [`redact::header_value`] passes them on), plus `WSGATE_CONN_ID`, `WSGATE_SCOPES`,
/// and, when there is one, `WSGATE_SUBJECT`, `WSGATE_TOKEN_ID`, `WSGATE_TOKEN_NAME`
/// and `WSGATE_PROTOCOL` (the selected subprotocol). Last, every variable whose value
/// holds one of the connection's secrets is left out, whatever its source: a path, a
/// query or a header holding the credential somewhere else is not passed on.
pub fn environment(
    base: &[(OsString, OsString)],
    opening: &Opening<'_>,
    protocol: Option<&str>,
) -> Vec<(OsString, OsString)> {
    let secrets = opening.secrets;
    let target = opening.upgrade.target();
    let path = form::path_of(target);
    let query = form::without(form::query_of(target), PARAM)
        .split('&')
        .filter(|pair| !pair.is_empty() && !secrets.holds(pair.as_bytes()))
        .collect::<Vec<_>>()
        .join("&");
    let mut env: Vec<(OsString, OsString)> = base.to_vec();
    let mut set = |name: &str, value: Vec<u8>| {
        env.retain(|(n, _)| n != name);
        env.push((name.into(), OsString::from_vec(value)));
    };
    set("GATEWAY_INTERFACE", b"websocketd-CGI/0.1".to_vec());
    set(
        "SERVER_SOFTWARE",
        format!("wsgate/{}", crate::VERSION).into_bytes(),
    );
    set("SERVER_PROTOCOL", b"HTTP/1.1".to_vec());
    set("SERVER_PORT", opening.local.port().to_string().into_bytes());
    set("REMOTE_ADDR", opening.peer.ip().to_string().into_bytes());
    set("REMOTE_PORT", opening.peer.port().to_string().into_bytes());
    set("REQUEST_METHOD", b"GET".to_vec());
    let uri = match query.is_empty() {
        true => path.to_owned(),
        false => format!("{path}?{query}"),
    };
    set("PATH_INFO", path.as_bytes().to_vec());
    set("REQUEST_URI", uri.into_bytes());
    set("QUERY_STRING", query.into_bytes());
    set("WSGATE_CONN_ID", opening.conn.to_string().into_bytes());
    let grant = opening.grant;
    // An environment variable cannot hold a NUL; such a subject is left out.
    if let Some(subject) = grant.subject.as_deref().filter(|s| !s.contains('\0')) {
        set("WSGATE_SUBJECT", subject.as_bytes().to_vec());
    }
    if let Some(token) = &grant.token {
        set("WSGATE_TOKEN_ID", token.id.as_bytes().to_vec());
        set("WSGATE_TOKEN_NAME", token.name.as_bytes().to_vec());
    }
    set("WSGATE_SCOPES", grant.scopes.to_string().into_bytes());
    if let Some(protocol) = protocol {
        set("WSGATE_PROTOCOL", protocol.as_bytes().to_vec());
    }

    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for h in opening.upgrade.common.headers {
        if NOT_PASSED.iter().any(|n| h.name.eq_ignore_ascii_case(n)) {
            continue;
        }
        let Some(value) = redact::header_value(h.name, h.value, secrets) else {
            continue;
        };
        let name: String = h
            .name
            .chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(&value);
            }
            None => headers.push((name, value.into_owned())),
        }
    }
    for (name, value) in headers {
        set(&format!("HTTP_{name}"), value);
    }
    env.retain(|(_, value)| !secrets.holds(value.as_encoded_bytes()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Grant, TokenRef};
    use crate::outcome::Reason;
    use crate::request::{Common, Header, Upgrade};
    use crate::scope::Scopes;
    use crate::secret::Secret;

    fn grant(subject: Option<&str>, token: Option<TokenRef>, scopes: Scopes) -> Grant {
        Grant {
            reason: Reason::ValidToken,
            scopes,
            subject: subject.map(str::to_owned),
            expires: None,
            token,
        }
    }

    fn opening<'a>(
        upgrade: &'a Upgrade<'a>,
        grant: &'a Grant,
        peer: &str,
        port: u16,
        conn: u64,
        secrets: &'a Secrets,
    ) -> Opening<'a> {
        Opening {
            upgrade,
            grant,
            peer: peer.parse().unwrap(),
            local: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            conn,
            secrets,
        }
    }

    #[test]
    fn secret_in_the_path_is_not_passed_on() {
        let upgrade = Upgrade {
            common: Common {
                target: "/s3cret-s3cret-s3cret/x?a=1",
                query: "a=1",
                host: b"localhost",
                origin: None,
                headers: &[],
            },
            key: b"dGhlIHNhbXBsZSBub25jZQ==",
        };
        let grant = grant(None, None, Scopes::ALL);
        let secrets = Secrets::of(&[Secret::new("s3cret-s3cret-s3cret")]);
        let opening = opening(&upgrade, &grant, "127.0.0.1:1", 2, 3, &secrets);
        let env = environment(&[], &opening, None);
        let names: Vec<_> = env.iter().map(|(n, _)| n.to_str().unwrap()).collect();
        assert!(
            !names.contains(&"PATH_INFO") && !names.contains(&"REQUEST_URI"),
            "{names:?}"
        );
        assert!(env.iter().any(|(n, v)| n == "QUERY_STRING" && v == "a=1"));
    }

    #[test]
    fn environment_hides_credentials() {
        let secret = b"s3cret-s3cret-s3cret";
        let headers = [
            Header {
                name: "Host",
                value: b"localhost:7331",
            },
            Header {
                name: "Authorization",
                value: b"Bearer s3cret-s3cret-s3cret",
            },
            Header {
                name: "Cookie",
                value: b"a=b",
            },
            Header {
                name: "Sec-WebSocket-Key",
                value: b"dGhlIHNhbXBsZSBub25jZQ==",
            },
            Header {
                name: "Proxy",
                value: b"http://evil:1",
            },
            Header {
                name: "Referer",
                value: b"http://localhost/page?token=s3cret-s3cret-s3cret&x=1",
            },
            Header {
                name: "X-Copy",
                value: b"prefix s3cret-s3cret-s3cret",
            },
            Header {
                name: "X-Multi",
                value: b"1",
            },
            Header {
                name: "x-multi",
                value: b"2",
            },
            Header {
                name: "User-Agent",
                value: b"test/1",
            },
            Header {
                name: "Sec-WebSocket-Protocol",
                value: b"chat, wsgate.bearer.czNjcmV0, v2",
            },
            Header {
                name: "X-Encoded",
                value: b"s3cret%2Ds3cret%2Ds3cret",
            },
        ];
        let upgrade = Upgrade {
            common: Common {
                target: "/app/ws?a=1&token=s3cret-s3cret-s3cret&b=%20&next=%2F%3Ftoken%3Ds3cret%2Ds3cret-s3cret",
                query: "a=1&token=s3cret-s3cret-s3cret&b=%20&next=%2F%3Ftoken%3Ds3cret%2Ds3cret-s3cret",
                host: b"localhost:7331",
                origin: None,
                headers: &headers,
            },
            key: b"dGhlIHNhbXBsZSBub25jZQ==",
        };
        let secrets = Secrets::of(&[Secret::new(secret.to_vec())]);
        let base = base(
            [
                ("PATH".into(), "/bin".into()),
                ("WSGATE_AUTH_TOKEN".into(), "s3cret-s3cret-s3cret".into()),
                ("WSGATE_OTHER".into(), "x".into()),
                ("COPY".into(), "s3cret-s3cret-s3cret".into()),
                ("QUERY_STRING".into(), "stale".into()),
            ]
            .into_iter(),
            &secrets,
        );
        let token = TokenRef {
            id: "0000000a".into(),
            name: "laptop".into(),
        };
        let grant = grant(Some("alice"), Some(token), Scopes::READ);
        let opening = opening(&upgrade, &grant, "127.0.0.1:5555", 7331, 42, &secrets);
        let env = environment(&base, &opening, Some("chat"));
        let get = |k: &str| {
            let all: Vec<_> = env.iter().filter(|(n, _)| n == k).collect();
            assert!(all.len() <= 1, "{k} set twice");
            all.first().map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        for (name, value) in &env {
            let value = value.as_encoded_bytes();
            assert!(
                memchr::memmem::find(value, secret).is_none(),
                "{name:?} carries the secret"
            );
        }
        assert_eq!(get("PATH").as_deref(), Some("/bin"));
        assert_eq!(get("WSGATE_AUTH_TOKEN"), None);
        assert_eq!(get("WSGATE_OTHER"), None);
        assert_eq!(get("COPY"), None);
        assert_eq!(get("QUERY_STRING").as_deref(), Some("a=1&b=%20"));
        assert_eq!(get("REQUEST_URI").as_deref(), Some("/app/ws?a=1&b=%20"));
        assert_eq!(get("PATH_INFO").as_deref(), Some("/app/ws"));
        assert_eq!(get("REMOTE_ADDR").as_deref(), Some("127.0.0.1"));
        assert_eq!(get("REMOTE_PORT").as_deref(), Some("5555"));
        assert_eq!(get("SERVER_PORT").as_deref(), Some("7331"));
        assert_eq!(get("REQUEST_METHOD").as_deref(), Some("GET"));
        assert_eq!(get("WSGATE_CONN_ID").as_deref(), Some("42"));
        assert_eq!(get("WSGATE_SUBJECT").as_deref(), Some("alice"));
        assert_eq!(get("WSGATE_TOKEN_ID").as_deref(), Some("0000000a"));
        assert_eq!(get("WSGATE_TOKEN_NAME").as_deref(), Some("laptop"));
        assert_eq!(get("WSGATE_SCOPES").as_deref(), Some("read"));
        assert_eq!(get("WSGATE_PROTOCOL").as_deref(), Some("chat"));
        assert_eq!(
            get("HTTP_SEC_WEBSOCKET_PROTOCOL").as_deref(),
            Some("chat, v2")
        );
        assert_eq!(get("HTTP_HOST").as_deref(), Some("localhost:7331"));
        assert_eq!(get("HTTP_USER_AGENT").as_deref(), Some("test/1"));
        assert_eq!(get("HTTP_X_MULTI").as_deref(), Some("1, 2"));
        assert_eq!(
            get("HTTP_REFERER").as_deref(),
            Some("http://localhost/page?token=REDACTED&x=1")
        );
        for hidden in [
            "HTTP_X_ENCODED",
            "HTTP_AUTHORIZATION",
            "HTTP_COOKIE",
            "HTTP_SEC_WEBSOCKET_KEY",
            "HTTP_PROXY",
            "HTTP_X_COPY",
        ] {
            assert_eq!(get(hidden), None, "{hidden}");
        }
    }
}
