//! The OCI documents of an image (config, manifest, layout index) and the
//! tar archives that carry them, all deterministic: the same files give the
//! same bytes, hence the same digests.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::{FileContents, ImageConfig, ImageFile};

pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// The annotation containerd's importer names an image by.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";
/// The OCI layout's own reference annotation.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for byte in hash.iter() {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// The architecture this crate was built for, as Go (and so OCI) names it.
pub const fn go_arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "amd64"
    } else if cfg!(target_arch = "aarch64") {
        "arm64"
    } else if cfg!(target_arch = "x86") {
        "386"
    } else if cfg!(target_arch = "arm") {
        "arm"
    } else if cfg!(target_arch = "riscv64") {
        "riscv64"
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        "ppc64le"
    } else if cfg!(target_arch = "powerpc64") {
        "ppc64"
    } else if cfg!(target_arch = "s390x") {
        "s390x"
    } else if cfg!(target_arch = "loongarch64") {
        "loong64"
    } else {
        std::env::consts::ARCH
    }
}

/// A path as a layer holds it: relative, no `./`, no trailing slash.
fn clean(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append_dir(builder: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
    let mut header = header(tar::EntryType::Directory, mode, 0);
    builder
        .append_data(&mut header, format!("{path}/"), std::io::empty())
        .expect("writing to memory");
}

fn append_file(builder: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, contents: &[u8]) {
    let mut header = header(tar::EntryType::Regular, mode, contents.len() as u64);
    builder
        .append_data(&mut header, path, contents)
        .expect("writing to memory");
}

/// The layer: the files in the order given, each preceded by those of its
/// parent directories that no entry names (mode 0755).
pub fn layer(files: &[ImageFile]) -> Vec<u8> {
    let named: BTreeSet<String> = files.iter().map(|file| clean(&file.path)).collect();
    let mut builder = tar::Builder::new(Vec::new());
    let mut written = BTreeSet::new();
    for file in files {
        let path = clean(&file.path);
        assert!(!path.is_empty(), "an image file needs a path");
        let mut parent = String::new();
        for part in path.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            if !written.contains(&parent) && !named.contains(&parent) {
                append_dir(&mut builder, &parent, 0o755);
                written.insert(parent.clone());
            }
        }
        match &file.contents {
            FileContents::Bytes(bytes) => append_file(&mut builder, &path, file.mode, bytes),
            FileContents::Dir => append_dir(&mut builder, &path, file.mode),
            FileContents::Symlink(target) => {
                let mut header = header(tar::EntryType::Symlink, file.mode, 0);
                builder
                    .append_link(&mut header, &path, target)
                    .expect("writing to memory");
            }
        }
        written.insert(path);
    }
    builder.into_inner().expect("writing to memory")
}

fn strings(values: &[String]) -> Value {
    Value::Array(values.iter().cloned().map(Value::String).collect())
}

/// The image config (what `docker inspect` shows under `Config`, plus the
/// platform and the layer's diff ID).
pub fn config(config: &ImageConfig, layer_digest: &str) -> Vec<u8> {
    let mut run = Map::new();
    if !config.entrypoint.is_empty() {
        run.insert("Entrypoint".into(), strings(&config.entrypoint));
    }
    if !config.cmd.is_empty() {
        run.insert("Cmd".into(), strings(&config.cmd));
    }
    if !config.env.is_empty() {
        run.insert("Env".into(), strings(&config.env));
    }
    if let Some(dir) = &config.working_dir {
        run.insert("WorkingDir".into(), dir.clone().into());
    }
    if let Some(user) = &config.user {
        run.insert("User".into(), user.clone().into());
    }
    let document = json!({
        "architecture": go_arch(),
        "os": "linux",
        "config": run,
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    });
    serde_json::to_vec(&document).expect("JSON")
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> Value {
    json!({ "mediaType": media_type, "digest": digest, "size": size })
}

pub fn manifest(
    config_digest: &str,
    config_size: usize,
    layer_digest: &str,
    layer_size: usize,
) -> Vec<u8> {
    let document = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, config_digest, config_size),
        "layers": [descriptor(LAYER_MEDIA_TYPE, layer_digest, layer_size)],
    });
    serde_json::to_vec(&document).expect("JSON")
}

/// An OCI image layout holding one image, as a tar archive.
pub fn layout(
    reference: &str,
    manifest_digest: &str,
    manifest_size: usize,
    blobs: &[(&str, &[u8])],
) -> Vec<u8> {
    let mut entry = descriptor(MANIFEST_MEDIA_TYPE, manifest_digest, manifest_size);
    entry["annotations"] = json!({
        CONTAINERD_NAME_ANNOTATION: reference,
        REF_NAME_ANNOTATION: reference,
    });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [entry],
    });
    let mut builder = tar::Builder::new(Vec::new());
    append_file(
        &mut builder,
        "oci-layout",
        0o644,
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    append_file(
        &mut builder,
        "index.json",
        0o644,
        &serde_json::to_vec(&index).expect("JSON"),
    );
    append_dir(&mut builder, "blobs", 0o755);
    append_dir(&mut builder, "blobs/sha256", 0o755);
    let mut written = BTreeSet::new();
    for (digest, bytes) in blobs {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        if written.insert(hex) {
            append_file(&mut builder, &format!("blobs/sha256/{hex}"), 0o644, bytes);
        }
    }
    builder.into_inner().expect("writing to memory")
}
