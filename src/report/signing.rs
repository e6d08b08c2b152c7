//! Examiner signatures on reports. An examiner makes an Ed25519 key pair once
//! (`fauxscope key new`), keeps the secret half (a file readable by its owner only) and hands
//! out the public half (`examiner-key.pub.json`). A signed report carries `report.json.sig`
//! beside its sidecar: the signature over the sidecar's exact bytes, which themselves hold the
//! SHA-256 of every other report file and the hashes of the evidence. So one signature covers the
//! whole report, and `fauxscope verify --key PUBLIC` shows both that nothing changed since it
//! was signed and who signed it.
//!
//! What it does not do: the secret key is not encrypted at rest (the file's permissions guard
//! it, as with an unencrypted SSH key), there is no certificate or revocation, and whether a
//! public key really belongs to the examiner it names is for the recipient to establish (the
//! fingerprint, read out over another channel).

use anyhow::{bail, Context, Result};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const KEY_SCHEMA: &str = "fauxscope-examiner-key/1";
pub const PUBLIC_SCHEMA: &str = "fauxscope-public-key/1";
pub const SIGNATURE_SCHEMA: &str = "fauxscope-signature/1";
/// The signature file's name beside the sidecar.
pub const SIGNATURE_FILE: &str = "report.json.sig";
/// Key files are a few hundred bytes; anything much larger is not one.
const KEY_LIMIT: u64 = 64 << 10;

/// Where `fauxscope key new` puts the examiner's key unless told otherwise:
/// `<data>/keys/examiner-key.json`.
pub fn default_key_path() -> PathBuf {
    crate::paths::data_dir()
        .join("keys")
        .join("examiner-key.json")
}

/// The public file written beside a key file: `examiner-key.json` → `examiner-key.pub.json`.
pub fn public_path_for(key: &Path) -> PathBuf {
    let stem = key
        .file_stem()
        .map_or("examiner-key".into(), |s| s.to_string_lossy().into_owned());
    key.with_file_name(format!("{stem}.pub.json"))
}

/// A short, readable name for a public key: the first 16 bytes of its SHA-256, in groups of four
/// hex digits. Read it out to whoever must trust the key.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let h = crate::imageio::sha256_hex(key.as_bytes());
    h.as_bytes()[..32]
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or("????"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Who signs: the name and the public key, as the sidecar records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signer {
    pub name: String,
    pub algorithm: String,
    pub public_key: String,
    pub fingerprint: String,
}

/// An examiner's signing key (the secret half is never printed).
pub struct ExaminerKey {
    key: SigningKey,
    pub name: String,
    pub created_utc: String,
}

impl std::fmt::Debug for ExaminerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExaminerKey")
            .field("name", &self.name)
            .field("fingerprint", &fingerprint(&self.key.verifying_key()))
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    schema: String,
    algorithm: String,
    name: String,
    created_utc: String,
    public_key: String,
    secret_key: String,
}

#[derive(Serialize, Deserialize)]
struct PublicFile {
    schema: String,
    algorithm: String,
    name: String,
    #[serde(default)]
    created_utc: String,
    public_key: String,
    #[serde(default)]
    fingerprint: String,
}

/// A public key someone was handed, with the name its file gives.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub key: VerifyingKey,
    pub name: String,
    /// The file it was read from.
    pub file: String,
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    hex::decode(s.trim()).ok()?.try_into().ok()
}

impl ExaminerKey {
    /// A new key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self> {
        let name = name.trim();
        if name.is_empty() {
            bail!("an examiner key needs the examiner's name");
        }
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)
            .map_err(|e| anyhow::anyhow!("the system's random source failed: {e}"))?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(Self {
            key,
            name: name.to_string(),
            created_utc: crate::fsutil::now_utc(),
        })
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn signer(&self) -> Signer {
        let v = self.verifying_key();
        Signer {
            name: self.name.clone(),
            algorithm: "ed25519".into(),
            public_key: hex::encode(v.as_bytes()),
            fingerprint: fingerprint(&v),
        }
    }

    /// Writes the key to `path` (owner-only on Unix) and its public half beside it. Refuses to
    /// replace an existing key: a key that signed reports must not be lost by accident.
    /// Returns the public file's path.
    pub fn save(&self, path: &Path) -> Result<PathBuf> {
        let public = public_path_for(path);
        for p in [path, public.as_path()] {
            if std::fs::symlink_metadata(p).is_ok() {
                bail!(
                    "{} already exists: a key is never replaced (move it away first if you mean to make a new one)",
                    p.display()
                );
            }
        }
        let v = self.verifying_key();
        let file = KeyFile {
            schema: KEY_SCHEMA.into(),
            algorithm: "ed25519".into(),
            name: self.name.clone(),
            created_utc: self.created_utc.clone(),
            public_key: hex::encode(v.as_bytes()),
            secret_key: hex::encode(self.key.to_bytes()),
        };
        crate::fsutil::write_new_private(path, &serde_json::to_vec_pretty(&file)?)?;
        let pub_file = PublicFile {
            schema: PUBLIC_SCHEMA.into(),
            algorithm: "ed25519".into(),
            name: self.name.clone(),
            created_utc: self.created_utc.clone(),
            public_key: file.public_key.clone(),
            fingerprint: fingerprint(&v),
        };
        crate::fsutil::write_atomic(&public, &serde_json::to_vec_pretty(&pub_file)?)?;
        Ok(public)
    }

    /// Reads a key written by [`ExaminerKey::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read_regular(path, KEY_LIMIT)
            .with_context(|| format!("cannot read the examiner key {}", path.display()))?;
        let file: KeyFile = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a Fauxscope examiner key (a public key file cannot sign)",
                path.display()
            )
        })?;
        if file.schema != KEY_SCHEMA || file.algorithm != "ed25519" {
            bail!(
                "{} is not a Fauxscope examiner key: schema {:?}, algorithm {:?}",
                path.display(),
                file.schema,
                file.algorithm
            );
        }
        let Some(secret) = hex32(&file.secret_key) else {
            bail!(
                "{}: the secret key is not 32 bytes of hex (the file is damaged)",
                path.display()
            );
        };
        let key = SigningKey::from_bytes(&secret);
        if hex32(&file.public_key) != Some(key.verifying_key().to_bytes()) {
            bail!(
                "{}: the public key does not belong to the secret key (the file is damaged)",
                path.display()
            );
        }
        Ok(Self {
            key,
            name: file.name,
            created_utc: file.created_utc,
        })
    }

    /// Signs a report sidecar's exact bytes; the signature file's content.
    pub fn sign_sidecar(&self, sidecar: &[u8]) -> Result<Vec<u8>> {
        let signed_utc = crate::fsutil::now_utc();
        let sig = self.key.sign(&message(&signed_utc, sidecar));
        let signer = self.signer();
        let file = SignatureFile {
            schema: SIGNATURE_SCHEMA.into(),
            algorithm: signer.algorithm,
            signed_file: "report.json".into(),
            signed_file_sha256: crate::imageio::sha256_hex(sidecar),
            signer: signer.name,
            public_key: signer.public_key,
            fingerprint: signer.fingerprint,
            signed_utc,
            signature: hex::encode(sig.to_bytes()),
        };
        Ok(serde_json::to_vec_pretty(&file)?)
    }
}

impl PublicKey {
    /// Reads a public key file, or the public half of an examiner key file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read_regular(path, KEY_LIMIT)
            .with_context(|| format!("cannot read the public key {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a Fauxscope public key file", path.display()))?;
        let schema = value.get("schema").and_then(|s| s.as_str()).unwrap_or("");
        if schema != PUBLIC_SCHEMA && schema != KEY_SCHEMA {
            bail!(
                "{} is not a Fauxscope public key file: its schema is {schema:?}",
                path.display()
            );
        }
        let file: PublicFile = serde_json::from_value(value)
            .with_context(|| format!("{} is not a Fauxscope public key file", path.display()))?;
        if file.algorithm != "ed25519" {
            bail!(
                "{}: algorithm {:?} is not one this version reads (ed25519)",
                path.display(),
                file.algorithm
            );
        }
        let key = hex32(&file.public_key)
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .with_context(|| {
                format!(
                    "{}: the public key is not a valid Ed25519 key (the file is damaged)",
                    path.display()
                )
            })?;
        Ok(Self {
            key,
            name: file.name,
            file: path.display().to_string(),
        })
    }
}

/// What is signed: a context line, the time of signing, then the sidecar's bytes. The context
/// keeps a report signature from being taken for a signature on anything else.
fn message(signed_utc: &str, sidecar: &[u8]) -> Vec<u8> {
    let mut m = format!("{SIGNATURE_SCHEMA} report.json\n{signed_utc}\n").into_bytes();
    m.extend_from_slice(sidecar);
    m
}

#[derive(Serialize, Deserialize)]
struct SignatureFile {
    schema: String,
    algorithm: String,
    signed_file: String,
    signed_file_sha256: String,
    signer: String,
    public_key: String,
    fingerprint: String,
    signed_utc: String,
    signature: String,
}

/// How a report's signature checks out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum SignatureStatus {
    /// No `report.json.sig`, and the sidecar names no signer.
    Unsigned,
    /// The signature is good for the sidecar's bytes, made with the key it names.
    Valid {
        signer: String,
        fingerprint: String,
        signed_utc: String,
        /// The trusted public key file it matches (`--key`); None where none was given or none
        /// matches.
        trusted_key: Option<String>,
    },
    /// A signature file that does not verify, or that cannot be read; or a sidecar that names a
    /// signer with no signature beside it.
    Bad { reason: String },
}

/// The signature check of a report folder: `sidecar` is the sidecar's bytes, `signer` the signer
/// the sidecar records (if any), `trusted` the public keys the reader trusts.
pub fn check(
    dir: &Path,
    sidecar: &[u8],
    signer: Option<&Signer>,
    trusted: &[PublicKey],
) -> SignatureStatus {
    let path = dir.join(SIGNATURE_FILE);
    let bytes = match crate::fsutil::read_regular(&path, KEY_LIMIT) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match signer {
                None => SignatureStatus::Unsigned,
                Some(s) => SignatureStatus::Bad {
                    reason: format!(
                        "the sidecar says the report was signed by {} (key {}), but {} is missing",
                        s.name, s.fingerprint, SIGNATURE_FILE
                    ),
                },
            };
        }
        Err(e) => {
            return SignatureStatus::Bad {
                reason: format!("cannot read {}: {e}", path.display()),
            }
        }
    };
    let bad = |reason: String| SignatureStatus::Bad { reason };
    let file: SignatureFile = match serde_json::from_slice(&bytes) {
        Ok(f) => f,
        Err(e) => return bad(format!("{} is not a signature file: {e}", path.display())),
    };
    if file.schema != SIGNATURE_SCHEMA || file.algorithm != "ed25519" {
        return bad(format!(
            "{}: schema {:?}, algorithm {:?} are not ones this version reads",
            path.display(),
            file.schema,
            file.algorithm
        ));
    }
    if file.signed_file != "report.json" {
        return bad(format!(
            "{} signs {:?}, not report.json",
            path.display(),
            file.signed_file
        ));
    }
    let Some(key) = hex32(&file.public_key).and_then(|b| VerifyingKey::from_bytes(&b).ok()) else {
        return bad(format!("{}: the public key is not valid", path.display()));
    };
    let sig = match hex::decode(file.signature.trim())
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    {
        Some(b) => Signature::from_bytes(&b),
        None => return bad(format!("{}: the signature is not 64 bytes", path.display())),
    };
    if key
        .verify_strict(&message(&file.signed_utc, sidecar), &sig)
        .is_err()
    {
        return bad(format!(
            "the signature in {} does not match report.json: the sidecar (or the signature) changed after signing",
            SIGNATURE_FILE
        ));
    }
    let fp = fingerprint(&key);
    if let Some(s) = signer {
        if s.public_key != file.public_key {
            return bad(format!(
                "the sidecar names the key {} ({}) as the signer's, but the report was signed with the key {fp}",
                s.fingerprint, s.name
            ));
        }
    }
    let trusted_key = trusted
        .iter()
        .find(|t| t.key == key)
        .map(|t| t.file.clone());
    SignatureStatus::Valid {
        signer: signer.map_or(file.signer, |s| s.name.clone()),
        fingerprint: fp,
        signed_utc: file.signed_utc,
        trusted_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer_of(k: &ExaminerKey) -> Signer {
        k.signer()
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let dir = std::env::temp_dir().join(format!("fx-sign-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let k = ExaminerKey::generate("A. Examiner").unwrap();
        let sidecar = br#"{"schema":"x","items":[]}"#.to_vec();
        std::fs::write(dir.join(SIGNATURE_FILE), k.sign_sidecar(&sidecar).unwrap()).unwrap();
        let trusted = PublicKey {
            key: k.verifying_key(),
            name: k.name.clone(),
            file: "a.pub.json".into(),
        };
        let s = signer_of(&k);
        match check(&dir, &sidecar, Some(&s), std::slice::from_ref(&trusted)) {
            SignatureStatus::Valid {
                trusted_key,
                signer,
                ..
            } => {
                assert_eq!(trusted_key.as_deref(), Some("a.pub.json"));
                assert_eq!(signer, "A. Examiner");
            }
            other => panic!("{other:?}"),
        }
        // Not among the trusted keys: valid, but not trusted.
        let other = ExaminerKey::generate("B").unwrap();
        let stranger = PublicKey {
            key: other.verifying_key(),
            name: "B".into(),
            file: "b.pub.json".into(),
        };
        assert!(matches!(
            check(&dir, &sidecar, Some(&s), &[stranger]),
            SignatureStatus::Valid {
                trusted_key: None,
                ..
            }
        ));
        // One byte of the sidecar changed.
        let mut changed = sidecar.clone();
        changed[3] ^= 1;
        assert!(matches!(
            check(&dir, &changed, Some(&s), &[]),
            SignatureStatus::Bad { .. }
        ));
        // The sidecar names another signer than the key that signed.
        assert!(matches!(
            check(&dir, &sidecar, Some(&signer_of(&other)), &[]),
            SignatureStatus::Bad { .. }
        ));
        // Re-signed by someone else: valid for them, and the sidecar's signer no longer matches.
        std::fs::write(
            dir.join(SIGNATURE_FILE),
            other.sign_sidecar(&sidecar).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            check(&dir, &sidecar, Some(&s), &[]),
            SignatureStatus::Bad { .. }
        ));
        // The signature file removed: a sidecar that names a signer is not verified.
        std::fs::remove_file(dir.join(SIGNATURE_FILE)).unwrap();
        assert!(matches!(
            check(&dir, &sidecar, Some(&s), &[]),
            SignatureStatus::Bad { .. }
        ));
        assert_eq!(check(&dir, &sidecar, None, &[]), SignatureStatus::Unsigned);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_round_trip_are_never_replaced_and_damage_is_named() {
        let dir = std::env::temp_dir().join(format!("fx-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("k.json");
        let k = ExaminerKey::generate("Examiner").unwrap();
        let public = k.save(&path).unwrap();
        assert_eq!(public, dir.join("k.pub.json"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is readable by others: {mode:o}");
        }
        let back = ExaminerKey::load(&path).unwrap();
        assert_eq!(back.verifying_key(), k.verifying_key());
        assert_eq!(back.name, "Examiner");
        assert_eq!(PublicKey::load(&public).unwrap().key, k.verifying_key());
        assert_eq!(PublicKey::load(&path).unwrap().key, k.verifying_key());
        let e = ExaminerKey::generate("X").unwrap().save(&path).unwrap_err();
        assert!(format!("{e:#}").contains("already exists"), "{e:#}");
        assert_eq!(
            ExaminerKey::load(&path).unwrap().verifying_key(),
            k.verifying_key()
        );
        // A public key file cannot sign; a damaged key is named.
        let e = ExaminerKey::load(&public).unwrap_err();
        assert!(format!("{e:#}").contains("k.pub.json"), "{e:#}");
        let text = std::fs::read_to_string(&path).unwrap();
        let secret = serde_json::from_str::<serde_json::Value>(&text).unwrap()["secret_key"]
            .as_str()
            .unwrap()
            .to_string();
        let damaged = dir.join("damaged.json");
        std::fs::write(&damaged, text.replace(&secret, &"0".repeat(64))).unwrap();
        let e = ExaminerKey::load(&damaged).unwrap_err();
        assert!(format!("{e:#}").contains("does not belong"), "{e:#}");
        std::fs::write(&damaged, &text[..text.len() / 2]).unwrap();
        let e = PublicKey::load(&damaged).unwrap_err();
        assert!(format!("{e:#}").contains("damaged.json"), "{e:#}");
        assert!(ExaminerKey::generate("  ").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fingerprints_are_eight_groups_of_four() {
        let k = ExaminerKey::generate("x").unwrap();
        let fp = fingerprint(&k.verifying_key());
        assert_eq!(fp.len(), 39);
        assert_eq!(fp.split(' ').count(), 8);
    }
}
