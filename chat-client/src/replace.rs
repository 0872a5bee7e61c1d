//! Replacing a small file whole, so that a crash leaves the old version or the new one and
//! never half of one: the new contents are written beside it under a name no other writer
//! uses, flushed to disk, then renamed over it. The client's journal of transfers and the
//! terminal client's configuration and input history are written so.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Replaces the file at `path` with `contents`. A new file gets `mode` (Unix permission
/// bits); an existing one keeps its own. A symbolic link is followed: the file it leads
/// to is replaced, beside itself, and the link stays a link. The directory is created if
/// missing.
///
/// # Errors
///
/// The file or its directory cannot be read or written; the old file is then unchanged.
pub fn replace_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let target = real_path(path)?;
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let mode = match fs::metadata(&target) {
        Ok(meta) => permission_bits(&meta).unwrap_or(mode),
        Err(e) if e.kind() == io::ErrorKind::NotFound => mode,
        Err(e) => return Err(e),
    };
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    // A name of its own for each writer: two programs replacing one file never write
    // into the same temporary file (the last rename wins, whole).
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
    #[cfg(not(unix))]
    let _ = mode;
    let mut temp = builder.tempfile_in(&dir)?;
    temp.write_all(contents)?;
    temp.as_file().sync_all()?;
    // On failure the temporary file is deleted as it is dropped.
    temp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// The file `path` names: itself, or where its symbolic links lead (a link to a file not
/// made yet leads to where it will be).
fn real_path(path: &Path) -> io::Result<PathBuf> {
    match fs::canonicalize(path) {
        Ok(real) => Ok(real),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::read_link(path) {
            Ok(to) => Ok(path.parent().map_or(to.clone(), |dir| dir.join(&to))),
            Err(_) => Ok(path.to_path_buf()),
        },
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn permission_bits(meta: &fs::Metadata) -> Option<u32> {
    Some(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777)
}

#[cfg(not(unix))]
fn permission_bits(_: &fs::Metadata) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_gets_the_mode_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/a.txt");
        replace_file(&path, b"one", 0o600).unwrap();
        assert_eq!(
            (fs::read(&path).unwrap(), mode(&path)),
            (b"one".to_vec(), 0o600)
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        replace_file(&path, b"two", 0o600).unwrap();
        assert_eq!(
            (fs::read(&path).unwrap(), mode(&path)),
            (b"two".to_vec(), 0o644)
        );
        let left: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_symbolic_link_stays_a_link_and_its_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/client.toml");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("client.toml");
        std::os::unix::fs::symlink("dotfiles/client.toml", &link).unwrap();
        replace_file(&link, b"new", 0o600).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(mode(&real), 0o640);
        // A link to a file not made yet makes it where the link leads.
        let dangling = dir.path().join("later.toml");
        std::os::unix::fs::symlink("dotfiles/later.toml", &dangling).unwrap();
        replace_file(&dangling, b"made", 0o600).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("dotfiles/later.toml")).unwrap(),
            "made"
        );
    }
}
