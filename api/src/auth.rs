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

/// The tokens the server accepts.
#[derive(Clone)]
pub struct Tokens {
    read: Option<String>,
    admin: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("read", &self.read.as_ref().map(|_| "…"))
            .field("admin", &self.admin.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Shorter tokens are refused: they could be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

impl Tokens {
    /// `read` may read; `admin` may do everything. At least one must be set. Tokens are
    /// trimmed (a token file usually ends with a newline).
    pub fn new(read: Option<&str>, admin: Option<&str>) -> Result<Tokens, String> {
        let check = |name: &str, t: Option<&str>| -> Result<Option<String>, String> {
            let Some(t) = t.map(str::trim) else {
                return Ok(None);
            };
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
            Ok(Some(t.to_owned()))
        };
        let tokens = Tokens {
            read: check("read", read)?,
            admin: check("admin", admin)?,
        };
        if tokens.read.is_none() && tokens.admin.is_none() {
            return Err("no token given".into());
        }
        if tokens.read.is_some() && tokens.read == tokens.admin {
            return Err("the read and admin tokens must differ".into());
        }
        Ok(tokens)
    }

    /// A random admin token (32 bytes from the OS, hex), for a server started without one.
    pub fn generate() -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The role `presented` grants, if any.
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        // Both comparisons always run, so timing does not tell which token was close.
        let admin = self
            .admin
            .as_deref()
            .is_some_and(|t| constant_time_eq(t.as_bytes(), presented.as_bytes()));
        let read = self
            .read
            .as_deref()
            .is_some_and(|t| constant_time_eq(t.as_bytes(), presented.as_bytes()));
        if admin {
            Some(Role::Admin)
        } else if read {
            Some(Role::Read)
        } else {
            None
        }
    }
}

/// Equal in time that depends only on the lengths (which are not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The request's role, or the 401/403 to answer.
fn authorize(tokens: &Tokens, request: &Request, needed: Role) -> Result<(), ApiError> {
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
    match tokens.role_of(presented) {
        None => Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the bearer token is not valid",
        )),
        Some(role) if role < needed => Err(ApiError::new(
            ErrorCode::AdminTokenNeeded,
            "this needs the admin token; the read token may only read",
        )),
        Some(_) => Ok(()),
    }
}

/// Middleware: a token of `role` or above.
pub(crate) async fn require(
    State((state, role)): State<(Arc<AppState>, Role)>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    authorize(&state.config.tokens, &request, role)?;
    Ok(next.run(request).await)
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
