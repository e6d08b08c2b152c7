#!/usr/bin/env python3
"""Times ONNX Runtime (CPU, fp32) on the same model and checks it against the numpy reference.

    python3 bench/ort_bench.py MODEL.onnx --threads 2 --batch 1,32 --iters 5 [--check REF.json]
"""
import argparse, json, time
import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", default="1,32")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=0.0,
                    help="keep timing until this many seconds have been timed (as fauxscope bench)")
    ap.add_argument("--check", help="reference JSON from tools/reference_embed.py")
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    size = sess.get_inputs()[0].shape[2]
    res = {"onnxruntime": ort.__version__, "threads": a.threads, "forward": []}
    if a.check:
        from PIL import Image
        mean = np.array([0.48145466, 0.4578275, 0.40821073])
        std = np.array([0.26862954, 0.26130258, 0.27577711])
        cos = []
        for r in json.load(open(a.check)):
            img = np.asarray(Image.open(r["path"]).convert("RGB"), np.float64) / 255.0
            px = ((img - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
            e = sess.run(None, {"pixel_values": px})[0][0]
            ref = np.array(r["embedding"])
            cos.append(float(e @ ref / np.linalg.norm(e) / np.linalg.norm(ref)))
        res["min_cosine_vs_reference"] = min(cos)
    rng = np.random.default_rng(0)
    for b in [int(x) for x in a.batch.split(",")]:
        x = rng.standard_normal((b, 3, size, size)).astype(np.float32)
        sess.run(None, {"pixel_values": x})
        ts = []
        while len(ts) < max(a.iters, 1) or sum(ts) < a.min_seconds:
            t = time.perf_counter()
            sess.run(None, {"pixel_values": x})
            ts.append(time.perf_counter() - t)
        med = sorted(ts)[len(ts) // 2]
        res["forward"].append({"batch": b, "iters": len(ts), "seconds_per_batch": med, "min_seconds_per_batch": min(ts), "images_per_second": b / med})
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
