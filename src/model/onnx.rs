//! A minimal ONNX reader: just enough of the protobuf wire format to read a graph's initializers and
//! nodes, and the importer that turns a dynamically int8-quantized CLIP image tower back into f32
//! weights with Hugging Face names. We never run the int8 arithmetic.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;

/// One protobuf field value.
enum Field<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| anyhow!("truncated varint"))?;
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bail!("varint longer than 10 bytes")
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end =
            end.ok_or_else(|| anyhow!("field of {n} bytes runs past the end of its message"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (num, wt) = (key >> 3, key & 7);
        let f = match wt {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Field::Fixed64
            }
            2 => {
                let n = self.varint()? as usize;
                Field::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Field::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            _ => bail!("unsupported protobuf wire type {wt}"),
        };
        Ok(Some((num, f)))
    }
}

/// ONNX TensorProto data types we read.
pub const ONNX_FLOAT: i32 = 1;
pub const ONNX_UINT8: i32 = 2;
pub const ONNX_INT8: i32 = 3;

#[derive(Debug, Clone)]
pub struct OnnxTensor {
    pub name: String,
    pub dims: Vec<usize>,
    pub data_type: i32,
    pub raw: Vec<u8>,
    pub floats: Vec<f32>,
    pub ints: Vec<i32>,
}

impl OnnxTensor {
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
    /// Values as f32 (float tensors only).
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        if self.data_type != ONNX_FLOAT {
            bail!(
                "tensor {} has data type {}, expected float",
                self.name,
                self.data_type
            );
        }
        let v: Vec<f32> = if !self.raw.is_empty() {
            self.raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            self.floats.clone()
        };
        self.check_len(v)
    }
    /// Values of an int8 or uint8 tensor, widened to i32.
    pub fn to_i32(&self) -> Result<Vec<i32>> {
        let v: Vec<i32> = match (self.data_type, self.raw.is_empty()) {
            (ONNX_INT8, false) => self.raw.iter().map(|&b| b as i8 as i32).collect(),
            (ONNX_UINT8, false) => self.raw.iter().map(|&b| b as i32).collect(),
            (ONNX_INT8 | ONNX_UINT8, true) => self.ints.clone(),
            (t, _) => bail!(
                "tensor {} has data type {t}, expected int8/uint8",
                self.name
            ),
        };
        self.check_len(v)
    }
    fn check_len<T>(&self, v: Vec<T>) -> Result<Vec<T>> {
        if v.len() != self.numel() {
            bail!(
                "tensor {} holds {} values but its shape {:?} needs {}",
                self.name,
                v.len(),
                self.dims,
                self.numel()
            );
        }
        Ok(v)
    }
}

#[derive(Debug, Clone)]
pub struct OnnxNode {
    pub name: String,
    pub op_type: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

#[derive(Debug, Default)]
pub struct OnnxGraph {
    pub initializers: HashMap<String, OnnxTensor>,
    pub nodes: Vec<OnnxNode>,
    pub producer: String,
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn packed_or_single(f: &Field, out: &mut Vec<i64>) -> Result<()> {
    match f {
        Field::Varint(v) => out.push(*v as i64),
        Field::Bytes(b) => {
            let mut r = Reader::new(b);
            while r.pos < b.len() {
                out.push(r.varint()? as i64);
            }
        }
        _ => bail!("unexpected wire type for an integer field"),
    }
    Ok(())
}

fn parse_tensor(buf: &[u8]) -> Result<OnnxTensor> {
    let mut t = OnnxTensor {
        name: String::new(),
        dims: vec![],
        data_type: 0,
        raw: vec![],
        floats: vec![],
        ints: vec![],
    };
    let mut dims = Vec::new();
    let mut ints = Vec::new();
    let mut external = false;
    let mut r = Reader::new(buf);
    while let Some((num, f)) = r.next()? {
        match (num, &f) {
            (1, _) => packed_or_single(&f, &mut dims)?,
            (2, Field::Varint(v)) => t.data_type = *v as i32,
            (4, Field::Bytes(b)) => t.floats.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            (4, Field::Fixed32(v)) => t.floats.push(f32::from_bits(*v)),
            (5, _) => packed_or_single(&f, &mut ints)?,
            (8, Field::Bytes(b)) => t.name = string(b),
            (9, Field::Bytes(b)) => t.raw = b.to_vec(),
            (13, _) => external = true,
            (14, Field::Varint(1)) => external = true,
            _ => {}
        }
    }
    if external {
        bail!(
            "tensor {} keeps its data in an external file, which is not supported",
            t.name
        );
    }
    t.dims = dims.into_iter().map(|d| d.max(0) as usize).collect();
    t.ints = ints.into_iter().map(|v| v as i32).collect();
    Ok(t)
}

fn parse_node(buf: &[u8]) -> Result<OnnxNode> {
    let mut n = OnnxNode {
        name: String::new(),
        op_type: String::new(),
        inputs: vec![],
        outputs: vec![],
    };
    let mut r = Reader::new(buf);
    while let Some((num, f)) = r.next()? {
        if let Field::Bytes(b) = f {
            match num {
                1 => n.inputs.push(string(b)),
                2 => n.outputs.push(string(b)),
                3 => n.name = string(b),
                4 => n.op_type = string(b),
                _ => {}
            }
        }
    }
    Ok(n)
}

/// Parses an ONNX ModelProto's graph (initializers and nodes).
pub fn parse_model(bytes: &[u8]) -> Result<OnnxGraph> {
    let mut g = OnnxGraph::default();
    let mut r = Reader::new(bytes);
    let mut graph = None;
    while let Some((num, f)) = r.next().context("not an ONNX model (bad protobuf)")? {
        match (num, f) {
            (2, Field::Bytes(b)) => g.producer = string(b),
            (7, Field::Bytes(b)) => graph = Some(b),
            _ => {}
        }
    }
    let graph = graph.ok_or_else(|| anyhow!("not an ONNX model: no graph"))?;
    let mut r = Reader::new(graph);
    while let Some((num, f)) = r.next().context("bad ONNX graph")? {
        match (num, f) {
            (1, Field::Bytes(b)) => g.nodes.push(parse_node(b)?),
            (5, Field::Bytes(b)) => {
                let t = parse_tensor(b)?;
                g.initializers.insert(t.name.clone(), t);
            }
            _ => {}
        }
    }
    if g.initializers.is_empty() {
        bail!("the ONNX graph has no initializers (weights)");
    }
    Ok(g)
}

/// An f32 tensor ready to be written to safetensors.
#[derive(Debug, Clone)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// HF weight name for a quantized MatMul node such as
/// `/vision_model/encoder/layers.0/self_attn/q_proj/MatMul_quant`.
fn hf_name_for_matmul(node: &str) -> Option<String> {
    let trimmed = node.strip_prefix('/')?;
    let (path, last) = trimmed.rsplit_once('/')?;
    if !last.starts_with("MatMul") {
        return None;
    }
    Some(format!("{}.weight", path.replace('/', ".")))
}

/// Reads the weights of a CLIP image tower from an ONNX graph: float initializers with HF names are
/// taken as they are; each `MatMulInteger` weight is dequantized, W = (Wq - zero_point) * scale per
/// output channel, and transposed from [in, out] to HF's [out, in].
pub fn clip_weights_from_onnx(g: &OnnxGraph) -> Result<Vec<NamedTensor>> {
    let mut out = Vec::new();
    for t in g.initializers.values() {
        let hf = t.name.starts_with("vision_model.") || t.name.starts_with("visual_projection.");
        if hf && t.data_type == ONNX_FLOAT {
            out.push(NamedTensor {
                name: t.name.clone(),
                shape: t.dims.clone(),
                data: t.to_f32()?,
            });
        }
    }
    let get = |n: &str| {
        g.initializers
            .get(n)
            .ok_or_else(|| anyhow!("initializer '{n}' is missing"))
    };
    for node in g.nodes.iter().filter(|n| n.op_type == "MatMulInteger") {
        let Some(name) = hf_name_for_matmul(&node.name) else {
            continue;
        };
        let wname = node
            .inputs
            .get(1)
            .ok_or_else(|| anyhow!("node {} has no weight input", node.name))?;
        let Some(wq) = g.initializers.get(wname) else {
            continue;
        };
        let base = wname.strip_suffix("_quantized").unwrap_or(wname);
        let scale = get(&format!("{base}_scale"))?.to_f32()?;
        let zp_name = node
            .inputs
            .get(3)
            .cloned()
            .unwrap_or_else(|| format!("{base}_zero_point"));
        let zp = get(&zp_name)?.to_i32()?;
        if wq.dims.len() != 2 {
            bail!(
                "quantized weight {wname} has shape {:?}, expected 2-D",
                wq.dims
            );
        }
        let (rows, cols) = (wq.dims[0], wq.dims[1]);
        if scale.len() != cols || zp.len() != cols {
            bail!(
                "{wname}: {} scales and {} zero points for {cols} output channels",
                scale.len(),
                zp.len()
            );
        }
        let q = wq.to_i32()?;
        let mut w = vec![0f32; rows * cols];
        for i in 0..rows {
            for o in 0..cols {
                w[o * rows + i] = (q[i * cols + o] - zp[o]) as f32 * scale[o];
            }
        }
        out.push(NamedTensor {
            name,
            shape: vec![cols, rows],
            data: w,
        });
    }
    // Float MatMul weights (an unquantized export) also map by node name, already [in, out].
    for node in g.nodes.iter().filter(|n| n.op_type == "MatMul") {
        let Some(name) = hf_name_for_matmul(&node.name) else {
            continue;
        };
        if out.iter().any(|t| t.name == name) {
            continue;
        }
        if let Some(t) = node.inputs.iter().find_map(|i| g.initializers.get(i)) {
            if t.dims.len() == 2 && t.data_type == ONNX_FLOAT {
                let (rows, cols) = (t.dims[0], t.dims[1]);
                let v = t.to_f32()?;
                let mut w = vec![0f32; rows * cols];
                for i in 0..rows {
                    for o in 0..cols {
                        w[o * rows + i] = v[i * cols + o];
                    }
                }
                out.push(NamedTensor {
                    name,
                    shape: vec![cols, rows],
                    data: w,
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
    fn bytes_field(num: u64, b: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
    fn tensor(name: &str, dims: &[u64], dt: u64, raw: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            varint(1 << 3, &mut t);
            varint(d, &mut t);
        }
        varint(2 << 3, &mut t);
        varint(dt, &mut t);
        bytes_field(8, name.as_bytes(), &mut t);
        bytes_field(9, raw, &mut t);
        t
    }

    #[test]
    fn dequantizes_and_transposes_a_quantized_matmul() {
        // Wq [in=2, out=3] int8, zero points and scales per output channel.
        let wq: [i8; 6] = [1, 2, 3, -4, 5, -6];
        let zp: [i8; 3] = [0, 1, -1];
        let sc: [f32; 3] = [0.5, 2.0, 1.0];
        let mut graph = Vec::new();
        let raw_w: Vec<u8> = wq.iter().map(|&v| v as u8).collect();
        bytes_field(5, &tensor("w_quantized", &[2, 3], 3, &raw_w), &mut graph);
        bytes_field(
            5,
            &tensor("w_zero_point", &[3], 3, &zp.map(|v| v as u8)),
            &mut graph,
        );
        let raw_s: Vec<u8> = sc.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes_field(5, &tensor("w_scale", &[3], 1, &raw_s), &mut graph);
        bytes_field(
            5,
            &tensor(
                "vision_model.post_layernorm.bias",
                &[1],
                1,
                &1.5f32.to_le_bytes(),
            ),
            &mut graph,
        );
        let mut node = Vec::new();
        for i in ["x_q", "w_quantized", "x_zp", "w_zero_point"] {
            bytes_field(1, i.as_bytes(), &mut node);
        }
        bytes_field(3, b"/visual_projection/MatMul_quant", &mut node);
        bytes_field(4, b"MatMulInteger", &mut node);
        bytes_field(1, &node, &mut graph);
        let mut model = Vec::new();
        bytes_field(7, &graph, &mut model);

        let g = parse_model(&model).unwrap();
        let ts = clip_weights_from_onnx(&g).unwrap();
        let bias = ts
            .iter()
            .find(|t| t.name == "vision_model.post_layernorm.bias")
            .unwrap();
        assert_eq!(bias.data, vec![1.5]);
        let w = ts
            .iter()
            .find(|t| t.name == "visual_projection.weight")
            .unwrap();
        assert_eq!(w.shape, vec![3, 2]);
        // W[o][i] = (Wq[i][o] - zp[o]) * scale[o]
        let expect = [0.5, -2.0, 2.0, 8.0, 4.0, -5.0];
        assert_eq!(w.data, expect);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_model(b"").is_err());
        assert!(parse_model(&[0xff, 0xff, 0xff]).is_err());
        assert!(parse_model(&[0x3a, 0x7f, 0x01]).is_err());
        assert_eq!(
            hf_name_for_matmul("/vision_model/encoder/layers.3/mlp/fc2/MatMul_quant").unwrap(),
            "vision_model.encoder.layers.3.mlp.fc2.weight"
        );
    }
}
