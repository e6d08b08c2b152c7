//! The image loader on awkward, broken and hostile inputs: clear errors naming the file, never a panic.

use fauxscope::imageio::{load_image, ImageLoadError, LoadLimits};
use std::io::Cursor;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/formats")
        .join(name)
}

fn encode(fmt: image::ImageFormat, w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
    });
    let mut buf = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut buf, fmt)
        .unwrap();
    buf.into_inner()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn awkward_formats_decode_to_rgb() {
    let lim = LoadLimits::default();
    let cmyk = load_image(&fixture("cmyk.jpg"), &lim).unwrap();
    assert_eq!((cmyk.rgb.width(), cmyk.rgb.height()), (64, 64));
    // The CMYK scene has a blue-ish sky at the top: blue dominates red there.
    let p = cmyk.rgb.get_pixel(32, 2).0;
    assert!(p[2] > p[0], "CMYK converted wrongly: {p:?}");
    // The file's own colour model is recorded (the decoder reports RGB), and it is warned about.
    assert_eq!(cmyk.facts.color_type, "Cmyk8");
    let w = fauxscope::workstation::input_warnings(&cmyk.facts, 224);
    assert!(w.iter().any(|w| w.contains("stored as CMYK")), "{w:?}");

    let g = load_image(&fixture("grey16.png"), &lim).unwrap();
    assert_eq!(g.facts.color_type, "L16");
    assert_eq!((g.rgb.width(), g.rgb.height()), (48, 40));
    let px = g.rgb.get_pixel(47, 0).0;
    assert!(px[0] == px[1] && px[1] == px[2] && px[0] > 200, "{px:?}");

    let a = load_image(&fixture("alpha.png"), &lim).unwrap();
    assert!(a.facts.has_alpha);

    let anim = load_image(&fixture("anim.gif"), &lim).unwrap();
    assert_eq!((anim.rgb.width(), anim.rgb.height()), (32, 32));

    // Stored 40x20 with EXIF orientation 6: shown upright as 20x40. That is below the size an
    // analysis needs, so the orientation is checked with the size rule off.
    let any_size = LoadLimits {
        min_side: 1,
        ..Default::default()
    };
    let r = load_image(&fixture("rotated.jpg"), &any_size).unwrap();
    assert!(matches!(
        load_image(&fixture("rotated.jpg"), &lim),
        Err(ImageLoadError::TooSmall {
            width: 40,
            height: 20,
            ..
        })
    ));
    assert_eq!(r.facts.orientation, 6);
    assert_eq!(r.facts.color_type, "Rgb8");
    assert_eq!((r.facts.stored_width, r.facts.stored_height), (40, 20));
    assert_eq!((r.rgb.width(), r.rgb.height()), (20, 40));

    // The format comes from the bytes; the misleading extension is reported.
    let m = load_image(&fixture("png_named.jpg"), &lim).unwrap();
    assert_eq!(m.facts.format, "PNG");
    assert!(m
        .facts
        .extension_mismatch
        .as_deref()
        .unwrap()
        .contains(".jpg"));
}

#[test]
fn broken_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lim = LoadLimits::default();
    let jpg = encode(image::ImageFormat::Jpeg, 64, 48);
    let png = encode(image::ImageFormat::Png, 64, 48);

    let cases: Vec<(PathBuf, &str)> = vec![
        (
            write(dir.path(), "cut.jpg", &jpg[..jpg.len() / 2]),
            "truncated",
        ),
        (
            write(dir.path(), "cut.png", &png[..png.len() - 30]),
            "truncated",
        ),
        (write(dir.path(), "empty.png", b""), "empty"),
        (
            write(
                dir.path(),
                "notes.jpg",
                b"this is a text file, not an image",
            ),
            "not a recognised image format",
        ),
        (dir.path().join("missing.jpg"), "cannot read file"),
    ];
    for (path, want) in cases {
        let e = load_image(&path, &lim).unwrap_err().to_string();
        assert!(
            e.contains(want),
            "{}: got '{e}', wanted '{want}'",
            path.display()
        );
        assert!(
            e.contains(&path.display().to_string()),
            "error must name the file: {e}"
        );
    }

    // Corrupt compressed data inside a PNG.
    let mut bad = png.clone();
    for b in bad.iter_mut().skip(60).take(40) {
        *b ^= 0x5a;
    }
    let p = write(dir.path(), "corrupt.png", &bad);
    let e = load_image(&p, &lim).unwrap_err();
    assert!(
        matches!(
            e,
            ImageLoadError::Corrupt { .. } | ImageLoadError::Truncated { .. }
        ),
        "{e}"
    );
}

/// A JPEG whose compressed data is damaged still decodes (as in any viewer, with grey or garbled
/// blocks after the damage), so the loader must say so: the verdict would otherwise score the
/// garbled blocks as if they were the picture.
#[test]
fn damaged_jpeg_data_is_named_in_the_facts_and_the_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let lim = LoadLimits::default();
    let good = encode(image::ImageFormat::Jpeg, 256, 192);
    let intact = load_image(&write(dir.path(), "good.jpg", &good), &lim).unwrap();
    assert_eq!(intact.facts.damage, None);
    let w = fauxscope::workstation::input_warnings(&intact.facts, 224);
    assert!(!w.iter().any(|w| w.contains("damaged")), "{w:?}");

    let mut bad = good.clone();
    let mid = bad.len() / 2;
    for (i, b) in bad[mid..mid + 48].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(97) ^ 0x3c;
    }
    let p = write(dir.path(), "damaged.jpg", &bad);
    let img = load_image(&p, &lim).unwrap();
    assert_eq!((img.rgb.width(), img.rgb.height()), (256, 192));
    let d = img.facts.damage.clone().expect("damage found");
    let w = fauxscope::workstation::input_warnings(&img.facts, 224);
    assert!(
        w.first()
            .is_some_and(|w| w.starts_with("damaged JPG data") && w.contains(&d)),
        "{w:?}"
    );
    // Said in the facts a report's sidecar carries.
    let json = serde_json::to_value(&img.facts).unwrap();
    assert_eq!(json["damage"], serde_json::Value::String(d));
    assert!(serde_json::to_value(&intact.facts)
        .unwrap()
        .get("damage")
        .is_none());
}

/// A named pipe blocks whoever opens it until a writer comes, and /dev/zero reads for ever: both
/// must be refused at once, with the path and what it is. Run on a thread so that a regression
/// fails the test instead of hanging it.
#[cfg(unix)]
#[test]
fn pipes_and_devices_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("photo.jpg");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, kind) in [
        (fifo, "a named pipe"),
        (PathBuf::from("/dev/zero"), "a character device"),
        (dir.path().to_path_buf(), "a folder"),
    ] {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(load_image(&p, &LoadLimits::default()).map(|_| ()));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{}: the loader did not return", path.display()));
        let e = got.unwrap_err();
        assert!(
            matches!(e, ImageLoadError::NotRegularFile { .. }),
            "{}: {e}",
            path.display()
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains(kind),
            "{msg}"
        );
    }
    // Checkpoints and models are read through the same gate.
    let e = fauxscope::detect::checkpoint::Checkpoint::load(Path::new("/dev/zero"))
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("a character device"), "{e:#}");
}

#[test]
fn images_too_small_to_analyse_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lim = LoadLimits::default();
    // A thumbnail and a 4-px strip: the strip would also have been resized to 224 x 1.1
    // million pixels (750 MB) before the centre crop.
    for (name, w, h) in [("thumb.png", 31, 40), ("strip.png", 20_000, 4)] {
        let p = write(dir.path(), name, &encode(image::ImageFormat::Png, w, h));
        let e = load_image(&p, &lim).unwrap_err();
        assert!(matches!(e, ImageLoadError::TooSmall { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("{w}x{h}, too small to analyse")),
            "{msg}"
        );
    }
    let p = write(
        dir.path(),
        "ok.png",
        &encode(image::ImageFormat::Png, 32, 500),
    );
    assert_eq!(load_image(&p, &lim).unwrap().rgb.dimensions(), (32, 500));
}

#[test]
fn embedded_colour_profiles_are_converted_to_srgb() {
    use image::ImageEncoder;
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([200, (x * 3) as u8, (y * 4) as u8])
    });
    let with_profile = |name: &str, icc: Vec<u8>, jpeg: bool| {
        let mut buf = Vec::new();
        if jpeg {
            let mut e = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 95);
            e.set_icc_profile(icc).unwrap();
            e.write_image(img.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
                .unwrap();
        } else {
            let mut e = image::codecs::png::PngEncoder::new(&mut buf);
            e.set_icc_profile(icc).unwrap();
            e.write_image(img.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
                .unwrap();
        }
        write(dir.path(), name, &buf)
    };
    let lim = LoadLimits::default();
    let p3 = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    let png = load_image(&with_profile("p3.png", p3.clone(), false), &lim).unwrap();
    let c = png
        .facts
        .color_profile
        .as_ref()
        .expect("the PNG's iCCP chunk is read");
    assert!(c.converted, "{c:?}");
    assert!(c.note.contains("converted to sRGB"), "{}", c.note);
    // P3's red is more saturated than sRGB's: the converted red channel rises.
    assert!(
        png.rgb.get_pixel(0, 0).0[0] > 200,
        "{:?}",
        png.rgb.get_pixel(0, 0)
    );
    let jpg = load_image(&with_profile("p3.jpg", p3, true), &lim).unwrap();
    assert!(jpg.facts.color_profile.as_ref().unwrap().converted);

    let srgb = moxcms::ColorProfile::new_srgb().encode().unwrap();
    let same = load_image(&with_profile("srgb.png", srgb, false), &lim).unwrap();
    let c = same.facts.color_profile.unwrap();
    assert!(!c.converted && !c.needs_notice(), "{c:?}");
    assert_eq!(same.rgb, img);

    let broken = load_image(&with_profile("bad.png", b"garbage".to_vec(), false), &lim).unwrap();
    assert!(broken
        .facts
        .color_profile
        .unwrap()
        .note
        .contains("could not be read"));
    assert_eq!(broken.rgb, img);
    // A greyscale PNG with a grey profile: converted, and still grey.
    let mut buf = Vec::new();
    let mut e = image::codecs::png::PngEncoder::new(&mut buf);
    e.set_icc_profile(
        moxcms::ColorProfile::new_gray_with_gamma(1.8)
            .encode()
            .unwrap(),
    )
    .unwrap();
    let ramp: Vec<u8> = (0..64 * 48).map(|i| (i % 64 * 4) as u8).collect();
    e.write_image(&ramp, 64, 48, image::ExtendedColorType::L8)
        .unwrap();
    let g = load_image(&write(dir.path(), "grey.png", &buf), &lim).unwrap();
    assert!(g.facts.color_profile.as_ref().unwrap().converted);
    assert!(g.rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));

    // No profile: nothing to report, pixels as decoded.
    let p = write(
        dir.path(),
        "plain.png",
        &encode(image::ImageFormat::Png, 64, 48),
    );
    assert!(load_image(&p, &lim).unwrap().facts.color_profile.is_none());
}

#[test]
fn mangled_colour_profiles_never_take_the_loader_down() {
    use image::ImageEncoder;
    let dir = tempfile::tempdir().unwrap();
    let p3 = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    let img = encode(image::ImageFormat::Png, 40, 40);
    let rgb = image::load_from_memory(&img).unwrap().to_rgb8();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..300 {
        // Flip a few bytes anywhere, or cut the profile short.
        let mut icc = p3.clone();
        for _ in 0..1 + next() % 6 {
            let at = (next() as usize) % icc.len();
            icc[at] ^= (next() % 255 + 1) as u8;
        }
        if i % 5 == 0 {
            icc.truncate(1 + (next() as usize) % icc.len());
        }
        let mut buf = Vec::new();
        let mut e = image::codecs::png::PngEncoder::new(&mut buf);
        e.set_icc_profile(icc).unwrap();
        e.write_image(rgb.as_raw(), 40, 40, image::ExtendedColorType::Rgb8)
            .unwrap();
        let p = write(dir.path(), "mangled.png", &buf);
        let got = load_image(&p, &LoadLimits::default()).unwrap();
        let c = got.facts.color_profile.expect("a profile was embedded");
        if !c.converted {
            assert_eq!(got.rgb, rgb, "{}", c.note);
        }
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn decompression_bomb_is_refused_before_decoding() {
    // A PNG header claiming 100000 x 100000 pixels.
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    // A small compressed-data chunk and the end marker: a well-formed file that lies about its size.
    for (kind, data) in [
        (
            &b"IDAT"[..],
            &[0x78u8, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01][..],
        ),
        (&b"IEND"[..], &[][..]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        png.extend((data.len() as u32).to_be_bytes());
        png.extend(&chunk);
        png.extend(crc32(&chunk).to_be_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bomb.png", &png);
    let e = load_image(&p, &LoadLimits::default()).unwrap_err();
    assert!(matches!(e, ImageLoadError::TooManyPixels { .. }), "{e}");
    assert!(e.to_string().contains("decompression bomb"));

    let small = LoadLimits {
        max_file_bytes: 10,
        ..Default::default()
    };
    let e = load_image(&fixture("alpha.png"), &small).unwrap_err();
    assert!(matches!(e, ImageLoadError::FileTooLarge { .. }), "{e}");
}

#[test]
fn evidence_is_not_modified() {
    let p = fixture("rotated.jpg");
    let before = std::fs::read(&p).unwrap();
    let meta_before = std::fs::metadata(&p).unwrap().modified().unwrap();
    let any_size = LoadLimits {
        min_side: 1,
        ..Default::default()
    };
    let img = load_image(&p, &any_size).unwrap();
    assert_eq!(img.facts.sha256, fauxscope::imageio::sha256_hex(&before));
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&p).unwrap().modified().unwrap(),
        meta_before
    );
}

#[test]
fn the_stored_colour_model_of_a_jpeg_is_read_from_its_frame_header_without_panicking() {
    use fauxscope::imageio::jpeg_stored_colour;
    let cmyk = std::fs::read(fixture("cmyk.jpg")).unwrap();
    let rgb = encode(image::ImageFormat::Jpeg, 40, 40);
    assert_eq!(jpeg_stored_colour(&cmyk), Some("Cmyk8"));
    assert_eq!(jpeg_stored_colour(&rgb), None);
    // Every truncation, and every single-byte corruption of the headers, returns an answer.
    for n in 0..cmyk.len().min(4096) {
        let _ = jpeg_stored_colour(&cmyk[..n]);
        let mut b = cmyk.clone();
        b[n] ^= 0xFF;
        let _ = jpeg_stored_colour(&b);
    }
}

#[test]
fn heif_stubs_are_recognised_and_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    // ISO-BMFF files: a size, `ftyp`, the major brand, a minor version, compatible brands.
    let ftyp = |major: &[u8; 4], compat: &[&[u8; 4]]| {
        let mut b = Vec::new();
        b.extend_from_slice(&((16 + 4 * compat.len()) as u32).to_be_bytes());
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0; 4]);
        for c in compat {
            b.extend_from_slice(*c);
        }
        b.extend_from_slice(&[0u8; 64]); // the rest of the file
        b
    };
    let lim = LoadLimits::default();
    for (name, bytes, kind) in [
        ("iphone.HEIC", ftyp(b"heic", &[b"mif1", b"heic"]), "HEIC"),
        ("still.avif", ftyp(b"avif", &[b"mif1", b"miaf"]), "AVIF"),
        ("other.heif", ftyp(b"mif1", &[b"mif1"]), "HEIF"),
    ] {
        let p = write(dir.path(), name, &bytes);
        assert_eq!(fauxscope::imageio::heif_kind(&bytes), Some(kind));
        // A box header and nothing else: libheif refuses it (or, without libheif, the loader
        // says what to install). Either way the error names the file and the format.
        let e = load_image(&p, &lim).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(kind), "{e}");
        assert!(fauxscope::imageio::is_image_extension(&p));
    }
    // An MP4 is ISO-BMFF too, but not an image; short or odd boxes are not read past their end.
    assert_eq!(
        fauxscope::imageio::heif_kind(&ftyp(b"isom", &[b"mp41"])),
        None
    );
    assert_eq!(fauxscope::imageio::heif_kind(b"\0\0\0\x08ftypheic"), None);
    let mut huge = ftyp(b"mif1", &[]);
    huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(fauxscope::imageio::heif_kind(&huge), Some("HEIF"));
}

#[test]
fn heic_and_avif_photos_decode_through_libheif() {
    use fauxscope::heif::{encode, encode_with_profile, Codec};
    if !fauxscope::heif::available_for_tests() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([200, (x * 2) as u8, (y * 3) as u8])
    });
    let lim = LoadLimits::default();
    let heic = encode(&img, Codec::Hevc, 90).unwrap();
    let avif = encode(&img, Codec::Av1, 90).unwrap();
    for (name, bytes, kind) in [
        ("IMG_0001.HEIC", &heic, "HEIC"),
        ("photo.hif", &heic, "HEIC"),
        ("still.avif", &avif, "AVIF"),
    ] {
        let p = write(dir.path(), name, bytes);
        let l = load_image(&p, &lim).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(l.facts.format, kind);
        assert_eq!((l.facts.width, l.facts.height), (96, 64));
        assert_eq!((l.facts.stored_width, l.facts.stored_height), (96, 64));
        assert_eq!(l.facts.color_type, "YCbCr8");
        assert_eq!(l.facts.extension_mismatch, None, "{name}");
        assert!(!l.facts.has_alpha && l.facts.animation.is_none());
        // Lossy, but the picture is the one encoded.
        let err: f64 = img
            .as_raw()
            .iter()
            .zip(l.rgb.as_raw())
            .map(|(a, b)| (*a as f64 - *b as f64).abs())
            .sum::<f64>()
            / img.as_raw().len() as f64;
        assert!(err < 6.0, "{name}: mean error {err}");
        assert_eq!(l.facts.sha256, fauxscope::imageio::sha256_hex(bytes));
    }
    // The extension is checked against the content.
    let p = write(dir.path(), "holiday.jpg", &heic);
    let m = load_image(&p, &lim)
        .unwrap()
        .facts
        .extension_mismatch
        .unwrap();
    assert!(m.contains(".jpg") && m.contains("HEIC"), "{m}");
    let p = write(dir.path(), "swapped.heic", &avif);
    assert!(load_image(&p, &lim)
        .unwrap()
        .facts
        .extension_mismatch
        .is_some());

    // An embedded profile is applied as in any other format: Display P3's red is more saturated
    // than sRGB's, so the converted red channel rises.
    let p3 = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    let tagged = encode_with_profile(&img, Codec::Hevc, 90, Some(&p3)).unwrap();
    let l = load_image(&write(dir.path(), "p3.heic", &tagged), &lim).unwrap();
    let c = l.facts.color_profile.as_ref().expect("profile recorded");
    assert!(c.converted, "{c:?}");
    let plain = load_image(&write(dir.path(), "plain.heic", &heic), &lim).unwrap();
    assert!(
        l.rgb.get_pixel(5, 5)[0] > plain.rgb.get_pixel(5, 5)[0],
        "{:?} {:?}",
        l.rgb.get_pixel(5, 5),
        plain.rgb.get_pixel(5, 5)
    );

    // Cut short or damaged: an error naming the file and the format, never a panic.
    for cut in [24, heic.len() / 3, heic.len() - 1] {
        let p = write(dir.path(), "cut.heic", &heic[..cut]);
        let e = load_image(&p, &lim).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("cut.heic") && s.contains("HEIC"), "{s}");
        assert!(
            matches!(
                e,
                ImageLoadError::Truncated { .. } | ImageLoadError::Corrupt { .. }
            ),
            "{e:?}"
        );
    }
    let mut bad = heic.clone();
    let n = bad.len();
    for b in &mut bad[n / 2..n / 2 + 64] {
        *b = !*b;
    }
    let _ = load_image(&write(dir.path(), "bad.heic", &bad), &lim);

    // Mutated files (bytes overwritten, box sizes set to extremes, cut short), from a fixed
    // seed: each is an image or a typed error, and the process survives. (Run 8,000 times
    // against libheif 1.15.1 before this went in, without a crash.)
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let p = dir.path().join("mutated.heic");
    for _ in 0..300 {
        let mut b = heic.clone();
        for _ in 0..1 + next(8) {
            let at = next(b.len());
            match next(10) {
                0..=5 => b[at] = next(256) as u8,
                6 | 7 => {
                    let end = (at + 4).min(b.len());
                    b[at..end].fill(if next(2) == 0 { 0xFF } else { 0 });
                }
                _ => b.truncate(at.max(1)),
            }
        }
        std::fs::write(&p, &b).unwrap();
        if let Err(e) = load_image(&p, &lim) {
            assert!(e.to_string().contains("mutated.heic"), "{e}");
        }
    }

    // The pixel budget and the smallest analysable size hold before any pixel is decoded.
    let small = LoadLimits {
        max_pixels: 96 * 64 - 1,
        ..lim
    };
    let e = load_image(&write(dir.path(), "big.heic", &heic), &small).unwrap_err();
    assert!(matches!(e, ImageLoadError::TooManyPixels { .. }), "{e:?}");
    let tiny = encode(&image::RgbImage::new(24, 24), Codec::Hevc, 50).unwrap();
    let e = load_image(&write(dir.path(), "tiny.heic", &tiny), &lim).unwrap_err();
    assert!(matches!(e, ImageLoadError::TooSmall { .. }), "{e:?}");
}

/// A palette PNG (IHDR colour type 3), built chunk by chunk.
fn palette_png(w: u32, h: u32) -> Vec<u8> {
    use std::io::Write;
    let chunk = |png: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        png.extend((data.len() as u32).to_be_bytes());
        png.extend(&c);
        png.extend(crc32(&c).to_be_bytes());
    };
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 3, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    let plte: Vec<u8> = (0..16u8)
        .flat_map(|i| [i * 16, 255 - i * 16, 128])
        .collect();
    chunk(&mut png, b"PLTE", &plte);
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        raw.extend((0..w).map(|x| ((x / 4 + y / 4) % 16) as u8));
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).unwrap();
    chunk(&mut png, b"IDAT", &z.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn animations_and_palette_images_say_what_was_analysed() {
    use image::codecs::gif::GifEncoder;
    let dir = tempfile::tempdir().unwrap();
    let lim = LoadLimits::default();
    let warnings = |p: &Path| {
        let img = load_image(p, &lim).unwrap();
        let w = fauxscope::workstation::input_warnings(&img.facts, 224);
        (img.facts, w)
    };
    let mut gif = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut gif);
        for k in 0..3u32 {
            let img = image::RgbaImage::from_fn(64, 48, |x, y| {
                image::Rgba([(x * 4) as u8, (y * 5) as u8, (k * 80) as u8, 255])
            });
            enc.encode_frame(image::Frame::new(img)).unwrap();
        }
    }
    let (f, w) = warnings(&write(dir.path(), "clip.gif", &gif));
    let a = f.animation.expect("an animation");
    assert_eq!((a.frames, a.first_frame_analysed), (3, true));
    assert!(
        w.iter()
            .any(|w| w.contains("animated GIF with 3 frames: only the first frame")),
        "{w:?}"
    );
    // GIF pixels come back as RGBA, but no pixel is transparent: no alpha warning.
    assert!(!f.has_alpha, "{w:?}");
    assert_eq!(f.color_type, "Indexed8");
    assert!(w.iter().any(|w| w.contains("colour palette")), "{w:?}");

    let (f, w) = warnings(&write(dir.path(), "pal.png", &palette_png(64, 64)));
    assert_eq!((f.color_type.as_str(), f.animation), ("Indexed8", None));
    assert!(w.iter().any(|w| w.contains("colour palette")), "{w:?}");
    assert!(!w.iter().any(|w| w.contains("animated")), "{w:?}");

    // An ordinary RGB PNG is neither.
    let (f, w) = warnings(&write(
        dir.path(),
        "rgb.png",
        &encode(image::ImageFormat::Png, 64, 64),
    ));
    assert_eq!((f.color_type.as_str(), f.animation), ("Rgb8", None));
    assert!(
        !w.iter()
            .any(|w| w.contains("palette") || w.contains("animated")),
        "{w:?}"
    );
}

/// A minimal little-endian RGB TIFF (one strip), with `extra` entries (tag, type, count, value)
/// added to its first directory.
fn tiff_with(w: u32, h: u32, extra: &[(u16, u16, u32, u32)]) -> Vec<u8> {
    tiff_pages(w, h, &[extra])
}

/// A TIFF with one directory per element of `pages` (each with those extra entries), chained,
/// all showing the same strip of pixels.
fn tiff_pages(w: u32, h: u32, pages: &[&[(u16, u16, u32, u32)]]) -> Vec<u8> {
    let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
    let dirs: Vec<Vec<(u16, u16, u32, u32)>> = pages
        .iter()
        .map(|extra| {
            let mut entries: Vec<(u16, u16, u32, u32)> = vec![
                (256, 4, 1, w),         // ImageWidth
                (257, 4, 1, h),         // ImageLength
                (258, 3, 1, 8),         // BitsPerSample (8, for every sample)
                (259, 3, 1, 1),         // Compression: none
                (262, 3, 1, 2),         // PhotometricInterpretation: RGB
                (273, 4, 1, 0),         // StripOffsets (set below)
                (277, 3, 1, 3),         // SamplesPerPixel
                (278, 4, 1, h),         // RowsPerStrip
                (279, 4, 1, w * h * 3), // StripByteCounts
            ];
            entries.extend_from_slice(extra);
            entries.sort_by_key(|e| e.0);
            entries
        })
        .collect();
    let sizes: Vec<usize> = dirs.iter().map(|d| 2 + 12 * d.len() + 4).collect();
    let data_at = (8 + sizes.iter().sum::<usize>()) as u32;
    let mut b = b"II*\0".to_vec();
    b.extend_from_slice(&8u32.to_le_bytes());
    for (k, entries) in dirs.iter().enumerate() {
        b.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for &(tag, ty, count, value) in entries {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&ty.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            let v = if tag == 273 { data_at } else { value };
            if ty == 3 {
                b.extend_from_slice(&(v as u16).to_le_bytes());
                b.extend_from_slice(&[0, 0]);
            } else {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        let next = if k + 1 < dirs.len() {
            (b.len() + 4) as u32
        } else {
            0
        };
        b.extend_from_slice(&next.to_le_bytes());
    }
    b.extend_from_slice(&pixels);
    b
}

#[test]
fn multi_page_tiffs_say_only_the_first_page_was_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let lim = LoadLimits::default();
    let three = tiff_pages(64, 48, &[&[], &[], &[]]);
    let l = load_image(&write(dir.path(), "scan.tif", &three), &lim).unwrap();
    let a = l.facts.animation.expect("three pages counted");
    assert_eq!(a.frames, 3);
    assert_eq!(a.analysed(&l.facts.format), "the first page");
    let w = fauxscope::workstation::input_warnings(&l.facts, 224);
    assert!(
        w.iter()
            .any(|w| w.contains("multi-page TIFF with 3 pages: only the first page")),
        "{w:?}"
    );
    // A page with a reduced-resolution copy (NewSubfileType 1: a thumbnail) is one page.
    let thumb = tiff_pages(64, 48, &[&[], &[(254, 4, 1, 1)]]);
    let l = load_image(&write(dir.path(), "thumb.tif", &thumb), &lim).unwrap();
    assert!(l.facts.animation.is_none(), "{:?}", l.facts.animation);
    assert!(
        load_image(&write(dir.path(), "one.tif", &tiff_with(64, 48, &[])), &lim)
            .unwrap()
            .facts
            .animation
            .is_none()
    );
    // A directory chain that loops back on itself ends.
    let mut looped = tiff_pages(64, 48, &[&[], &[]]);
    let n = u16::from_le_bytes([looped[8], looped[9]]) as usize;
    let second_next = 8 + (2 + 12 * n + 4) + 2 + 12 * n;
    looped[second_next..second_next + 4].copy_from_slice(&8u32.to_le_bytes());
    let l = load_image(&write(dir.path(), "loop.tif", &looped), &lim);
    if let Ok(l) = l {
        assert_eq!(l.facts.animation.map(|a| a.frames), Some(2));
    }
}

#[test]
fn camera_raw_files_are_refused_not_read_as_their_preview() {
    let dir = tempfile::tempdir().unwrap();
    let lim = LoadLimits::default();
    // The plain TIFF decodes: the writer above is sound.
    let plain = tiff_with(64, 48, &[]);
    let l = load_image(&write(dir.path(), "scan.tif", &plain), &lim).unwrap();
    assert_eq!((l.facts.width, l.facts.height), (64, 48));
    // The same file with DNGVersion 1.4.0.0 (BYTE x 4, inline) is a DNG, whatever its name: its
    // first directory is a preview, not the photograph.
    let dng = tiff_with(64, 48, &[(50706, 1, 4, u32::from_le_bytes([1, 4, 0, 0]))]);
    for name in ["IMG_0001.DNG", "renamed.tif"] {
        let e = load_image(&write(dir.path(), name, &dng), &lim).unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, ImageLoadError::Unsupported { .. }), "{e:?}");
        assert!(
            s.contains(name) && s.contains("DNG") && s.contains("camera raw"),
            "{s}"
        );
    }
    // A TIFF-structured raw under its own extension (NEF, ARW...) and an unknown raw container.
    let e = load_image(&write(dir.path(), "DSC_0001.NEF", &plain), &lim).unwrap_err();
    assert!(
        e.to_string().contains("NEF") && e.to_string().contains("camera raw"),
        "{e}"
    );
    let e = load_image(&write(dir.path(), "X.RAF", b"FUJIFILMCCD-RAW 0201"), &lim).unwrap_err();
    assert!(e.to_string().contains("RAF"), "{e}");
    // Raw formats with a signature of their own are known without their extension, and folder
    // walks find them by it.
    let cr3 = b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom";
    for (name, bytes, kind) in [
        ("IMG_0002", &cr3[..], "CR3"),
        ("P0003", b"IIRO\x08\0\0\0", "ORF"),
        ("P0004.bin", b"IIU\0\x08\0\0\0", "RW2"),
        ("DSCF0005", b"FUJIFILMCCD-RAW 0201", "RAF"),
    ] {
        let e = load_image(&write(dir.path(), name, bytes), &lim).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains(name) && s.contains(kind) && s.contains("camera raw"),
            "{s}"
        );
        assert!(fauxscope::imageio::looks_like_picture(bytes), "{name}");
    }
    // A JPEG that only carries a raw extension is read, with the mismatch noted.
    let jpg = encode(image::ImageFormat::Jpeg, 64, 48);
    let l = load_image(&write(dir.path(), "odd.cr2", &jpg), &lim).unwrap();
    assert!(l.facts.extension_mismatch.unwrap().contains(".cr2"));
    // Folder walks list raw files, so that they are reported rather than passed over.
    assert!(fauxscope::imageio::is_image_extension(Path::new(
        "a/DSC_0001.ARW"
    )));
    // Broken directories are not read past the end of the file.
    for n in 0..dng.len().min(200) {
        let _ = load_image(&write(dir.path(), "cut.dng", &dng[..n]), &lim);
    }
}

#[test]
fn picture_formats_we_do_not_read_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let lim = LoadLimits::default();
    let cases: &[(&str, &[u8], &str)] = &[
        ("a.jxl", b"\xff\x0a\xfa\x7f\x00\x00", "JPEG XL"),
        (
            "b.jxl",
            b"\0\0\0\x0cJXL \r\n\x87\n\0\0\0\x14ftypjxl ",
            "JPEG XL",
        ),
        (
            "c.jp2",
            b"\0\0\0\x0cjP  \r\n\x87\n\0\0\0\x14ftypjp2 ",
            "JPEG 2000",
        ),
        ("d.psd", b"8BPS\0\x01\0\0\0\0\0\0\0\x03", "Photoshop (PSD)"),
        ("e.ico", b"\0\0\x01\0\x01\0\x10\x10\0\0\x01\0 \0", "ICO"),
        ("f.ppm", b"P6\n2 2\n255\n\0\0\0\0\0\0\0\0\0\0\0\0", "PNM"),
        ("g.exr", b"\x76\x2f\x31\x01\x02\0\0\0", "OpenEXR"),
        (
            "h.svg",
            b"\xef\xbb\xbf <?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            "SVG",
        ),
        // TGA has no signature: known by its extension alone.
        (
            "i.tga",
            b"\0\0\x02\0\0\0\0\0\0\0\0\0\x10\0\x10\0\x18\0",
            "TGA",
        ),
        // The bytes name the format whatever the extension.
        ("j.dat", b"8BPS\0\x01\0\0", "Photoshop (PSD)"),
    ];
    for (name, bytes, kind) in cases {
        let p = write(dir.path(), name, bytes);
        let e = load_image(&p, &lim).unwrap_err().to_string();
        assert!(
            e.contains(name) && e.contains(&format!("unsupported {kind} image")),
            "{name}: {e}"
        );
        assert!(e.contains("Convert a copy to PNG"), "{e}");
        // Folder walks find them by their bytes too (TGA by its extension only).
        assert_eq!(
            fauxscope::imageio::looks_like_picture(bytes),
            *kind != "TGA",
            "{name}"
        );
    }
    // A picture the loader reads keeps its own name whatever the extension; text is no picture.
    let png = encode(image::ImageFormat::Png, 40, 40);
    assert!(load_image(&write(dir.path(), "k.tga", &png), &lim).is_ok());
    for text in [
        &b"hello"[..],
        b"BM is a text file that starts with BM",
        b"<html></html>",
    ] {
        assert!(!fauxscope::imageio::looks_like_picture(text));
    }
}

#[test]
fn folder_walks_find_pictures_by_content_and_list_what_they_leave_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jpg = encode(image::ImageFormat::Jpeg, 40, 40);
    let bmp = encode(image::ImageFormat::Bmp, 40, 40);
    std::fs::create_dir_all(d.join("sub/.hidden")).unwrap();
    write(d, "a.jpg", &jpg);
    // A chat download without an extension, and a picture saved under another one.
    write(d, "IMG_0001", &jpg);
    write(&d.join("sub"), "picture.dat", &bmp);
    write(&d.join("sub"), "notes.txt", b"not a picture");
    write(&d.join("sub"), ".DS_Store", b"\0\0\0\x01Bud1");
    write(&d.join("sub/.hidden"), "x.jpg", &jpg);
    // Named as a picture but unreadable: listed, so that its error is reported.
    write(d, "broken.png", b"garbage");
    let l = fauxscope::train::data::list_folder(d).unwrap();
    let names = |v: &[PathBuf]| -> Vec<String> {
        v.iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect()
    };
    assert_eq!(
        names(&l.images),
        ["IMG_0001", "a.jpg", "broken.png", "sub/picture.dat"]
    );
    assert_eq!(names(&l.others), ["sub/notes.txt"]);
    let note = l.others_note().unwrap();
    assert!(
        note.starts_with("1 file(s)") && note.contains("notes.txt"),
        "{note}"
    );
    // Both pictures decode; the one under a wrong extension says so.
    let lim = LoadLimits::default();
    assert!(load_image(&d.join("IMG_0001"), &lim).is_ok());
    let odd = load_image(&d.join("sub/picture.dat"), &lim).unwrap();
    assert!(odd.facts.extension_mismatch.unwrap().contains(".dat"));
    // Many other files: the note names the first few and counts the rest.
    for i in 0..7 {
        write(d, &format!("log{i}.txt"), b"x");
    }
    let note = fauxscope::train::data::list_folder(d)
        .unwrap()
        .others_note()
        .unwrap();
    assert!(
        note.starts_with("8 file(s)") && note.ends_with("and 3 more"),
        "{note}"
    );
    // A symbolic link back up the tree is followed once, and said, not walked for ever.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(d, d.join("sub/back")).unwrap();
        let l = fauxscope::train::data::list_folder(d).unwrap();
        assert_eq!(l.images.len(), 4);
        assert_eq!(l.unreadable.len(), 1, "{:?}", l.unreadable);
        let (p, reason) = &l.unreadable[0];
        assert!(
            p.ends_with("sub/back") && reason.contains("symbolic link back"),
            "{reason}"
        );
        // A file reached twice, by a link to it or through a linked folder, is listed once under
        // its own name, not the link's or the longer way round.
        std::os::unix::fs::symlink(d.join("a.jpg"), d.join("0-link.jpg")).unwrap();
        std::os::unix::fs::symlink(d.join("sub"), d.join("0-sub")).unwrap();
        // A linked folder outside is walked, under the link's name.
        let outer = tempfile::tempdir().unwrap();
        write(outer.path(), "b.jpg", &jpg);
        std::os::unix::fs::symlink(outer.path(), d.join("00-outer")).unwrap();
        let l = fauxscope::train::data::list_folder(d).unwrap();
        assert_eq!(
            names(&l.images),
            [
                "00-outer/b.jpg",
                "IMG_0001",
                "a.jpg",
                "broken.png",
                "sub/picture.dat"
            ]
        );
        assert!(!names(&l.others).iter().any(|n| n.starts_with("0-sub")));
        assert!(names(&l.others).contains(&"sub/notes.txt".to_string()));
        for link in ["0-link.jpg", "0-sub", "00-outer"] {
            std::fs::remove_file(d.join(link)).unwrap();
        }
        // A named pipe is listed as unreadable without being opened (opening it would block).
        let fifo = d.join("sub/pipe.jpg");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            let l = fauxscope::train::data::list_folder(d).unwrap();
            assert_eq!(l.images.len(), 4);
            let (_, reason) = l.unreadable.iter().find(|(p, _)| *p == fifo).unwrap();
            assert!(reason.contains("a named pipe"), "{reason}");
        }
    }
}
