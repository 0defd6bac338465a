//! Small valid files the control API uses when an injected inbound media
//! message brings no bytes of its own: the business can download them and
//! any decoder recognises them. Generated for the sandbox (see the README).

/// A sample file of `mime`, if the sandbox has one.
pub fn for_mime(mime: &str) -> Option<&'static [u8]> {
    Some(match super::kinds::base_type(mime).as_str() {
        "image/png" => include_bytes!("samples/sample.png"),
        "image/jpeg" => include_bytes!("samples/sample.jpg"),
        "image/webp" => include_bytes!("samples/sample.webp"),
        "audio/ogg" => include_bytes!("samples/sample.ogg"),
        "video/mp4" => include_bytes!("samples/sample.mp4"),
        "application/pdf" => include_bytes!("samples/sample.pdf"),
        "text/plain" => b"Sent from the wa-onprem sandbox.\n",
        _ => return None,
    })
}

/// The MIME type an inbound message of `kind` gets when the request names none.
pub fn default_mime(kind: &str, voice: bool) -> &'static str {
    match kind {
        "image" => "image/jpeg",
        "video" => "video/mp4",
        // Voice notes arrive as Opus in Ogg with the codec named (`docs/cloud-api.md` §3).
        "audio" if voice => "audio/ogg; codecs=opus",
        "audio" => "audio/ogg",
        "sticker" => "image/webp",
        _ => "application/pdf",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_has_a_sample() {
        for (kind, voice) in [
            ("image", false),
            ("video", false),
            ("audio", true),
            ("audio", false),
            ("sticker", false),
            ("document", false),
        ] {
            let mime = default_mime(kind, voice);
            let bytes = for_mime(mime).unwrap();
            assert!(super::super::kinds::content_matches(mime, bytes), "{kind}");
        }
        assert!(for_mime("audio/amr").is_none());
    }
}
