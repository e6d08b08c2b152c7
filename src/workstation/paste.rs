//! What the window does with a paste (Ctrl+V, or its Paste button): a picture on the clipboard
//! is saved as a PNG in `<data>/pasted/` and examined like any file, and text naming files or
//! folders (a file manager's copy: paths or `file://` addresses) adds them as if dropped.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where pictures pasted into the window are kept: `<data>/pasted/`.
pub fn pasted_dir() -> PathBuf {
    crate::paths::data_dir().join("pasted")
}

/// The warning every analysis of a pasted picture carries.
pub const PASTED_WARNING: &str = "pasted from the clipboard and saved by Fauxscope as this PNG: these are the pixels the source application copied (it may have scaled or colour-converted them), without the original file's metadata or compression; find and examine the original file where you can";

/// [`PASTED_WARNING`] for a file that Fauxscope saved from the clipboard (one in [`pasted_dir`]).
pub fn pasted_warning(path: &Path) -> Option<String> {
    let dir = std::fs::canonicalize(pasted_dir()).ok()?;
    let parent = std::fs::canonicalize(path).ok()?.parent()?.to_path_buf();
    (parent == dir).then(|| PASTED_WARNING.to_string())
}

/// Saves a pasted picture (`rgba`: `width` x `height` pixels, 4 bytes each, alpha not
/// premultiplied) as a new PNG in `dir`, named by the UTC time, unless the loader's limits would
/// refuse it; an opaque picture is saved without its alpha channel. Never replaces a file (two
/// pastes in the same second get two names). Returns the new file's path.
pub fn save_pasted(dir: &Path, rgba: Vec<u8>, width: u32, height: u32) -> Result<PathBuf> {
    // The limits any file is read under: a picture refused there is not saved.
    let limits = crate::imageio::LoadLimits::default();
    let pixels = width as u64 * height as u64;
    if pixels > limits.max_pixels {
        bail!(
            "the pasted picture is {width}x{height} ({pixels} pixels), over the limit of {} pixels",
            limits.max_pixels
        );
    }
    if width.min(height) < limits.min_side {
        bail!(
            "the pasted picture is {width}x{height}: under {} px on a side, too small to analyse",
            limits.min_side
        );
    }
    let img = image::RgbaImage::from_raw(width, height, rgba)
        .with_context(|| format!("the pasted picture's pixels do not make {width}x{height}"))?;
    let opaque = img.pixels().all(|p| p[3] == 255);
    let picture = if opaque {
        image::DynamicImage::ImageRgb8(image::DynamicImage::ImageRgba8(img).into_rgb8())
    } else {
        image::DynamicImage::ImageRgba8(img)
    };
    let mut png = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .context("cannot encode the pasted picture as PNG")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = crate::fsutil::now_utc().replace(':', "");
    for k in 1..1000 {
        let path = match k {
            1 => dir.join(format!("pasted-{stamp}.png")),
            _ => dir.join(format!("pasted-{stamp}-{k}.png")),
        };
        // The name is taken first, so that a paste saved at the same moment on another thread
        // cannot be given it too; the picture then replaces the empty file atomically.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
        return match crate::fsutil::write_atomic(&path, &png) {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        };
    }
    bail!("{}: too many pictures pasted this second", dir.display())
}

/// The files and folders that pasted text names, one per line (a path, or a `file://` address as
/// file managers copy them), and the lines that name nothing here.
#[derive(Debug, Default, PartialEq)]
pub struct PastedText {
    pub paths: Vec<PathBuf>,
    pub unknown: Vec<String>,
}

pub fn pasted_paths(text: &str) -> PastedText {
    let mut out = PastedText::default();
    for line in text.lines().map(str::trim) {
        // GNOME Files' clipboard format starts with these lines.
        if line.is_empty() || line.starts_with("x-special/") || line == "copy" || line == "cut" {
            continue;
        }
        let path = file_uri_path(line).unwrap_or_else(|| PathBuf::from(line));
        if path.is_absolute() && path.exists() {
            if !out.paths.contains(&path) {
                out.paths.push(path);
            }
        } else {
            out.unknown.push(line.to_string());
        }
    }
    out
}

impl PastedText {
    /// What to tell the user about the lines that named nothing (None when every line did).
    pub fn unknown_note(&self) -> Option<String> {
        let first = self.unknown.first()?;
        let shown: String = first.chars().take(60).collect();
        let shown = if shown.len() < first.len() {
            format!("{shown}…")
        } else {
            shown
        };
        let web = first.starts_with("http://") || first.starts_with("https://");
        Some(match (self.paths.is_empty(), web) {
            (true, true) => format!(
                "The clipboard holds a web address ({shown}), not a picture: Fauxscope does not download. Save the picture, or copy the image itself, and paste or add it"
            ),
            (true, false) => format!(
                "The clipboard holds text that names no file or folder here (\"{shown}\"): copy a picture, or the files themselves, and paste again"
            ),
            (false, _) => format!(
                "{} pasted line(s) name no file or folder here, the first \"{shown}\"",
                self.unknown.len()
            ),
        })
    }
}

/// The local path of a `file://` address (`file:///a/b%20c.jpg`, `file://localhost/a`), its
/// percent-escapes decoded; None for anything else.
fn file_uri_path(s: &str) -> Option<PathBuf> {
    let rest = s.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let b = rest.as_bytes();
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                bytes.push(h << 4 | l);
                i += 3;
            }
            (c, _, _) => {
                bytes.push(c);
                i += 1;
            }
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
    }
    #[cfg(not(unix))]
    {
        Some(PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_addresses_are_decoded_and_other_text_is_not_a_path() {
        assert_eq!(
            file_uri_path("file:///tmp/a%20b%C3%A9.jpg"),
            Some(PathBuf::from("/tmp/a bé.jpg"))
        );
        assert_eq!(
            file_uri_path("file://localhost/x/y"),
            Some(PathBuf::from("/x/y"))
        );
        assert_eq!(file_uri_path("file://server/share/a.jpg"), None);
        assert_eq!(file_uri_path("https://example.org/a.jpg"), None);
        // A stray percent sign is kept as it is.
        assert_eq!(
            file_uri_path("file:///a%zz%4"),
            Some(PathBuf::from("/a%zz%4"))
        );
    }

    #[test]
    fn pasted_text_names_existing_files_and_folders_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a photo.jpg");
        std::fs::write(&a, b"x").unwrap();
        let uri = format!("file://{}", a.display().to_string().replace(' ', "%20"));
        let text = format!(
            "x-special/nautilus-clipboard\ncopy\n{uri}\n{}\r\n{}\nnot a path\n",
            a.display(),
            dir.path().display()
        );
        let p = pasted_paths(&text);
        assert_eq!(p.paths, vec![a.clone(), dir.path().to_path_buf()]);
        assert_eq!(p.unknown, vec!["not a path".to_string()]);
        let note = p.unknown_note().unwrap();
        assert!(note.starts_with("1 pasted line(s) name no file"), "{note}");

        let web = pasted_paths("https://example.org/picture.jpg");
        assert!(web.paths.is_empty());
        assert!(web.unknown_note().unwrap().contains("does not download"));
        let text = pasted_paths("hello");
        assert!(text.unknown_note().unwrap().contains("names no file"));
        // A relative name is not taken against the window's working directory.
        assert!(pasted_paths("Cargo.toml").paths.is_empty());
        assert_eq!(pasted_paths("\n\n").unknown_note(), None);
    }

    #[test]
    fn a_pasted_picture_is_saved_as_a_new_png_and_read_back_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (w, h) = (48u32, 40u32);
        let rgba: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                [
                    (i % 251) as u8,
                    (i * 7 % 256) as u8,
                    (i / 5 % 256) as u8,
                    255,
                ]
            })
            .collect();
        // Pasted at the same moment on several threads: each gets its own file.
        let at_once: Vec<PathBuf> = std::thread::scope(|s| {
            let jobs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| save_pasted(dir.path(), rgba.clone(), w, h).unwrap()))
                .collect();
            jobs.into_iter().map(|j| j.join().unwrap()).collect()
        });
        let mut names = at_once.clone();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 4, "{at_once:?}");
        for p in &at_once {
            std::fs::remove_file(p).unwrap();
        }
        let first = save_pasted(dir.path(), rgba.clone(), w, h).unwrap();
        let second = save_pasted(dir.path(), rgba.clone(), w, h).unwrap();
        assert_ne!(first, second, "a second paste gets its own file");
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("pasted-") && name.ends_with("Z.png"),
            "{name}"
        );
        let back = image::open(&first).unwrap();
        assert_eq!(
            back.color(),
            image::ColorType::Rgb8,
            "opaque: no alpha channel"
        );
        let rgb: Vec<u8> = rgba.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        assert_eq!(back.into_rgb8().into_raw(), rgb);

        let mut clear = rgba;
        clear[3] = 0;
        let p = save_pasted(dir.path(), clear.clone(), w, h).unwrap();
        assert_eq!(image::open(&p).unwrap().into_rgba8().into_raw(), clear);

        let e = save_pasted(dir.path(), vec![0; 12], w, h).unwrap_err();
        assert!(format!("{e:#}").contains("do not make 48x40"), "{e:#}");
        let e = save_pasted(dir.path(), vec![0; 40 * 20 * 4], 40, 20).unwrap_err();
        assert!(format!("{e:#}").contains("40x20: under 32 px"), "{e:#}");
        let e = save_pasted(dir.path(), Vec::new(), 20_000, 15_000).unwrap_err();
        assert!(format!("{e:#}").contains("over the limit"), "{e:#}");
        let saved = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(saved, 3, "a refused picture left a file");
    }
}
