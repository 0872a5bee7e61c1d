//! The local side of a transfer: names that are safe on this machine, a download folder
//! that is never overwritten, `~` in paths, and path completion for `/send-file`.

use std::path::{Path, PathBuf};

use shared::config_file::expand_home;
use shared::file_name::{clean_file_name, shorten};
use shared::limits::MAX_FILE_NAME_BYTES;

/// A file name from the network made safe to create in the download folder.
///
/// The server cleans names before it offers them, but the client trusts no peer, so it
/// applies the same rule again (the protocol's own, [`clean_file_name`]): only the last
/// path component, no escape sequences, control, invisible or bidi characters, no dots or
/// spaces at either end (no hidden files, no `.` or `..`), at most
/// [`MAX_FILE_NAME_BYTES`] bytes keeping the extension, and
/// [`shared::file_name::FALLBACK_NAME`] for a name that is left empty.
pub fn file_name(raw: &str) -> String {
    clean_file_name(raw)
}

/// What a download is written to until it is verified: `NAME.part`, with `NAME` shortened
/// (keeping its extension) so that the whole still fits the file system's limit of
/// [`MAX_FILE_NAME_BYTES`]: a name the server accepts, up to that limit, stays
/// downloadable.
pub fn part_name(name: &str) -> String {
    const PART: &str = ".part";
    format!("{}{PART}", shorten(name, MAX_FILE_NAME_BYTES - PART.len()))
}

/// `report.pdf` → (`report`, `.pdf`); `archive.tar.gz` → (`archive.tar`, `.gz`); no dot
/// or only a leading one → no extension.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    }
}

/// The `n`th alternative of `name`: `report.pdf`, `report (1).pdf`, `report (2).pdf`...,
/// at most [`MAX_FILE_NAME_BYTES`] long.
pub fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    let number = format!(" ({n})");
    let room = MAX_FILE_NAME_BYTES.saturating_sub(number.len());
    let (stem, ext) = split_ext(name);
    // An extension too long to stand beside the number is cut with the rest of the name.
    let (stem, ext) = if ext.len() < room {
        (stem, ext)
    } else {
        (name, "")
    };
    let stem = shorten(stem, room - ext.len());
    format!("{stem}{number}{ext}")
}

/// Most numbered alternatives tried before giving up on a name.
const MAX_ALTERNATIVES: u32 = 10_000;

/// Runs `place` on `dir/name`, `dir/name (1)`, ... until it does not fail with
/// `AlreadyExists`; returns the path that worked. `place` must fail when the path exists
/// (`create_new`, `hard_link`), so that nothing is ever overwritten, even by a race.
pub fn place_unique(
    dir: &Path,
    name: &str,
    mut place: impl FnMut(&Path) -> std::io::Result<()>,
) -> std::io::Result<PathBuf> {
    for n in 0..MAX_ALTERNATIVES {
        let path = dir.join(numbered(name, n));
        match place(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("{MAX_ALTERNATIVES} files named like {name} already exist"),
    ))
}

/// `~` and `~/...` as the home directory; anything else as it is: the rule the
/// configuration files follow ([`expand_home`]), for a path typed in the client.
pub fn expand_tilde(path: &str, home: Option<&Path>) -> PathBuf {
    expand_home(PathBuf::from(path), home)
}

/// The home directory, from `$HOME`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// Most candidates Tab offers for a path.
const MAX_CANDIDATES: usize = 200;

/// Completions of the path being typed, as whole replacements for it: the entries of its
/// directory that start with its last component, sorted, directories with a trailing `/`.
/// Hidden entries only when the typed component starts with a dot.
pub fn complete_path(typed: &str) -> Vec<String> {
    let (dir_part, prefix) = match typed.rfind('/') {
        Some(i) => typed.split_at(i + 1),
        None => ("", typed),
    };
    let dir = if dir_part.is_empty() {
        PathBuf::from(".")
    } else {
        expand_tilde(dir_part, home_dir().as_deref())
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            // Follows symbolic links, so a link to a folder completes like a folder.
            let is_dir = entry.path().is_dir();
            Some(format!("{dir_part}{name}{}", if is_dir { "/" } else { "" }))
        })
        .take(MAX_CANDIDATES)
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::file_name::FALLBACK_NAME;

    /// The rule itself is tested where it lives (`shared::file_name`); this only checks
    /// that downloads go through it.
    #[test]
    fn file_names_are_cleaned_by_the_protocols_rule() {
        assert_eq!(file_name("../../etc/passwd"), "passwd");
        assert_eq!(file_name("evil\u{202e}fdp.exe"), "evilfdp.exe");
        assert_eq!(file_name(".."), FALLBACK_NAME);
        let long = format!("{}.pdf", "é".repeat(300));
        assert!(file_name(&long).len() <= MAX_FILE_NAME_BYTES);
    }

    #[test]
    fn a_part_file_fits_the_file_system_whatever_the_name() {
        assert_eq!(part_name("report.pdf"), "report.pdf.part");
        let dir = tempfile::tempdir().unwrap();
        for len in [250, 251, 253, 255] {
            let name = format!("{}.bin", "x".repeat(len - 4));
            assert_eq!(name.len(), len);
            let part = part_name(&name);
            assert!(part.len() <= MAX_FILE_NAME_BYTES, "{len}: {part}");
            assert!(part.ends_with(".part"), "{part}");
            // Really created, and numbered when taken, on a real file system.
            for _ in 0..2 {
                place_unique(dir.path(), &part, |p| {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(p)
                        .map(drop)
                })
                .unwrap();
            }
        }
    }

    #[test]
    fn numbered_alternatives() {
        assert_eq!(numbered("report.pdf", 0), "report.pdf");
        assert_eq!(numbered("report.pdf", 1), "report (1).pdf");
        assert_eq!(numbered("archive.tar.gz", 2), "archive.tar (2).gz");
        assert_eq!(numbered("README", 3), "README (3)");
        let long = "a".repeat(MAX_FILE_NAME_BYTES);
        assert!(numbered(&long, 12).len() <= MAX_FILE_NAME_BYTES);
        // Extensions too long to stand beside the number, in names of the longest length:
        // the number still fits (it used to be added past the limit, or to make the
        // shortening subtract past zero).
        for name in [
            format!("a.{}", "c".repeat(MAX_FILE_NAME_BYTES - 2)),
            format!(
                "a.{}.{}",
                "b".repeat(20),
                "c".repeat(MAX_FILE_NAME_BYTES - 23)
            ),
        ] {
            assert_eq!(name.len(), MAX_FILE_NAME_BYTES);
            for n in [1, 9999] {
                let alternative = numbered(&name, n);
                assert!(alternative.len() <= MAX_FILE_NAME_BYTES, "{alternative}");
                assert!(alternative.starts_with("a."), "{alternative}");
                assert!(alternative.contains(&format!(" ({n})")), "{alternative}");
            }
        }
    }

    #[test]
    fn place_unique_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let create = |p: &Path| std::fs::File::create_new(p).map(drop);
        let first = place_unique(dir.path(), "report.pdf", create).unwrap();
        let second = place_unique(dir.path(), "report.pdf", create).unwrap();
        let third = place_unique(dir.path(), "report.pdf", create).unwrap();
        assert_eq!(first, dir.path().join("report.pdf"));
        assert_eq!(second, dir.path().join("report (1).pdf"));
        assert_eq!(third, dir.path().join("report (2).pdf"));
        let denied = place_unique(dir.path(), "x", |_| {
            Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
        });
        assert!(denied.is_err());
    }

    #[test]
    fn tilde_expands_to_home() {
        let home = Path::new("/home/ann");
        assert_eq!(expand_tilde("~", Some(home)), home);
        assert_eq!(expand_tilde("~/a/b", Some(home)), home.join("a/b"));
        assert_eq!(expand_tilde("~bob/x", Some(home)), PathBuf::from("~bob/x"));
        assert_eq!(expand_tilde("~/x", None), PathBuf::from("~/x"));
        assert_eq!(expand_tilde("/tmp/x", Some(home)), PathBuf::from("/tmp/x"));
    }

    #[test]
    fn paths_complete_from_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.pdf"), b"x").unwrap();
        std::fs::write(dir.path().join("readme.md"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("reports")).unwrap();
        let base = format!("{}/", dir.path().display());
        assert_eq!(
            complete_path(&format!("{base}rep")),
            [format!("{base}report.pdf"), format!("{base}reports/")]
        );
        assert_eq!(complete_path(&base).len(), 3, "hidden files stay hidden");
        assert_eq!(
            complete_path(&format!("{base}.h")),
            [format!("{base}.hidden")]
        );
        assert!(complete_path(&format!("{base}nothing")).is_empty());
        assert!(complete_path("/no/such/dir/x").is_empty());
    }
}
