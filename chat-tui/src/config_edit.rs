//! Writing the `ignore` list back into the configuration file, for `/ignore` and
//! `/unignore`, and nothing else: every other key, comment and blank line stays as the
//! user wrote it (`toml_edit` keeps the document's own formatting).
//!
//! The file is replaced through a temporary file and a rename
//! ([`chat_client::replace::replace_file`]), with the permissions it had; a symbolic link
//! (a configuration kept with one's dotfiles) stays a link, and the file it leads to is
//! replaced. One that does not exist yet is created (mode 0600, with its directory). A
//! file that is not TOML is left untouched and the change holds for the run only.

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
    let text = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_CONFIG_FILE_BYTES => {
            return Err(format!("{shown} is too large for a configuration file"));
        }
        Ok(_) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("{shown} is not TOML: {}", e.message()))?;
    let list: Array = nicks.iter().map(String::as_str).collect();
    doc["ignore"] = value(list);
    chat_client::replace::replace_file(path, doc.to_string().as_bytes(), 0o600)
        .map_err(|e| format!("cannot write {shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::FileSettings;
    use std::os::unix::fs::PermissionsExt as _;

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

    /// A configuration kept with one's dotfiles, linked from the configuration directory:
    /// the link stays, and the file it leads to gets the list, with its permissions.
    #[test]
    fn a_linked_configuration_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/client.toml");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, "nick = \"mei\"\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("client.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        save_ignore(&link, &["bob".into()]).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let read: FileSettings = shared::config_file::read(&real).unwrap();
        assert_eq!(read.ignore, Some(vec!["bob".into()]));
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
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
