//! C2PA Content Credentials: validates the manifest store embedded in an evidence file with the
//! c2pa crate (pure-Rust crypto), against a trust list: the official C2PA trust list shipped in
//! `assets/c2pa/` (from the crates.io package encypher-c2pa 1.10.0, Apache-2.0), or one the user
//! supplies. The evidence is opened read-only.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// The C2PA trust list shipped with Fauxscope (claim-signing anchors).
pub const SHIPPED_TRUST_PEM: &str = include_str!("../../assets/c2pa/c2pa-trust.pem");
/// The C2PA time-stamping authority trust list shipped beside it.
pub const SHIPPED_TSA_PEM: &str = include_str!("../../assets/c2pa/c2pa-tsa-trust.pem");

/// The trust anchors a validation uses.
#[derive(Debug, Clone)]
pub struct TrustList {
    /// Where it came from (shown in reports).
    pub name: String,
    pub pem: String,
}

impl TrustList {
    /// The official C2PA trust list snapshot shipped in the binary.
    pub fn shipped() -> Self {
        Self {
            name: "C2PA Trust List (snapshot in encypher-c2pa 1.10.0, 2026-09-24) + C2PA TSA Trust List"
                .into(),
            pem: format!("{SHIPPED_TRUST_PEM}\n{SHIPPED_TSA_PEM}"),
        }
    }

    /// A PEM bundle supplied by the user.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read trust list {}", path.display()))?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            anyhow::bail!("{}: no PEM certificate in the trust list", path.display());
        }
        Ok(Self {
            name: path.display().to_string(),
            pem,
        })
    }

    pub fn certificates(&self) -> usize {
        self.pem.matches("-----BEGIN CERTIFICATE-----").count()
    }

    pub fn sha256(&self) -> String {
        crate::imageio::sha256_hex(self.pem.as_bytes())
    }
}

/// The overall outcome, as C2PA tools word it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvenanceState {
    /// No C2PA manifest in the file.
    Absent,
    /// A manifest whose signature and hashes fail.
    Invalid,
    /// Cryptographically valid, but the signer does not chain to the trust list.
    Valid,
    /// Valid and signed by a certificate that chains to the trust list.
    Trusted,
    /// The manifest could not be read at all (the error says why).
    Unreadable,
}

impl ProvenanceState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Absent => "Absent",
            Self::Invalid => "Invalid",
            Self::Valid => "Valid (signer not on the trust list)",
            Self::Trusted => "Trusted",
            Self::Unreadable => "Unreadable",
        }
    }
}

/// One C2PA validation status code.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusEntry {
    /// `success`, `informational` or `failure`.
    pub kind: String,
    pub code: String,
    pub explanation: Option<String>,
    pub url: Option<String>,
}

/// What the C2PA check found.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub state: ProvenanceState,
    pub statuses: Vec<StatusEntry>,
    /// Signer (certificate common name or issuer organisation).
    pub signer: Option<String>,
    pub issuer: Option<String>,
    pub signing_time: Option<String>,
    pub claim_generator: Option<String>,
    pub title: Option<String>,
    /// Actions recorded in the active manifest (e.g. `c2pa.created` with a digitalSourceType).
    pub digital_source_types: Vec<String>,
    pub manifests: usize,
    pub trust_list: String,
    pub trust_list_sha256: String,
    pub trust_list_certificates: usize,
    pub error: Option<String>,
}

/// Validates the C2PA manifest of `path` (format from `mime`, e.g. `image/jpeg`).
pub fn check_c2pa(path: &Path, mime: &str, trust: &TrustList) -> Provenance {
    let base = Provenance {
        state: ProvenanceState::Absent,
        statuses: vec![],
        signer: None,
        issuer: None,
        signing_time: None,
        claim_generator: None,
        title: None,
        digital_source_types: vec![],
        manifests: 0,
        trust_list: trust.name.clone(),
        trust_list_sha256: trust.sha256(),
        trust_list_certificates: trust.certificates(),
        error: None,
    };
    match read(path, mime, trust) {
        Ok(p) => Provenance { ..p.fill(base) },
        Err(e) => {
            let absent = matches!(
                e,
                c2pa::Error::JumbfNotFound | c2pa::Error::ProvenanceMissing
            );
            Provenance {
                state: if absent {
                    ProvenanceState::Absent
                } else {
                    ProvenanceState::Unreadable
                },
                error: (!absent).then(|| e.to_string()),
                ..base
            }
        }
    }
}

struct Read {
    state: ProvenanceState,
    statuses: Vec<StatusEntry>,
    signer: Option<String>,
    issuer: Option<String>,
    time: Option<String>,
    generator: Option<String>,
    title: Option<String>,
    sources: Vec<String>,
    manifests: usize,
}

impl Read {
    fn fill(self, base: Provenance) -> Provenance {
        Provenance {
            state: self.state,
            statuses: self.statuses,
            signer: self.signer,
            issuer: self.issuer,
            signing_time: self.time,
            claim_generator: self.generator,
            title: self.title,
            digital_source_types: self.sources,
            manifests: self.manifests,
            ..base
        }
    }
}

fn read(path: &Path, mime: &str, trust: &TrustList) -> Result<Read, c2pa::Error> {
    let settings = serde_json::json!({
        "verify": {
            "verify_after_reading": true,
            "verify_trust": true,
            "remote_manifest_fetch": false,
            "ocsp_fetch": false,
        },
        "trust": { "trust_anchors": trust.pem },
    });
    let context = c2pa::Context::new().with_settings(settings.to_string().as_str())?;
    // Read-only handle; the c2pa crate never writes through it.
    let file = std::fs::File::open(path)?;
    let reader =
        c2pa::Reader::from_context(context).with_stream(mime, std::io::BufReader::new(file))?;
    let state = match reader.validation_state() {
        c2pa::ValidationState::Trusted => ProvenanceState::Trusted,
        c2pa::ValidationState::Valid => ProvenanceState::Valid,
        c2pa::ValidationState::Invalid => ProvenanceState::Invalid,
    };
    let mut statuses = Vec::new();
    if let Some(r) = reader.validation_results() {
        if let Some(a) = r.active_manifest() {
            for (kind, list) in [
                ("success", a.success()),
                ("informational", a.informational()),
                ("failure", a.failure()),
            ] {
                for s in list {
                    statuses.push(StatusEntry {
                        kind: kind.into(),
                        code: s.code().to_string(),
                        explanation: s.explanation().map(str::to_string),
                        url: s.url().map(str::to_string),
                    });
                }
            }
        }
    } else if let Some(list) = reader.validation_status() {
        for s in list {
            statuses.push(StatusEntry {
                kind: if s.passed() { "success" } else { "failure" }.into(),
                code: s.code().to_string(),
                explanation: s.explanation().map(str::to_string),
                url: s.url().map(str::to_string),
            });
        }
    }
    let m = reader.active_manifest();
    let sig = m.and_then(|m| m.signature_info());
    let json: serde_json::Value = serde_json::from_str(&reader.json()).unwrap_or_default();
    let mut sources = Vec::new();
    collect_source_types(&json, &mut sources);
    sources.sort();
    sources.dedup();
    Ok(Read {
        state,
        statuses,
        signer: sig.and_then(|s| s.common_name.clone().or(s.issuer.clone())),
        issuer: sig.and_then(|s| s.issuer.clone()),
        time: sig.and_then(|s| s.time.clone()),
        generator: m
            .and_then(|m| m.claim_generator().map(str::to_string))
            .or_else(|| {
                json.pointer("/manifests")
                    .and_then(|ms| ms.as_object())
                    .and_then(|ms| ms.values().next())
                    .and_then(|m| m.get("claim_generator_info"))
                    .and_then(|g| g.get(0))
                    .and_then(|g| g.get("name"))
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
            }),
        title: m.and_then(|m| m.title().map(str::to_string)),
        sources,
        manifests: json
            .get("manifests")
            .and_then(|m| m.as_object())
            .map_or(0, |m| m.len()),
    })
}

/// Every `digitalSourceType` value anywhere in the manifest store's JSON.
fn collect_source_types(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == "digitalSourceType" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_string());
                    }
                }
                collect_source_types(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_source_types(x, out)),
        _ => {}
    }
}

/// The MIME type c2pa expects for a format name from [`crate::imageio::format_name`].
pub fn mime_for(format: &str) -> &'static str {
    match format.to_ascii_lowercase().as_str() {
        "jpeg" | "jpg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "tiff" => "image/tiff",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "avif" => "image/avif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => "application/octet-stream",
    }
}

/// Where a user trust list is looked for when none is given: `<config>/c2pa-trust.pem`.
pub fn user_trust_path() -> PathBuf {
    crate::paths::config_dir().join("c2pa-trust.pem")
}
