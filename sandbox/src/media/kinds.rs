//! The media types Cloud accepts and their size limits (`docs/cloud-api.md` §3; the
//! table itself lives in `wire::media`, shared with the stack), and a check
//! that a file's bytes are what its MIME type says.

pub use wire::media::{Kind, all_mime_types, base_type, extension_of, max_size, of_mime};

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

#[cfg(test)]
mod tests {
    use super::*;

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
