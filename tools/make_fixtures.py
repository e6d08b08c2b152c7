#!/usr/bin/env python3
"""Makes the project's own test images (deterministic, procedural) and the tiny random model.

    python3 tools/make_fixtures.py        # writes tests/fixtures/{parity,tiny,formats}/

Needs numpy and Pillow. Nothing here comes from a data set: every pixel is computed.
"""
import io, json, os, struct
import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def scene(size, seed):
    """A smooth 'landscape': sky gradient, a sun, hills, mild sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    img[..., 0] = 0.35 + 0.4 * y
    img[..., 1] = 0.55 + 0.25 * y
    img[..., 2] = 0.95 - 0.3 * y
    cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.35)
    sun = ((x - cx) ** 2 + (y - cy) ** 2) < 0.006
    img[sun] = [1.0, 0.9, 0.5]
    hill = y > 0.6 + 0.1 * np.sin(6 * x + seed)
    img[hill] = np.stack([0.2 + 0.1 * y, 0.45 + 0.2 * (1 - y), 0.15 + 0 * y], -1)[hill]
    img += rng.normal(0, 0.02, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def texture(size, seed):
    """Strong high-frequency texture (checker + noise) over half the frame."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.full((size, size, 3), 128.0)
    checker = ((x // 4 + y // 4) % 2) * 120 - 60
    base[:, size // 2 :] += checker[:, size // 2 :, None]
    base += rng.normal(0, 25, base.shape)
    return np.clip(base, 0, 255).round().astype(np.uint8)


def shapes(size, seed):
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 240, np.uint8)
    y, x = np.mgrid[0:size, 0:size]
    for _ in range(6):
        cx, cy, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(size // 10, size // 4))]
        col = rng.integers(0, 255, 3)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = col
    return img


def save_png(arr, path):
    Image.fromarray(arr).save(path, format="PNG", optimize=False)


def tiny_model(path_dir, seed=7):
    """Random weights for the tiny config, HF names, safetensors written by hand."""
    cfg = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               image_size=32, patch_size=8, projection_dim=16, layer_norm_eps=1e-5,
               hidden_act="quick_gelu", num_channels=3,
               architectures=["CLIPVisionModelWithProjection"], model_type="clip_vision_model")
    rng = np.random.default_rng(seed)
    d, m, p = 32, 64, 8
    n = (32 // p) ** 2 + 1
    t = {}
    r = lambda *s: rng.normal(0, 0.2, s).astype(np.float32)
    t["vision_model.embeddings.class_embedding"] = r(d)
    t["vision_model.embeddings.patch_embedding.weight"] = r(d, 3, p, p)
    t["vision_model.embeddings.position_embedding.weight"] = r(n, d)
    for ln in ["pre_layrnorm", "post_layernorm"]:
        t[f"vision_model.{ln}.weight"] = 1 + r(d)
        t[f"vision_model.{ln}.bias"] = r(d)
    for i in range(2):
        pre = f"vision_model.encoder.layers.{i}"
        for pr in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            t[f"{pre}.self_attn.{pr}.weight"] = r(d, d)
            t[f"{pre}.self_attn.{pr}.bias"] = r(d)
        for ln in ["layer_norm1", "layer_norm2"]:
            t[f"{pre}.{ln}.weight"] = 1 + r(d)
            t[f"{pre}.{ln}.bias"] = r(d)
        t[f"{pre}.mlp.fc1.weight"] = r(m, d)
        t[f"{pre}.mlp.fc1.bias"] = r(m)
        t[f"{pre}.mlp.fc2.weight"] = r(d, m)
        t[f"{pre}.mlp.fc2.bias"] = r(d)
    t["visual_projection.weight"] = r(16, d)
    header, off, blobs = {}, 0, []
    for k in sorted(t):
        b = t[k].astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(t[k].shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(path_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    with open(os.path.join(path_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def formats(out):
    """Small files in awkward formats for the loader tests."""
    os.makedirs(out, exist_ok=True)
    rgb = scene(64, 3)
    Image.fromarray(rgb).convert("CMYK").save(os.path.join(out, "cmyk.jpg"), quality=90)
    g16 = (np.mgrid[0:40, 0:48][1] * 1300).astype(np.uint16)
    Image.fromarray(g16).save(os.path.join(out, "grey16.png"))
    rgba = np.dstack([rgb, np.full((64, 64), 128, np.uint8)])
    Image.fromarray(rgba).save(os.path.join(out, "alpha.png"))
    frames = [Image.fromarray(shapes(32, s)) for s in range(3)]
    frames[0].save(os.path.join(out, "anim.gif"), save_all=True, append_images=frames[1:], duration=100)
    # A 40x20 image stored sideways with EXIF orientation 6 (rotate 90 CW to display): 20x40 upright.
    im = Image.fromarray(shapes(40, 9)[:20])
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(os.path.join(out, "rotated.jpg"), exif=exif, quality=95)
    Image.fromarray(shapes(32, 4)).save(os.path.join(out, "png_named.jpg"), format="PNG")


if __name__ == "__main__":
    par = os.path.join(ROOT, "parity")
    os.makedirs(par, exist_ok=True)
    save_png(scene(224, 1), os.path.join(par, "scene.png"))
    save_png(texture(224, 2), os.path.join(par, "texture.png"))
    save_png(shapes(224, 3), os.path.join(par, "shapes.png"))
    tiny = os.path.join(ROOT, "tiny")
    os.makedirs(tiny, exist_ok=True)
    tiny_model(tiny)
    save_png(scene(32, 11), os.path.join(tiny, "a.png"))
    save_png(texture(32, 12), os.path.join(tiny, "b.png"))
    formats(os.path.join(ROOT, "formats"))
    print("fixtures written under", os.path.normpath(ROOT))
