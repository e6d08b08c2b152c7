//! HEIF images (HEIC, the iPhone's default photo format; AVIF; other HEIF brands), decoded by the
//! system's libheif (LGPL-3.0), which is loaded when the first such file is opened. Fauxscope
//! links nothing at build time, so it builds and runs where libheif is absent, and only HEIF files
//! are refused there, with an error saying what to install.
//!
//! libheif applies the file's rotation, mirroring and crop properties when it decodes, so the
//! pixels come out upright as a HEIF viewer shows them. The EXIF Orientation tag of a HEIF file is
//! not applied again (the HEIF specification says the transform properties govern).

use image::RgbImage;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;

/// Why a HEIF file could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// libheif is not installed or could not be loaded.
    Unavailable(String),
    /// The file ends early.
    Truncated(String),
    /// The file is malformed, or its codec failed on it.
    Corrupt(String),
    /// A codec or feature this libheif does not have.
    Unsupported(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unavailable(s)
            | Failure::Truncated(s)
            | Failure::Corrupt(s)
            | Failure::Unsupported(s) => f.write_str(s),
        }
    }
}

/// libheif's error value (returned by value from most calls).
#[repr(C)]
#[derive(Clone, Copy)]
struct HeifError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

#[repr(C)]
struct Writer {
    api_version: c_int,
    write: unsafe extern "C" fn(*mut c_void, *const c_void, usize, *mut c_void) -> HeifError,
}

// Values from libheif's heif.h (stable across its 1.x releases).
const ERR_INVALID_INPUT: c_int = 2;
const ERR_UNSUPPORTED_FILETYPE: c_int = 3;
const ERR_UNSUPPORTED_FEATURE: c_int = 4;
const ERR_MEMORY: c_int = 6;
const SUB_END_OF_DATA: c_int = 100;
const COLORSPACE_RGB: c_int = 1;
const CHROMA_INTERLEAVED_RGB: c_int = 10;
const CHANNEL_INTERLEAVED: c_int = 10;
const COMPRESSION_HEVC: c_int = 1;
const COMPRESSION_AV1: c_int = 4;
const PROFILE_PROF: u32 = u32::from_be_bytes(*b"prof");
const PROFILE_RICC: u32 = u32::from_be_bytes(*b"rICC");

type P = *mut c_void;
type Cp = *const c_void;

/// The libheif functions Fauxscope calls, resolved once.
struct Api {
    version: String,
    context_alloc: unsafe extern "C" fn() -> P,
    context_free: unsafe extern "C" fn(P),
    read_from_memory: unsafe extern "C" fn(P, Cp, usize, Cp) -> HeifError,
    set_max_size: Option<unsafe extern "C" fn(P, c_int)>,
    top_level_count: unsafe extern "C" fn(P) -> c_int,
    primary_handle: unsafe extern "C" fn(P, *mut P) -> HeifError,
    handle_release: unsafe extern "C" fn(Cp),
    handle_width: unsafe extern "C" fn(Cp) -> c_int,
    handle_height: unsafe extern "C" fn(Cp) -> c_int,
    ispe_width: Option<unsafe extern "C" fn(Cp) -> c_int>,
    ispe_height: Option<unsafe extern "C" fn(Cp) -> c_int>,
    has_alpha: unsafe extern "C" fn(Cp) -> c_int,
    luma_bits: unsafe extern "C" fn(Cp) -> c_int,
    profile_type: unsafe extern "C" fn(Cp) -> u32,
    raw_profile_size: unsafe extern "C" fn(Cp) -> usize,
    raw_profile: unsafe extern "C" fn(Cp, P) -> HeifError,
    metadata_count: unsafe extern "C" fn(Cp, *const c_char) -> c_int,
    metadata_ids: unsafe extern "C" fn(Cp, *const c_char, *mut u32, c_int) -> c_int,
    metadata_size: unsafe extern "C" fn(Cp, u32) -> usize,
    metadata: unsafe extern "C" fn(Cp, u32, P) -> HeifError,
    decode_image: unsafe extern "C" fn(Cp, *mut P, c_int, c_int, Cp) -> HeifError,
    image_width: unsafe extern "C" fn(Cp, c_int) -> c_int,
    image_height: unsafe extern "C" fn(Cp, c_int) -> c_int,
    plane_readonly: unsafe extern "C" fn(Cp, c_int, *mut c_int) -> *const u8,
    image_release: unsafe extern "C" fn(Cp),
    // Encoding (the tests' own HEIC and AVIF files, the `heic:` perturbation).
    encoder_for_format: unsafe extern "C" fn(P, c_int, *mut P) -> HeifError,
    encoder_release: unsafe extern "C" fn(P),
    set_lossy_quality: unsafe extern "C" fn(P, c_int) -> HeifError,
    image_create: unsafe extern "C" fn(c_int, c_int, c_int, c_int, *mut P) -> HeifError,
    add_plane: unsafe extern "C" fn(P, c_int, c_int, c_int, c_int) -> HeifError,
    plane: unsafe extern "C" fn(P, c_int, *mut c_int) -> *mut u8,
    set_raw_profile: unsafe extern "C" fn(P, *const c_char, Cp, usize) -> HeifError,
    encode_image: unsafe extern "C" fn(P, Cp, P, Cp, *mut P) -> HeifError,
    context_write: unsafe extern "C" fn(P, *mut Writer, P) -> HeifError,
}

// The function pointers are plain C entry points of a library that stays loaded.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

/// Where libheif is looked for: `FAUXSCOPE_LIBHEIF` (a path), then the system's names.
fn candidates() -> Vec<String> {
    let mut c: Vec<String> = std::env::var("FAUXSCOPE_LIBHEIF").into_iter().collect();
    if c.is_empty() {
        if cfg!(target_os = "macos") {
            c.extend(
                [
                    "libheif.1.dylib",
                    "/opt/homebrew/lib/libheif.1.dylib",
                    "/usr/local/lib/libheif.1.dylib",
                ]
                .map(String::from),
            );
        } else {
            c.extend(["libheif.so.1", "libheif.so"].map(String::from));
        }
    }
    c
}

/// A symbol's address as the function pointer type `F`.
///
/// # Safety
/// `F` must be the symbol's C function type.
#[cfg(unix)]
unsafe fn as_fn<F: Copy>(p: *mut c_void) -> F {
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: a function pointer has the size and representation of a data pointer on the
    // platforms dlsym serves.
    unsafe { std::mem::transmute_copy(&p) }
}

#[cfg(unix)]
fn load() -> Result<Api, String> {
    let mut tried = Vec::new();
    let mut lib = std::ptr::null_mut();
    for name in candidates() {
        let c = CString::new(name.clone()).map_err(|_| format!("bad library name {name:?}"))?;
        // SAFETY: dlopen with a valid C string; the handle is kept for the process's life.
        lib = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if !lib.is_null() {
            break;
        }
        // SAFETY: dlerror returns a thread-local message or null.
        let why = unsafe { libc::dlerror() };
        let why = if why.is_null() {
            "not found".to_string()
        } else {
            unsafe { CStr::from_ptr(why) }
                .to_string_lossy()
                .into_owned()
        };
        tried.push(why);
    }
    if lib.is_null() {
        return Err(format!(
            "libheif could not be loaded ({})",
            tried.join("; ")
        ));
    }
    let sym = |name: &str| -> Option<*mut c_void> {
        let c = CString::new(name).ok()?;
        // SAFETY: a symbol lookup in a library that stays loaded.
        let p = unsafe { libc::dlsym(lib, c.as_ptr()) };
        (!p.is_null()).then_some(p)
    };
    macro_rules! req {
        ($name:literal) => {{
            let p = sym($name).ok_or_else(|| {
                format!(concat!("libheif lacks ", $name, " (too old a version?)"))
            })?;
            // SAFETY: the symbol has this C signature in every libheif 1.x (heif.h).
            unsafe { as_fn(p) }
        }};
    }
    macro_rules! opt {
        ($name:literal) => {
            // SAFETY: as above.
            sym($name).map(|p| unsafe { as_fn(p) })
        };
    }
    let get_version: unsafe extern "C" fn() -> *const c_char = req!("heif_get_version");
    // SAFETY: heif_get_version returns a static C string.
    let version = unsafe { CStr::from_ptr(get_version()) }
        .to_string_lossy()
        .into_owned();
    // Newer libheif registers its codec plugins in heif_init; it is reference-counted and is
    // never undone here (the library stays loaded).
    let init: Option<unsafe extern "C" fn(Cp) -> HeifError> = opt!("heif_init");
    if let Some(init) = init {
        // SAFETY: heif_init accepts null parameters.
        let e = unsafe { init(std::ptr::null()) };
        if e.code != 0 {
            return Err(format!(
                "libheif {version} failed to start: {}",
                message(&e)
            ));
        }
    }
    Ok(Api {
        version,
        context_alloc: req!("heif_context_alloc"),
        context_free: req!("heif_context_free"),
        read_from_memory: req!("heif_context_read_from_memory_without_copy"),
        set_max_size: opt!("heif_context_set_maximum_image_size_limit"),
        top_level_count: req!("heif_context_get_number_of_top_level_images"),
        primary_handle: req!("heif_context_get_primary_image_handle"),
        handle_release: req!("heif_image_handle_release"),
        handle_width: req!("heif_image_handle_get_width"),
        handle_height: req!("heif_image_handle_get_height"),
        ispe_width: opt!("heif_image_handle_get_ispe_width"),
        ispe_height: opt!("heif_image_handle_get_ispe_height"),
        has_alpha: req!("heif_image_handle_has_alpha_channel"),
        luma_bits: req!("heif_image_handle_get_luma_bits_per_pixel"),
        profile_type: req!("heif_image_handle_get_color_profile_type"),
        raw_profile_size: req!("heif_image_handle_get_raw_color_profile_size"),
        raw_profile: req!("heif_image_handle_get_raw_color_profile"),
        metadata_count: req!("heif_image_handle_get_number_of_metadata_blocks"),
        metadata_ids: req!("heif_image_handle_get_list_of_metadata_block_IDs"),
        metadata_size: req!("heif_image_handle_get_metadata_size"),
        metadata: req!("heif_image_handle_get_metadata"),
        decode_image: req!("heif_decode_image"),
        image_width: req!("heif_image_get_width"),
        image_height: req!("heif_image_get_height"),
        plane_readonly: req!("heif_image_get_plane_readonly"),
        image_release: req!("heif_image_release"),
        encoder_for_format: req!("heif_context_get_encoder_for_format"),
        encoder_release: req!("heif_encoder_release"),
        set_lossy_quality: req!("heif_encoder_set_lossy_quality"),
        image_create: req!("heif_image_create"),
        add_plane: req!("heif_image_add_plane"),
        plane: req!("heif_image_get_plane"),
        set_raw_profile: req!("heif_image_set_raw_color_profile"),
        encode_image: req!("heif_context_encode_image"),
        context_write: req!("heif_context_write"),
    })
}

#[cfg(not(unix))]
fn load() -> Result<Api, String> {
    Err("this build reads HEIF files only on Linux and macOS".into())
}

fn api() -> Result<&'static Api, Failure> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load)
        .as_ref()
        .map_err(|e| Failure::Unavailable(e.clone()))
}

/// The loaded libheif's version, or why it could not be loaded.
pub fn version() -> Result<&'static str, Failure> {
    api().map(|a| a.version.as_str())
}

/// What to tell a user whose libheif is missing.
pub const INSTALL_HINT: &str = "install libheif (Debian and Ubuntu: apt install libheif1; Fedora: \
    dnf install libheif; macOS: brew install libheif), or set FAUXSCOPE_LIBHEIF to its path";

fn message(e: &HeifError) -> String {
    if e.message.is_null() {
        format!("libheif error {}.{}", e.code, e.subcode)
    } else {
        // SAFETY: libheif's messages are static or live as long as the context.
        let raw = unsafe { CStr::from_ptr(e.message) }.to_string_lossy();
        one_line(&raw)
    }
}

/// libheif's messages can end in a newline or span lines (a truncated file's does); the error
/// names the file and the problem on one line.
fn one_line(raw: &str) -> String {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn check(e: HeifError) -> Result<(), Failure> {
    if e.code == 0 {
        return Ok(());
    }
    let m = message(&e);
    Err(match (e.code, e.subcode) {
        (ERR_INVALID_INPUT, SUB_END_OF_DATA) => Failure::Truncated(m),
        (ERR_UNSUPPORTED_FILETYPE | ERR_UNSUPPORTED_FEATURE, _) => Failure::Unsupported(m),
        (ERR_MEMORY, _) => Failure::Corrupt(format!("{m} (out of memory)")),
        _ => Failure::Corrupt(m),
    })
}

/// An opened HEIF file: its primary image, not yet decoded.
pub struct Heif<'a> {
    api: &'static Api,
    ctx: P,
    handle: P,
    _bytes: std::marker::PhantomData<&'a [u8]>,
}

impl Drop for Heif<'_> {
    fn drop(&mut self) {
        // SAFETY: both were allocated by this libheif and are released once.
        unsafe {
            if !self.handle.is_null() {
                (self.api.handle_release)(self.handle);
            }
            (self.api.context_free)(self.ctx);
        }
    }
}

impl<'a> Heif<'a> {
    /// Parses the file's boxes (no pixels are decoded). `bytes` must outlive the result: libheif
    /// reads from them without a copy.
    pub fn open(bytes: &'a [u8], max_side: u32) -> Result<Self, Failure> {
        let api = api()?;
        // SAFETY: a fresh context, freed by Drop.
        let ctx = unsafe { (api.context_alloc)() };
        if ctx.is_null() {
            return Err(Failure::Corrupt(
                "libheif could not allocate a context".into(),
            ));
        }
        let mut me = Heif {
            api,
            ctx,
            handle: std::ptr::null_mut(),
            _bytes: std::marker::PhantomData,
        };
        unsafe {
            if let Some(f) = api.set_max_size {
                f(ctx, max_side.min(i32::MAX as u32) as c_int);
            }
            check((api.read_from_memory)(
                ctx,
                bytes.as_ptr().cast(),
                bytes.len(),
                std::ptr::null(),
            ))?;
            check((api.primary_handle)(ctx, &mut me.handle))?;
        }
        if me.handle.is_null() {
            return Err(Failure::Corrupt("the file has no primary image".into()));
        }
        Ok(me)
    }

    /// Size as displayed (after the file's rotation and crop).
    pub fn size(&self) -> (u32, u32) {
        // SAFETY: a live handle.
        let (w, h) = unsafe {
            (
                (self.api.handle_width)(self.handle),
                (self.api.handle_height)(self.handle),
            )
        };
        (w.max(0) as u32, h.max(0) as u32)
    }

    /// Size as coded (the `ispe` property, before rotation and crop).
    pub fn stored_size(&self) -> (u32, u32) {
        match (self.api.ispe_width, self.api.ispe_height) {
            // SAFETY: a live handle.
            (Some(w), Some(h)) => unsafe {
                let (w, h) = (w(self.handle), h(self.handle));
                if w > 0 && h > 0 {
                    (w as u32, h as u32)
                } else {
                    self.size()
                }
            },
            _ => self.size(),
        }
    }

    pub fn has_alpha(&self) -> bool {
        // SAFETY: a live handle.
        unsafe { (self.api.has_alpha)(self.handle) != 0 }
    }

    /// Bits per luma sample (8, 10 or 12), None when the file does not say.
    pub fn luma_bits(&self) -> Option<u32> {
        // SAFETY: a live handle.
        let b = unsafe { (self.api.luma_bits)(self.handle) };
        (b > 0).then_some(b as u32)
    }

    /// Top-level images in the file (a burst or an image collection holds several; thumbnails and
    /// depth maps are not counted).
    pub fn top_level_images(&self) -> u32 {
        // SAFETY: a live context.
        unsafe { (self.api.top_level_count)(self.ctx) }.max(0) as u32
    }

    /// The embedded ICC profile, if the primary image carries one.
    pub fn icc(&self) -> Option<Vec<u8>> {
        unsafe {
            let t = (self.api.profile_type)(self.handle);
            if t != PROFILE_PROF && t != PROFILE_RICC {
                return None;
            }
            let n = (self.api.raw_profile_size)(self.handle);
            if n == 0 || n > 64 << 20 {
                return None;
            }
            let mut buf = vec![0u8; n];
            check((self.api.raw_profile)(self.handle, buf.as_mut_ptr().cast())).ok()?;
            Some(buf)
        }
    }

    /// The EXIF block as a TIFF structure (HEIF prefixes it with the offset of the TIFF header).
    pub fn exif(&self) -> Option<Vec<u8>> {
        let filter = c"Exif";
        unsafe {
            let n = (self.api.metadata_count)(self.handle, filter.as_ptr());
            if n <= 0 {
                return None;
            }
            let mut ids = vec![0u32; n as usize];
            let got = (self.api.metadata_ids)(self.handle, filter.as_ptr(), ids.as_mut_ptr(), n);
            let id = *ids.get(..got.max(0) as usize)?.first()?;
            let size = (self.api.metadata_size)(self.handle, id);
            if !(4..=64 << 20).contains(&size) {
                return None;
            }
            let mut buf = vec![0u8; size];
            check((self.api.metadata)(
                self.handle,
                id,
                buf.as_mut_ptr().cast(),
            ))
            .ok()?;
            let skip = u32::from_be_bytes(buf[..4].try_into().ok()?) as usize;
            buf.get(4 + skip..).map(<[u8]>::to_vec)
        }
    }

    /// Decodes the primary image to 8-bit RGB, upright (alpha, if any, is dropped).
    pub fn decode_rgb(&self) -> Result<RgbImage, Failure> {
        let mut img: P = std::ptr::null_mut();
        unsafe {
            check((self.api.decode_image)(
                self.handle,
                &mut img,
                COLORSPACE_RGB,
                CHROMA_INTERLEAVED_RGB,
                std::ptr::null(),
            ))?;
            if img.is_null() {
                return Err(Failure::Corrupt("libheif returned no image".into()));
            }
            struct Release(&'static Api, P);
            impl Drop for Release {
                fn drop(&mut self) {
                    // SAFETY: an image from heif_decode_image, released once.
                    unsafe { (self.0.image_release)(self.1) }
                }
            }
            let _guard = Release(self.api, img);
            let w = (self.api.image_width)(img, CHANNEL_INTERLEAVED);
            let h = (self.api.image_height)(img, CHANNEL_INTERLEAVED);
            let mut stride: c_int = 0;
            let data = (self.api.plane_readonly)(img, CHANNEL_INTERLEAVED, &mut stride);
            if w <= 0 || h <= 0 || data.is_null() || (stride as i64) < 3 * w as i64 {
                return Err(Failure::Corrupt(format!(
                    "libheif decoded an unusable picture ({w}x{h}, stride {stride})"
                )));
            }
            let (w, h, stride) = (w as usize, h as usize, stride as usize);
            let mut out = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                // SAFETY: the plane holds h rows of `stride` bytes, each with w RGB pixels.
                out.extend_from_slice(std::slice::from_raw_parts(data.add(y * stride), w * 3));
            }
            RgbImage::from_raw(w as u32, h as u32, out)
                .ok_or_else(|| Failure::Corrupt("decoded picture has the wrong size".into()))
        }
    }
}

/// The codec a HEIF file is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// HEVC: a HEIC file, as an iPhone writes.
    Hevc,
    /// AV1: an AVIF file.
    Av1,
}

unsafe extern "C" fn write_to_vec(_ctx: P, data: Cp, size: usize, user: P) -> HeifError {
    // SAFETY: `user` is the Vec passed to heif_context_write below; `data` holds `size` bytes.
    let out = unsafe { &mut *(user as *mut Vec<u8>) };
    out.extend_from_slice(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) });
    HeifError {
        code: 0,
        subcode: 0,
        message: c"Success".as_ptr(),
    }
}

/// Encodes `rgb` as a HEIF file (HEIC or AVIF) at a lossy `quality` (0-100, libheif's scale).
pub fn encode(rgb: &RgbImage, codec: Codec, quality: u8) -> Result<Vec<u8>, Failure> {
    encode_with_profile(rgb, codec, quality, None)
}

/// [`encode`], with an ICC profile embedded.
pub fn encode_with_profile(
    rgb: &RgbImage,
    codec: Codec,
    quality: u8,
    icc: Option<&[u8]>,
) -> Result<Vec<u8>, Failure> {
    let api = api()?;
    if rgb.width() == 0 || rgb.height() == 0 || rgb.width().max(rgb.height()) > 1 << 16 {
        return Err(Failure::Unsupported(format!(
            "cannot encode a {}x{} picture",
            rgb.width(),
            rgb.height()
        )));
    }
    let (w, h) = (rgb.width() as c_int, rgb.height() as c_int);
    unsafe {
        let ctx = (api.context_alloc)();
        if ctx.is_null() {
            return Err(Failure::Corrupt(
                "libheif could not allocate a context".into(),
            ));
        }
        struct Guard(&'static Api, P, P, P);
        impl Drop for Guard {
            fn drop(&mut self) {
                // SAFETY: each was allocated by this libheif and is released once.
                unsafe {
                    if !self.3.is_null() {
                        (self.0.image_release)(self.3);
                    }
                    if !self.2.is_null() {
                        (self.0.encoder_release)(self.2);
                    }
                    (self.0.context_free)(self.1);
                }
            }
        }
        let mut g = Guard(api, ctx, std::ptr::null_mut(), std::ptr::null_mut());
        let format = match codec {
            Codec::Hevc => COMPRESSION_HEVC,
            Codec::Av1 => COMPRESSION_AV1,
        };
        check((api.encoder_for_format)(ctx, format, &mut g.2)).map_err(|e| {
            Failure::Unsupported(format!("this libheif has no {codec:?} encoder ({e})"))
        })?;
        check((api.set_lossy_quality)(g.2, quality.min(100) as c_int))?;
        check((api.image_create)(
            w,
            h,
            COLORSPACE_RGB,
            CHROMA_INTERLEAVED_RGB,
            &mut g.3,
        ))?;
        check((api.add_plane)(g.3, CHANNEL_INTERLEAVED, w, h, 8))?;
        if let Some(icc) = icc {
            check((api.set_raw_profile)(
                g.3,
                c"prof".as_ptr(),
                icc.as_ptr().cast(),
                icc.len(),
            ))?;
        }
        let mut stride: c_int = 0;
        let plane = (api.plane)(g.3, CHANNEL_INTERLEAVED, &mut stride);
        if plane.is_null() || (stride as i64) < 3 * w as i64 {
            return Err(Failure::Corrupt(
                "libheif gave no image plane to fill".into(),
            ));
        }
        let row = 3 * w as usize;
        for (y, src) in rgb.as_raw().chunks_exact(row).enumerate() {
            // SAFETY: the plane holds h rows of `stride` bytes.
            std::ptr::copy_nonoverlapping(src.as_ptr(), plane.add(y * stride as usize), row);
        }
        check((api.encode_image)(
            ctx,
            g.3,
            g.2,
            std::ptr::null(),
            std::ptr::null_mut(),
        ))?;
        let mut out: Vec<u8> = Vec::new();
        let mut writer = Writer {
            api_version: 1,
            write: write_to_vec,
        };
        check((api.context_write)(
            ctx,
            &mut writer,
            (&mut out as *mut Vec<u8>).cast(),
        ))?;
        Ok(out)
    }
}

/// Fails with a clear message when HEIF tests cannot run: where `FAUXSCOPE_REQUIRE_LIBHEIF` is
/// set (CI installs libheif) a missing library is an error; elsewhere the caller skips.
pub fn available_for_tests() -> bool {
    match version() {
        Ok(_) => true,
        Err(e) if std::env::var_os("FAUXSCOPE_REQUIRE_LIBHEIF").is_some() => {
            panic!("FAUXSCOPE_REQUIRE_LIBHEIF is set but {e}")
        }
        Err(e) => {
            eprintln!("skipping a HEIF test: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 3) as u8, ((x + y) * 2) as u8])
        })
    }

    #[test]
    fn heic_and_avif_round_trip() {
        if !available_for_tests() {
            return;
        }
        for codec in [Codec::Hevc, Codec::Av1] {
            let src = picture(64, 48);
            let bytes = encode(&src, codec, 90).unwrap();
            assert_eq!(
                crate::imageio::heif_kind(&bytes),
                Some(if codec == Codec::Hevc { "HEIC" } else { "AVIF" }),
                "{codec:?}"
            );
            let f = Heif::open(&bytes, 1 << 15).unwrap();
            assert_eq!(f.size(), (64, 48));
            assert_eq!(f.top_level_images(), 1);
            assert!(!f.has_alpha());
            let out = f.decode_rgb().unwrap();
            assert_eq!(out.dimensions(), (64, 48));
            // Lossy, but close: the mean absolute error of a smooth ramp at quality 90.
            let err: f64 = src
                .as_raw()
                .iter()
                .zip(out.as_raw())
                .map(|(a, b)| (*a as f64 - *b as f64).abs())
                .sum::<f64>()
                / src.as_raw().len() as f64;
            assert!(err < 6.0, "{codec:?}: mean error {err}");
        }
    }

    #[test]
    fn messages_are_made_one_line() {
        assert_eq!(
            one_line("Invalid input: Unexpected end of file\n"),
            "Invalid input: Unexpected end of file"
        );
        assert_eq!(one_line("a\n  b \n\n"), "a; b");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn broken_files_fail_with_a_reason() {
        if !available_for_tests() {
            return;
        }
        assert!(encode(&RgbImage::new(0, 0), Codec::Hevc, 50).is_err());
        let bytes = encode(&picture(64, 64), Codec::Hevc, 80).unwrap();
        for cut in [40, bytes.len() / 2, bytes.len() - 10] {
            let r = Heif::open(&bytes[..cut], 1 << 15).and_then(|f| f.decode_rgb());
            let e = r.expect_err("a cut file must not decode");
            let m = e.to_string();
            assert!(!m.is_empty() && !m.contains('\n'), "{m:?}");
            assert_eq!(m.trim(), m, "{m:?}");
        }
        let mut flipped = bytes.clone();
        let n = flipped.len();
        for b in &mut flipped[n - 200..] {
            *b ^= 0x5a;
        }
        // Corrupted coded data: an error or a picture, never a crash.
        let _ = Heif::open(&flipped, 1 << 15).and_then(|f| f.decode_rgb());
    }
}
