//! Examiner signatures on reports. An examiner makes an Ed25519 key pair once
//! (`fauxscope key new`), keeps the secret half (a file readable by its owner only) and hands
//! out the public half (`examiner-key.pub.json`). A signed report carries `report.json.sig`
//! beside its sidecar: the signature over the sidecar's exact bytes, which themselves hold the
//! SHA-256 of every other report file and the hashes of the evidence. So one signature covers the
//! whole report, and `fauxscope verify --key PUBLIC` shows both that nothing changed since it
//! was signed and who signed it.
//!
//! The secret key is sealed under the examiner's passphrase unless they chose not to have one:
//! Argon2id (64 MiB, 3 passes) stretches the passphrase into a key for XChaCha20-Poly1305, which
//! encrypts the 32 secret bytes with the key file's public key and name as associated data. A
//! copied key file is then of no use without the passphrase, and a wrong passphrase, or a file
//! changed by hand, is refused rather than yielding a wrong key. The file is also readable by its
//! owner only.
//!
//! What it does not do: there is no certificate or revocation, and whether a public key really
//! belongs to the examiner it names is for the recipient to establish (the fingerprint, read out
//! over another channel).

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
/// The environment variable a passphrase may come from where no terminal can ask for it.
pub const PASSPHRASE_ENV: &str = "FAUXSCOPE_KEY_PASSPHRASE";
/// The shortest passphrase a key is sealed under.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
/// Argon2id's cost when sealing: 64 MiB of memory, 3 passes, one lane (about a third of a second
/// on one core of the reference machine).
const ARGON_MEMORY_KIB: u32 = 64 << 10;
const ARGON_PASSES: u32 = 3;
/// The most a key file may ask of the machine when it is opened (a file made to exhaust memory
/// or time is refused): 1 GiB, 64 passes, 8 lanes.
const ARGON_MAX_MEMORY_KIB: u32 = 1 << 20;
const ARGON_MAX_PASSES: u32 = 64;
const ARGON_MAX_LANES: u32 = 8;

/// Opening a key sealed under a passphrase without one. Callers ask for it (a terminal, the
/// window) and try again.
#[derive(Debug, thiserror::Error)]
#[error("the examiner key {path} is protected by a passphrase")]
pub struct NeedsPassphrase {
    pub path: String,
}

/// What a key file says of itself without being opened.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub name: String,
    pub fingerprint: String,
    pub protected: bool,
}

/// Where `fauxscope key new` puts the examiner's key unless told otherwise:
/// `<data>/keys/examiner-key.json`.
pub fn default_key_path() -> PathBuf {
    crate::paths::data_dir()
        .join("keys")
        .join("examiner-key.json")
}

/// Refuses a key path where a key file, or its public file, is already there: a key that signed
/// reports must not be lost by accident. Checked before a new key is made (and before its
/// passphrase is asked for) and again when it is saved.
pub fn refuse_existing(key: &Path) -> Result<()> {
    for p in [key.to_path_buf(), public_path_for(key)] {
        if std::fs::symlink_metadata(&p).is_ok() {
            bail!(
                "{} already exists: a key is never replaced (move it away first if you mean to make a new one)",
                p.display()
            );
        }
    }
    Ok(())
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
    /// The 32 secret bytes in hex; where `sealed` is present, their XChaCha20-Poly1305
    /// ciphertext and tag (48 bytes).
    secret_key: String,
    /// How the secret key is sealed under a passphrase; absent for a key without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealed>,
}

/// The passphrase sealing of a key file.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Sealed {
    kdf: String,
    memory_kib: u32,
    passes: u32,
    lanes: u32,
    salt: String,
    cipher: String,
    nonce: String,
}

/// What the sealing binds the secret to: the schema, the public key and the name, so a key file
/// edited to claim another name or key no longer opens.
fn sealing_aad(public_key_hex: &str, name: &str) -> Vec<u8> {
    format!("{KEY_SCHEMA}\n{public_key_hex}\n{name}").into_bytes()
}

fn stretch(
    passphrase: &str,
    salt: &[u8],
    memory_kib: u32,
    passes: u32,
    lanes: u32,
) -> Result<[u8; 32]> {
    let params = argon2::Params::new(memory_kib, passes, lanes, Some(32))
        .map_err(|e| anyhow::anyhow!("the key's Argon2 settings are not valid: {e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| anyhow::anyhow!("cannot stretch the passphrase: {e}"))?;
    Ok(out)
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b)
        .map_err(|e| anyhow::anyhow!("the system's random source failed: {e}"))?;
    Ok(b)
}

/// Refuses a passphrase too short to seal a key under.
pub fn check_new_passphrase(passphrase: &str) -> Result<()> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        bail!(
            "a passphrase needs at least {MIN_PASSPHRASE_CHARS} characters (a few unrelated words make a good one)"
        );
    }
    Ok(())
}

fn seal(secret: &[u8; 32], passphrase: &str, aad: &[u8]) -> Result<(String, Sealed)> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    check_new_passphrase(passphrase)?;
    let salt = random::<16>()?;
    let nonce = random::<24>()?;
    let mut kek = stretch(passphrase, &salt, ARGON_MEMORY_KIB, ARGON_PASSES, 1)?;
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(&kek.into());
    zeroize::Zeroize::zeroize(&mut kek);
    let sealed = cipher
        .encrypt(&nonce.into(), Payload { msg: secret, aad })
        .map_err(|_| anyhow::anyhow!("cannot seal the key"))?;
    Ok((
        hex::encode(sealed),
        Sealed {
            kdf: "argon2id".into(),
            memory_kib: ARGON_MEMORY_KIB,
            passes: ARGON_PASSES,
            lanes: 1,
            salt: hex::encode(salt),
            cipher: "xchacha20poly1305".into(),
            nonce: hex::encode(nonce),
        },
    ))
}

fn unseal(path: &Path, file: &KeyFile, s: &Sealed, passphrase: &str) -> Result<[u8; 32]> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    if s.kdf != "argon2id" || s.cipher != "xchacha20poly1305" {
        bail!(
            "{}: sealed with {:?} and {:?}, which this version does not read",
            path.display(),
            s.kdf,
            s.cipher
        );
    }
    if s.memory_kib > ARGON_MAX_MEMORY_KIB
        || s.passes > ARGON_MAX_PASSES
        || s.lanes > ARGON_MAX_LANES
    {
        bail!(
            "{}: its Argon2 settings ({} KiB, {} passes, {} lanes) are beyond what a key file may ask",
            path.display(),
            s.memory_kib,
            s.passes,
            s.lanes
        );
    }
    let damaged = || {
        anyhow::anyhow!(
            "{}: the sealing is damaged (salt, nonce or secret)",
            path.display()
        )
    };
    let salt = hex::decode(s.salt.trim()).map_err(|_| damaged())?;
    let nonce: [u8; 24] = hex::decode(s.nonce.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(damaged)?;
    let ciphertext = hex::decode(file.secret_key.trim()).map_err(|_| damaged())?;
    let mut kek = stretch(passphrase, &salt, s.memory_kib, s.passes, s.lanes)
        .with_context(|| path.display().to_string())?;
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(&kek.into());
    zeroize::Zeroize::zeroize(&mut kek);
    let aad = sealing_aad(&file.public_key, &file.name);
    let mut plain = cipher
        .decrypt(
            &nonce.into(),
            Payload {
                msg: &ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| {
            anyhow::anyhow!(
                "wrong passphrase for the examiner key {} (or the file was changed)",
                path.display()
            )
        })?;
    let secret: Option<[u8; 32]> = plain.as_slice().try_into().ok();
    zeroize::Zeroize::zeroize(&mut plain);
    secret.ok_or_else(damaged)
}

fn read_key_file(path: &Path) -> Result<KeyFile> {
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
    Ok(file)
}

/// The public key a key file at `path` gives in hex.
fn public_key_of(path: &Path, hex: &str) -> Result<VerifyingKey> {
    hex32(hex)
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .with_context(|| {
            format!(
                "{}: the public key is not a valid Ed25519 key (the file is damaged)",
                path.display()
            )
        })
}

/// The name, fingerprint and protection of the examiner key at `path`, without opening it.
pub fn key_info(path: &Path) -> Result<KeyInfo> {
    let file = read_key_file(path)?;
    let key = public_key_of(path, &file.public_key)?;
    Ok(KeyInfo {
        name: file.name,
        fingerprint: fingerprint(&key),
        protected: file.sealed.is_some(),
    })
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
        let mut seed = random::<32>()?;
        let key = SigningKey::from_bytes(&seed);
        zeroize::Zeroize::zeroize(&mut seed);
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

    /// Writes the key to `path` (owner-only on Unix), sealed under `passphrase` where one is
    /// given, and its public half beside it. Refuses to replace an existing key: a key that
    /// signed reports must not be lost by accident. Returns the public file's path.
    pub fn save(&self, path: &Path, passphrase: Option<&str>) -> Result<PathBuf> {
        let public = public_path_for(path);
        refuse_existing(path)?;
        let file = self.key_file(passphrase)?;
        crate::fsutil::write_new_private(path, &serde_json::to_vec_pretty(&file)?)?;
        let pub_file = PublicFile {
            schema: PUBLIC_SCHEMA.into(),
            algorithm: "ed25519".into(),
            name: self.name.clone(),
            created_utc: self.created_utc.clone(),
            public_key: file.public_key.clone(),
            fingerprint: fingerprint(&self.verifying_key()),
        };
        crate::fsutil::write_atomic(&public, &serde_json::to_vec_pretty(&pub_file)?)?;
        Ok(public)
    }

    /// Writes this key over the key file at `path` (which must hold this same key), sealed under
    /// `passphrase`, or under none: how a passphrase is set, changed or taken off. The public
    /// file is left as it is; the key, and so every signature, stays the same.
    pub fn reseal(&self, path: &Path, passphrase: Option<&str>) -> Result<()> {
        let on_disk = read_key_file(path)?;
        if hex32(&on_disk.public_key) != Some(self.verifying_key().to_bytes()) {
            bail!("{} holds another key: it is not replaced", path.display());
        }
        let file = self.key_file(passphrase)?;
        crate::fsutil::write_private_replacing(path, &serde_json::to_vec_pretty(&file)?)
    }

    fn key_file(&self, passphrase: Option<&str>) -> Result<KeyFile> {
        let public_key = hex::encode(self.verifying_key().as_bytes());
        let (secret_key, sealed) = match passphrase {
            Some(p) => {
                let (c, s) = seal(
                    &self.key.to_bytes(),
                    p,
                    &sealing_aad(&public_key, &self.name),
                )?;
                (c, Some(s))
            }
            None => (hex::encode(self.key.to_bytes()), None),
        };
        Ok(KeyFile {
            schema: KEY_SCHEMA.into(),
            algorithm: "ed25519".into(),
            name: self.name.clone(),
            created_utc: self.created_utc.clone(),
            public_key,
            secret_key,
            sealed,
        })
    }

    /// Reads a key written by [`ExaminerKey::save`]. A key sealed under a passphrase needs it:
    /// without one the error is [`NeedsPassphrase`] (ask, then call again); a wrong one is
    /// refused.
    pub fn load(path: &Path, passphrase: Option<&str>) -> Result<Self> {
        let file = read_key_file(path)?;
        let secret = match (&file.sealed, passphrase) {
            (Some(_), None) => {
                return Err(NeedsPassphrase {
                    path: path.display().to_string(),
                }
                .into())
            }
            (Some(s), Some(p)) => unseal(path, &file, s, p)?,
            (None, _) => hex32(&file.secret_key).with_context(|| {
                format!(
                    "{}: the secret key is not 32 bytes of hex (the file is damaged)",
                    path.display()
                )
            })?,
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
            .with_context(|| format!("cannot read the key file {}", path.display()))?;
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
        let key = public_key_of(path, &file.public_key)?;
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
        let public = k.save(&path, None).unwrap();
        assert_eq!(public, dir.join("k.pub.json"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is readable by others: {mode:o}");
        }
        let back = ExaminerKey::load(&path, None).unwrap();
        assert_eq!(back.verifying_key(), k.verifying_key());
        assert_eq!(back.name, "Examiner");
        assert_eq!(PublicKey::load(&public).unwrap().key, k.verifying_key());
        assert_eq!(PublicKey::load(&path).unwrap().key, k.verifying_key());
        let e = ExaminerKey::generate("X")
            .unwrap()
            .save(&path, None)
            .unwrap_err();
        assert!(format!("{e:#}").contains("already exists"), "{e:#}");
        assert_eq!(
            ExaminerKey::load(&path, None).unwrap().verifying_key(),
            k.verifying_key()
        );
        // A public key file cannot sign; a damaged key is named.
        let e = ExaminerKey::load(&public, None).unwrap_err();
        assert!(format!("{e:#}").contains("k.pub.json"), "{e:#}");
        let text = std::fs::read_to_string(&path).unwrap();
        let secret = serde_json::from_str::<serde_json::Value>(&text).unwrap()["secret_key"]
            .as_str()
            .unwrap()
            .to_string();
        let damaged = dir.join("damaged.json");
        std::fs::write(&damaged, text.replace(&secret, &"0".repeat(64))).unwrap();
        let e = ExaminerKey::load(&damaged, None).unwrap_err();
        assert!(format!("{e:#}").contains("does not belong"), "{e:#}");
        std::fs::write(&damaged, &text[..text.len() / 2]).unwrap();
        let e = PublicKey::load(&damaged).unwrap_err();
        assert!(format!("{e:#}").contains("damaged.json"), "{e:#}");
        assert!(ExaminerKey::generate("  ").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sealed_key_opens_with_its_passphrase_only() {
        let dir = std::env::temp_dir().join(format!("fx-sealed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("k.json");
        let k = ExaminerKey::generate("Sealed Examiner").unwrap();
        // Too short a passphrase is refused before anything is written.
        let e = k.save(&path, Some("short")).unwrap_err();
        assert!(format!("{e:#}").contains("at least 8"), "{e:#}");
        assert!(!path.exists());
        let started = std::time::Instant::now();
        k.save(&path, Some("correct horse battery")).unwrap();
        eprintln!("sealing took {:?}", started.elapsed());
        // The secret is not in the file.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&hex::encode(k.key.to_bytes())));
        assert!(key_info(&path).unwrap().protected);
        let info = key_info(&path).unwrap();
        assert!(info.protected);
        assert_eq!(info.name, "Sealed Examiner");
        assert_eq!(info.fingerprint, fingerprint(&k.verifying_key()));
        // Without a passphrase: the typed error callers ask on; a wrong one: refused.
        let e = ExaminerKey::load(&path, None).unwrap_err();
        assert!(e.downcast_ref::<NeedsPassphrase>().is_some(), "{e:#}");
        let e = ExaminerKey::load(&path, Some("correct horse battery!")).unwrap_err();
        assert!(format!("{e:#}").contains("wrong passphrase"), "{e:#}");
        assert!(format!("{e:#}").contains("k.json"), "{e:#}");
        let back = ExaminerKey::load(&path, Some("correct horse battery")).unwrap();
        assert_eq!(back.verifying_key(), k.verifying_key());
        // The public half is still readable without the passphrase.
        assert_eq!(PublicKey::load(&path).unwrap().key, k.verifying_key());
        // A name edited by hand no longer opens (it is bound to the sealing).
        let edited = dir.join("edited.json");
        std::fs::write(&edited, text.replace("Sealed Examiner", "Someone Else")).unwrap();
        let e = ExaminerKey::load(&edited, Some("correct horse battery")).unwrap_err();
        assert!(format!("{e:#}").contains("wrong passphrase"), "{e:#}");
        // A file asking for absurd Argon2 memory is refused before any is allocated.
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["sealed"]["memory_kib"] = serde_json::json!(u32::MAX);
        std::fs::write(&edited, serde_json::to_vec(&v).unwrap()).unwrap();
        let e = ExaminerKey::load(&edited, Some("correct horse battery")).unwrap_err();
        assert!(
            format!("{e:#}").contains("beyond what a key file may ask"),
            "{e:#}"
        );
        // Changing the passphrase keeps the key; taking it off leaves the plain secret.
        back.reseal(&path, Some("a new passphrase")).unwrap();
        assert!(ExaminerKey::load(&path, Some("correct horse battery")).is_err());
        let again = ExaminerKey::load(&path, Some("a new passphrase")).unwrap();
        assert_eq!(again.verifying_key(), k.verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "the resealed key is readable by others: {mode:o}"
            );
        }
        again.reseal(&path, None).unwrap();
        assert!(!key_info(&path).unwrap().protected);
        assert_eq!(
            ExaminerKey::load(&path, None).unwrap().verifying_key(),
            k.verifying_key()
        );
        // Another key is never written over this one.
        let e = ExaminerKey::generate("Other")
            .unwrap()
            .reseal(&path, None)
            .unwrap_err();
        assert!(format!("{e:#}").contains("holds another key"), "{e:#}");
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
