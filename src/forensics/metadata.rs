//! Metadata an examiner reads: EXIF fields, the XMP packet (IPTC DigitalSourceType among them), and
//! generator text chunks (Stable Diffusion "parameters", ComfyUI "prompt"/"workflow") in PNG files.
//! Everything is parsed from the evidence bytes; nothing is written.

use serde::Serialize;

/// One metadata field.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Field {
    /// Where it came from: `EXIF`, `XMP`, `PNG text`.
    pub source: String,
    pub name: String,
    pub value: String,
}

/// What the metadata says, plus the fields that matter most for provenance.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Metadata {
    pub fields: Vec<Field>,
    /// IPTC DigitalSourceType (e.g. `http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`).
    pub digital_source_type: Option<String>,
    /// Text chunks left by image generators (key, first 2,000 characters).
    pub generator_text: Vec<(String, String)>,
    /// Camera make and model from EXIF.
    pub camera: Option<String>,
    /// EXIF Software.
    pub software: Option<String>,
}

/// Keys image generators write into PNG text chunks.
pub const GENERATOR_KEYS: &[&str] = &["parameters", "prompt", "workflow", "Dream", "sd-metadata"];

const MAX_VALUE: usize = 2000;

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_VALUE {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_VALUE).collect();
        t.push('…');
        t
    }
}

/// Reads metadata from a file's bytes.
pub fn read_metadata(bytes: &[u8]) -> Metadata {
    let mut m = Metadata::default();
    exif_fields(bytes, &mut m);
    if let Some(xmp) = find_xmp(bytes) {
        xmp_fields(&xmp, &mut m);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        for (k, v) in png_text_chunks(bytes) {
            if GENERATOR_KEYS.contains(&k.as_str()) {
                m.generator_text.push((k.clone(), clip(&v)));
            }
            if k == "XML:com.adobe.xmp" {
                xmp_fields(&v, &mut m);
                continue;
            }
            m.fields.push(Field {
                source: "PNG text".into(),
                name: k,
                value: clip(&v),
            });
        }
    }
    m
}

fn exif_fields(bytes: &[u8], m: &mut Metadata) {
    let Ok(ex) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) else {
        return;
    };
    let mut make = None;
    let mut model = None;
    for f in ex.fields() {
        let value = f.display_value().with_unit(&ex).to_string();
        let value = value.trim_matches('"').to_string();
        match f.tag {
            exif::Tag::Make => make = Some(value.clone()),
            exif::Tag::Model => model = Some(value.clone()),
            exif::Tag::Software => m.software = Some(value.clone()),
            _ => {}
        }
        if matches!(f.tag, exif::Tag::MakerNote) || value.len() > 4 * MAX_VALUE {
            continue;
        }
        let name = if f.ifd_num == exif::In::PRIMARY {
            f.tag.to_string()
        } else {
            format!("{} (thumbnail)", f.tag)
        };
        m.fields.push(Field {
            source: "EXIF".into(),
            name,
            value: clip(&value),
        });
    }
    m.camera = match (make, model) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (a, b) => a.or(b),
    };
}

/// The XMP packet embedded in the file, if any (found by its `<x:xmpmeta` wrapper).
pub fn find_xmp(bytes: &[u8]) -> Option<String> {
    let start = find(bytes, b"<x:xmpmeta")?;
    let end_tag = b"</x:xmpmeta>";
    let end = find(&bytes[start..], end_tag)? + start + end_tag.len();
    Some(String::from_utf8_lossy(&bytes[start..end]).into_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Simple properties of an XMP packet: `prefix:Name="value"` attributes and
/// `<prefix:Name>value</prefix:Name>` elements with text content.
fn xmp_fields(xmp: &str, m: &mut Metadata) {
    let mut seen = std::collections::BTreeMap::new();
    // Attributes.
    let mut rest = xmp;
    while let Some(eq) = rest.find("=\"") {
        let before = &rest[..eq];
        let name_start = before
            .rfind(|c: char| c.is_whitespace() || c == '<')
            .map(|i| i + 1)
            .unwrap_or(0);
        let name = &before[name_start..];
        let after = &rest[eq + 2..];
        let Some(close) = after.find('"') else { break };
        let value = &after[..close];
        if name.contains(':') && !name.starts_with("xmlns") && !name.starts_with("rdf:") {
            seen.entry(name.to_string())
                .or_insert_with(|| value.to_string());
        }
        rest = &after[close + 1..];
    }
    // Leaf elements with text.
    let mut rest = xmp;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[..gt];
        if tag.starts_with('/') || tag.starts_with('?') || tag.ends_with('/') || tag.contains(' ') {
            continue;
        }
        let body = &rest[gt + 1..];
        let close = format!("</{tag}>");
        if let Some(end) = body.find(&close) {
            let text = body[..end].trim();
            if !text.is_empty() && !text.contains('<') && tag.contains(':') {
                seen.entry(tag.to_string())
                    .or_insert_with(|| text.to_string());
            }
        }
    }
    for (name, value) in seen {
        let value = unescape(&value);
        if name.ends_with("DigitalSourceType") {
            m.digital_source_type = Some(value.clone());
        }
        m.fields.push(Field {
            source: "XMP".into(),
            name,
            value: clip(&value),
        });
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `tEXt`, `zTXt` and `iTXt` chunks of a PNG file as (keyword, text). Malformed chunks end the walk.
pub fn png_text_chunks(bytes: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 8;
    while i + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize;
        let kind = &bytes[i + 4..i + 8];
        let Some(data) = bytes.get(i + 8..i + 8 + len) else {
            break;
        };
        match kind {
            b"tEXt" => {
                if let Some(z) = data.iter().position(|&b| b == 0) {
                    out.push((latin1(&data[..z]), latin1(&data[z + 1..])));
                }
            }
            b"zTXt" => {
                if let Some(z) = data.iter().position(|&b| b == 0) {
                    if let Some(text) = data.get(z + 2..).and_then(inflate) {
                        out.push((latin1(&data[..z]), latin1(&text)));
                    }
                }
            }
            b"iTXt" => {
                if let Some(t) = itxt(data) {
                    out.push(t);
                }
            }
            b"IEND" => break,
            _ => {}
        }
        i += 12 + len;
    }
    out
}

fn itxt(data: &[u8]) -> Option<(String, String)> {
    let z = data.iter().position(|&b| b == 0)?;
    let key = latin1(&data[..z]);
    let compressed = *data.get(z + 1)? == 1;
    let rest = data.get(z + 3..)?;
    let lang_end = rest.iter().position(|&b| b == 0)?;
    let rest = &rest[lang_end + 1..];
    let tk_end = rest.iter().position(|&b| b == 0)?;
    let text = &rest[tk_end + 1..];
    let text = if compressed {
        inflate(text)?
    } else {
        text.to_vec()
    };
    Some((key, String::from_utf8_lossy(&text).into_owned()))
}

fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

/// zlib-decompresses at most 1 MiB (a metadata chunk has no business being larger).
fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(1 << 20)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_with_text(chunks: &[(&str, &str)]) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        // Insert tEXt chunks before IEND (the last 12 bytes).
        let iend = png.split_off(png.len() - 12);
        for (k, v) in chunks {
            let mut data = k.as_bytes().to_vec();
            data.push(0);
            data.extend_from_slice(v.as_bytes());
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = b"tEXt".to_vec();
            body.extend_from_slice(&data);
            png.extend_from_slice(&body);
            png.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        }
        png.extend_from_slice(&iend);
        png
    }

    #[test]
    fn finds_generator_text_and_digital_source_type() {
        let xmp = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"><dc:creator>A &amp; B</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let png = png_with_text(&[
            ("parameters", "a cat, Steps: 20, Sampler: Euler a"),
            ("Comment", "hello"),
            ("XML:com.adobe.xmp", xmp),
        ]);
        // The image still decodes.
        image::load_from_memory(&png).unwrap();
        let m = read_metadata(&png);
        assert_eq!(m.generator_text.len(), 1);
        assert!(m.generator_text[0].1.contains("Sampler"));
        assert!(m
            .digital_source_type
            .as_deref()
            .unwrap()
            .ends_with("trainedAlgorithmicMedia"));
        assert!(m
            .fields
            .iter()
            .any(|f| f.name == "dc:creator" && f.value == "A & B"));
        assert!(m.fields.iter().any(|f| f.name == "Comment"));
    }

    #[test]
    fn truncated_png_does_not_panic() {
        let png = png_with_text(&[("parameters", "x")]);
        for n in [0, 5, 9, 20, png.len() / 2] {
            let _ = read_metadata(&png[..n]);
        }
    }
}
