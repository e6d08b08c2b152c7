#!/usr/bin/env python3
"""Independent reference for `fauxscope embed`: a plain numpy CLIP ViT image tower.

It shares no code with the Rust implementation. For the real model it reads the int8 ONNX file
with the `onnx` package and dequantizes the weights itself; for the tiny test model it reads the
safetensors file by hand. Images must already be model-sized (no resize), so preprocessing is
only the CLIP normalisation and identical on both sides.

    python3 tools/reference_embed.py --onnx clip_encoder.int8.onnx IMG... > ref.json
    python3 tools/reference_embed.py --safetensors DIR IMG... > ref.json
"""
import argparse, json, struct, sys
import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float64)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float64)


def weights_from_onnx(path):
    import onnx
    from onnx import numpy_helper
    g = onnx.load(path).graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    w = {k: v.astype(np.float64) for k, v in init.items() if k.startswith(("vision_model.", "visual_projection."))}
    for n in g.node:
        if n.op_type != "MatMulInteger":
            continue
        q = init[n.input[1]].astype(np.float64)
        zp = init[n.input[3]].astype(np.float64)
        sc = init[n.input[1].replace("_quantized", "_scale")].astype(np.float64)
        name = n.name.strip("/").rsplit("/", 1)[0].replace("/", ".") + ".weight"
        w[name] = ((q - zp[None, :]) * sc[None, :]).T  # [out, in]
    return w


def weights_from_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + a : 8 + n + b], "<f4").reshape(v["shape"]).astype(np.float64)
    return out


def ln(x, w, b, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def forward(w, pixels, heads_dim=64, heads=None):
    p = w["vision_model.embeddings.patch_embedding.weight"]
    d, c, ps, _ = p.shape
    s = pixels.shape[-1]
    g = s // ps
    patches = pixels.reshape(c, g, ps, g, ps).transpose(1, 3, 0, 2, 4).reshape(g * g, c * ps * ps)
    tok = patches @ p.reshape(d, -1).T
    x = np.concatenate([w["vision_model.embeddings.class_embedding"][None], tok], 0)
    x = x + w["vision_model.embeddings.position_embedding.weight"]
    x = ln(x, w["vision_model.pre_layrnorm.weight"], w["vision_model.pre_layrnorm.bias"])
    h = heads or d // heads_dim
    hd = d // h
    i = 0
    while f"vision_model.encoder.layers.{i}.mlp.fc1.weight" in w:
        L = lambda n: w[f"vision_model.encoder.layers.{i}.{n}"]
        y = ln(x, L("layer_norm1.weight"), L("layer_norm1.bias"))
        q = (y @ L("self_attn.q_proj.weight").T + L("self_attn.q_proj.bias")) * hd ** -0.5
        k = y @ L("self_attn.k_proj.weight").T + L("self_attn.k_proj.bias")
        v = y @ L("self_attn.v_proj.weight").T + L("self_attn.v_proj.bias")
        split = lambda t: t.reshape(-1, h, hd).transpose(1, 0, 2)
        a = split(q) @ split(k).transpose(0, 2, 1)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = (a @ split(v)).transpose(1, 0, 2).reshape(-1, d)
        x = x + o @ L("self_attn.out_proj.weight").T + L("self_attn.out_proj.bias")
        y = ln(x, L("layer_norm2.weight"), L("layer_norm2.bias"))
        y = y @ L("mlp.fc1.weight").T + L("mlp.fc1.bias")
        y = y / (1 + np.exp(-1.702 * y))
        x = x + y @ L("mlp.fc2.weight").T + L("mlp.fc2.bias")
        i += 1
    pooled = ln(x[0], w["vision_model.post_layernorm.weight"], w["vision_model.post_layernorm.bias"])
    return pooled @ w["visual_projection.weight"].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx")
    ap.add_argument("--safetensors")
    ap.add_argument("--heads", type=int)
    ap.add_argument("images", nargs="+")
    a = ap.parse_args()
    w = weights_from_onnx(a.onnx) if a.onnx else weights_from_safetensors(a.safetensors)
    res = []
    for path in a.images:
        img = np.asarray(Image.open(path).convert("RGB"), np.float64) / 255.0
        px = ((img - MEAN) / STD).transpose(2, 0, 1)
        emb = forward(w, px, heads=a.heads)
        res.append({"path": path, "embedding": [round(float(v), 7) for v in emb]})
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
