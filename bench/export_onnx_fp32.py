#!/usr/bin/env python3
"""Writes an fp32 ONNX graph of a CLIP ViT image tower + projection from a Fauxscope base model
directory (config.json + model.safetensors), so ONNX Runtime can run the very same model.

    python3 bench/export_onnx_fp32.py MODEL_DIR OUT.onnx

Needs numpy and onnx. Ops: Conv, LayerNormalization (opset 17), MatMul, Softmax, Sigmoid.
"""
import json, struct, sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + a : 8 + n + b], "<f4").reshape(v["shape"]).copy()
    return out


def build(cfg, w):
    d, h, s, p = cfg["hidden_size"], cfg["num_attention_heads"], cfg["image_size"], cfg["patch_size"]
    hd, eps = d // h, cfg.get("layer_norm_eps", 1e-5)
    nodes, inits = [], []
    cnt = [0]

    def name(prefix):
        cnt[0] += 1
        return f"{prefix}_{cnt[0]}"

    def const(arr, prefix="c"):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def op(kind, inputs, **attrs):
        out = name(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(x, wname, bias=True):
        y = op("MatMul", [x, const(w[wname + ".weight"].T.copy())])
        return op("Add", [y, const(w[wname + ".bias"])]) if bias else y

    def ln(x, pre):
        return op("LayerNormalization", [x, const(w[pre + ".weight"]), const(w[pre + ".bias"])], axis=-1, epsilon=eps)

    pre = "vision_model."
    x = op("Conv", ["pixel_values", const(w[pre + "embeddings.patch_embedding.weight"])], strides=[p, p])
    x = op("Reshape", [x, const(np.array([0, d, -1], np.int64))])
    x = op("Transpose", [x], perm=[0, 2, 1])
    zero = op("Mul", [op("ReduceMean", [x], axes=[1], keepdims=1), const(np.float32(0))])
    cls = op("Add", [zero, const(w[pre + "embeddings.class_embedding"].reshape(1, 1, d))])
    x = op("Concat", [cls, x], axis=1)
    x = op("Add", [x, const(w[pre + "embeddings.position_embedding.weight"][None])])
    x = ln(x, pre + "pre_layrnorm")
    heads_shape = const(np.array([0, -1, h, hd], np.int64))
    back_shape = const(np.array([0, -1, d], np.int64))
    for i in range(cfg["num_hidden_layers"]):
        L = f"{pre}encoder.layers.{i}."
        y = ln(x, L + "layer_norm1")
        q = op("Mul", [linear(y, L + "self_attn.q_proj"), const(np.float32(hd ** -0.5))])
        k = linear(y, L + "self_attn.k_proj")
        v = linear(y, L + "self_attn.v_proj")
        q = op("Transpose", [op("Reshape", [q, heads_shape])], perm=[0, 2, 1, 3])
        k = op("Transpose", [op("Reshape", [k, heads_shape])], perm=[0, 2, 3, 1])
        v = op("Transpose", [op("Reshape", [v, heads_shape])], perm=[0, 2, 1, 3])
        a = op("Softmax", [op("MatMul", [q, k])], axis=-1)
        o = op("Reshape", [op("Transpose", [op("MatMul", [a, v])], perm=[0, 2, 1, 3]), back_shape])
        x = op("Add", [x, linear(o, L + "self_attn.out_proj")])
        y = linear(ln(x, L + "layer_norm2"), L + "mlp.fc1")
        y = op("Mul", [y, op("Sigmoid", [op("Mul", [y, const(np.float32(1.702))])])])
        x = op("Add", [x, linear(y, L + "mlp.fc2")])
    c = op("Gather", [x, const(np.array(0, np.int64))], axis=1)
    c = ln(c, pre + "post_layernorm")
    out = op("MatMul", [c, const(w["visual_projection.weight"].T.copy())])
    nodes.append(helper.make_node("Identity", [out], ["image_embeds"]))
    graph = helper.make_graph(
        nodes, "clip_vision_fp32",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, s, s])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", cfg["projection_dim"]])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="fauxscope-bench")


if __name__ == "__main__":
    mdir, out = sys.argv[1], sys.argv[2]
    cfg = json.load(open(f"{mdir}/config.json"))
    model = build(cfg, load_safetensors(f"{mdir}/model.safetensors"))
    onnx.save(model, out)
    print(f"wrote {out}")
