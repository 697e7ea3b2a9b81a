//! The layout baton writes is an OCI image layout other tools read: skopeo (Debian's, installed
//! by `make test`) prints manifest bytes that hash to the digest baton printed.

use baton_tests::{build_json, example, stderr};

#[test]
fn skopeo_reads_the_manifest_baton_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    for name in ["web", "k8s-app"] {
        let json = build_json(tmp.path(), &example(tmp.path(), name), &store, &[]);
        let version = json.version.as_str();
        let output = std::process::Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}/{name}:{version}", store.display()))
            .output()
            .expect("skopeo is installed (make test installs Debian's skopeo)");
        assert!(output.status.success(), "skopeo failed: {}", stderr(&output));
        let digest = baton_model::Digest::of(&output.stdout);
        assert_eq!(
            digest.to_string(),
            &*json.digest.to_string(),
            "skopeo's bytes must hash to baton's digest"
        );
    }
}
