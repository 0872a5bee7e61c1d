//! Writing the `ignore` list back into the configuration file, for `/ignore` and
//! `/unignore`, and nothing else: every other key, comment and blank line stays as the
//! user wrote it (`toml_edit` keeps the document's own formatting).
//!
//! The file is replaced through a temporary file and a rename, with the permissions it
//! had; one that does not exist yet is created (mode 0600, with its directory). A file
//! that is not TOML is left untouched and the change holds for the run only.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use shared::config_file::MAX_CONFIG_FILE_BYTES;
use toml_edit::{Array, DocumentMut, value};

/// Sets `ignore = [...]` in the file at `path` to `nicks`.
///
/// # Errors
///
/// A message for the user: the file cannot be read or written, or is not TOML.
pub fn save_ignore(path: &Path, nicks: &[String]) -> Result<(), String> {
    let shown = path.display();
    let (text, mode) = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_CONFIG_FILE_BYTES => {
            return Err(format!("{shown} is too large for a configuration file"));
        }
        Ok(meta) => (
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?,
            meta.permissions().mode() & 0o7777,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), 0o600),
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("{shown} is not TOML: {}", e.message()))?;
    let list: Array = nicks.iter().map(String::as_str).collect();
    doc["ignore"] = value(list);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let temp = path.with_extension("toml.new");
    let written = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(mode)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(doc.to_string().as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot write {shown}: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::FileSettings;

    #[test]
    fn only_the_ignore_list_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.toml");
        let text = "# my settings\nnick = \"mei\"  # me\n\n# who not to hear\nignore = [\"spam\"]\ntheme = \"light\"\n";
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        save_ignore(&path, &["spam".into(), "bob".into()]).unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(after, text.replace("[\"spam\"]", "[\"spam\", \"bob\"]"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let read: FileSettings = shared::config_file::read(&path).unwrap();
        assert_eq!(read.ignore, Some(vec!["spam".into(), "bob".into()]));
    }

    #[test]
    fn a_missing_file_is_created_and_a_broken_one_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat-tui/client.toml");
        save_ignore(&path, &["x\"y".into()]).unwrap();
        let read: FileSettings = shared::config_file::read(&path).unwrap();
        assert_eq!(read.ignore, Some(vec!["x\"y".into()]));
        let broken = dir.path().join("broken.toml");
        std::fs::write(&broken, "nick = \n").unwrap();
        let error = save_ignore(&broken, &[]).unwrap_err();
        assert!(error.contains("is not TOML"), "{error}");
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), "nick = \n");
    }
}
