#!/usr/bin/env python3
"""Makes tests/fixtures/tiny-full: a tiny random *full* CLIP (image tower of tests/fixtures/tiny
plus a random text tower), a tiny CLIP tokenizer (vocab.json + merges.txt), and the references
the tests compare against:

- token ids from Hugging Face transformers' own `CLIPTokenizer` (the slow, pure-Python one) on
  our tiny vocabulary, so our Rust tokenizer is checked against an independent implementation;
- text embeddings from a plain numpy CLIP text tower written here (shares no code with candle).

    python3 -m venv /tmp/hfv && /tmp/hfv/bin/pip install transformers numpy pillow
    /tmp/hfv/bin/python tools/make_text_fixture.py

Every weight is drawn from a seeded generator; nothing comes from a trained model.
"""
import json, os, struct
import numpy as np
from reference_embed import ln, weights_from_safetensors  # tools/, beside this script

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
OUT = os.path.join(ROOT, "tiny-full")

MERGES = [
    "p h", "o t", "ph ot", "phot o</w>", "r e", "a l</w>", "re al</w>", "f a", "k e</w>",
    "fa ke</w>", "h o", "i m", "im a", "ima g", "imag e</w>", "' s</w>", "a n</w>",
]
TEXTS = [
    "A real photo", "A fake photo", "  An   AI-generated IMAGE!!  ", "it's 2026", "photohot",
    "café ☕", "a photo of a real photo of a fake photo of an image",
]
PROMPTS = ["A real photo", "A fake photo", "an image"]
HIDDEN, HEADS, INTER, LAYERS, MAXPOS, PROJ = 32, 4, 64, 2, 16, 16


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k], "<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def text_forward(w, ids):
    x = w["text_model.embeddings.token_embedding.weight"][ids].astype(np.float64)
    x = x + w["text_model.embeddings.position_embedding.weight"][: len(ids)]
    n, hd = len(ids), HIDDEN // HEADS
    causal = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(LAYERS):
        L = lambda k: w[f"text_model.encoder.layers.{i}.{k}"].astype(np.float64)
        y = ln(x, L("layer_norm1.weight"), L("layer_norm1.bias"))
        q = (y @ L("self_attn.q_proj.weight").T + L("self_attn.q_proj.bias")) * hd ** -0.5
        k = y @ L("self_attn.k_proj.weight").T + L("self_attn.k_proj.bias")
        v = y @ L("self_attn.v_proj.weight").T + L("self_attn.v_proj.bias")
        split = lambda t: t.reshape(n, HEADS, hd).transpose(1, 0, 2)
        a = split(q) @ split(k).transpose(0, 2, 1) + causal
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = (a @ split(v)).transpose(1, 0, 2).reshape(n, HIDDEN)
        x = x + o @ L("self_attn.out_proj.weight").T + L("self_attn.out_proj.bias")
        y = ln(x, L("layer_norm2.weight"), L("layer_norm2.bias"))
        h = y @ L("mlp.fc1.weight").T + L("mlp.fc1.bias")
        h = h / (1 + np.exp(-1.702 * h))
        x = x + h @ L("mlp.fc2.weight").T + L("mlp.fc2.bias")
    x = ln(x, w["text_model.final_layer_norm.weight"], w["text_model.final_layer_norm.bias"])
    eot = int(np.argmax(ids))  # the end token has the largest id, as in CLIP
    return x[eot] @ w["text_projection.weight"].astype(np.float64).T


def main():
    os.makedirs(OUT, exist_ok=True)
    symbols = bytes_to_unicode()
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in MERGES]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(set(vocab)) == len(vocab)
    with open(os.path.join(OUT, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(OUT, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(MERGES) + "\n")

    rng = np.random.default_rng(2511)
    r = lambda *s: (rng.normal(0, 0.2, s)).astype(np.float32)
    w = weights_from_safetensors(os.path.join(ROOT, "tiny", "model.safetensors"))
    w["text_model.embeddings.token_embedding.weight"] = r(len(vocab), HIDDEN)
    w["text_model.embeddings.position_embedding.weight"] = r(MAXPOS, HIDDEN)
    for i in range(LAYERS):
        p = f"text_model.encoder.layers.{i}."
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            w[p + f"self_attn.{n}.weight"] = r(HIDDEN, HIDDEN)
            w[p + f"self_attn.{n}.bias"] = r(HIDDEN)
        for n in ["layer_norm1", "layer_norm2"]:
            w[p + f"{n}.weight"] = (1 + r(HIDDEN)).astype(np.float32)
            w[p + f"{n}.bias"] = r(HIDDEN)
        w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"] = r(INTER, HIDDEN), r(INTER)
        w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"] = r(HIDDEN, INTER), r(HIDDEN)
    w["text_model.final_layer_norm.weight"] = (1 + r(HIDDEN)).astype(np.float32)
    w["text_model.final_layer_norm.bias"] = r(HIDDEN)
    w["text_projection.weight"] = r(PROJ, HIDDEN)
    w["logit_scale"] = np.array(2.6592, np.float32)
    write_st(os.path.join(OUT, "model.safetensors"), w)

    vision = json.load(open(os.path.join(ROOT, "tiny", "config.json")))
    vision.pop("architectures", None)
    vision.pop("model_type", None)
    proj = vision.pop("projection_dim")
    config = {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": proj,
        "text_config": {"vocab_size": len(vocab), "hidden_size": HIDDEN, "intermediate_size": INTER,
                        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                        "max_position_embeddings": MAXPOS, "hidden_act": "quick_gelu",
                        "layer_norm_eps": 1e-5},
        "vision_config": vision,
    }
    json.dump(config, open(os.path.join(OUT, "config.json"), "w"), indent=2)

    from transformers import CLIPTokenizer
    tok = CLIPTokenizer(os.path.join(OUT, "vocab.json"), os.path.join(OUT, "merges.txt"))
    tokens = {t: tok(t, truncation=True, max_length=MAXPOS)["input_ids"] for t in TEXTS}
    emb = {p: text_forward(w, np.array(tokens.get(p) or tok(p)["input_ids"])).tolist() for p in PROMPTS}
    ref = {"max_len": MAXPOS, "tokens": tokens, "embeddings": emb}
    json.dump(ref, open(os.path.join(OUT, "reference_text.json"), "w"), indent=1)
    for t, ids in tokens.items():
        print(repr(t), ids)


if __name__ == "__main__":
    main()
