//! Small files the server rewrites whole (the bans, the locked topics): written to a
//! temporary file beside the real one, readable and writable by the server's user only,
//! synced, then renamed over it, so that a crash leaves the old file or the new one, never
//! half of either. Read back within a bound.

use std::io::{Read, Write};
use std::path::Path;

/// Replaces the file at `path` with `text`, as the module's doc says.
pub(crate) fn write(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// The text of the file at `path`, `None` if there is none.
///
/// # Errors
///
/// The file cannot be read, is not UTF-8, or is larger than `max` bytes.
pub(crate) fn read(path: &Path, max: u64) -> std::io::Result<Option<String>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            max / 1024
        )));
    }
    Ok(Some(text))
}
