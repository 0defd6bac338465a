//! The Graph gate: versioned paths only, the sandbox's access token (and
//! `appsecret_proof` when required), then the installed faults.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use http::{HeaderMap, StatusCode, header};
use sha2::Sha256;

use super::{GraphError, first_segment, is_version};
use crate::state::AppState;
use crate::stats::Stats;

/// Route layer of every Graph route: a path whose first segment is not a
/// version gets a plain 404 (it is not a Graph path at all), a request without
/// the right token gets the Graph 401, then faults may answer instead.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let version = first_segment(path);
    if !is_version(version) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Err(err) = authorize(&state, request.headers(), request.uri().query()) {
        return err.into_response();
    }
    let rest = &path[1 + version.len()..];
    if let Some(answer) = apply_faults(&state, request.method(), rest).await {
        return answer;
    }
    next.run(request).await
}

/// Layer of the media download URLs: the token, then faults (path
/// `/whatsapp_business/attachments/`).
pub(crate) async fn download_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Err(err) = authorize(&state, request.headers(), request.uri().query()) {
        return err.into_response();
    }
    let path = request.uri().path().to_owned();
    if let Some(answer) = apply_faults(&state, request.method(), &path).await {
        return answer;
    }
    next.run(request).await
}

/// The token check with the configured status for failures.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap, query: Option<&str>) -> Result<(), GraphError> {
    let settings = state.settings.get();
    let status = StatusCode::from_u16(settings.http.auth_error_status).unwrap_or(StatusCode::UNAUTHORIZED);
    let token = check(&state.config.access_token, headers, query).map_err(|err| err.with_status(status))?;
    if state.config.require_appsecret_proof {
        let proof = query.and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(key, _)| key == "appsecret_proof")
                .map(|(_, value)| value.into_owned())
        });
        let expected = appsecret_proof(&state.config.app_secret, &token);
        let given = proof.unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes())) {
            return Err(GraphError::invalid_appsecret_proof());
        }
    }
    Ok(())
}

/// `hex(HMAC-SHA256(key = app secret, message = access token))` (`docs/cloud-api.md` §1.3).
pub fn appsecret_proof(app_secret: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC-SHA256 takes keys of any length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn apply_faults(state: &AppState, method: &http::Method, path: &str) -> Option<Response> {
    let verdict = state.faults.evaluate(method, path, state.clock.now_ms());
    if verdict.fired > 0 {
        Stats::add(&state.stats.faults_fired, verdict.fired);
    }
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let throttle_status = state.settings.get().http.throttle_status;
    verdict.answer.map(|action| action.respond(throttle_status))
}

/// Checks the token of a Graph request: `Authorization: Bearer <token>` (or
/// `OAuth <token>`), else the `access_token` query parameter.
pub(crate) fn check(expected: &str, headers: &HeaderMap, query: Option<&str>) -> Result<String, GraphError> {
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
    if !bool::from(subtle::ConstantTimeEq::ct_eq(token.as_bytes(), expected.as_bytes())) {
        return Err(GraphError::invalid_token());
    }
    Ok(token)
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
    fn appsecret_proof_is_the_hmac_of_the_token() {
        // The well-known HMAC-SHA256 example: key "key", the quick brown fox.
        assert_eq!(
            appsecret_proof("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
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
