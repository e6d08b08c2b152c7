//! CLIP's text tower and tokenizer (PiN-CLIP's class prompts) on the tiny full-CLIP fixture
//! (tools/make_text_fixture.py): token ids against Hugging Face's own CLIPTokenizer, embeddings
//! against an independent numpy text tower, and the user's path: import a full CLIP, train PiN
//! on it with text class embeddings, and be told clearly when the base model has no text tower.

mod common;

use candle_core::{DType, Device};
use fauxscope::model::text::{ClipText, TextConfig};
use fauxscope::model::tokenizer::ClipTokenizer;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-full")
}

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("reference_text.json")).unwrap())
        .unwrap()
}

fn tiny_text() -> ClipText {
    let w = fixture().join("model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let shapes: HashMap<String, Vec<usize>> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect();
    let config = TextConfig::infer(&shapes, Some(4)).unwrap();
    ClipText::load(&w, &fixture(), &config).unwrap()
}

#[test]
fn tokenizer_matches_hugging_face_clip_tokenizer() {
    let r = reference();
    let tok = ClipTokenizer::from_dir(&fixture()).unwrap();
    let max = r["max_len"].as_u64().unwrap() as usize;
    let cases = r["tokens"].as_object().unwrap();
    assert!(cases.len() >= 5);
    for (text, ids) in cases {
        let want: Vec<u32> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(text, max).unwrap(), want, "{text:?}");
    }
    // Truncation keeps the end token last.
    let long = tok.encode(&"photo ".repeat(40), max).unwrap();
    assert_eq!(long.len(), max);
    assert_eq!((long[0], long[max - 1]), (tok.start, tok.end));
}

#[test]
fn bad_tokenizer_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = format!("{:#}", ClipTokenizer::from_dir(dir.path()).unwrap_err());
    assert!(err.contains("vocab.json"), "{err}");
    std::fs::write(dir.path().join("vocab.json"), "{\"a\": 0}").unwrap();
    std::fs::write(dir.path().join("merges.txt"), "a b\n").unwrap();
    let err = format!("{:#}", ClipTokenizer::from_dir(dir.path()).unwrap_err());
    assert!(err.contains("startoftext"), "{err}");
    std::fs::copy(fixture().join("vocab.json"), dir.path().join("vocab.json")).unwrap();
    std::fs::write(dir.path().join("merges.txt"), "a b c\n").unwrap();
    let err = format!("{:#}", ClipTokenizer::from_dir(dir.path()).unwrap_err());
    assert!(err.contains("merges.txt line 1"), "{err}");
}

#[test]
fn text_embeddings_match_numpy_reference() {
    let r = reference();
    let text = tiny_text();
    let refs = r["embeddings"].as_object().unwrap();
    let prompts: Vec<&str> = refs.keys().map(String::as_str).collect();
    let got = text.embed(&prompts).unwrap();
    assert_eq!(got.dims(), &[prompts.len(), 16]);
    let got: Vec<Vec<f32>> = got.to_dtype(DType::F32).unwrap().to_vec2().unwrap();
    for (row, p) in got.iter().zip(&prompts) {
        let want: Vec<f64> = refs[*p]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let diff = row
            .iter()
            .zip(&want)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-4, "{p}: max difference {diff}");
    }
    // Different prompts give different embeddings.
    let d: f32 = got[0].iter().zip(&got[1]).map(|(a, b)| (a - b).abs()).sum();
    assert!(d > 1e-2);
}

fn bin(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fauxscope"));
    c.env("FAUXSCOPE_CACHE_DIR", cache.join("cache"));
    c.env("FAUXSCOPE_DATA_DIR", cache.join("data"));
    c
}

fn run(c: &mut Command) -> (bool, String) {
    let o = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

#[test]
fn pin_on_a_full_clip_uses_the_text_tower() {
    let tmp = tempfile::tempdir().unwrap();
    let (real, fake) = common::make_data(tmp.path(), 8);
    // Import the full CLIP: image tower, text tower and tokenizer.
    let (ok, out) = run(bin(tmp.path())
        .args(["model", "import", "--name", "tiny-full"])
        .arg(fixture()));
    assert!(ok, "{out}");
    assert!(out.contains("text tower: 2 layers, width 32"), "{out}");
    let (ok, out) = run(bin(tmp.path()).args(["model", "list"]));
    assert!(
        ok && out.contains("tiny-full") && out.contains("+ text tower"),
        "{out}"
    );

    let train = |extra: &[&str], out: &Path, model: &str| {
        let mut c = bin(tmp.path());
        c.args(["train", "--method", "pin", "--model", model, "--real"])
            .arg(&real)
            .arg("--fake")
            .arg(&fake)
            .arg("--out")
            .arg(out)
            .args(["--epochs", "1", "--batch-size", "8", "--noise-layer", "1"])
            .args(extra);
        run(&mut c)
    };
    let ckpt = tmp.path().join("pin-text.safetensors");
    let (ok, log) = train(
        &["--prompts", "A real photo", "an image"],
        &ckpt,
        "tiny-full",
    );
    assert!(ok, "{log}");
    let c = fauxscope::detect::Checkpoint::load(&ckpt).unwrap();
    assert_eq!(c.meta.settings["class_embeddings"], "text");
    assert_eq!(c.meta.settings["prompts"][1], "an image");
    assert_eq!(
        c.meta.settings["text_tower_sha256"].as_str().unwrap().len(),
        64
    );
    // The class embeddings are the text tower's, unchanged by training.
    let want = tiny_text().embed(&["A real photo", "an image"]).unwrap();
    let got = c.tensors["pin.prototypes"].to_device(&Device::Cpu).unwrap();
    let diff: f32 = (got - want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(
        diff < 1e-5,
        "prototypes differ from the text embeddings by {diff}"
    );
    // The checkpoint scans like any detector.
    let (ok, out) = run(bin(tmp.path())
        .args(["scan", "--model", "tiny-full", "--detector"])
        .arg(&ckpt)
        .arg(real.join("r0.png")));
    assert!(ok, "{out}");

    // Prototypes can still be asked for on a full CLIP.
    let proto = tmp.path().join("pin-proto.safetensors");
    let (ok, log) = train(&["--class-embeddings", "prototypes"], &proto, "tiny-full");
    assert!(ok, "{log}");
    let c = fauxscope::detect::Checkpoint::load(&proto).unwrap();
    assert_eq!(c.meta.settings["class_embeddings"], "prototypes");

    // An image tower alone has no text tower: `auto` falls back, `text` is refused clearly.
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
    let (ok, log) = train(
        &["--class-embeddings", "text"],
        &tmp.path().join("no.safetensors"),
        tiny.to_str().unwrap(),
    );
    assert!(!ok);
    assert!(
        log.contains("need a base model with CLIP's text tower"),
        "{log}"
    );
    assert!(!tmp.path().join("no.safetensors").exists());
}
