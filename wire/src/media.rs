//! The media types Cloud accepts and their size limits (`docs/cloud-api.md`
//! §3, the same post-processing limits the old client applied), and the
//! upload rules of `POST /v1/media` built on them.
//!
//! The sandbox enforces the same table on its side, so the simulator and
//! the stack cannot disagree about what Cloud takes.

use crate::{ApiError, ErrorCode};

/// What a media object is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Document,
    Image,
    Sticker,
    Video,
}

pub const MB: u64 = 1024 * 1024;
pub const KB: u64 = 1024;

/// The largest upload the old client took ("Request content exceeds size
/// of 100 MB"), which is also Cloud's largest type (documents).
pub const MAX_UPLOAD: u64 = 100 * MB;

const AUDIO: &[&str] = &["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"];
const DOCUMENT: &[&str] = &[
    "text/plain",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];
const IMAGE: &[&str] = &["image/jpeg", "image/png"];
const STICKER: &[&str] = &["image/webp"];
const VIDEO: &[&str] = &["video/mp4", "video/3gpp"];

// === impl Kind ===

impl Kind {
    /// The message type named `name`, if it carries media.
    pub fn from_type(name: &str) -> Option<Kind> {
        Some(match name {
            "audio" => Kind::Audio,
            "document" => Kind::Document,
            "image" => Kind::Image,
            "sticker" => Kind::Sticker,
            "video" => Kind::Video,
            _ => return None,
        })
    }

    /// Capitalised, as Cloud's error details write it ("Unsupported Video mime type …").
    pub fn title(self) -> &'static str {
        match self {
            Kind::Audio => "Audio",
            Kind::Document => "Document",
            Kind::Image => "Image",
            Kind::Sticker => "Sticker",
            Kind::Video => "Video",
        }
    }

    /// The MIME types a message of this kind may carry.
    pub fn mime_types(self) -> &'static [&'static str] {
        match self {
            Kind::Audio => AUDIO,
            Kind::Document => DOCUMENT,
            Kind::Image => IMAGE,
            Kind::Sticker => STICKER,
            Kind::Video => VIDEO,
        }
    }

    /// Whether a message of this kind can carry a file of `mime`; a
    /// document may be any supported file.
    pub fn accepts(self, mime: &str) -> bool {
        let base = base_type(mime);
        match self {
            Kind::Document => of_mime(&base).is_some(),
            kind => kind.mime_types().contains(&base.as_str()),
        }
    }
}

/// `audio/ogg; codecs=opus` → `audio/ogg`, lowercased.
pub fn base_type(mime: &str) -> String {
    mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The kind whose table lists `mime` (WebP is a sticker).
pub fn of_mime(mime: &str) -> Option<Kind> {
    let base = base_type(mime);
    [Kind::Audio, Kind::Document, Kind::Image, Kind::Sticker, Kind::Video]
        .into_iter()
        .find(|kind| kind.mime_types().contains(&base.as_str()))
}

/// Every supported MIME type, in the order Cloud's upload error lists them.
pub fn all_mime_types() -> Vec<&'static str> {
    [AUDIO, DOCUMENT, IMAGE, STICKER, VIDEO].concat()
}

/// Largest file of `mime` Cloud stores; stickers depend on animation.
pub fn max_size(mime: &str, animated: bool) -> u64 {
    match of_mime(mime) {
        Some(Kind::Audio | Kind::Video) => 16 * MB,
        Some(Kind::Image) => 5 * MB,
        Some(Kind::Sticker) if animated => 500 * KB,
        Some(Kind::Sticker) => 100 * KB,
        Some(Kind::Document) | None => MAX_UPLOAD,
    }
}

/// The file extension of a MIME type, for download names.
pub fn extension_of(mime: &str) -> &'static str {
    match base_type(mime).as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "audio/mp4" => "m4a",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        _ => "bin",
    }
}

/// The rules of `POST /v1/media` for a `Content-Type`: missing is 1008, a
/// type Cloud cannot carry is 1009. Returns the most bytes such a file may
/// have (a sticker may be animated, so WebP gets the animated limit; Cloud
/// checks the rest when the file is first sent).
pub fn upload_limit(content_type: Option<&str>) -> Result<u64, ApiError> {
    let mime = content_type.map(str::trim).unwrap_or_default();
    if mime.is_empty() {
        return Err(ApiError::new(ErrorCode::ParameterMissing, "Content-Type missing"));
    }
    if of_mime(mime).is_none() {
        return Err(ApiError::invalid(format!(
            "Media type '{mime}' is not supported: use one of {}",
            all_mime_types().join(", ")
        )));
    }
    Ok(max_size(mime, true))
}

/// The 1009 for a body over `limit` bytes, worded as the old client did
/// for its 100 MB ceiling.
pub fn too_large(mime: &str, limit: u64) -> ApiError {
    if limit >= MAX_UPLOAD {
        ApiError::invalid("Request content exceeds size of 100 MB")
    } else {
        let what = if limit >= MB { format!("{} MB", limit / MB) } else { format!("{} KB", limit / KB) };
        ApiError::invalid(format!("Media of type '{}' may be at most {what}", base_type(mime)))
    }
}

/// The 1008 for an upload without bytes.
pub fn empty_body() -> ApiError {
    ApiError::new(ErrorCode::ParameterMissing, "Request had no (empty) content")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_limits() {
        assert_eq!(of_mime("audio/ogg; codecs=opus"), Some(Kind::Audio));
        assert_eq!(of_mime("IMAGE/PNG"), Some(Kind::Image));
        assert_eq!(of_mime("image/webp"), Some(Kind::Sticker));
        assert_eq!(of_mime("text/html"), None);
        assert_eq!(max_size("image/jpeg", false), 5 * MB);
        assert_eq!(max_size("image/webp", false), 100 * KB);
        assert_eq!(max_size("image/webp", true), 500 * KB);
        assert_eq!(max_size("application/pdf", false), 100 * MB);
        assert!(Kind::Image.accepts("image/png"));
        assert!(!Kind::Image.accepts("image/webp"));
        assert!(Kind::Document.accepts("image/png"), "any supported file can go as a document");
        assert!(!Kind::Video.accepts("text/html"));
        assert_eq!(all_mime_types().len(), 18);
    }

    #[test]
    fn upload_rules() {
        assert_eq!(upload_limit(None).unwrap_err().code, ErrorCode::ParameterMissing);
        assert_eq!(upload_limit(Some("  ")).unwrap_err().code, ErrorCode::ParameterMissing);
        let html = upload_limit(Some("text/html")).unwrap_err();
        assert_eq!(html.code, ErrorCode::ParameterInvalid);
        assert!(html.details.contains("image/jpeg"), "{}", html.details);
        assert_eq!(upload_limit(Some("image/jpeg")).unwrap(), 5 * MB);
        assert_eq!(upload_limit(Some("audio/ogg; codecs=opus")).unwrap(), 16 * MB);
        assert_eq!(upload_limit(Some("image/webp")).unwrap(), 500 * KB);
        assert_eq!(upload_limit(Some("application/pdf")).unwrap(), MAX_UPLOAD);
        assert_eq!(too_large("application/pdf", MAX_UPLOAD).details, "Request content exceeds size of 100 MB");
        assert_eq!(too_large("image/png", 5 * MB).details, "Media of type 'image/png' may be at most 5 MB");
        assert_eq!(too_large("image/webp", 500 * KB).details, "Media of type 'image/webp' may be at most 500 KB");
        assert_eq!(empty_body().code, ErrorCode::ParameterMissing);
    }
}
