//! Unit tests of the layout store on a real temporary directory.

use std::collections::BTreeMap;

use super::*;

fn name(text: &str) -> BundleName {
    text.parse().unwrap()
}

/// Stores a config and a layer blob and returns the manifest bytes naming them.
fn manifest_for(store: &LayoutStore, bundle: &BundleName, payload: &[u8]) -> Vec<u8> {
    let config = store.put_blob(bundle, b"{}").unwrap();
    let layer = store.put_blob(bundle, payload).unwrap();
    Manifest {
        schema_version: 2,
        media_type: oci::MANIFEST_MEDIA_TYPE.into(),
        artifact_type: Some(oci::ARTIFACT_TYPE.into()),
        config: oci::Descriptor::new(oci::CONFIG_MEDIA_TYPE, config, 2),
        layers: vec![oci::Descriptor::new(oci::LAYER_MEDIA_TYPE, layer, payload.len() as u64)],
        subject: None,
        annotations: BTreeMap::new(),
    }
    .to_bytes()
}

#[test]
fn tags_resolve_and_retagging_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let store = LayoutStore::new(dir.path().join("store"));
    let web = name("web");
    let first = manifest_for(&store, &web, b"one");
    let second = manifest_for(&store, &web, b"two");
    let d1 = store.put_manifest(&web, &first, Some("1.0.0")).unwrap().digest;
    let stored = store.put_manifest(&web, &second, Some("1.0.0")).unwrap();
    assert_eq!(stored.moved_from.as_ref(), Some(&d1), "the tag moved from the first manifest");
    let d2 = stored.digest;
    assert_eq!(store.resolve(&web, &Selector::Tag("1.0.0".into())).unwrap(), d2);
    assert_eq!(store.resolve(&web, &Selector::Digest(d1.clone())).unwrap(), d1);
    assert_eq!(store.read_index(&web).unwrap().manifests.len(), 1);
    let before = fs_err::read(store.layout_dir(&web).join("index.json")).unwrap();
    assert_eq!(store.put_manifest(&web, &second, Some("1.0.0")).unwrap().moved_from, None);
    assert_eq!(
        fs_err::read(store.layout_dir(&web).join("index.json")).unwrap(),
        before,
        "a repeated write is a no-op"
    );
}

#[test]
fn a_manifest_naming_a_missing_blob_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = LayoutStore::new(dir.path().join("other"));
    let store = LayoutStore::new(dir.path().join("store"));
    let web = name("web");
    let bytes = manifest_for(&other, &web, b"elsewhere");
    let err = store.put_manifest(&web, &bytes, Some("1.0.0")).unwrap_err();
    assert!(matches!(err, StoreError::MissingBlob { .. }), "{err}");
}

#[test]
fn concurrent_writers_keep_every_tag() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let web = name("web");
    std::thread::scope(|scope| {
        for i in 0..8 {
            let store = LayoutStore::new(root.clone());
            let web = web.clone();
            scope.spawn(move || {
                let bytes = manifest_for(&store, &web, format!("payload {i}").as_bytes());
                store.put_manifest(&web, &bytes, Some(&format!("1.0.{i}"))).unwrap();
            });
        }
    });
    let store = LayoutStore::new(root);
    let index = store.read_index(&web).unwrap();
    let tags: Vec<_> = index.manifests.iter().filter_map(|m| m.ref_name()).collect();
    assert_eq!(tags, (0..8).map(|i| format!("1.0.{i}")).collect::<Vec<_>>());
    let leftovers: Vec<_> = fs_err::read_dir(store.layout_dir(&web).join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
}

#[test]
fn corrupt_blobs_and_file_stores_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = LayoutStore::new(dir.path().join("store"));
    let web = name("web");
    let digest = store.put_blob(&web, b"hello").unwrap();
    fs_err::write(store.blob_path(&web, &digest), b"jello").unwrap();
    let err = store.read_blob(&web, &digest, 100).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&digest.to_string()));

    let file = dir.path().join("a-file");
    fs_err::write(&file, b"").unwrap();
    let err = LayoutStore::new(&file).blob_writer(&web).err().unwrap();
    assert!(matches!(err, StoreError::NotADirectory { .. }), "{err}");
}
