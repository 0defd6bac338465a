//! The media types Cloud accepts, their size limits (spec section 3), and a
//! check that a file's bytes are what its MIME type says.

/// What a media object is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Document,
    Image,
    Sticker,
    Video,
}

const MB: u64 = 1024 * 1024;
const KB: u64 = 1024;

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
            // A document may be any supported file.
            Kind::Document => DOCUMENT,
            Kind::Image => IMAGE,
            Kind::Sticker => STICKER,
            Kind::Video => VIDEO,
        }
    }

    /// Whether a message of this kind can carry a file of `mime`.
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
        Some(Kind::Document) | None => 100 * MB,
    }
}

/// Whether the bytes look like `mime` where a magic number says so; types
/// without a reliable signature pass.
pub fn content_matches(mime: &str, bytes: &[u8]) -> bool {
    match base_type(mime).as_str() {
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        "application/pdf" => bytes.starts_with(b"%PDF-"),
        "audio/ogg" => bytes.starts_with(b"OggS"),
        "video/mp4" | "video/3gpp" => bytes.len() >= 8 && &bytes[4..8] == b"ftyp",
        _ => true,
    }
}

/// Whether a WebP file is animated (VP8X chunk with the animation flag).
pub fn is_animated_webp(bytes: &[u8]) -> bool {
    bytes.len() >= 21 && &bytes[12..16] == b"VP8X" && bytes[20] & 0x02 != 0
}

/// The MIME type a link's file extension suggests, for sends by `link`.
pub fn mime_of_extension(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "mov" => "video/quicktime",
        "ogg" | "opus" | "oga" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "m4a" => "audio/mp4",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "html" | "htm" => "text/html",
        "zip" => "application/zip",
        _ => return None,
    })
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
    fn sniffing() {
        assert!(content_matches("image/png", include_bytes!("samples/sample.png")));
        assert!(content_matches("image/jpeg", include_bytes!("samples/sample.jpg")));
        assert!(content_matches("image/webp", include_bytes!("samples/sample.webp")));
        assert!(content_matches("audio/ogg; codecs=opus", include_bytes!("samples/sample.ogg")));
        assert!(content_matches("video/mp4", include_bytes!("samples/sample.mp4")));
        assert!(content_matches("application/pdf", include_bytes!("samples/sample.pdf")));
        assert!(!content_matches("image/png", include_bytes!("samples/sample.jpg")));
        assert!(content_matches("text/plain", b"anything"));
        assert!(!is_animated_webp(include_bytes!("samples/sample.webp")));
        let mut animated = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
        animated.extend_from_slice(&[0x02, 0, 0, 0]);
        assert!(is_animated_webp(&animated));
    }

    #[test]
    fn extensions() {
        assert_eq!(mime_of_extension("https://x.test/a/b.JPG"), Some("image/jpeg"));
        assert_eq!(mime_of_extension("/v.html"), Some("text/html"));
        assert_eq!(mime_of_extension("/noext"), None);
        assert_eq!(extension_of("audio/ogg; codecs=opus"), "ogg");
    }
}
