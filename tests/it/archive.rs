//! `bundle export` writes one deterministic tar holding an OCI layout that skopeo and `tar -x`
//! accept; `bundle import` verifies every blob before the store sees it.

use std::process::Command;

use baton_tests::{baton, build_json, example, stderr, stdout};

#[test]
fn export_is_deterministic_and_readable_by_skopeo_and_tar() {
    let tmp = tempfile::tempdir().unwrap();
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let digest = &*built.digest.to_string();
    for file in ["a.tar", "b.tar"] {
        let output = baton(tmp.path())
            .args(["bundle", "export", &format!("oci:store/web@{digest}"), "-o", file])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    assert_eq!(
        fs_err::read(tmp.path().join("a.tar")).unwrap(),
        fs_err::read(tmp.path().join("b.tar")).unwrap()
    );

    let skopeo = |target: &str| {
        let output = Command::new("skopeo")
            .args(["inspect", "--raw", target])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "skopeo {target}: {}", stderr(&output));
        baton_model::Digest::of(&output.stdout).to_string()
    };
    assert_eq!(skopeo("oci-archive:a.tar"), digest);
    fs_err::create_dir_all(tmp.path().join("x")).unwrap();
    let status = Command::new("tar")
        .args(["-xf", "a.tar", "-C", "x"])
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(skopeo("oci:x:1.4.2"), digest, "exporting by digest tags the bundle's version");

    let output = baton(tmp.path())
        .args(["bundle", "import", "a.tar", "--store", "oci:air", "--output", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output =
        baton(tmp.path()).args(["bundle", "verify", "oci:air/web:1.4.2"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn a_tampered_archive_is_refused_and_nothing_lands() {
    let tmp = tempfile::tempdir().unwrap();
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let output = baton(tmp.path())
        .args(["bundle", "export", "oci:store/web:1.4.2", "-o", "web.tar"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    // Flip a byte inside the layer blob's data in the tar.
    let mut bytes = fs_err::read(tmp.path().join("web.tar")).unwrap();
    let layer = built.layer.digest.hex();
    // The blob's name appears only in its tar header (the manifest names it as `sha256:…`).
    let name = format!("blobs/sha256/{layer}");
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .expect("the layer's entry is in the tar");
    let data = at - at % 512 + 512 + 100;
    bytes[data] ^= 0xff;
    fs_err::write(tmp.path().join("web.tar"), &bytes).unwrap();

    let output = baton(tmp.path())
        .args(["bundle", "import", "web.tar", "--store", "oci:air"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("blob sha256:{layer} hashes to")),
        "{}",
        stderr(&output)
    );
    assert!(!tmp.path().join("air").exists(), "nothing lands in the store");
}

/// An archive whose index tags the bundle with anything but its version is refused: a tag is
/// what people and tools resolve, and baton tags a bundle with its version alone.
#[test]
fn an_archive_tagged_other_than_its_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let output = baton(tmp.path())
        .args(["bundle", "export", "oci:store/web:1.4.2", "-o", "web.tar"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    for tag in ["latest", "9.9.9"] {
        // The same archive with its index.json rewritten to name another tag.
        let mut archive =
            tar::Archive::new(fs_err::File::open(tmp.path().join("web.tar")).unwrap());
        let mut out = tar::Builder::new(Vec::new());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut header = entry.header().clone();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            if entry.path().unwrap().to_str() == Some("index.json") {
                let text = String::from_utf8(data).unwrap();
                assert!(text.contains("\"1.4.2\""), "{text}");
                data = text.replace("\"1.4.2\"", &format!("\"{tag}\"")).into_bytes();
                header.set_size(data.len() as u64);
                header.set_cksum();
            }
            out.append(&header, data.as_slice()).unwrap();
        }
        let file = tmp.path().join(format!("{tag}.tar"));
        fs_err::write(&file, out.into_inner().unwrap()).unwrap();
        let output = baton(tmp.path())
            .args(["bundle", "import", file.to_str().unwrap(), "--store", "oci:air"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{tag}: {}", stderr(&output));
        let err = stderr(&output);
        assert!(
            err.contains(&format!("as \"{tag}\", but the bundle's version is `1.4.2`")),
            "{err}"
        );
        assert!(!tmp.path().join("air").exists(), "nothing lands in the store");
    }
}
