#!/usr/bin/env python3
"""PyTorch reference for the GPU benchmark: the same CLIP vision towers in transformers.

    python3 bench/torch_bench.py --arch vit-b16,vit-l14 --batch 1,32,256 --dtype fp16 [--min-seconds 5]

CLIPVisionModelWithProjection with random weights (the compute does not depend on the values),
SDPA attention, torch.inference_mode, timed with CUDA events after warm-up. Prints JSON in the
shape `fauxscope bench --json` writes ({"forward": [{"arch", "batch", "seconds_per_batch", ...}]}),
so bench/gpu.sh can put the two side by side. Uses the torch and transformers already installed
on the GPU machine; nothing is downloaded.
"""
import argparse
import json

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

PRESETS = {
    "vit-b32": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                    num_attention_heads=12, patch_size=32, image_size=224, projection_dim=512),
    "vit-b16": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                    num_attention_heads=12, patch_size=16, image_size=224, projection_dim=512),
    "vit-l14": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                    num_attention_heads=16, patch_size=14, image_size=224, projection_dim=768),
}
NAMES = {"vit-b32": "ViT-B/32", "vit-b16": "ViT-B/16", "vit-l14": "ViT-L/14"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="vit-b16,vit-l14")
    ap.add_argument("--batch", default="1,32,256")
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--min-seconds", type=float, default=3.0)
    a = ap.parse_args()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[a.dtype]
    dev = torch.device("cuda")
    res = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0),
           "dtype": a.dtype, "attention": "sdpa", "forward": []}
    for arch in a.arch.split(","):
        cfg = CLIPVisionConfig(hidden_act="quick_gelu", **PRESETS[arch])
        model = CLIPVisionModelWithProjection(cfg, attn_implementation="sdpa")
        model = model.to(dev, dtype).eval()
        for b in [int(x) for x in a.batch.split(",")]:
            x = torch.randn(b, 3, cfg.image_size, cfg.image_size, device=dev, dtype=dtype)
            with torch.inference_mode():
                for _ in range(3):
                    model(pixel_values=x).image_embeds
                torch.cuda.synchronize()
                times = []
                while len(times) < a.iters or sum(times) < a.min_seconds:
                    start = torch.cuda.Event(enable_timing=True)
                    end = torch.cuda.Event(enable_timing=True)
                    start.record()
                    model(pixel_values=x).image_embeds
                    end.record()
                    torch.cuda.synchronize()
                    times.append(start.elapsed_time(end) / 1e3)
            times.sort()
            med = times[len(times) // 2]
            res["forward"].append({"arch": NAMES[arch], "batch": b, "iters": len(times),
                                   "seconds_per_batch": med, "min_seconds_per_batch": times[0],
                                   "images_per_second": b / med})
        del model
        torch.cuda.empty_cache()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
