//! Writes a volume's files so a running container never sees a half
//! update, as upstream's `AtomicWriter`: the files live in a timestamped
//! folder, `..data` points at it, and each visible name is a symlink
//! through `..data`. An update writes a new folder and swaps `..data`
//! with one rename.

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// One file of a volume: its relative path, contents and mode.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub contents: Vec<u8>,
    pub mode: u32,
}

/// Makes `dir` show exactly `files`; does nothing when they are what it
/// shows already.
pub fn write(dir: &Path, files: &BTreeMap<String, File>) -> Result<(), String> {
    for path in files.keys() {
        let valid = !path.is_empty()
            && !path.starts_with("..")
            && Path::new(path)
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !valid {
            return Err(format!("invalid path {path:?} in a volume"));
        }
    }
    let io = |what: &str, path: &Path, e: std::io::Error| format!("{what} {}: {e}", path.display());
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    let current = std::fs::read_link(dir.join(DATA)).ok();
    if let Some(current) = &current {
        if unchanged(&dir.join(current), files) {
            return Ok(());
        }
    }
    let stamp = format!(
        "..{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let fresh = dir.join(&stamp);
    for (path, file) in files {
        let target = fresh.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
        }
        std::fs::write(&target, &file.contents).map_err(|e| io("writing", &target, e))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(file.mode))
            .map_err(|e| io("chmod", &target, e))?;
    }
    std::fs::create_dir_all(&fresh).map_err(|e| io("creating", &fresh, e))?;
    let tmp = dir.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp);
    symlink(&stamp, &tmp).map_err(|e| io("linking", &tmp, e))?;
    std::fs::rename(&tmp, dir.join(DATA)).map_err(|e| io("renaming", &tmp, e))?;
    // The visible names: one symlink per top-level entry.
    let wanted: std::collections::BTreeSet<&str> =
        files.keys().filter_map(|p| p.split('/').next()).collect();
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("{DATA}/{name}"), &link).map_err(|e| io("linking", &link, e))?;
        }
    }
    for entry in std::fs::read_dir(dir)
        .map_err(|e| io("reading", dir, e))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_link = !name.starts_with("..") && !wanted.contains(name.as_str());
        let old_data = name.starts_with("..") && name != DATA && name != stamp;
        if stale_link {
            let _ = std::fs::remove_file(entry.path());
        } else if old_data {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// Whether the folder `data` holds exactly `files`.
fn unchanged(data: &Path, files: &BTreeMap<String, File>) -> bool {
    let all_match = files.iter().all(|(path, file)| {
        let target = data.join(path);
        let mode = std::fs::metadata(&target).map(|m| m.permissions().mode() & 0o7777);
        std::fs::read(&target).ok().as_ref() == Some(&file.contents) && mode.ok() == Some(file.mode)
    });
    all_match && count_files(data) == files.len()
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => count_files(&entry.path()),
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, File> {
        entries
            .iter()
            .map(|(path, text)| {
                let file = File {
                    contents: text.as_bytes().to_vec(),
                    mode: 0o644,
                };
                (path.to_string(), file)
            })
            .collect()
    }

    #[test]
    fn updates_swap_the_data_link_and_drop_removed_names() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &files(&[("a", "1"), ("sub/b", "2")])).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "1");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sub/b")).unwrap(),
            "2"
        );
        let first = std::fs::read_link(dir.path().join(DATA)).unwrap();
        // The same contents again change nothing.
        write(dir.path(), &files(&[("a", "1"), ("sub/b", "2")])).unwrap();
        assert_eq!(std::fs::read_link(dir.path().join(DATA)).unwrap(), first);
        write(dir.path(), &files(&[("a", "changed")])).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a")).unwrap(),
            "changed"
        );
        assert!(std::fs::symlink_metadata(dir.path().join("sub")).is_err());
        assert!(!dir.path().join(&first).exists(), "the old data is removed");
    }

    #[test]
    fn paths_may_not_climb_out() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(dir.path(), &files(&[("../x", "1")])).is_err());
        assert!(write(dir.path(), &files(&[("..data", "1")])).is_err());
        assert!(write(dir.path(), &files(&[("/etc/x", "1")])).is_err());
    }
}
