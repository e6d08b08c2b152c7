//! A structural check of a JPEG's entropy-coded data: damage that decoders read past.
//!
//! Decoders, ours included, are lenient the way viewers are: when a scan's Huffman data is damaged
//! they carry on, and the rest of the picture comes out as grey, colour-shifted or garbled blocks
//! that the detectors would score as if they were the picture. This module walks the file's
//! segments and decodes every scan's Huffman codes (no dequantising, no inverse DCT) to check
//! that each scan holds exactly the data its blocks need: no invalid code, no marker inside the
//! data, no scan that stops short, no bytes left over before the next marker, restart markers in
//! sequence. It reads baseline, extended sequential and progressive Huffman JPEGs; arithmetic-
//! coded, lossless and hierarchical ones are not checked (`None`).

/// What is wrong with the entropy-coded data of `bytes`, or `None` when every scan checks out
/// (or the file is of a kind this check does not read).
pub fn damage(bytes: &[u8]) -> Option<String> {
    match check(bytes) {
        Ok(()) => None,
        Err(Stop::Damage(d)) => Some(d),
        Err(Stop::NotChecked) => None,
    }
}

enum Stop {
    Damage(String),
    /// A kind of JPEG this check does not read, or a structure the decoder refuses anyway.
    NotChecked,
}

fn damaged<T>(s: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Damage(s.into()))
}

/// A canonical Huffman table: per code length, the first code and the index of its first symbol.
#[derive(Clone)]
struct Huffman {
    max_code: [i32; 18],
    val_offset: [i32; 17],
    symbols: Vec<u8>,
    /// Codes of up to [`FAST_BITS`] bits by their leading bits: `length << 8 | symbol`, 0 for none.
    fast: Vec<u16>,
}

const FAST_BITS: u32 = 9;

impl Huffman {
    fn new(counts: &[u8; 16], symbols: Vec<u8>) -> Option<Self> {
        let mut max_code = [-1i32; 18];
        let mut val_offset = [0i32; 17];
        let mut code = 0i32;
        let mut k = 0i32;
        for len in 1..=16 {
            let n = i32::from(counts[len - 1]);
            val_offset[len] = k - code;
            code += n;
            k += n;
            max_code[len] = if n > 0 { code - 1 } else { -1 };
            if code > 1 << len {
                return None;
            }
            code <<= 1;
        }
        max_code[17] = i32::MAX;
        let mut fast = vec![0u16; 1 << FAST_BITS];
        let (mut code, mut k) = (0usize, 0usize);
        for len in 1..=FAST_BITS as usize {
            for _ in 0..counts[len - 1] {
                let span = 1 << (FAST_BITS as usize - len);
                if let Some(&sym) = symbols.get(k) {
                    fast[code * span..(code + 1) * span].fill((len as u16) << 8 | u16::from(sym));
                }
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        Some(Self {
            max_code,
            val_offset,
            symbols,
            fast,
        })
    }
}

#[derive(Clone, Copy)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    /// Blocks across and down in a scan of this component alone.
    blocks_w: usize,
    blocks_h: usize,
}

struct Frame {
    progressive: bool,
    width: usize,
    height: usize,
    components: Vec<Component>,
    hmax: usize,
    vmax: usize,
    /// Per component, per block: which zig-zag coefficients (bit k) are non-zero so far
    /// (progressive only; the AC refinement scans read a bit for each).
    nonzero: Vec<Vec<u64>>,
}

/// Reads bits from entropy-coded data, un-stuffing 0xFF 0x00 and stopping at a marker.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            n: 0,
        }
    }

    fn fill(&mut self) {
        while self.n <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(&0xFF) => match self.data.get(self.pos + 1) {
                    Some(0x00) => {
                        self.pos += 2;
                        0xFF
                    }
                    _ => return,
                },
                Some(&b) => {
                    self.pos += 1;
                    b
                }
                None => return,
            };
            self.acc |= u64::from(byte) << (56 - self.n);
            self.n += 8;
        }
    }

    fn bits(&mut self, count: u32) -> Result<u32, Stop> {
        if count == 0 {
            return Ok(0);
        }
        if self.n < count {
            self.fill();
            if self.n < count {
                return damaged(
                    "the scan's data ends before its last block (premature end of data)",
                );
            }
        }
        let v = (self.acc >> (64 - count)) as u32;
        self.acc <<= count;
        self.n -= count;
        Ok(v)
    }

    fn decode(&mut self, t: &Huffman) -> Result<u8, Stop> {
        if self.n < 16 {
            self.fill();
        }
        let e = t.fast[(self.acc >> (64 - FAST_BITS)) as usize];
        let len = u32::from(e >> 8);
        if e != 0 && len <= self.n {
            self.acc <<= len;
            self.n -= len;
            return Ok(e as u8);
        }
        let mut code = 0i32;
        for len in 1..=16usize {
            if self.n == 0 {
                return damaged(
                    "the scan's data ends before its last block (premature end of data)",
                );
            }
            code = (code << 1) | (self.acc >> 63) as i32;
            self.acc <<= 1;
            self.n -= 1;
            if code <= t.max_code[len] {
                let i = (code + t.val_offset[len]) as usize;
                return t
                    .symbols
                    .get(i)
                    .copied()
                    .map_or_else(|| damaged("a Huffman table is malformed"), Ok);
            }
        }
        damaged("an invalid Huffman code in the scan's data")
    }

    /// At the end of a scan or a restart interval: what is left over before the next marker must
    /// be padding (fewer than 8 one-bits). Returns where the marker starts.
    fn finish(&mut self, what: &str) -> Result<usize, Stop> {
        // Bits already taken into the accumulator, beyond the current byte's padding, are bytes
        // the blocks did not use.
        // (The padding bits of the last byte are not checked: libjpeg accepts any.)
        let mut extra = (self.n / 8) as usize;
        let mut p = self.pos;
        loop {
            match self.data.get(p) {
                None => break,
                Some(&0xFF) => match self.data.get(p + 1) {
                    Some(0x00) => {
                        extra += 1;
                        p += 2;
                    }
                    // Fill bytes before a marker.
                    Some(0xFF) => p += 1,
                    _ => break,
                },
                Some(_) => {
                    extra += 1;
                    p += 1;
                }
            }
        }
        if extra > 0 {
            return damaged(format!(
                "{extra} bytes of data left over after the last block of {what} (the blocks \
                 before them decoded from misread bits)"
            ));
        }
        Ok(p)
    }
}

/// The zig-zag index of the last coefficient, for a block's bit mask.
const ALL: u32 = 63;

fn check(bytes: &[u8]) -> Result<(), Stop> {
    if bytes.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(Stop::NotChecked);
    }
    let mut dc: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac: [Option<Huffman>; 4] = [None, None, None, None];
    let mut restart = 0usize;
    let mut frame: Option<Frame> = None;
    let mut pos = 2usize;
    let mut scans = 0usize;
    loop {
        // Find the next marker, skipping fill bytes.
        if bytes.get(pos) != Some(&0xFF) {
            return if scans > 0 {
                damaged(format!(
                    "bytes that are not a marker at offset {pos}, where a segment should start"
                ))
            } else {
                Err(Stop::NotChecked)
            };
        }
        while bytes.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos + 1) else {
            return Err(Stop::NotChecked);
        };
        pos += 2;
        match marker {
            0xD9 => {
                return if scans == 0 {
                    Err(Stop::NotChecked)
                } else {
                    Ok(())
                }
            }
            0xD0..=0xD7 => {
                return damaged(format!(
                    "a restart marker (RST{}) outside the scan data",
                    marker - 0xD0
                ))
            }
            0x01 => continue,
            _ => {}
        }
        let len = match bytes.get(pos..pos + 2) {
            Some(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
            None => return Err(Stop::NotChecked),
        };
        if len < 2 || pos + len > bytes.len() {
            return Err(Stop::NotChecked);
        }
        let seg = &bytes[pos + 2..pos + len];
        pos += len;
        match marker {
            // Baseline, extended sequential and progressive Huffman frames.
            0xC0..=0xC2 => {
                if frame.is_some() {
                    return damaged("a second frame header (two SOF markers)");
                }
                frame = Some(parse_frame(seg, marker == 0xC2)?);
            }
            // Lossless, hierarchical and arithmetic-coded frames, and DNL: not checked.
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xDC => return Err(Stop::NotChecked),
            0xC4 => parse_huffman(seg, &mut dc, &mut ac)?,
            0xDD => {
                restart = usize::from(u16::from_be_bytes([
                    *seg.first().ok_or(Stop::NotChecked)?,
                    *seg.get(1).ok_or(Stop::NotChecked)?,
                ]))
            }
            0xDA => {
                let Some(f) = frame.as_mut() else {
                    return Err(Stop::NotChecked);
                };
                pos = scan(bytes, pos, seg, f, &dc, &ac, restart)?;
                scans += 1;
            }
            _ => {}
        }
    }
}

fn parse_frame(seg: &[u8], progressive: bool) -> Result<Frame, Stop> {
    if seg.len() < 6 {
        return Err(Stop::NotChecked);
    }
    let height = usize::from(u16::from_be_bytes([seg[1], seg[2]]));
    let width = usize::from(u16::from_be_bytes([seg[3], seg[4]]));
    let n = usize::from(seg[5]);
    if height == 0 || width == 0 || n == 0 || n > 4 || seg.len() < 6 + 3 * n {
        return Err(Stop::NotChecked);
    }
    let mut components = Vec::with_capacity(n);
    for c in seg[6..6 + 3 * n].chunks(3) {
        let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return Err(Stop::NotChecked);
        }
        components.push(Component {
            id: c[0],
            h,
            v,
            blocks_w: 0,
            blocks_h: 0,
        });
    }
    let hmax = components.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = components.iter().map(|c| c.v).max().unwrap_or(1);
    for c in &mut components {
        c.blocks_w = (width * c.h).div_ceil(hmax).div_ceil(8);
        c.blocks_h = (height * c.v).div_ceil(vmax).div_ceil(8);
    }
    let nonzero = if progressive {
        // Interleaved scans cover whole MCUs, so a component can have padding blocks beyond its
        // own grid; only the non-interleaved (AC) scans need the mask, on the component's grid.
        components
            .iter()
            .map(|c| vec![0u64; c.blocks_w * c.blocks_h])
            .collect()
    } else {
        Vec::new()
    };
    Ok(Frame {
        progressive,
        width,
        height,
        components,
        hmax,
        vmax,
        nonzero,
    })
}

fn parse_huffman(
    mut seg: &[u8],
    dc: &mut [Option<Huffman>; 4],
    ac: &mut [Option<Huffman>; 4],
) -> Result<(), Stop> {
    while !seg.is_empty() {
        if seg.len() < 17 {
            return Err(Stop::NotChecked);
        }
        let (class, id) = (seg[0] >> 4, usize::from(seg[0] & 15));
        let mut counts = [0u8; 16];
        counts.copy_from_slice(&seg[1..17]);
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if class > 1 || id > 3 || seg.len() < 17 + total {
            return Err(Stop::NotChecked);
        }
        let table = Huffman::new(&counts, seg[17..17 + total].to_vec()).ok_or(Stop::NotChecked)?;
        if class == 0 {
            dc[id] = Some(table);
        } else {
            ac[id] = Some(table);
        }
        seg = &seg[17 + total..];
    }
    Ok(())
}

/// Checks one scan whose header is `seg` and whose data starts at `pos`; returns where the
/// marker after it starts.
fn scan(
    bytes: &[u8],
    pos: usize,
    seg: &[u8],
    f: &mut Frame,
    dc: &[Option<Huffman>; 4],
    ac: &[Option<Huffman>; 4],
    restart: usize,
) -> Result<usize, Stop> {
    let n = usize::from(*seg.first().ok_or(Stop::NotChecked)?);
    if n == 0 || n > 4 || seg.len() < 1 + 2 * n + 3 {
        return Err(Stop::NotChecked);
    }
    let mut comps = Vec::with_capacity(n);
    for c in seg[1..1 + 2 * n].chunks(2) {
        let i = f
            .components
            .iter()
            .position(|k| k.id == c[0])
            .ok_or(Stop::NotChecked)?;
        comps.push((i, usize::from(c[1] >> 4), usize::from(c[1] & 15)));
    }
    let ss = u32::from(seg[1 + 2 * n]);
    let se = u32::from(seg[2 + 2 * n]);
    let (ah, _al) = (seg[3 + 2 * n] >> 4, seg[3 + 2 * n] & 15);
    let sequential = !f.progressive;
    if sequential && (ss != 0 || se != ALL) {
        return Err(Stop::NotChecked);
    }
    if f.progressive && (se > ALL || ss > se || (ss == 0 && se != 0) || (ss > 0 && n != 1)) {
        return Err(Stop::NotChecked);
    }
    let needs_dc = ss == 0 && ah == 0;
    let needs_ac = se > 0;
    // The table a component names, where the scan needs one (a missing table: not checked).
    fn table(set: &[Option<Huffman>; 4], k: usize, needed: bool) -> Result<Option<&Huffman>, Stop> {
        needed
            .then(|| set.get(k).and_then(Option::as_ref).ok_or(Stop::NotChecked))
            .transpose()
    }
    let mut tables = Vec::with_capacity(n);
    for &(i, td, ta) in &comps {
        tables.push((i, table(dc, td, needs_dc)?, table(ac, ta, needs_ac)?));
    }
    // The MCU grid: whole MCUs for an interleaved scan, the component's own blocks for one alone.
    let (mcus_w, mcus_h) = if n == 1 {
        let c = f.components[comps[0].0];
        (c.blocks_w, c.blocks_h)
    } else {
        (f.width.div_ceil(8 * f.hmax), f.height.div_ceil(8 * f.vmax))
    };
    let total = mcus_w * mcus_h;
    let mut bits = Bits::new(bytes, pos);
    let mut eobrun = 0u32;
    let mut next_rst = 0u8;
    for m in 0..total {
        if restart > 0 && m > 0 && m % restart == 0 {
            let at = bits.finish("a restart interval")?;
            match bytes.get(at..at + 2) {
                Some(&[0xFF, r]) if (0xD0..=0xD7).contains(&r) => {
                    if r - 0xD0 != next_rst {
                        return damaged(format!(
                            "restart marker RST{} where RST{next_rst} was due (data lost or \
                             repeated)",
                            r - 0xD0
                        ));
                    }
                }
                _ => {
                    return damaged(
                        "a restart marker missing where the restart interval ends \
                         (premature end of data)",
                    )
                }
            }
            next_rst = (next_rst + 1) % 8;
            bits = Bits::new(bytes, at + 2);
            eobrun = 0;
        }
        let (mx, my) = (m % mcus_w, m / mcus_w);
        for &(ci, d, a) in &tables {
            let c = f.components[ci];
            let (bw, bh) = if n == 1 { (1, 1) } else { (c.h, c.v) };
            for by in 0..bh {
                for bx in 0..bw {
                    let (x, y) = (mx * bw + bx, my * bh + by);
                    let mask = if f.progressive && n == 1 {
                        f.nonzero[ci].get_mut(y * c.blocks_w + x)
                    } else {
                        None
                    };
                    block(&mut bits, d, a, ss, se, ah, &mut eobrun, mask, sequential)?;
                }
            }
        }
    }
    bits.finish("the scan")
}

#[allow(clippy::too_many_arguments)]
fn block(
    bits: &mut Bits,
    dc: Option<&Huffman>,
    ac: Option<&Huffman>,
    ss: u32,
    se: u32,
    ah: u8,
    eobrun: &mut u32,
    mask: Option<&mut u64>,
    sequential: bool,
) -> Result<(), Stop> {
    if ss == 0 {
        if ah == 0 {
            let s = bits.decode(dc.ok_or(Stop::NotChecked)?)?;
            if s > 16 {
                return damaged("a DC difference of an impossible size in the scan's data");
            }
            bits.bits(u32::from(s))?;
        } else {
            bits.bits(1)?;
        }
        if !sequential {
            return Ok(());
        }
    }
    let ac = ac.ok_or(Stop::NotChecked)?;
    let start = ss.max(1);
    if sequential {
        let mut k = 1u32;
        while k <= ALL {
            let rs = bits.decode(ac)?;
            let (r, s) = (u32::from(rs >> 4), u32::from(rs & 15));
            if s == 0 {
                if r != 15 {
                    break;
                }
                k += 16;
            } else {
                k += r;
                bits.bits(s)?;
                k += 1;
            }
        }
        if k > ALL + 1 {
            return damaged("a block with more than 64 coefficients in the scan's data");
        }
        return Ok(());
    }
    let mut scratch = 0u64;
    let mask = mask.unwrap_or(&mut scratch);
    if ah == 0 {
        // First AC scan of a band.
        if *eobrun > 0 {
            *eobrun -= 1;
            return Ok(());
        }
        let mut k = start;
        while k <= se {
            let rs = bits.decode(ac)?;
            let (r, s) = (u32::from(rs >> 4), u32::from(rs & 15));
            if s == 0 {
                if r < 15 {
                    *eobrun = (1 << r) - 1 + bits.bits(r)?;
                    break;
                }
                k += 16;
            } else {
                k += r;
                if k > se {
                    return damaged("a coefficient beyond the band's end in the scan's data");
                }
                bits.bits(s)?;
                *mask |= 1 << k;
                k += 1;
            }
        }
        if k > se + 1 {
            return damaged("a zero run beyond the band's end in the scan's data");
        }
        return Ok(());
    }
    // AC refinement: one correction bit per coefficient already non-zero, new ones of size 1.
    let mut k = start;
    if *eobrun == 0 {
        while k <= se {
            let rs = bits.decode(ac)?;
            let (mut r, s) = (i32::from(rs >> 4), rs & 15);
            if s != 0 {
                if s != 1 {
                    return damaged(
                        "a refinement coefficient of an impossible size in the scan's data",
                    );
                }
                bits.bits(1)?;
            } else if r != 15 {
                *eobrun = (1 << r) + bits.bits(r as u32)?;
                break;
            }
            while k <= se {
                if *mask & (1 << k) != 0 {
                    bits.bits(1)?;
                } else {
                    if r == 0 {
                        break;
                    }
                    r -= 1;
                }
                k += 1;
            }
            if s != 0 {
                if k > se {
                    return damaged("a coefficient beyond the band's end in the scan's data");
                }
                *mask |= 1 << k;
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        while k <= se {
            if *mask & (1 << k) != 0 {
                bits.bits(1)?;
            }
            k += 1;
        }
        *eobrun -= 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::damage;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

    /// A textured scene (so every block has AC data), `channels` bytes per pixel.
    fn scene(w: usize, h: usize, channels: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h * channels);
        for y in 0..h {
            for x in 0..w {
                for c in 0..channels {
                    let n = (x * 31 + y * 17 + c * 7) ^ (x * y / 3);
                    v.push(((n * 2654435761usize) >> 13) as u8 / 2 + (x + y) as u8 / 3);
                }
            }
        }
        v
    }

    struct Kind {
        progressive: bool,
        restart: u16,
        sampling: SamplingFactor,
        colour: ColorType,
        optimized: bool,
        size: (u16, u16),
    }

    const PLAIN: Kind = Kind {
        progressive: false,
        restart: 0,
        sampling: SamplingFactor::R_4_2_0,
        colour: ColorType::Rgb,
        optimized: false,
        size: (96, 64),
    };

    fn jpeg(k: &Kind) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out, 85);
        e.set_progressive(k.progressive);
        e.set_restart_interval(k.restart);
        e.set_sampling_factor(k.sampling);
        e.set_optimized_huffman_tables(k.optimized);
        let channels = match k.colour {
            ColorType::Luma => 1,
            ColorType::Cmyk => 4,
            _ => 3,
        };
        let (w, h) = k.size;
        e.encode(
            &scene(usize::from(w), usize::from(h), channels),
            w,
            h,
            k.colour,
        )
        .unwrap();
        out
    }

    fn kinds() -> Vec<Kind> {
        let mut v = Vec::new();
        for progressive in [false, true] {
            for restart in [0, 1, 5] {
                for sampling in [
                    SamplingFactor::R_4_4_4,
                    SamplingFactor::R_4_2_2,
                    SamplingFactor::R_4_2_0,
                    SamplingFactor::R_4_1_1,
                ] {
                    v.push(Kind {
                        progressive,
                        restart,
                        sampling,
                        ..PLAIN
                    });
                }
            }
            for colour in [ColorType::Luma, ColorType::Cmyk] {
                v.push(Kind {
                    progressive,
                    colour,
                    ..PLAIN
                });
            }
            for size in [(37, 29), (203, 9), (8, 8)] {
                v.push(Kind {
                    progressive,
                    size,
                    optimized: true,
                    ..PLAIN
                });
            }
        }
        v
    }

    /// Where the first scan's data starts.
    fn scan_data(b: &[u8]) -> usize {
        let sos = b.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        sos + 2 + usize::from(u16::from_be_bytes([b[sos + 2], b[sos + 3]]))
    }

    #[test]
    fn intact_files_of_every_kind_check_out() {
        for (i, k) in kinds().iter().enumerate() {
            let b = jpeg(k);
            assert_eq!(damage(&b), None, "kind {i} ({} bytes)", b.len());
        }
        // And the encoder the `image` crate has.
        let mut b = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(
            image::RgbImage::from_raw(64, 48, scene(64, 48, 3)).unwrap(),
        )
        .write_to(&mut b, image::ImageFormat::Jpeg)
        .unwrap();
        assert_eq!(damage(b.get_ref()), None);
    }

    #[test]
    fn garbled_scan_data_is_found() {
        let mut rng = crate::rng::Rng::new(3);
        for k in [
            PLAIN,
            Kind {
                progressive: true,
                ..PLAIN
            },
            Kind {
                restart: 4,
                ..PLAIN
            },
        ] {
            let good = jpeg(&Kind {
                size: (256, 192),
                ..k
            });
            let start = scan_data(&good);
            for trial in 0..8 {
                let mut b = good.clone();
                let at = start + (b.len() - start) / 3 + trial * 37;
                for x in &mut b[at..at + 48] {
                    *x = rng.next_u64() as u8;
                }
                assert!(
                    damage(&b).is_some(),
                    "progressive {} restart {} trial {trial}",
                    k.progressive,
                    k.restart
                );
            }
        }
    }

    #[test]
    fn each_kind_of_damage_is_named() {
        let good = jpeg(&PLAIN);
        let eoi = good.len() - 2;
        // Bytes nobody decodes before the end-of-image marker.
        let mut extra = good.clone();
        extra.splice(eoi..eoi, [0x12, 0x34, 0x56, 0x78]);
        let d = damage(&extra).unwrap();
        assert!(d.contains("4 bytes of data left over"), "{d}");
        // A scan cut short, the end-of-image marker still there.
        let mut short = good.clone();
        let start = scan_data(&short);
        short.drain(start + 40..eoi);
        let d = damage(&short).unwrap();
        assert!(d.contains("premature end"), "{d}");
        // Restart markers out of order (one interval's data lost).
        let r = jpeg(&Kind {
            restart: 2,
            size: (256, 64),
            ..PLAIN
        });
        let rst = |b: &[u8], n: u8| b.windows(2).position(|w| w == [0xFF, 0xD0 + n]).unwrap();
        let mut lost = r.clone();
        lost.drain(rst(&r, 0)..rst(&r, 1));
        let d = damage(&lost).unwrap();
        assert!(d.contains("RST1 where RST0 was due"), "{d}");
        // A second frame header.
        let sof = good.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let len = usize::from(u16::from_be_bytes([good[sof + 2], good[sof + 3]]));
        let mut two = good.clone();
        let frame = good[sof..sof + 2 + len].to_vec();
        two.splice(sof..sof, frame);
        assert!(damage(&two).unwrap().contains("two SOF"));
    }

    #[test]
    fn what_it_does_not_read_is_not_called_damaged() {
        assert_eq!(damage(b""), None);
        assert_eq!(damage(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(damage(&[0xFF, 0xD8, 0xFF]), None);
        // An arithmetic-coded frame header (SOF9) is not checked.
        let mut arith = jpeg(&PLAIN);
        let sof = arith.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        arith[sof + 1] = 0xC9;
        let at = scan_data(&arith) + 10;
        arith[at] ^= 0xFF;
        assert_eq!(damage(&arith), None);
    }
}
