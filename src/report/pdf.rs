//! A small PDF writer (PDF 1.4) for reports: A4 pages, the standard Helvetica / Helvetica-Bold /
//! Courier fonts (WinAnsi encoding, so text stays extractable), JPEG images, filled rectangles and
//! word-wrapped flowing text. Content streams are deflate-compressed.

use std::io::Write;

pub const PAGE_W: f32 = 595.0;
pub const PAGE_H: f32 = 842.0;
pub const MARGIN: f32 = 50.0;
/// Room kept below a heading: four lines of 9-point body text.
const KEEP_WITH_HEADING: f32 = 4.0 * 9.0 * 1.3;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Font {
    Regular,
    Bold,
    Mono,
}

impl Font {
    fn name(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
            Font::Mono => "F3",
        }
    }
}

/// Approximate advance width of a character in Helvetica, in em (Courier is 0.6 everywhere).
fn char_width(c: char, font: Font) -> f32 {
    if font == Font::Mono {
        return 0.6;
    }
    let w = match c {
        ' ' | '.' | ',' | ':' | ';' | '\'' | '!' | '|' | 'i' | 'j' | 'l' => 0.28,
        'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' | '/' | 'I' => 0.34,
        'm' | 'M' | 'W' | '%' | '@' => 0.84,
        'w' => 0.73,
        'A'..='Z' => 0.68,
        '0'..='9' => 0.556,
        _ => 0.53,
    };
    if font == Font::Bold {
        w * 1.06
    } else {
        w
    }
}

pub fn text_width(s: &str, font: Font, size: f32) -> f32 {
    s.chars().map(|c| char_width(c, font)).sum::<f32>() * size
}

/// A string literal in WinAnsi encoding (Latin-1 range; anything else becomes '?').
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\u{a0}'..='\u{ff}' => out.push_str(&format!("\\{:03o}", c as u32)),
            '–' | '—' => out.push('-'),
            '’' | '‘' => out.push('\''),
            '“' | '”' => out.push('"'),
            '…' => out.push_str("..."),
            '\t' => out.push(' '),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

struct Image {
    w: u32,
    h: u32,
    jpeg: Vec<u8>,
}

/// A document being laid out top to bottom.
pub struct Pdf {
    pages: Vec<String>,
    images: Vec<Image>,
    /// Current vertical position (PDF y, from the bottom).
    pub y: f32,
    title: String,
}

impl Pdf {
    pub fn new(title: &str) -> Self {
        let mut p = Self {
            pages: vec![],
            images: vec![],
            y: 0.0,
            title: title.to_string(),
        };
        p.new_page();
        p
    }

    pub fn new_page(&mut self) {
        self.pages.push(String::new());
        self.y = PAGE_H - MARGIN;
    }

    fn ops(&mut self) -> &mut String {
        self.pages.last_mut().expect("a page exists")
    }

    /// Starts a new page when less than `h` points are left.
    pub fn need(&mut self, h: f32) {
        if self.y - h < MARGIN {
            self.new_page();
        }
    }

    pub fn width(&self) -> f32 {
        PAGE_W - 2.0 * MARGIN
    }

    /// One line of text at (x, y) without moving the cursor.
    pub fn text_at(&mut self, x: f32, y: f32, s: &str, font: Font, size: f32, rgb: [f32; 3]) {
        let op = format!(
            "BT /{} {size} Tf {} {} {} rg {x:.2} {y:.2} Td {} Tj ET\n",
            font.name(),
            rgb[0],
            rgb[1],
            rgb[2],
            literal(s)
        );
        self.ops().push_str(&op);
    }

    /// Word-wrapped paragraph at the left margin (plus `indent`).
    pub fn para(&mut self, s: &str, font: Font, size: f32, indent: f32) {
        self.para_rgb(s, font, size, indent, [0.0, 0.0, 0.0]);
    }

    pub fn para_rgb(&mut self, s: &str, font: Font, size: f32, indent: f32, rgb: [f32; 3]) {
        let max = self.width() - indent;
        let lead = size * 1.3;
        for line in wrap(s, font, size, max) {
            self.need(lead);
            self.y -= lead;
            self.text_at(
                MARGIN + indent,
                self.y + size * 0.25,
                &line,
                font,
                size,
                rgb,
            );
        }
    }

    /// A bold heading, kept on the page with at least four body lines after it (else it starts
    /// the next page, so no heading is left alone at the bottom of one).
    pub fn heading(&mut self, s: &str, size: f32) {
        self.need(size * 2.1 + KEEP_WITH_HEADING);
        self.y -= size * 0.6;
        self.para(s, Font::Bold, size, 0.0);
        self.y -= size * 0.2;
    }

    /// "label: value" rows with the values aligned at `col`.
    pub fn rows(&mut self, rows: &[(String, String)], size: f32, col: f32) {
        for (k, v) in rows {
            let lead = size * 1.3;
            let lines = wrap(v, Font::Regular, size, self.width() - col);
            self.need(lead * lines.len() as f32);
            self.y -= lead;
            self.text_at(
                MARGIN,
                self.y + size * 0.25,
                k,
                Font::Bold,
                size,
                [0.2, 0.2, 0.2],
            );
            for (i, l) in lines.iter().enumerate() {
                if i > 0 {
                    self.y -= lead;
                }
                self.text_at(
                    MARGIN + col,
                    self.y + size * 0.25,
                    l,
                    Font::Regular,
                    size,
                    [0.0; 3],
                );
            }
        }
    }

    /// A monospace value hard-wrapped at the character level (hashes).
    pub fn mono(&mut self, s: &str, size: f32, indent: f32) {
        let per_line = ((self.width() - indent) / (0.6 * size)).floor().max(8.0) as usize;
        let chars: Vec<char> = s.chars().collect();
        for chunk in chars.chunks(per_line) {
            let line: String = chunk.iter().collect();
            self.need(size * 1.3);
            self.y -= size * 1.3;
            self.text_at(
                MARGIN + indent,
                self.y + size * 0.25,
                &line,
                Font::Mono,
                size,
                [0.0; 3],
            );
        }
    }

    pub fn space(&mut self, h: f32) {
        self.y -= h;
    }

    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, rgb: [u8; 3]) {
        let [r, g, b] = rgb.map(|c| c as f32 / 255.0);
        let op = format!("{r:.3} {g:.3} {b:.3} rg {x:.2} {y:.2} {w:.2} {h:.2} re f\n");
        self.ops().push_str(&op);
    }

    /// Adds a JPEG; returns its index for [`Pdf::image`].
    pub fn add_jpeg(&mut self, jpeg: Vec<u8>, w: u32, h: u32) -> usize {
        self.images.push(Image { w, h, jpeg });
        self.images.len() - 1
    }

    /// Draws image `idx` at most `max_w` x `max_h` points below the cursor (left margin + `x`)
    /// and moves the cursor below it.
    pub fn image(&mut self, idx: usize, x: f32, max_w: f32, max_h: f32) -> (f32, f32) {
        let im = &self.images[idx];
        let k = (max_w / im.w as f32).min(max_h / im.h as f32);
        let (w, h) = (im.w as f32 * k, im.h as f32 * k);
        self.need(h);
        let y = self.y - h;
        let op = format!(
            "q {w:.2} 0 0 {h:.2} {:.2} {y:.2} cm /Im{idx} Do Q\n",
            MARGIN + x
        );
        self.ops().push_str(&op);
        self.y = y;
        (w, h)
    }

    /// Serialises the document.
    pub fn finish(self) -> Vec<u8> {
        let n_pages = self.pages.len();
        // Object numbers: 1 catalog, 2 pages, 3-5 fonts, 6 info, then images, then per page
        // (page, contents).
        let first_image = 7;
        let first_page = first_image + self.images.len();
        let mut objs: Vec<Vec<u8>> = Vec::new();
        objs.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
        let kids: Vec<String> = (0..n_pages)
            .map(|i| format!("{} 0 R", first_page + 2 * i))
            .collect();
        objs.push(
            format!(
                "<< /Type /Pages /Kids [{}] /Count {n_pages} >>",
                kids.join(" ")
            )
            .into_bytes(),
        );
        for base in ["Helvetica", "Helvetica-Bold", "Courier"] {
            objs.push(
                format!("<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>")
                    .into_bytes(),
            );
        }
        objs.push(
            format!(
                "<< /Title {} /Producer (Fauxscope {}) /CreationDate (D:{}) >>",
                literal(&self.title),
                crate::VERSION,
                crate::fsutil::now_utc()
                    .chars()
                    .filter(|c| c.is_ascii_digit())
                    .collect::<String>()
            )
            .into_bytes(),
        );
        for im in &self.images {
            let mut o = format!(
                "<< /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length {} >>\nstream\n",
                im.w,
                im.h,
                im.jpeg.len()
            )
            .into_bytes();
            o.extend_from_slice(&im.jpeg);
            o.extend_from_slice(b"\nendstream");
            objs.push(o);
        }
        let xobjects: String = (0..self.images.len())
            .map(|i| format!("/Im{i} {} 0 R ", first_image + i))
            .collect();
        for (i, ops) in self.pages.iter().enumerate() {
            let contents = first_page + 2 * i + 1;
            objs.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] /Contents {contents} 0 R /Resources << /Font << /F1 3 0 R /F2 4 0 R /F3 5 0 R >> /XObject << {xobjects}>> >> >>"
                )
                .into_bytes(),
            );
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(ops.as_bytes()).expect("in-memory write");
            let data = z.finish().expect("in-memory write");
            let mut o = format!(
                "<< /Length {} /Filter /FlateDecode >>\nstream\n",
                data.len()
            )
            .into_bytes();
            o.extend_from_slice(&data);
            o.extend_from_slice(b"\nendstream");
            objs.push(o);
        }
        let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::with_capacity(objs.len());
        for (i, o) in objs.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(o);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes(),
        );
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objs.len() + 1
            )
            .as_bytes(),
        );
        out
    }
}

/// Greedy word wrap; words longer than a line are split.
pub fn wrap(s: &str, font: Font, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for para in s.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if text_width(&candidate, font, size) <= max
                || line.is_empty() && text_width(word, font, size) <= max
            {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word longer than the line: split it.
            let mut part = String::new();
            for c in word.chars() {
                if text_width(&format!("{part}{c}"), font, size) > max && !part.is_empty() {
                    lines.push(std::mem::take(&mut part));
                }
                part.push(c);
            }
            line = part;
        }
        lines.push(line);
    }
    lines
}

/// Text drawn by a PDF this module wrote: the string operands of its content streams, in order
/// (tests and the report's self-check use it; `pdftotext` gives the same words).
pub fn extract_text(pdf: &[u8]) -> String {
    use std::io::Read;
    let mut out = String::new();
    let mut rest = pdf;
    while let Some(i) = find(rest, b"/FlateDecode >>\nstream\n") {
        let start = i + b"/FlateDecode >>\nstream\n".len();
        let Some(end) = find(&rest[start..], b"\nendstream") else {
            break;
        };
        let mut text = Vec::new();
        if flate2::read::ZlibDecoder::new(&rest[start..start + end])
            .read_to_end(&mut text)
            .is_ok()
        {
            let s = String::from_utf8_lossy(&text);
            for line in s.lines() {
                if let (Some(a), Some(b)) = (line.find('('), line.rfind(") Tj")) {
                    out.push_str(&unescape(&line[a + 1..b]));
                    out.push('\n');
                }
            }
        }
        rest = &rest[start + end..];
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.peek() {
            Some(d) if d.is_ascii_digit() => {
                let oct: String = (0..3).filter_map(|_| it.next()).collect();
                if let Ok(v) = u32::from_str_radix(&oct, 8) {
                    out.push(char::from_u32(v).unwrap_or('?'));
                }
            }
            Some(_) => out.push(it.next().unwrap_or('\\')),
            None => {}
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heading_is_not_left_alone_at_the_bottom_of_a_page() {
        let mut p = Pdf::new("t");
        // Fill the page until three body lines are left.
        while p.y - MARGIN > 3.0 * 9.0 * 1.3 + 13.0 * 2.1 + 1.0 {
            p.para("filler", Font::Regular, 9.0, 0.0);
        }
        assert_eq!(p.pages.len(), 1);
        p.heading("Section", 13.0);
        assert_eq!(p.pages.len(), 2, "the heading starts the next page");
        // With room for it and four lines, a heading stays where it is.
        let mut q = Pdf::new("t");
        q.heading("Section", 13.0);
        assert_eq!(q.pages.len(), 1);
    }

    #[test]
    fn writes_a_pdf_whose_text_can_be_extracted() {
        let mut p = Pdf::new("t");
        p.heading("Report (draft)", 16.0);
        let long = "word ".repeat(3000);
        p.para(&long, Font::Regular, 10.0, 0.0);
        p.mono(&"ab".repeat(80), 8.0, 0.0);
        p.para("Café – 50% \\ (x)", Font::Regular, 10.0, 0.0);
        let img = image::RgbImage::from_pixel(8, 4, image::Rgb([200, 10, 10]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&img)
            .unwrap();
        let i = p.add_jpeg(jpeg, 8, 4);
        p.image(i, 0.0, 200.0, 100.0);
        let pages = p.pages.len();
        assert!(pages >= 2, "long text flows onto a new page");
        let bytes = p.finish();
        assert!(bytes.starts_with(b"%PDF-1.4"));
        assert!(bytes.ends_with(b"%%EOF\n"));
        let text = extract_text(&bytes);
        assert!(text.contains("Report (draft)"), "{text}");
        assert!(text.contains("Café - 50% \\ (x)"), "{text}");
        assert!(text.contains(&"ab".repeat(30)));
        // The xref offsets point at the objects.
        let tail = String::from_utf8_lossy(&bytes[bytes.len() - 40..]).into_owned();
        let at = tail.rfind("startxref\n").unwrap();
        let off: usize = tail[at + 10..].lines().next().unwrap().parse().unwrap();
        assert!(bytes[off..].starts_with(b"xref"));
    }

    #[test]
    fn wrap_respects_the_width() {
        let lines = wrap(
            "the quick brown fox jumps over the lazy dog",
            Font::Regular,
            10.0,
            60.0,
        );
        assert!(lines.len() > 2);
        for l in &lines {
            assert!(
                text_width(l, Font::Regular, 10.0) <= 60.0 || !l.contains(' '),
                "{l}"
            );
        }
    }
}
