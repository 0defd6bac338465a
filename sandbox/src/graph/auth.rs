//! The Graph gate: versioned paths only, and the sandbox's access token.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};

use super::{GraphError, first_segment, is_version};
use crate::state::AppState;

/// Route layer of every Graph route: a path whose first segment is not a
/// version gets a plain 404 (it is not a Graph path at all), a request without
/// the right token gets the Graph 401.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !is_version(first_segment(request.uri().path())) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Err(err) = check(&state.config.access_token, request.headers(), request.uri().query()) {
        return err.into_response();
    }
    next.run(request).await
}

/// Checks the token of a Graph request: `Authorization: Bearer <token>` (or
/// `OAuth <token>`), else the `access_token` query parameter.
pub(crate) fn check(expected: &str, headers: &HeaderMap, query: Option<&str>) -> Result<(), GraphError> {
    let token = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| GraphError::invalid_token())?;
            let (scheme, token) = value.trim().split_once(' ').ok_or_else(GraphError::invalid_token)?;
            if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth")) {
                return Err(GraphError::invalid_token());
            }
            token.trim().to_owned()
        }
        None => query
            .and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(key, _)| key == "access_token")
                    .map(|(_, value)| value.into_owned())
            })
            .ok_or_else(GraphError::missing_token)?,
    };
    if token.is_empty() {
        return Err(GraphError::missing_token());
    }
    if token != expected {
        return Err(GraphError::invalid_token());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accepts_the_token_in_header_or_query() {
        assert!(check("tok", &with_auth("Bearer tok"), None).is_ok());
        assert!(check("tok", &with_auth("bearer  tok "), None).is_ok());
        assert!(check("tok", &with_auth("OAuth tok"), None).is_ok());
        assert!(check("tok", &HeaderMap::new(), Some("fields=id&access_token=tok")).is_ok());
    }

    #[test]
    fn rejects_missing_and_wrong_tokens() {
        let err = check("tok", &HeaderMap::new(), None).unwrap_err();
        assert_eq!((err.status, err.code), (StatusCode::UNAUTHORIZED, 190));
        for bad in ["Bearer nope", "Basic dG9rOg==", "Bearer", "tok"] {
            let err = check("tok", &with_auth(bad), None).unwrap_err();
            assert_eq!((err.status, err.code), (StatusCode::UNAUTHORIZED, 190), "{bad}");
        }
        assert!(check("tok", &HeaderMap::new(), Some("access_token=nope")).is_err());
        assert!(check("tok", &HeaderMap::new(), Some("access_token=")).is_err());
    }
}
