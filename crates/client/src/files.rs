//! Where the SDK keeps files, and how it writes secrets to disk.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The keyport home directory: `$KEYPORT_HOME`, else `~/.keyport`.
pub fn keyport_home() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("KEYPORT_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::home_dir()
        .map(|h| h.join(".keyport"))
        .ok_or_else(|| Error::Config("no home directory found: set KEYPORT_HOME".into()))
}

/// The directory of the caching token fetcher: `$KEYPORT_CACHE_DIR`, else the user cache dir + `/keyport`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("KEYPORT_CACHE_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match dirs::cache_dir() {
        Some(d) => Ok(d.join("keyport")),
        None => Ok(keyport_home()?.join("cache")),
    }
}

/// The profile the SDK and CLI use when none is named: `$KEYPORT_PROFILE`, else `default`.
pub fn current_profile() -> String {
    std::env::var("KEYPORT_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// The token file of a profile: `<home>/tokens/<profile>.toml`.
pub fn token_path(profile: &str) -> Result<PathBuf> {
    Ok(keyport_home()?
        .join("tokens")
        .join(format!("{profile}.toml")))
}

/// Writes `contents` to `path` atomically with mode 0600.
///
/// The bytes go to a temporary file in the same directory (created 0600 from the start), which is flushed,
/// synced and renamed over `path`: a reader sees the old file or the new one, never half of one, and the
/// secret is never readable by others, not even for a moment. Missing parent directories are created (0700).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".keyport-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("create a temporary file in", &dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io("set permissions of", tmp.path(), e))?;
    }
    tmp.write_all(contents)
        .map_err(|e| Error::io("write", path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("sync", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("replace", path, e.error))?;
    Ok(())
}

/// Creates a directory (and parents); new directories get mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// Reads a file, mapping "not found" to `None`.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Removes a file, treating "not found" as done.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_are_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/token.toml");
        write_private(&path, b"first").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);

        // Replacing goes through rename: the inode changes and no temporary file is left behind.
        #[cfg(unix)]
        let before = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&path).unwrap().ino()
        };
        write_private(&path, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert_ne!(std::fs::metadata(&path).unwrap().ino(), before);
            assert_eq!(mode(&path), 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_world_readable_file_becomes_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new").unwrap();
        assert_eq!(mode(&path), 0o600);
    }
}
