#!/usr/bin/env python3
"""Writes a CLIP vision tower with random weights as an HF-style model directory
(config.json + model.safetensors, HF tensor names), for benchmarks on machines that cannot fetch
the real weights. The compute is the same as the real model's; the verdicts mean nothing.

    python3 bench/random_clip.py vit-b16 OUT_DIR
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file

PRESETS = {
    "vit-b16": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                    num_attention_heads=12, patch_size=16, image_size=224, projection_dim=512),
    "vit-l14": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                    num_attention_heads=16, patch_size=14, image_size=224, projection_dim=768),
}


def main():
    arch, out = sys.argv[1], sys.argv[2]
    c = PRESETS[arch]
    d, i, p, s = c["hidden_size"], c["intermediate_size"], c["patch_size"], c["image_size"]
    rng = np.random.default_rng(0)

    def rnd(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)

    t = {
        "vision_model.embeddings.class_embedding": rnd(d),
        "vision_model.embeddings.patch_embedding.weight": rnd(d, 3, p, p),
        "vision_model.embeddings.position_embedding.weight": rnd((s // p) ** 2 + 1, d),
        "visual_projection.weight": rnd(c["projection_dim"], d),
    }
    for n in ["vision_model.pre_layrnorm", "vision_model.post_layernorm"]:
        t[f"{n}.weight"] = np.ones(d, np.float32)
        t[f"{n}.bias"] = np.zeros(d, np.float32)
    for layer in range(c["num_hidden_layers"]):
        b = f"vision_model.encoder.layers.{layer}"
        for n in ["layer_norm1", "layer_norm2"]:
            t[f"{b}.{n}.weight"] = np.ones(d, np.float32)
            t[f"{b}.{n}.bias"] = np.zeros(d, np.float32)
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            t[f"{b}.self_attn.{n}.weight"] = rnd(d, d)
            t[f"{b}.self_attn.{n}.bias"] = np.zeros(d, np.float32)
        t[f"{b}.mlp.fc1.weight"] = rnd(i, d)
        t[f"{b}.mlp.fc1.bias"] = np.zeros(i, np.float32)
        t[f"{b}.mlp.fc2.weight"] = rnd(d, i)
        t[f"{b}.mlp.fc2.bias"] = np.zeros(d, np.float32)
    os.makedirs(out, exist_ok=True)
    save_file(t, os.path.join(out, "model.safetensors"))
    cfg = dict(c, hidden_act="quick_gelu", layer_norm_eps=1e-5, num_channels=3,
               model_type="clip_vision_model")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


if __name__ == "__main__":
    main()
