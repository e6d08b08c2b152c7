//! The one image loader: reads evidence read-only, detects the format from the bytes, applies EXIF
//! orientation, converts any colour type to 8-bit RGB, refuses decompression bombs and images too
//! small to analyse, and reports every failure as a typed error that names the file and the
//! reason. It never panics.

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Limits against hostile or accidental huge inputs.
#[derive(Debug, Clone, Copy)]
pub struct LoadLimits {
    pub max_file_bytes: u64,
    pub max_pixels: u64,
    /// Shorter side below which an image carries too little to analyse. The model sees 224-px
    /// crops in 16-px patches: an image smaller than two patches would be upscaled more than
    /// sevenfold, and whatever the detector said of it would describe the upscaling.
    pub min_side: u32,
}

impl Default for LoadLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 1 << 30,
            max_pixels: 200_000_000,
            min_side: 32,
        }
    }
}

#[derive(Debug, Error)]
pub enum ImageLoadError {
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a regular file: it is {kind}. Fauxscope reads evidence only from regular files")]
    NotRegularFile { path: PathBuf, kind: String },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error("{path}: file is {size} bytes, over the limit of {limit} bytes")]
    FileTooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{path}: not a recognised image format (first bytes: {magic})")]
    UnknownFormat { path: PathBuf, magic: String },
    #[error("{path}: unsupported {format} image: {reason}")]
    Unsupported {
        path: PathBuf,
        format: String,
        reason: String,
    },
    #[error("{path}: image is {width}x{height} ({pixels} pixels), over the limit of {limit} pixels (possible decompression bomb)")]
    TooManyPixels {
        path: PathBuf,
        width: u32,
        height: u32,
        pixels: u64,
        limit: u64,
    },
    #[error("{path}: image is {width}x{height}, too small to analyse (the shorter side must be at least {min} px)")]
    TooSmall {
        path: PathBuf,
        width: u32,
        height: u32,
        min: u32,
    },
    #[error("{path}: truncated {format} file: {reason}")]
    Truncated {
        path: PathBuf,
        format: String,
        reason: String,
    },
    #[error("{path}: corrupt {format} data: {reason}")]
    Corrupt {
        path: PathBuf,
        format: String,
        reason: String,
    },
}

/// Facts about an evidence file, taken from its bytes before any processing.
#[derive(Debug, Clone, Serialize)]
pub struct ImageFacts {
    pub file_size: u64,
    pub sha256: String,
    /// Format detected from the bytes (not the extension).
    pub format: String,
    /// Set when the extension does not match the detected format.
    pub extension_mismatch: Option<String>,
    /// Dimensions as stored in the file.
    pub stored_width: u32,
    pub stored_height: u32,
    /// Dimensions after EXIF orientation.
    pub width: u32,
    pub height: u32,
    /// Colour type as stored, e.g. `Rgb8`, `L16`, `Rgba8`, or `Cmyk8` for a CMYK JPEG or TIFF,
    /// which the decoder turns into RGB without colour management.
    pub color_type: String,
    pub has_alpha: bool,
    /// EXIF orientation tag value (1 = upright).
    pub orientation: u8,
    /// The embedded ICC colour profile, if any, and what the loader did with it.
    pub color_profile: Option<crate::colour::ColourProfile>,
    /// Set for an animated GIF, APNG or WebP: only one of its pictures is analysed.
    pub animation: Option<crate::animation::Animation>,
    /// Set when the compressed data is damaged (a JPEG a strict reading refuses): the decoder
    /// read past the damage, and part of the picture may be grey or garbled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damage: Option<String>,
}

/// A decoded image: 8-bit RGB pixels, upright, plus the file facts.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub path: PathBuf,
    pub rgb: RgbImage,
    pub facts: ImageFacts,
    /// Raw EXIF block, when the file carries one.
    pub exif: Option<Vec<u8>>,
}

/// Reads a file read-only with a size limit.
pub fn read_evidence(path: &Path, limits: &LoadLimits) -> Result<Vec<u8>, ImageLoadError> {
    let io = |source| ImageLoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Pipes and devices are refused before they are opened (see `open_regular`).
    let file =
        crate::fsutil::open_regular(path).map_err(|e| match crate::fsutil::NotRegular::of(&e) {
            Some(n) => ImageLoadError::NotRegularFile {
                path: path.to_path_buf(),
                kind: n.kind.into(),
            },
            None => io(e),
        })?;
    let size = file.metadata().map_err(io)?.len();
    if size > limits.max_file_bytes {
        return Err(ImageLoadError::FileTooLarge {
            path: path.to_path_buf(),
            size,
            limit: limits.max_file_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limits.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Loads an image file.
pub fn load_image(path: &Path, limits: &LoadLimits) -> Result<LoadedImage, ImageLoadError> {
    let bytes = read_evidence(path, limits)?;
    decode_bytes(&bytes, path, limits)
}

/// Decodes image bytes; `path` names the source in errors and facts.
pub fn decode_bytes(
    bytes: &[u8],
    path: &Path,
    limits: &LoadLimits,
) -> Result<LoadedImage, ImageLoadError> {
    let p = || path.to_path_buf();
    if bytes.is_empty() {
        return Err(ImageLoadError::Empty { path: p() });
    }
    if let Some(kind) = heif_kind(bytes) {
        return decode_heif(bytes, kind, path, limits);
    }
    if let Some(kind) = camera_raw_kind(bytes, path) {
        return Err(ImageLoadError::Unsupported {
            path: p(),
            format: kind,
            reason: "a camera raw file. Its sensor data must be developed into a picture first, \
                 and the only ready picture inside is the camera's small embedded preview, so \
                 Fauxscope does not analyse it. Develop a copy with the camera maker's software or \
                 a raw converter at its default settings, export it as PNG, analyse the export, \
                 and keep this file as the evidence"
                .into(),
        });
    }
    let guessed = image::guess_format(bytes);
    // Only bytes that are no format the loader reads can be one it refuses by name.
    if !guessed.as_ref().is_ok_and(|&f| READ.contains(&f)) {
        if let Some(kind) = unread_picture_kind(bytes, path) {
            return Err(ImageLoadError::Unsupported {
                path: p(),
                format: kind.into(),
                reason: format!("{READ_FORMATS}. {CONVERT_HINT}"),
            });
        }
    }
    let format = guessed.map_err(|_| ImageLoadError::UnknownFormat {
        path: p(),
        magic: bytes
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    })?;
    let fmt_name = format_name(format);
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(bytes).map_err(|reason| ImageLoadError::Truncated {
            path: p(),
            format: fmt_name.clone(),
            reason,
        })?;
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_inner(bytes, format, path, limits)
    }));
    let Decoded {
        img,
        stored,
        orientation,
        exif,
        color_type,
        icc,
        damage,
    } = match result {
        Ok(r) => r?,
        Err(_) => {
            return Err(ImageLoadError::Corrupt {
                path: p(),
                format: fmt_name,
                reason: "the decoder failed on malformed data".into(),
            })
        }
    };
    // The GIF decoder always gives RGBA; a GIF has an alpha channel only when some pixel uses
    // its transparent colour.
    let has_alpha = img.color().has_alpha()
        && (format != ImageFormat::Gif
            || img
                .as_rgba8()
                .is_none_or(|i| i.pixels().any(|p| p[3] < 255)));
    let mut rgb = img.into_rgb8();
    let color_profile = icc.map(|icc| apply_profile(&mut rgb, &icc, &color_type));
    let facts = ImageFacts {
        file_size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
        extension_mismatch: extension_mismatch(path, format),
        format: fmt_name,
        stored_width: stored.0,
        stored_height: stored.1,
        width: rgb.width(),
        height: rgb.height(),
        color_type,
        has_alpha,
        orientation,
        color_profile,
        animation: crate::animation::animation(bytes, format),
        damage,
    };
    Ok(LoadedImage {
        path: p(),
        rgb,
        facts,
        exif,
    })
}

/// Refuses, from the header's size, a decompression bomb, an empty picture and one too small to
/// analyse, before any pixel is decoded.
fn check_size(
    w: u32,
    h: u32,
    path: &Path,
    format: &str,
    limits: &LoadLimits,
) -> Result<(), ImageLoadError> {
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels {
        return Err(ImageLoadError::TooManyPixels {
            path: path.to_path_buf(),
            width: w,
            height: h,
            pixels,
            limit: limits.max_pixels,
        });
    }
    if w == 0 || h == 0 {
        return Err(ImageLoadError::Corrupt {
            path: path.to_path_buf(),
            format: format.into(),
            reason: format!("zero-sized image ({w}x{h})"),
        });
    }
    if w.min(h) < limits.min_side {
        return Err(ImageLoadError::TooSmall {
            path: path.to_path_buf(),
            width: w,
            height: h,
            min: limits.min_side,
        });
    }
    Ok(())
}

/// Converts `rgb` to sRGB by its embedded profile; `colour` is the colour type the pixels were
/// decoded as.
fn apply_profile(rgb: &mut RgbImage, icc: &[u8], colour: &str) -> crate::colour::ColourProfile {
    // The pixels are only replaced once the whole transform has succeeded, so a colour engine
    // that panics on a hostile profile leaves them as decoded.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::colour::apply_icc(rgb, icc, colour)
    }))
    .unwrap_or_else(|_| {
        crate::colour::ColourProfile::unapplied(
            "unreadable",
            format!(
                "embedded ICC profile ({} bytes) made the colour engine fail: colours were taken as sRGB",
                icc.len()
            ),
        )
    })
}

/// A HEIF file (HEIC, AVIF, other brands), decoded by the system's libheif (`crate::heif`).
fn decode_heif(
    bytes: &[u8],
    kind: &str,
    path: &Path,
    limits: &LoadLimits,
) -> Result<LoadedImage, ImageLoadError> {
    use crate::heif::Failure;
    let p = || path.to_path_buf();
    let fail = |f: Failure| match f {
        Failure::Unavailable(why) => ImageLoadError::Unsupported {
            path: p(),
            format: kind.into(),
            reason: format!(
                "Fauxscope decodes {kind} files through the system's libheif, and {why}: {}. \
                 Or convert a copy to PNG, which is lossless, analyse the copy and keep this \
                 file as the evidence",
                crate::heif::INSTALL_HINT
            ),
        },
        Failure::Truncated(reason) => ImageLoadError::Truncated {
            path: p(),
            format: kind.into(),
            reason,
        },
        Failure::Corrupt(reason) => ImageLoadError::Corrupt {
            path: p(),
            format: kind.into(),
            reason,
        },
        Failure::Unsupported(reason) => ImageLoadError::Unsupported {
            path: p(),
            format: kind.into(),
            reason: format!("libheif cannot decode it: {reason}"),
        },
    };
    // libheif's own limit on a side, beside the pixel budget checked below.
    let file = crate::heif::Heif::open(bytes, 1 << 16).map_err(fail)?;
    let (w, h) = file.size();
    check_size(w, h, path, kind, limits)?;
    let mut rgb = file.decode_rgb().map_err(fail)?;
    // libheif converts the stored YCbCr to RGB; an ICC profile describes those RGB values.
    let color_type = format!("YCbCr{}", file.luma_bits().unwrap_or(8));
    let color_profile = file.icc().map(|icc| apply_profile(&mut rgb, &icc, "Rgb8"));
    let stored = file.stored_size();
    let images = file.top_level_images();
    let facts = ImageFacts {
        file_size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
        extension_mismatch: heif_extension_mismatch(path, kind),
        format: kind.into(),
        stored_width: stored.0,
        stored_height: stored.1,
        width: rgb.width(),
        height: rgb.height(),
        color_type,
        has_alpha: file.has_alpha(),
        // Rotation and mirroring are HEIF properties, applied by libheif.
        orientation: 1,
        color_profile,
        animation: (images > 1).then_some(crate::animation::Animation {
            frames: images,
            first_frame_analysed: true,
        }),
        damage: None,
    };
    Ok(LoadedImage {
        path: p(),
        rgb,
        facts,
        exif: file.exif(),
    })
}

/// True for the format names HEIF files get (`HEIC`, `HEIF`, `AVIF`).
pub fn is_heif_format(format: &str) -> bool {
    matches!(format, "HEIC" | "HEIF" | "AVIF")
}

/// The extension check for HEIF files, whose brands `image` does not know.
fn heif_extension_mismatch(path: &Path, kind: &str) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    let fits = match kind {
        "AVIF" => ext == "avif",
        _ => matches!(ext.as_str(), "heic" | "heif" | "hif"),
    };
    (!fits).then(|| format!("extension '.{ext}' but the content is {kind}"))
}

/// What [`decode_inner`] reads from a file besides its facts.
struct Decoded {
    img: DynamicImage,
    stored: (u32, u32),
    orientation: u8,
    exif: Option<Vec<u8>>,
    color_type: String,
    icc: Option<Vec<u8>>,
    damage: Option<String>,
}

fn decode_inner(
    bytes: &[u8],
    format: ImageFormat,
    path: &Path,
    limits: &LoadLimits,
) -> Result<Decoded, ImageLoadError> {
    let fmt_name = format_name(format);
    let map = |e: image::ImageError| classify(e, path, &fmt_name);
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let mut lim = image::Limits::default();
    // Allocation cap: the pixel budget at up to 16 bytes per pixel (RGBA f32), bounded.
    lim.max_alloc = Some(limits.max_pixels.saturating_mul(16).min(8 << 30));
    reader.limits(lim);
    let mut decoder = reader.into_decoder().map_err(map)?;
    let (w, h) = decoder.dimensions();
    check_size(w, h, path, &fmt_name, limits)?;
    // The colour model the file stores, where the decoder converts it (CMYK JPEG and TIFF).
    let color_type = match (format, decoder.original_color_type()) {
        (ImageFormat::Jpeg, _) => jpeg_stored_colour(bytes).map(str::to_string),
        // Palette images, which the decoders expand to RGB(A).
        (ImageFormat::Gif, _) => Some("Indexed8".to_string()),
        (ImageFormat::Png, _) => png_palette_depth(bytes).map(|d| format!("Indexed{d}")),
        (_, c @ (image::ExtendedColorType::Cmyk8 | image::ExtendedColorType::Cmyk16)) => {
            Some(format!("{c:?}"))
        }
        _ => None,
    }
    .unwrap_or_else(|| format!("{:?}", decoder.color_type()));
    let exif = decoder.exif_metadata().ok().flatten();
    let icc = decoder
        .icc_profile()
        .ok()
        .flatten()
        .filter(|p| !p.is_empty());
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let damage = (format == ImageFormat::Jpeg)
        .then(|| crate::jpeg_check::damage(bytes))
        .flatten();
    let mut img = DynamicImage::from_decoder(decoder).map_err(map)?;
    img.apply_orientation(orientation);
    Ok(Decoded {
        img,
        stored: (w, h),
        orientation: orientation_tag(orientation),
        exif,
        color_type,
        icc,
        damage,
    })
}

fn orientation_tag(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation::*;
    match o {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}

fn classify(e: image::ImageError, path: &Path, fmt: &str) -> ImageLoadError {
    use image::error::{ImageError as E, LimitErrorKind};
    let path = path.to_path_buf();
    let format = fmt.to_string();
    match e {
        E::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError | LimitErrorKind::InsufficientMemory => {
                ImageLoadError::Corrupt {
                    path,
                    format,
                    reason: format!("image exceeds the decoder's memory limit ({l})"),
                }
            }
            _ => ImageLoadError::Unsupported {
                path,
                format,
                reason: l.to_string(),
            },
        },
        // A variant of a format the decoder does not read (a 32-bit float TIFF, say).
        E::Unsupported(u) => ImageLoadError::Unsupported {
            path,
            format,
            reason: format!("{u}. {CONVERT_HINT}"),
        },
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageLoadError::Truncated {
                path,
                format,
                reason: io.to_string(),
            }
        }
        other => {
            let reason = other.to_string();
            let l = reason.to_ascii_lowercase();
            if l.contains("eof")
                || l.contains("end of file")
                || l.contains("truncat")
                || l.contains("unexpected end")
            {
                ImageLoadError::Truncated {
                    path,
                    format,
                    reason,
                }
            } else {
                ImageLoadError::Corrupt {
                    path,
                    format,
                    reason,
                }
            }
        }
    }
}

/// The HEIF family an ISO-BMFF file belongs to, from the brands of its `ftyp` box: `AVIF` (AV1
/// inside), `HEIC` (HEVC inside: iPhone photos) or `HEIF` (another codec); None for any other file.
pub fn heif_kind(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = size.clamp(16, bytes.len().min(4096));
    // Major brand at 8..12, minor version at 12..16, then compatible brands.
    let brands: Vec<&[u8]> = std::iter::once(&bytes[8..12])
        .chain(bytes[16..end].chunks_exact(4))
        .collect();
    let has = |set: &[&[u8]]| brands.iter().any(|b| set.contains(b));
    if has(&[b"avif", b"avis"]) {
        Some("AVIF")
    } else if has(&[
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
    ]) {
        Some("HEIC")
    } else if has(&[b"mif1", b"msf1"]) {
        Some("HEIF")
    } else {
        None
    }
}

/// File extensions of camera raw formats.
const RAW_EXTENSIONS: &[&str] = &[
    "dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "orf", "rw2", "raf", "pef",
    "srw", "3fr", "iiq", "rwl", "x3f",
];

/// The camera raw format of a file, if it is one: a TIFF whose first directory has the
/// DNGVersion tag (a DNG, whatever its extension), a Canon CR2 (TIFF with `CR` after the
/// header), or a file with a raw extension whose bytes are not a JPEG, PNG or other picture
/// `image` decodes on its own (a raw renamed from a JPEG is decoded, with the mismatch noted).
fn camera_raw_kind(bytes: &[u8], path: &Path) -> Option<String> {
    let tiff = bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*");
    if tiff && tiff_has_tag(bytes, 50706) {
        return Some("DNG".into());
    }
    if tiff && bytes.get(8..10) == Some(b"CR") {
        return Some("CR2".into());
    }
    if let Some(kind) = raw_signature(bytes) {
        return Some(kind.into());
    }
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    let decodable = image::guess_format(bytes).is_ok_and(|f| f != ImageFormat::Tiff);
    (RAW_EXTENSIONS.contains(&ext.as_str()) && !decodable).then(|| ext.to_ascii_uppercase())
}

/// Camera raw formats with a signature of their own (not a plain TIFF header): Canon CR3 (an
/// ISO-BMFF `crx ` brand), Fujifilm RAF, Olympus ORF, Panasonic RW2.
fn raw_signature(b: &[u8]) -> Option<&'static str> {
    if b.get(4..12) == Some(b"ftypcrx ") {
        Some("CR3")
    } else if b.starts_with(b"FUJIFILMCCD-RAW") {
        Some("RAF")
    } else if b.starts_with(b"IIRO") || b.starts_with(b"IIRS") || b.starts_with(b"MMOR") {
        Some("ORF")
    } else if b.starts_with(b"IIU\0") {
        Some("RW2")
    } else {
        None
    }
}

/// Whether the first directory (IFD0) of a TIFF file holds `tag`.
fn tiff_has_tag(b: &[u8], tag: u16) -> bool {
    crate::animation::tiff_directories(b, 1)
        .first()
        .is_some_and(|d| d.iter().any(|&(t, _)| t == tag))
}

/// The bit depth of a palette PNG (IHDR colour type 3), None for any other PNG.
fn png_palette_depth(b: &[u8]) -> Option<u8> {
    // Signature (8), IHDR length and type (8), width and height (8), bit depth, colour type.
    (b.len() > 25 && &b[12..16] == b"IHDR" && b[25] == 3).then(|| b[24])
}

/// The colour model a JPEG stores, from the component count of its frame header: `Cmyk8` for
/// four components (CMYK, or YCCK as an Adobe APP14 segment may say; the decoder handles both),
/// None otherwise or when the markers cannot be read (the decoder then reports its own colour
/// type). The decoder turns CMYK into RGB without
/// colour management, so the file's own model is recorded here.
pub fn jpeg_stored_colour(bytes: &[u8]) -> Option<&'static str> {
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let m = bytes[i + 1];
        if m == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if matches!(m, 0x01 | 0xD0..=0xD8) {
            i += 2;
            continue;
        }
        if m == 0xDA || m == 0xD9 {
            return None; // a scan before any frame header
        }
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        let is_sof = matches!(m, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
        if is_sof {
            // Segment: length (2), precision (1), height (2), width (2), components (1).
            return match bytes.get(i + 9) {
                Some(4) => Some("Cmyk8"),
                _ => None,
            };
        }
        if len < 2 {
            return None;
        }
        i += 2 + len;
    }
    None
}

/// A JPEG whose last scan (SOS) is not followed by an end-of-image marker is truncated; decoders
/// would otherwise fill the missing rows with grey and carry on silently.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), String> {
    let last = |m: u8| bytes.windows(2).rposition(|w| w[0] == 0xFF && w[1] == m);
    match (last(0xDA), last(0xD9)) {
        (None, _) => Err("no image scan (SOS marker) found".into()),
        (Some(_), None) => {
            Err("no end-of-image marker: the file ends inside the image data".into())
        }
        (Some(sos), Some(eoi)) if eoi < sos => Err(
            "no end-of-image marker after the last scan: the file ends inside the image data"
                .into(),
        ),
        _ => Ok(()),
    }
}

pub fn format_name(f: ImageFormat) -> String {
    f.extensions_str()
        .first()
        .map(|e| e.to_ascii_uppercase())
        .unwrap_or_else(|| format!("{f:?}"))
}

fn extension_mismatch(path: &Path, format: ImageFormat) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ImageFormat::from_extension(&ext) {
        Some(f) if f == format => None,
        _ => Some(format!(
            "extension '.{ext}' but the content is {}",
            format_name(format)
        )),
    }
}

/// What to do with a picture the loader does not read.
const CONVERT_HINT: &str = "Convert a copy to PNG (lossless) with the program that made the \
     file, analyse the copy, and keep this file as the evidence";

/// The formats the loader decodes itself (the `image` features this crate enables); HEIF goes
/// through libheif.
const READ: [ImageFormat; 6] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Gif,
    ImageFormat::WebP,
    ImageFormat::Tiff,
    ImageFormat::Bmp,
];

/// The formats the loader reads, for the error that refuses another one.
const READ_FORMATS: &str = "Fauxscope reads JPEG, PNG, GIF, WebP, TIFF, BMP, HEIC/HEIF and AVIF";

/// Picture formats the loader does not read, with their extensions, so that a folder walk lists
/// them and the loader refuses them by name rather than as an unknown format.
const UNREAD_PICTURE_EXTENSIONS: &[(&str, &str)] = &[
    ("jxl", "JPEG XL"),
    ("jp2", "JPEG 2000"),
    ("j2k", "JPEG 2000"),
    ("jpx", "JPEG 2000"),
    ("jpf", "JPEG 2000"),
    ("psd", "Photoshop (PSD)"),
    ("psb", "Photoshop (PSD)"),
    ("svg", "SVG"),
    ("ico", "ICO"),
    ("cur", "ICO"),
    ("tga", "TGA"),
    ("ppm", "PNM"),
    ("pgm", "PNM"),
    ("pbm", "PNM"),
    ("pnm", "PNM"),
    ("pam", "PNM"),
    ("exr", "OpenEXR"),
    ("hdr", "Radiance HDR"),
    ("qoi", "QOI"),
    ("dds", "DDS"),
    ("pcx", "PCX"),
    ("xcf", "GIMP (XCF)"),
];

/// A picture format the loader does not read, from the file's first bytes, or from its extension
/// where the bytes are no format the loader knows (TGA has no signature).
fn unread_picture_kind(b: &[u8], path: &Path) -> Option<&'static str> {
    let starts = |sig: &[u8]| b.starts_with(sig);
    let by_bytes = if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0cJXL \r\n\x87\n") {
        Some("JPEG XL")
    } else if starts(b"\0\0\0\x0cjP  \r\n\x87\n") || starts(&[0xFF, 0x4F, 0xFF, 0x51]) {
        Some("JPEG 2000")
    } else if starts(b"8BPS") {
        Some("Photoshop (PSD)")
    } else if starts(b"gimp xcf") {
        Some("GIMP (XCF)")
    } else if starts(&[0x76, 0x2F, 0x31, 0x01]) {
        Some("OpenEXR")
    } else if starts(b"qoif") {
        Some("QOI")
    } else if starts(b"DDS ") {
        Some("DDS")
    } else if starts(b"#?RADIANCE") || starts(b"#?RGBE") {
        Some("Radiance HDR")
    } else if (starts(&[0, 0, 1, 0]) || starts(&[0, 0, 2, 0]))
        && b.get(4..6).is_some_and(|n| n != [0, 0])
        && b.get(9) == Some(&0)
    {
        // ICO / CUR: reserved 0, type 1 or 2, a non-zero count, then a first entry whose
        // reserved byte is 0.
        Some("ICO")
    } else if b.len() > 2
        && b[0] == b'P'
        && (b'1'..=b'7').contains(&b[1])
        && b[2].is_ascii_whitespace()
    {
        Some("PNM")
    } else if is_svg(b) {
        Some("SVG")
    } else {
        None
    };
    by_bytes.or_else(|| {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        let known = image::guess_format(b).is_ok() || heif_kind(b).is_some();
        UNREAD_PICTURE_EXTENSIONS
            .iter()
            .find(|(e, _)| *e == ext)
            .filter(|_| !known)
            .map(|(_, kind)| *kind)
    })
}

/// Whether the text at the start of a file is an SVG document.
fn is_svg(b: &[u8]) -> bool {
    let head = &b[..b.len().min(1024)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|c| !c.is_ascii_whitespace());
    let Some(head) = start.map(|i| &head[i..]) else {
        return false;
    };
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    (text.starts_with("<?xml") || text.starts_with("<svg") || text.starts_with("<!doctype svg"))
        && text.contains("<svg")
}

/// Whether a file's first bytes are a picture: one the loader reads (whatever its extension), a
/// HEIF, a camera raw file, or one of the formats it refuses by name. Folder walks use it to find pictures saved
/// under other extensions or none (as chat exports and phone extractions often do).
pub fn looks_like_picture(head: &[u8]) -> bool {
    use ImageFormat as F;
    let bmp = head.starts_with(b"BM")
        && head
            .get(14..18)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .is_some_and(|dib| [12, 16, 40, 52, 56, 64, 108, 124].contains(&dib));
    // BMP's two-byte signature alone starts many text files.
    let read = image::guess_format(head).is_ok_and(|f| f != F::Bmp && READ.contains(&f));
    heif_kind(head).is_some()
        || read
        || bmp
        || raw_signature(head).is_some()
        || unread_picture_kind(head, Path::new("")).is_some()
}

/// [`looks_like_picture`] on the first KiB of a file, opened read-only; false for a file that
/// cannot be read (the walk lists it among the files that are not pictures).
pub fn sniff_picture(path: &Path) -> bool {
    let Ok(f) = crate::fsutil::open_regular(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(1024);
    f.take(1024).read_to_end(&mut head).is_ok() && looks_like_picture(&head)
}

/// File extensions that folder walks list: the formats the loader decodes, and those it refuses
/// by name (HEIF without libheif, camera raw files, other picture formats), so that they are
/// reported rather than passed over.
pub fn is_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| {
            matches!(
                e.to_ascii_lowercase().as_str(),
                "jpg"
                    | "jpeg"
                    | "jpe"
                    | "jfif"
                    | "png"
                    | "apng"
                    | "gif"
                    | "webp"
                    | "tif"
                    | "tiff"
                    | "bmp"
                    // Decoded by the system's libheif (and listed where it is missing, so that
                    // a folder's HEIF photos are reported as unsupported, not passed over; camera
                    // raw files, below, are listed for the same reason).
                    | "heic"
                    | "heif"
                    | "hif"
                    | "avif"
            ) || RAW_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                || UNREAD_PICTURE_EXTENSIONS
                    .iter()
                    .any(|(x, _)| x.eq_ignore_ascii_case(e))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_completeness_check() {
        assert!(check_jpeg_complete(&[0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 0xFF, 0xD9]).is_ok());
        assert!(check_jpeg_complete(&[0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 3]).is_err());
        // An EOI of an embedded thumbnail before the main scan does not count.
        assert!(check_jpeg_complete(&[0xFF, 0xD8, 0xFF, 0xDA, 0xFF, 0xD9, 0xFF, 0xDA, 5]).is_err());
    }

    #[test]
    fn image_extensions() {
        assert!(is_image_extension(Path::new("a/B.JPG")));
        assert!(!is_image_extension(Path::new("a/b.txt")));
    }
}
