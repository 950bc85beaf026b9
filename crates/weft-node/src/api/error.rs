//! Errors of the API's routes: each feature's error enum says which HTTP status each of its
//! cases is ([`HttpError`]); a route returns [`ApiError`], which any of them converts into, and
//! which answers that status with one line in `{"error": …}` ([`weft_api::ErrorBody`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use weft_api::ErrorBody;

/// An error a route can answer with: one status, and its `Display` as the one line.
pub trait HttpError: std::fmt::Display {
    /// The status it answers.
    fn status(&self) -> StatusCode;
}

/// What a failed route answers: a status and one line.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An answer of `status` with `message` (line breaks become spaces).
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        ApiError {
            status,
            message: message.to_string().replace(['\r', '\n'], " "),
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The line.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: HttpError> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError::new(e.status(), e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: self.message,
        });
        (self.status, body).into_response()
    }
}

/// Failures of the node itself, not of the request: a blocking task that panicked, a
/// database that failed. Answered 500.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    /// A blocking task did not finish.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] weft_store::rusqlite::Error),
    /// The store failed.
    #[error("database error: {0}")]
    Store(#[from] weft_store::StoreError),
    /// The metrics could not be encoded.
    #[error("cannot encode the metrics: {0}")]
    Metrics(#[from] std::fmt::Error),
}

impl HttpError for Internal {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// Runs `f` on a blocking thread; a panic in it is an [`Internal`] error.
///
/// # Errors
/// [`Internal::Task`] if `f` panicked.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Internal> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_its_status_and_one_line() {
        let e = ApiError::new(StatusCode::NOT_FOUND, "no such\nthing");
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(e.message(), "no such thing");
        assert_eq!(e.into_response().status(), StatusCode::NOT_FOUND);
    }
}
