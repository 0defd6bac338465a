//! Real media files made by the tests, of the sizes a test asks for: each
//! is well formed for its type (a decoder opens it), and its bytes vary
//! with a seed so two files never share content by accident.

/// Deterministic filler bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// An 8-bit RGB PNG of `width` x `height` noise pixels (deflate's stored
/// blocks, so about 3 bytes a pixel).
pub fn png(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let row = width as usize * 3;
    let pixels = noise(row * height as usize, seed);
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for line in pixels.chunks(row) {
        raw.push(0); // filter: none
        raw.extend_from_slice(line);
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB
    png_chunk(&mut out, b"IHDR", &header);
    png_chunk(&mut out, b"IDAT", &zlib);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A JPEG of about `size` bytes: a small real image with comment segments
/// (which decoders skip) after the start marker.
pub fn jpeg(size: usize, seed: u64) -> Vec<u8> {
    let image = sandbox::samples::for_mime("image/jpeg").expect("the sandbox has a JPEG");
    let mut out = image[..2].to_vec();
    let mut filler = noise(size.saturating_sub(image.len()), seed);
    // A comment may not contain a marker; keep the bytes below 0xFF.
    filler.iter_mut().for_each(|b| *b &= 0x7F);
    for part in filler.chunks(65_000) {
        out.extend_from_slice(&[0xFF, 0xFE]);
        out.extend_from_slice(&((part.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(&image[2..]);
    out
}

/// An Ogg Opus voice note (the sandbox's sample).
pub fn ogg_opus() -> Vec<u8> {
    sandbox::samples::for_mime("audio/ogg").expect("the sandbox has an Ogg Opus file").to_vec()
}

/// An MP4 of about `size` bytes: `ftyp`, a `free` box of filler (players
/// skip it) and the sample's media data.
pub fn mp4(size: usize, seed: u64) -> Vec<u8> {
    let sample = sandbox::samples::for_mime("video/mp4").expect("the sandbox has an MP4");
    let ftyp_len = u32::from_be_bytes(sample[..4].try_into().unwrap()) as usize;
    let mut out = sample[..ftyp_len].to_vec();
    let free = size.saturating_sub(sample.len()).max(8);
    out.extend_from_slice(&(free as u32).to_be_bytes());
    out.extend_from_slice(b"free");
    out.extend_from_slice(&noise(free - 8, seed));
    out.extend_from_slice(&sample[ftyp_len..]);
    out
}

/// A one-page PDF of about `size` bytes: the page's content stream carries
/// the filler; the cross-reference table has the right offsets.
pub fn pdf(size: usize, seed: u64) -> Vec<u8> {
    // The objects around the stream take under 600 bytes.
    let filler = noise(size.saturating_sub(600), seed);
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    let mut object = |out: &mut Vec<u8>, body: &[u8]| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    object(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
    object(&mut out, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    object(&mut out, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 210 297] /Contents 4 0 R >>");
    let mut stream = format!("<< /Length {} >>\nstream\n", filler.len()).into_bytes();
    stream.extend_from_slice(&filler);
    stream.extend_from_slice(b"\nendstream");
    object(&mut out, &stream);
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes());
    for offset in &offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", offsets.len() + 1).as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_have_their_signatures_and_sizes() {
        let png = png(64, 32, 1);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.len() > 64 * 32 * 3);
        let jpeg = jpeg(200_000, 2);
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) && jpeg.ends_with(&[0xFF, 0xD9]));
        assert!((199_000..201_000).contains(&jpeg.len()), "{}", jpeg.len());
        let mp4 = mp4(1_000_000, 3);
        assert_eq!(&mp4[4..8], b"ftyp");
        assert_eq!(mp4.len(), 1_000_000);
        let pdf = pdf(50_000, 4);
        assert!(pdf.starts_with(b"%PDF-") && pdf.ends_with(b"%%EOF\n"));
        assert!(ogg_opus().starts_with(b"OggS"));
        assert_ne!(super::pdf(1000, 5), super::pdf(1000, 6));
    }
}
