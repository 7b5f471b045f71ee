//! Console login, sessions and CSRF.
//!
//! An operator logs in with name and token (the same token `hubctl` uses;
//! in production an OIDC login takes this place, see the README). The
//! session cookie holds a random token; PostgreSQL holds only its SHA-256,
//! the operator's name and the session's CSRF token. The role is looked up
//! in the configured operators on every request. The login form itself is
//! protected by a double-submit token in a `SameSite=Strict` cookie, so
//! another site cannot log a browser in under someone else's name.

use std::time::Duration;

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::AppState;
use super::error::{ConsoleError, render};
use super::views::LoginPage;
use crate::auth::OperatorUser;

const SESSION_COOKIE: &str = "hub_session";
const LOGIN_COOKIE: &str = "hub_login";

/// Sessions in PostgreSQL.
#[derive(Debug)]
pub(crate) struct Sessions {
    pool: PgPool,
    ttl: Duration,
    secure: bool,
}

/// The logged-in operator of a request.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) user: OperatorUser,
    pub(crate) csrf: String,
    token_sha256: String,
}

/// 244 random bits as 64 hex characters (two v4 UUIDs, from the OS RNG).
fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares without an early exit, so timing does not tell how much of a
/// token was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

impl Sessions {
    pub(crate) fn new(pool: PgPool, ttl: Duration, secure: bool) -> Self {
        Self { pool, ttl, secure }
    }

    fn set_cookie(&self, name: &str, value: &str, path: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    async fn create(&self, user: &OperatorUser) -> Result<String, sqlx::Error> {
        let token = random_token();
        sqlx::query(
            "INSERT INTO console_sessions (token_sha256, operator, csrf_token, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .bind(digest(&token))
        .bind(&user.name)
        .bind(random_token())
        .bind(self.ttl.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    async fn find(&self, token: &str) -> Result<Option<(String, String, String)>, sqlx::Error> {
        let hash = digest(token);
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT operator, csrf_token FROM console_sessions WHERE token_sha256 = $1 AND expires_at > now()",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(operator, csrf)| (operator, csrf, hash)))
    }

    /// Removes sessions past their end.
    pub(crate) async fn remove_expired(&self) {
        if let Err(error) = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= now()")
            .execute(&self.pool)
            .await
        {
            tracing::debug!(error = %error, "expired sessions not removed, will try again");
        }
    }
}

impl Session {
    /// Checks the CSRF token a form carried.
    pub(crate) fn verify(&self, token: Option<&str>) -> Result<(), ConsoleError> {
        match token {
            Some(token) if same(token, &self.csrf) => Ok(()),
            _ => Err(ConsoleError::new(
                StatusCode::FORBIDDEN,
                "the form did not come from this console session (CSRF token missing or wrong); reload the page and try again",
            )),
        }
    }
}

/// Where an unauthenticated request goes: the login page (htmx requests are
/// told to navigate there instead of swapping it into a fragment).
fn to_login(parts: &Parts) -> Response {
    if parts.headers.contains_key("hx-request") {
        (StatusCode::UNAUTHORIZED, [("hx-redirect", "/login")]).into_response()
    } else {
        Redirect::to("/login").into_response()
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login(parts));
        };
        let found = state
            .sessions
            .find(&token)
            .await
            .map_err(|e| ConsoleError::from(crate::error::OpError::from(e)).into_response())?;
        let Some((operator, csrf, token_sha256)) = found else {
            return Err(to_login(parts));
        };
        // An operator removed from the configuration loses the session.
        let Some(user) = state.ops.operators().user(&operator) else {
            return Err(to_login(parts));
        };
        Ok(Session {
            user,
            csrf,
            token_sha256,
        })
    }
}

/// The login form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    name: String,
    token: String,
    csrf: String,
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: Option<String>,
}

fn login_response(state: &AppState, status: StatusCode, error: Option<&str>) -> Response {
    let csrf = random_token();
    let page = LoginPage {
        csrf: csrf.clone(),
        error: error.map(str::to_owned),
    };
    let mut response = (status, render(&page)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state
            .sessions
            .set_cookie(LOGIN_COOKIE, &csrf, "/login", 1_800),
    );
    response
}

/// `GET /login`.
pub(crate) async fn login_page(State(state): State<AppState>) -> Response {
    login_response(&state, StatusCode::OK, None)
}

/// `POST /login`: name and token in, session cookie out.
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(&expected, &form.csrf) {
        return login_response(
            &state,
            StatusCode::FORBIDDEN,
            Some("the login form expired or did not come from this console; try again"),
        );
    }
    let user = state
        .ops
        .operators()
        .identify(form.token.trim())
        .filter(|u| u.name == form.name.trim());
    let Some(user) = user else {
        tracing::info!("console login refused");
        return login_response(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("unknown operator name or token"),
        );
    };
    let token = match state.sessions.create(&user).await {
        Ok(token) => token,
        Err(error) => {
            return ConsoleError::from(crate::error::OpError::from(error)).into_response();
        }
    };
    if let Err(error) = state.ops.audit_session(&user, "console_login").await {
        tracing::warn!(error = %error, "console login not audited");
    }
    tracing::info!(operator = %user.name, role = user.role.as_str(), "console login");
    let max_age = state.sessions.ttl.as_secs();
    let mut response = Redirect::to("/overview").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        state
            .sessions
            .set_cookie(SESSION_COOKIE, &token, "/", max_age),
    );
    headers.append(
        header::SET_COOKIE,
        state.sessions.set_cookie(LOGIN_COOKIE, "", "/login", 0),
    );
    response
}

/// `POST /logout`.
pub(crate) async fn logout(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    session.verify(form.csrf.as_deref())?;
    sqlx::query("DELETE FROM console_sessions WHERE token_sha256 = $1")
        .bind(&session.token_sha256)
        .execute(&state.sessions.pool)
        .await
        .map_err(crate::error::OpError::from)?;
    if let Err(error) = state
        .ops
        .audit_session(&session.user, "console_logout")
        .await
    {
        tracing::warn!(error = %error, "console logout not audited");
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state.sessions.set_cookie(SESSION_COOKIE, "", "/", 0),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hub_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
    }

    #[test]
    fn tokens_compare_in_full() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert_eq!(random_token().len(), 64);
        assert_ne!(random_token(), random_token());
    }
}
