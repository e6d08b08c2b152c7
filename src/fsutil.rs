//! File helpers: atomic writes for everything we produce, streaming hashes for files we read.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over the target. Readers never see a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, Mode::Open)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Default permissions; replaces the target.
    Open,
    /// Owner-only; never replaces a file.
    PrivateNew,
    /// Owner-only from creation; replaces the target (a key file sealed anew).
    PrivateReplacing,
}

/// [`write_atomic`] for a new secret (a signing key): on Unix the file is readable and writable
/// by its owner only from the moment it is created, and it never replaces a file already at
/// `path` (the finished file is hard-linked into place, which fails if the name is taken).
pub fn write_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, Mode::PrivateNew)
}

/// [`write_atomic`] for a secret that replaces the file at `path` (an examiner key sealed under
/// a new passphrase): the temporary file is owner-only from the moment it is created, then
/// renamed over the target.
pub fn write_private_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, Mode::PrivateReplacing)
}

fn write_atomic_mode(path: &Path, bytes: &[u8], mode: Mode) -> Result<()> {
    let private = mode != Mode::Open;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), unique()));
    let result = (|| -> Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true);
        if private {
            // Never through a file or link that is already there.
            options.create_new(true);
        } else {
            options.create(true).truncate(true);
        }
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = options
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot flush {}", tmp.display()))?;
        if mode == Mode::PrivateNew {
            std::fs::hard_link(&tmp, path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    anyhow::anyhow!("{} already exists: it is not replaced", path.display())
                } else {
                    anyhow::Error::new(e)
                        .context(format!("cannot move {} into place", path.display()))
                }
            })?;
            let _ = std::fs::remove_file(&tmp);
        } else {
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot move {} into place", path.display()))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `p` with `..` and symbolic links resolved, or `p` itself where that fails: one key per file
/// whatever the spelling of its path.
pub fn real_path(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `p` made absolute against the current folder (no link is resolved: the path as the user
/// reached it), or `p` itself where the current folder cannot be read.
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What kind of thing a path that is not a regular file is, in words.
pub fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() {
        "a folder"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// The error [`open_regular`] wraps in an `io::Error` (kind `InvalidInput`) for a path that is
/// not a regular file: what it is instead.
#[derive(Debug, thiserror::Error)]
#[error("not a regular file: it is {kind}")]
pub struct NotRegular {
    pub kind: &'static str,
}

impl NotRegular {
    /// The refusal inside an error from [`open_regular`], if that is what it is.
    pub fn of(e: &std::io::Error) -> Option<&NotRegular> {
        e.get_ref().and_then(|x| x.downcast_ref::<NotRegular>())
    }
}

/// Opens a regular file read-only. Anything else (a named pipe, a device such as /dev/zero, a
/// socket, a folder) is refused before it is opened: opening a pipe blocks until a writer
/// comes, and a device can be read for ever.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let refuse = |t: &std::fs::FileType| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            NotRegular { kind: file_kind(t) },
        )
    };
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(refuse(&meta.file_type()));
    }
    let f = std::fs::File::open(path)?;
    // The path may have been swapped between the check and the open.
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(refuse(&meta.file_type()));
    }
    Ok(f)
}

/// Reads a whole regular file (see [`open_regular`]) of at most `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let f = open_regular(path)?;
    let size = f.metadata()?.len();
    if size > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is {size} bytes, over the limit of {limit} bytes"),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    f.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file grew past the limit of {limit} bytes while it was read"),
        ));
    }
    Ok(bytes)
}

/// Feeds a file to `each` in chunks, opened read-only.
fn stream_file(path: &Path, mut each: impl FnMut(&[u8])) -> Result<()> {
    let mut f = open_regular(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        each(&buf[..n]);
    }
}

/// SHA-256 of a file, streamed, opened read-only.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut h = Sha256::new();
    stream_file(path, |b| h.update(b))?;
    Ok(hex::encode(h.finalize()))
}

/// SHA-256 and SHA-512 of a file in one streamed read, opened read-only.
pub fn sha256_sha512_file(path: &Path) -> Result<(String, String)> {
    let (mut a, mut b) = (Sha256::new(), sha2::Sha512::new());
    stream_file(path, |c| {
        a.update(c);
        b.update(c);
    })?;
    Ok((hex::encode(a.finalize()), hex::encode(b.finalize())))
}

/// Current UTC time as RFC 3339 (seconds).
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_utc(secs)
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let n = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(n, 1);
        assert_eq!(
            sha256_file(&p).unwrap(),
            hex::encode(Sha256::digest(b"two"))
        );
    }

    #[test]
    fn a_new_secret_is_owner_only_and_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.json");
        write_new_private(&p, b"first").unwrap();
        let e = write_new_private(&p, b"second").unwrap_err();
        assert!(format!("{e:#}").contains("already exists"), "{e:#}");
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        // No temporary file is left beside it, after success or refusal.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_795_435_200), "2026-11-23T12:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
