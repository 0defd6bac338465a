//! Profile pictures: set from the handle of a finished Resumable Upload, and
//! served by the sandbox itself at `/_sandbox/pictures/{name}`, without a
//! token, as Meta's picture CDN serves `profile_picture_url`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::graph::GraphError;
use crate::media::kinds;
use crate::state::AppState;

/// Where the pictures are served, before their name.
pub const PATH: &str = "/_sandbox/pictures";
/// The upload types a profile picture may have.
pub const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/jpg", "image/png"];
/// Meta's limit on a profile picture.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;

/// A number's current profile picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// The last segment of its URL, unique per number and content.
    pub name: String,
    /// The upload's `file_type`, served as its Content-Type.
    pub mime_type: String,
    pub bytes: Bytes,
}

/// The picture a `profile_picture_handle` names for number `phone_number_id`:
/// a handle this sandbox issued for a finished JPEG or PNG upload.
pub(crate) fn from_handle(state: &AppState, handle: &str, phone_number_id: &str) -> Result<Picture, GraphError> {
    let file = state.uploads.by_handle(handle).ok_or_else(|| {
        GraphError::invalid_parameter(
            "Param profile_picture_handle is not a valid upload handle: get one from the Resumable Upload API.",
        )
    })?;
    if !IMAGE_TYPES.contains(&file.file_type.as_str()) {
        return Err(GraphError::invalid_parameter(format!(
            "Param profile_picture_handle must be the handle of an image ({}), not of {}.",
            IMAGE_TYPES.join(", "),
            file.file_type
        )));
    }
    check_image(&file.file_type, &file.bytes)?;
    let digest = hex::encode(&Sha256::digest(&file.bytes)[..8]);
    let extension = if file.file_type == "image/png" { "png" } else { "jpg" };
    Ok(Picture {
        name: format!("{phone_number_id}_{digest}.{extension}"),
        mime_type: file.file_type,
        bytes: file.bytes,
    })
}

/// Meta turns the upload into a picture, so it must be an image of its
/// declared type within the size limit.
fn check_image(file_type: &str, bytes: &[u8]) -> Result<(), GraphError> {
    if bytes.len() > MAX_BYTES {
        return Err(GraphError::invalid_parameter(format!(
            "The profile picture is {} bytes, more than the {MAX_BYTES} bytes allowed.",
            bytes.len()
        )));
    }
    let sniffed_as = if file_type == "image/jpg" { "image/jpeg" } else { file_type };
    if !kinds::content_matches(sniffed_as, bytes) {
        return Err(GraphError::invalid_parameter(format!("The uploaded profile picture is not a {file_type} image.")));
    }
    Ok(())
}

/// The absolute URL of `picture` under the sandbox's public base URL.
pub(crate) fn url(base: &str, picture: &Picture) -> String {
    format!("{base}{PATH}/{}", picture.name)
}

/// `GET /_sandbox/pictures/{name}`: the bytes of a number's current
/// picture with their type; a bare 404 for any other name, like a CDN.
pub(crate) async fn serve(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(picture) = state.accounts.picture(&name) else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let mut response = Response::new(Body::from(picture.bytes));
    if let Ok(value) = HeaderValue::from_str(&picture.mime_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::samples;

    #[test]
    fn pictures_must_be_images_of_their_type() {
        let png = samples::for_mime("image/png").unwrap_or_default();
        let jpeg = samples::for_mime("image/jpeg").unwrap_or_default();
        assert!(check_image("image/png", png).is_ok());
        assert!(check_image("image/jpg", jpeg).is_ok());
        assert!(check_image("image/jpeg", png).is_err());
        let mut big = png.to_vec();
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(check_image("image/png", &big).unwrap_err().code, 100);
    }
}
