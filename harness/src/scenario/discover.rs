//! Finding scenario files among the paths given on the command line.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::ScenarioError;

/// Directories with this name contain manifests that scenarios refer to, not scenarios.
const MANIFESTS_DIRECTORY: &str = "manifests";

/// Lists the scenario files among `paths`, in the order the paths are given.
///
/// A file is taken as it is, whatever its name. A directory is searched recursively for
/// `*.yaml` and `*.yml` files, listed in sorted path order, skipping:
///
/// - directories named `manifests` below a given directory, which contain the manifests
///   scenarios apply;
/// - entries whose name starts with `.`, such as `.git`;
/// - symbolic links to directories, so that a link cannot make the search loop.
///
/// Every file found is expected to be a scenario; a YAML file of another kind fails to load
/// with an error saying so.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut found = Vec::new();
    for path in paths {
        let metadata = fs::metadata(path).map_err(|source| ScenarioError::Read {
            path: path.clone(),
            description: "scenario path",
            source,
        })?;
        if metadata.is_dir() {
            let mut files = Vec::new();
            search_directory(path, &mut files)?;
            files.sort();
            found.extend(files);
        } else {
            found.push(path.clone());
        }
    }
    // A file named twice (`a.yaml a.yaml`, or a file inside a directory also given) runs
    // once; the first mention keeps its place.
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|path| seen.insert(path.canonicalize().unwrap_or_else(|_| path.clone())));
    Ok(found)
}

fn search_directory(directory: &Path, files: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let read_error = |source| ScenarioError::Read {
        path: directory.to_path_buf(),
        description: "directory",
        source,
    };
    for entry in fs::read_dir(directory).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type().map_err(read_error)?;
        if file_type.is_dir() {
            if name != MANIFESTS_DIRECTORY {
                search_directory(&path, files)?;
            }
            continue;
        }
        // `is_file` follows a symbolic link; a link to a directory is neither and is skipped.
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::tests::TempDir;

    #[test]
    fn discover_searches_directories_in_order() {
        let temp = TempDir::new("discover");
        for file in [
            "b/two.yaml",
            "a/one.yml",
            "a/notes.txt",
            "a/manifests/app.yaml",
            "a/deep/manifests/more/app.yaml",
            "a/deep/three.yaml",
            ".hidden/x.yaml",
            "c.yaml",
        ] {
            temp.write(file, "kind: Scenario\n");
        }
        let explicit = temp.path().join("a/notes.txt");
        let found = discover(&[explicit.clone(), temp.path().to_path_buf()]).unwrap();
        let relative: Vec<String> = found
            .iter()
            .map(|path| match path.strip_prefix(temp.path()) {
                Ok(relative) => relative.display().to_string(),
                Err(_) => path.display().to_string(),
            })
            .collect();
        assert_eq!(
            relative,
            vec![
                "a/notes.txt",
                "a/deep/three.yaml",
                "a/one.yml",
                "b/two.yaml",
                "c.yaml"
            ]
        );
    }

    #[test]
    fn discover_lists_each_file_once() {
        let temp = TempDir::new("discover-twice");
        temp.write("d/one.yaml", "kind: Scenario\n");
        temp.write("d/two.yaml", "kind: Scenario\n");
        let one = temp.path().join("d/one.yaml");
        let two = temp.path().join("d/two.yaml");
        let directory = temp.path().join("d");
        let found = discover(&[two.clone(), one.clone(), directory, two.clone()]).unwrap();
        assert_eq!(found, vec![two, one]);
    }

    #[test]
    fn discover_reports_missing_path() {
        let temp = TempDir::new("discover-missing");
        let missing = temp.path().join("nope");
        let error = discover(std::slice::from_ref(&missing)).unwrap_err();
        assert!(error.location().is_none());
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: failed to read scenario path",
                missing.display()
            )),
            "{message}"
        );
    }
}
