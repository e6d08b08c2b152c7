//! Animated images (GIF, APNG, animated WebP) and multi-page TIFFs: how many frames or pages a
//! file holds, read from its block structure without decoding a pixel. The decoder gives only one
//! picture, so the examiner must be told that the rest went unexamined.
//!
//! Every reader stops at the first byte that does not fit and reports what it counted so far; no
//! input makes it panic or read out of bounds.

use image::ImageFormat;

/// What the file holds beyond the one picture analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Animation {
    /// Frames the file declares or holds (more than one).
    pub frames: u32,
    /// True when the picture the decoder returns is the animation's first frame. An APNG may
    /// instead carry a still fallback image that animation-aware viewers never show.
    pub first_frame_analysed: bool,
}

/// What a file's several pictures are, by its format.
#[derive(Clone, Copy, PartialEq)]
enum Pictures {
    /// A multi-page TIFF.
    Pages,
    /// A HEIF collection (a burst, several photos).
    Images,
    /// An animation (GIF, APNG, WebP).
    Frames,
}

impl Pictures {
    fn of(format: &str) -> Self {
        match format {
            "TIFF" => Pictures::Pages,
            f if crate::imageio::is_heif_format(f) => Pictures::Images,
            _ => Pictures::Frames,
        }
    }
}

impl Animation {
    /// What the file's pictures are called for its format (`frames`, `pages` or `images`).
    pub fn unit(format: &str) -> &'static str {
        match Pictures::of(format) {
            Pictures::Pages => "pages",
            Pictures::Images => "images",
            Pictures::Frames => "frames",
        }
    }

    /// Which of the file's pictures was analysed, in words.
    pub fn analysed(&self, format: &str) -> &'static str {
        match Pictures::of(format) {
            Pictures::Pages => "the first page",
            Pictures::Images => "the primary image",
            Pictures::Frames if self.first_frame_analysed => "the first frame",
            Pictures::Frames => "the still fallback image (not a frame of the animation)",
        }
    }

    /// The examiner's warning: how many pictures the file holds and which one was analysed.
    pub fn warning(&self, format: &str) -> String {
        let n = self.frames;
        match Pictures::of(format) {
            Pictures::Pages => format!(
                "multi-page TIFF with {n} pages: only the first page was analysed, the others were not examined"
            ),
            Pictures::Images => format!(
                "{format} file holding {n} images: only its primary image was analysed, the others were not examined"
            ),
            Pictures::Frames if self.first_frame_analysed => format!(
                "animated {format} with {n} frames: only the first frame was analysed, the others were not examined"
            ),
            Pictures::Frames => format!(
                "animated {format} with {n} frames: only its still fallback image was analysed, which animation-aware viewers do not show; none of the frames was examined"
            ),
        }
    }
}

/// The animation in `bytes`, if it holds more than one frame.
pub fn animation(bytes: &[u8], format: ImageFormat) -> Option<Animation> {
    let found = match format {
        ImageFormat::Gif => gif_frames(bytes).map(|frames| Animation {
            frames,
            first_frame_analysed: true,
        }),
        ImageFormat::Png => apng(bytes),
        ImageFormat::WebP => webp_frames(bytes).map(|frames| Animation {
            frames,
            first_frame_analysed: true,
        }),
        ImageFormat::Tiff => Some(Animation {
            frames: tiff_pages(bytes),
            first_frame_analysed: true,
        }),
        _ => None,
    };
    found.filter(|a| a.frames > 1)
}

/// The first `max` directories (IFDs) of a TIFF file in chain order, each as its entries' (tag,
/// value): the value of a one-value SHORT or LONG entry, else the raw value field. The chain ends
/// at a zero offset, an offset out of the file or a directory already read.
pub(crate) fn tiff_directories(b: &[u8], max: usize) -> Vec<Vec<(u16, u32)>> {
    let le = b.starts_with(b"II*\0");
    if !le && !b.starts_with(b"MM\0*") {
        return vec![];
    }
    let u16_at = |i: usize| -> Option<u16> {
        let x: [u8; 2] = b.get(i..i.checked_add(2)?)?.try_into().ok()?;
        Some(if le {
            u16::from_le_bytes(x)
        } else {
            u16::from_be_bytes(x)
        })
    };
    let u32_at = |i: usize| -> Option<u32> {
        let x: [u8; 4] = b.get(i..i.checked_add(4)?)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(x)
        } else {
            u32::from_be_bytes(x)
        })
    };
    let mut dirs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut at = u32_at(4).unwrap_or(0) as usize;
    while at != 0 && dirs.len() < max && seen.insert(at) {
        let Some(n) = u16_at(at) else { break };
        let mut entries = Vec::with_capacity(n as usize);
        for k in 0..n as usize {
            let e = at + 2 + 12 * k;
            let (Some(tag), Some(ty), Some(count)) = (u16_at(e), u16_at(e + 2), u32_at(e + 4))
            else {
                return dirs;
            };
            let value = match (ty, count) {
                (3, 1) => u16_at(e + 8).map(u32::from),
                _ => u32_at(e + 8),
            };
            entries.push((tag, value.unwrap_or(0)));
        }
        dirs.push(entries);
        at = u32_at(at + 2 + 12 * n as usize).unwrap_or(0) as usize;
    }
    dirs
}

/// Full-resolution pages of a TIFF: its directories (the first 4,096) less reduced-resolution
/// ones (thumbnails, marked by NewSubfileType bit 0 or SubfileType 2).
fn tiff_pages(b: &[u8]) -> u32 {
    tiff_directories(b, 4096)
        .iter()
        .filter(|d| {
            !d.iter()
                .any(|&(tag, v)| (tag == 254 && v & 1 == 1) || (tag == 255 && v == 2))
        })
        .count() as u32
}

/// Counts the image descriptors of a GIF.
fn gif_frames(b: &[u8]) -> Option<u32> {
    if b.len() < 13 || !(b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")) {
        return None;
    }
    let table = |packed: u8| {
        if packed & 0x80 != 0 {
            3usize << ((packed & 7) + 1)
        } else {
            0
        }
    };
    let mut i = 13 + table(b[10]);
    let mut frames = 0u32;
    // Skips a chain of data sub-blocks starting at `i`; None when it runs off the end.
    let sub_blocks = |mut i: usize| -> Option<usize> {
        loop {
            let n = *b.get(i)? as usize;
            i += 1;
            if n == 0 {
                return Some(i);
            }
            i = i.checked_add(n)?;
        }
    };
    while let Some(&tag) = b.get(i) {
        match tag {
            0x21 => match sub_blocks(i + 2) {
                Some(next) => i = next,
                None => break,
            },
            0x2C => {
                let Some(&packed) = b.get(i + 9) else { break };
                frames += 1;
                // Descriptor (10 bytes), local colour table, LZW code size, data.
                match sub_blocks(i + 10 + table(packed) + 1) {
                    Some(next) => i = next,
                    None => break,
                }
            }
            _ => break, // 0x3B, the trailer, or damage
        }
    }
    Some(frames)
}

/// The frame count of an APNG's `acTL` chunk, and whether its default image is frame 0
/// (an `fcTL` chunk before the first `IDAT`).
fn apng(b: &[u8]) -> Option<Animation> {
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return None;
    }
    let mut i = 8usize;
    let mut frames = None;
    let mut fctl_before_idat = false;
    while i + 8 <= b.len() {
        let len = u32::from_be_bytes(b[i..i + 4].try_into().ok()?) as usize;
        let kind = &b[i + 4..i + 8];
        let data = b.get(i + 8..(i + 8).checked_add(len)?);
        match kind {
            b"acTL" => {
                let d = data.filter(|d| d.len() >= 4)?;
                frames = Some(u32::from_be_bytes(d[..4].try_into().ok()?));
            }
            b"fcTL" => fctl_before_idat = true,
            b"IDAT" | b"IEND" => break,
            _ => {}
        }
        i = i.checked_add(12 + len)?;
    }
    frames.map(|frames| Animation {
        frames,
        first_frame_analysed: fctl_before_idat,
    })
}

/// Counts the `ANMF` frames of a WebP whose `VP8X` header sets the animation flag.
fn webp_frames(b: &[u8]) -> Option<u32> {
    if b.len() < 12 || &b[..4] != b"RIFF" || &b[8..12] != b"WEBP" {
        return None;
    }
    let mut i = 12usize;
    let mut animated = false;
    let mut frames = 0u32;
    while i + 8 <= b.len() {
        let kind = &b[i..i + 4];
        let len = u32::from_le_bytes(b[i + 4..i + 8].try_into().ok()?) as usize;
        match kind {
            b"VP8X" => animated = b.get(i + 8).is_some_and(|f| f & 0x02 != 0),
            b"ANMF" => frames += 1,
            _ => {}
        }
        // Chunks are padded to an even length.
        i = i.checked_add(8 + len + (len & 1))?;
    }
    animated.then_some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, RgbaImage};

    fn gif(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = GifEncoder::new(&mut out);
            for k in 0..n {
                let img = RgbaImage::from_fn(40, 30, |x, y| {
                    image::Rgba([(x * 6) as u8, (y * 8) as u8, (k * 70) as u8, 255])
                });
                enc.encode_frame(Frame::from_parts(
                    img,
                    0,
                    0,
                    Delay::from_numer_denom_ms(100, 1),
                ))
                .unwrap();
            }
        }
        out
    }

    #[test]
    fn gif_frames_are_counted_and_a_still_gif_is_not_animated() {
        assert_eq!(gif_frames(&gif(3)), Some(3));
        assert_eq!(
            animation(&gif(3), ImageFormat::Gif).map(|a| a.frames),
            Some(3)
        );
        assert_eq!(gif_frames(&gif(1)), Some(1));
        assert_eq!(animation(&gif(1), ImageFormat::Gif), None);
        assert_eq!(animation(b"GIF89a", ImageFormat::Gif), None);
    }

    /// A minimal APNG: signature, IHDR, acTL, optional fcTL, IDAT, IEND (CRCs are not read).
    fn apng_bytes(frames: u32, fctl_first: bool) -> Vec<u8> {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            c.extend_from_slice(&[0; 4]);
            c
        };
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        b.extend(chunk(b"IHDR", &[0; 13]));
        let mut actl = frames.to_be_bytes().to_vec();
        actl.extend_from_slice(&[0; 4]);
        b.extend(chunk(b"acTL", &actl));
        if fctl_first {
            b.extend(chunk(b"fcTL", &[0; 26]));
        }
        b.extend(chunk(b"IDAT", &[0; 8]));
        b.extend(chunk(b"IEND", &[]));
        b
    }

    #[test]
    fn apng_frames_and_its_fallback_image_are_told_apart() {
        let a = animation(&apng_bytes(5, true), ImageFormat::Png).unwrap();
        assert_eq!((a.frames, a.first_frame_analysed), (5, true));
        let a = animation(&apng_bytes(5, false), ImageFormat::Png).unwrap();
        assert_eq!((a.frames, a.first_frame_analysed), (5, false));
        // A plain PNG.
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(image::RgbImage::new(8, 8))
            .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        assert_eq!(animation(&png, ImageFormat::Png), None);
    }

    #[test]
    fn animated_webp_frames_are_counted() {
        let chunk = |kind: &[u8], len: usize| {
            let mut c = kind.to_vec();
            c.extend_from_slice(&(len as u32).to_le_bytes());
            c.extend(std::iter::repeat_n(0x02u8, len + (len & 1)));
            c
        };
        let mut body = b"WEBP".to_vec();
        body.extend(chunk(b"VP8X", 10));
        body.extend(chunk(b"ANIM", 6));
        for _ in 0..4 {
            body.extend(chunk(b"ANMF", 17)); // odd length: padded
        }
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&(body.len() as u32).to_le_bytes());
        b.extend(body);
        assert_eq!(animation(&b, ImageFormat::WebP).map(|a| a.frames), Some(4));
    }

    #[test]
    fn damaged_animations_never_panic() {
        let samples = [gif(3), apng_bytes(4, true)];
        for (k, s) in samples.iter().enumerate() {
            let fmt = [ImageFormat::Gif, ImageFormat::Png][k];
            for cut in 0..s.len() {
                let _ = animation(&s[..cut], fmt);
            }
            for at in 0..s.len() {
                for v in [0x00, 0xff, 0x2c, 0x21] {
                    let mut m = s.clone();
                    m[at] = v;
                    let _ = animation(&m, fmt);
                    let _ = animation(&m, ImageFormat::WebP);
                }
            }
        }
        // TIFF directories: a header, two chained directories of two entries, every byte
        // overwritten and every cut.
        let mut t = b"II*\0\x08\0\0\0".to_vec();
        for next in [38u32, 0] {
            t.extend_from_slice(&2u16.to_le_bytes());
            for tag in [256u16, 254] {
                t.extend_from_slice(&tag.to_le_bytes());
                t.extend_from_slice(&[4, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
            }
            t.extend_from_slice(&next.to_le_bytes());
        }
        assert_eq!(tiff_directories(&t, 4096).len(), 2);
        assert_eq!(tiff_directories(&t, 1).len(), 1);
        assert_eq!(
            tiff_pages(&t),
            0,
            "both directories are marked reduced-resolution"
        );
        for cut in 0..t.len() {
            let _ = animation(&t[..cut], ImageFormat::Tiff);
        }
        for at in 0..t.len() {
            for v in [0x00, 0xff, 0x08, 0x26] {
                let mut m = t.clone();
                m[at] = v;
                let _ = animation(&m, ImageFormat::Tiff);
            }
        }
    }
}
