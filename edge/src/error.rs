//! The one HTTP error shape, for every refusal of every endpoint:
//! `{"error": "<what was wrong, and how to fix it>", "code": "<stable name>", "status": <n>}`.
//!
//! `error` is the field clients have always read; `code` and `status` were added beside it, so
//! a client can tell a retryable refusal (`draining`, `capacity`, `not_ready`) from one that
//! will not get better (`bad_request`, `transport_disabled`, `not_found`) without parsing text.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An HTTP error with a message that says what was wrong.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with the default code of its status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::UPGRADE_REQUIRED => "upgrade_required",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "head_too_large",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_client_error() => "bad_request",
            _ => "internal",
        };
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A request that will not get better: 400 with the message.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// The same error with another code.
    #[must_use]
    pub fn code(mut self, code: &'static str) -> ApiError {
        self.code = code;
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn is_client_error(&self) -> bool {
        self.status.is_client_error()
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        json!({ "error": self.message, "code": self.code, "status": self.status.as_u16() })
            .to_string()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_keeps_error_and_adds_code_and_status() {
        let body: serde_json::Value =
            serde_json::from_str(&ApiError::bad_request("limit must be 1 to 1000").body()).unwrap();
        assert_eq!(
            body,
            json!({"error": "limit must be 1 to 1000", "code": "bad_request", "status": 400})
        );
        let draining = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "x").code("draining");
        assert!(draining.body().contains("\"code\":\"draining\""));
    }
}
