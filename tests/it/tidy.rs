//! Repository hygiene that `cargo test` can check: every Rust file says why it exists.

use std::path::Path;

use baton_tests::repo_root;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() && name != "target" && !name.starts_with('.') {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_doc_comment() {
    let mut files = Vec::new();
    for dir in ["crates", "tests"] {
        rust_files(&repo_root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|path| !fs_err::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| path.strip_prefix(repo_root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files must start with a `//!` line saying why they exist: {missing:?}"
    );
}
