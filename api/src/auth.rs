//! Bearer tokens: a read token (reports, suggestions, what-if) and an admin token (uploads and
//! the inventory, and everything a reader may do). Compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Admin,
}

/// The tokens the server accepts. Admin tokens have names: what an admin does over HTTP
/// (a decision, an import) is recorded under the name of the token it came with.
#[derive(Clone)]
pub struct Tokens {
    read: Option<String>,
    /// (name, token).
    admins: Vec<(String, String)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("read", &self.read.as_ref().map(|_| "…"))
            .field(
                "admins",
                &self
                    .admins
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Who a request came from: the role its token grants and the token's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub(crate) role: Role,
    pub(crate) name: String,
}

/// The name of the single admin token (`LOCKSTEP_ADMIN_TOKEN`, a generated one).
pub const ADMIN_NAME: &str = "admin";
/// The name of the read token.
pub const READ_NAME: &str = "reader";

/// Shorter tokens are refused: they could be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

impl Tokens {
    /// `read` may read; `admin` may do everything. At least one must be set. Tokens are
    /// trimmed (a token file usually ends with a newline).
    pub fn new(read: Option<&str>, admin: Option<&str>) -> Result<Tokens, String> {
        let admins: Vec<(String, String)> = admin
            .map(|a| (ADMIN_NAME.to_owned(), a.to_owned()))
            .into_iter()
            .collect();
        Tokens::named(read, admins)
    }

    /// A read token and admin tokens with their names (`(name, token)`).
    pub fn named(read: Option<&str>, admins: Vec<(String, String)>) -> Result<Tokens, String> {
        let check = |name: &str, t: &str| -> Result<String, String> {
            let t = t.trim();
            if t.len() < MIN_TOKEN_LEN {
                return Err(format!(
                    "the {name} token is shorter than {MIN_TOKEN_LEN} characters"
                ));
            }
            if !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "the {name} token must be printable ASCII without spaces"
                ));
            }
            Ok(t.to_owned())
        };
        let read = read.map(|r| check("read", r)).transpose()?;
        let mut checked: Vec<(String, String)> = Vec::new();
        for (name, token) in admins {
            let name = name.trim().to_owned();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || "._@-".contains(c))
            {
                return Err(format!(
                    "{name:?} is not a token name (letters, digits and . _ @ -)"
                ));
            }
            let token = check(&format!("admin ({name})"), &token)?;
            if checked.iter().any(|(n, t)| *n == name || *t == token) {
                return Err(format!("the admin token {name:?} is given twice"));
            }
            if read.as_deref() == Some(token.as_str()) {
                return Err("the read and admin tokens must differ".into());
            }
            checked.push((name, token));
        }
        if read.is_none() && checked.is_empty() {
            return Err("no token given".into());
        }
        Ok(Tokens {
            read,
            admins: checked,
        })
    }

    /// Named admin tokens from a tokens file or `LOCKSTEP_ADMIN_TOKENS`: `name token` or
    /// `name=token`, one per line or separated by commas; `#` starts a comment.
    pub fn parse_named(text: &str) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for (i, item) in text
            .lines()
            .flat_map(|l| l.split(','))
            .map(|l| without_comment(l).trim())
            .enumerate()
        {
            if item.is_empty() {
                continue;
            }
            let (name, token) = item
                .split_once('=')
                .or_else(|| item.split_once(char::is_whitespace))
                .ok_or_else(|| format!("entry {}: expected `name token` or `name=token`", i + 1))?;
            out.push((name.trim().to_owned(), token.trim().to_owned()));
        }
        Ok(out)
    }

    /// A random admin token (32 bytes from the OS, hex), for a server started without one.
    pub fn generate() -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The role `presented` grants, if any.
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        self.identify(presented).map(|p| p.role)
    }

    /// Who `presented` is, if it is one of the tokens.
    pub(crate) fn identify(&self, presented: &str) -> Option<Principal> {
        // Every comparison runs, so timing does not tell which token was close.
        let mut found = None;
        for (name, token) in &self.admins {
            if constant_time_eq(token.as_bytes(), presented.as_bytes()) {
                found = Some(Principal {
                    role: Role::Admin,
                    name: name.clone(),
                });
            }
        }
        let read = self
            .read
            .as_deref()
            .is_some_and(|t| constant_time_eq(t.as_bytes(), presented.as_bytes()));
        found.or_else(|| {
            read.then(|| Principal {
                role: Role::Read,
                name: READ_NAME.to_owned(),
            })
        })
    }
}

/// Equal in time that depends only on the lengths (which are not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who the request is from, or the 401/403 to answer.
fn authorize(tokens: &Tokens, request: &Request, needed: Role) -> Result<Principal, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
    let Some(presented) = presented else {
        return Err(ApiError::new(
            ErrorCode::MissingToken,
            "send `Authorization: Bearer <token>` (the token lockstep serve was started with)",
        ));
    };
    match tokens.identify(presented) {
        None => Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the bearer token is not valid",
        )),
        Some(p) if p.role < needed => Err(ApiError::new(
            ErrorCode::AdminTokenNeeded,
            "this needs the admin token; the read token may only read",
        )),
        Some(p) => Ok(p),
    }
}

/// Middleware: a token of `role` or above.
pub(crate) async fn require(
    State((state, role)): State<(Arc<AppState>, Role)>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = authorize(&state.config.tokens, &request, role)?;
    request.extensions_mut().insert(principal.clone());
    let mut response = next.run(request).await;
    // For the request log line, which sees only the response.
    response.extensions_mut().insert(principal);
    Ok(response)
}

/// `line` up to its comment: a `#` at the start or after a space (a `#` inside a token is
/// part of it, not a comment that would cut the token short).
fn without_comment(line: &str) -> &str {
    let comment = line
        .char_indices()
        .find(|&(i, c)| c == '#' && (i == 0 || line[..i].ends_with(char::is_whitespace)));
    match comment {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "read-token-0123456789";
    const ADMIN: &str = "admin-token-0123456789";

    #[test]
    fn roles_follow_the_token() {
        let tokens = Tokens::new(Some(READ), Some(ADMIN)).unwrap();
        assert_eq!(tokens.role_of(READ), Some(Role::Read));
        assert_eq!(tokens.role_of(ADMIN), Some(Role::Admin));
        assert_eq!(tokens.role_of("read-token-012345678"), None);
        assert_eq!(tokens.role_of(""), None);
        let admin_only = Tokens::new(None, Some(ADMIN)).unwrap();
        assert_eq!(admin_only.role_of(READ), None);
    }

    #[test]
    fn admin_tokens_have_names() {
        let named = Tokens::parse_named(
            "# the admins\nalice alice-token-0123456789\nbob=bob-token-0123456789, carol carol-token-0123456789\n",
        )
        .unwrap();
        assert_eq!(named.len(), 3);
        let tokens = Tokens::named(Some(READ), named).unwrap();
        assert_eq!(
            tokens.identify("bob-token-0123456789").map(|p| p.name),
            Some("bob".to_owned())
        );
        assert_eq!(tokens.identify(READ).map(|p| p.role), Some(Role::Read));
        assert!(Tokens::parse_named("just-a-token").is_err());
        // A `#` inside a token is kept; one after a space starts a comment.
        assert_eq!(
            Tokens::parse_named("dana dana-token-0123#456789 # her laptop").unwrap(),
            vec![("dana".to_owned(), "dana-token-0123#456789".to_owned())]
        );
        let twice = vec![
            ("a".to_owned(), "same-token-0123456789".to_owned()),
            ("b".to_owned(), "same-token-0123456789".to_owned()),
        ];
        assert!(Tokens::named(None, twice).is_err());
    }

    #[test]
    fn weak_or_missing_tokens_are_refused() {
        assert!(Tokens::new(None, None).is_err());
        assert!(Tokens::new(Some("short"), None).is_err());
        assert!(Tokens::new(Some("has a space in it!!"), None).is_err());
        assert!(Tokens::new(Some(READ), Some(READ)).is_err());
        // A token file's trailing newline is not part of the token.
        let t = Tokens::new(Some(&format!("{READ}\n")), None).unwrap();
        assert_eq!(t.role_of(READ), Some(Role::Read));
    }

    #[test]
    fn generated_tokens_are_long_and_differ() {
        let a = Tokens::generate().unwrap();
        let b = Tokens::generate().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(Tokens::new(None, Some(&a)).is_ok());
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
