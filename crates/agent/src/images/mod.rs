//! Container images built in memory: one uncompressed layer from a list of
//! files, its OCI config and manifest, and an OCI image layout archive of
//! them that `ctr images import` (and containerd's import API) takes. A
//! registry can serve the same blobs and manifest.
//!
//! The pod sandbox image is capstan's own: [`pause_archive`] holds the
//! `pause` program that `build.rs` compiles from `pause/pause.rs`.
//!
//! ```
//! use capstan_agent::images::{build, FileContents, ImageConfig, ImageFile};
//! let files = [ImageFile {
//!     path: "etc/motd".into(),
//!     mode: 0o644,
//!     contents: FileContents::Bytes(b"hello\n".to_vec().into()),
//! }];
//! let image = build(&files, &ImageConfig::default());
//! let archive = image.archive("example.local/motd:1");
//! # assert!(!archive.is_empty());
//! ```

mod oci;

use std::borrow::Cow;
use std::fmt;

pub use oci::{
    digest, go_arch, CONFIG_MEDIA_TYPE, CONTAINERD_NAME_ANNOTATION, INDEX_MEDIA_TYPE,
    LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, REF_NAME_ANNOTATION,
};

/// The pod sandbox image every pod's sandbox runs, embedded in the binary.
pub const PAUSE_IMAGE: &str = concat!("capstan.local/pause:", env!("CARGO_PKG_VERSION"));

/// The `pause` executable (static, for this build's architecture).
pub const PAUSE_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pause"));

/// One entry of an image's layer.
#[derive(Clone, Debug)]
pub struct ImageFile {
    /// The path in the image, e.g. `bin/busybox` (a leading `/` is dropped).
    /// Parent directories no entry names are added with mode 0755.
    pub path: String,
    /// Permission bits, e.g. 0o755.
    pub mode: u32,
    pub contents: FileContents,
}

#[derive(Clone, Debug)]
pub enum FileContents {
    /// A regular file.
    Bytes(Cow<'static, [u8]>),
    /// A symbolic link to this target.
    Symlink(String),
    /// A directory.
    Dir,
}

/// What a container of the image runs by default.
#[derive(Clone, Debug, Default)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `NAME=value` entries.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

/// An image of one layer for linux on this build's architecture, with its
/// blobs and their `sha256:` digests.
#[derive(Clone)]
pub struct Image {
    pub config_json: Vec<u8>,
    pub config_digest: String,
    /// The layer, an uncompressed tar ([`LAYER_MEDIA_TYPE`]); its digest is
    /// also its diff ID.
    pub layer_tar: Vec<u8>,
    pub layer_digest: String,
    /// The OCI manifest ([`MANIFEST_MEDIA_TYPE`]).
    pub manifest_json: Vec<u8>,
    pub manifest_digest: String,
}

/// Builds the image of `files` (in that order) run as `config` says.
/// The same input gives the same bytes: times, owners and names are fixed.
pub fn build(files: &[ImageFile], config: &ImageConfig) -> Image {
    let layer_tar = oci::layer(files);
    let layer_digest = digest(&layer_tar);
    let config_json = oci::config(config, &layer_digest);
    let config_digest = digest(&config_json);
    let manifest_json = oci::manifest(
        &config_digest,
        config_json.len(),
        &layer_digest,
        layer_tar.len(),
    );
    let manifest_digest = digest(&manifest_json);
    Image {
        config_json,
        config_digest,
        layer_tar,
        layer_digest,
        manifest_json,
        manifest_digest,
    }
}

impl Image {
    /// The blobs a manifest refers to, as `(digest, bytes)`: config, layer.
    pub fn blobs(&self) -> [(&str, &[u8]); 2] {
        [
            (&self.config_digest, &self.config_json),
            (&self.layer_digest, &self.layer_tar),
        ]
    }

    /// An OCI image layout tar of this image named `reference` (a full
    /// reference, e.g. `capstan.local/pause:0.1.0`): what `ctr images
    /// import` takes.
    pub fn archive(&self, reference: &str) -> Vec<u8> {
        let [config, layer] = self.blobs();
        oci::layout(
            reference,
            &self.manifest_digest,
            self.manifest_json.len(),
            &[config, layer, (&self.manifest_digest, &self.manifest_json)],
        )
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("manifest", &self.manifest_digest)
            .field("config", &self.config_digest)
            .field("layer", &self.layer_digest)
            .field("layer_size", &self.layer_tar.len())
            .finish()
    }
}

/// The pause image: `/pause` and nothing else, run as its entrypoint.
pub fn pause_image() -> Image {
    let files = [ImageFile {
        path: "pause".into(),
        mode: 0o755,
        contents: FileContents::Bytes(Cow::Borrowed(PAUSE_BINARY)),
    }];
    let config = ImageConfig {
        entrypoint: vec!["/pause".into()],
        ..ImageConfig::default()
    };
    build(&files, &config)
}

/// The pause image as an OCI layout archive named [`PAUSE_IMAGE`].
pub fn pause_archive() -> Vec<u8> {
    pause_image().archive(PAUSE_IMAGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeMap;
    use std::io::Read;

    struct Entry {
        kind: tar::EntryType,
        mode: u32,
        link: Option<String>,
        data: Vec<u8>,
    }

    /// Reads a tar back, asserting every entry is owned by root at time 0.
    fn entries(tar_bytes: &[u8]) -> Vec<(String, Entry)> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut entries = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            assert_eq!(
                (header.uid().unwrap(), header.gid().unwrap()),
                (0, 0),
                "owner"
            );
            assert_eq!(header.mtime().unwrap(), 0, "mtime");
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let kind = header.entry_type();
            let mode = header.mode().unwrap();
            let link = entry
                .link_name()
                .unwrap()
                .map(|link| link.to_string_lossy().into_owned());
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            entries.push((
                path,
                Entry {
                    kind,
                    mode,
                    link,
                    data,
                },
            ));
        }
        entries
    }

    fn sample() -> (Vec<ImageFile>, ImageConfig) {
        let long = format!("{}/file", "deep".repeat(40));
        let files = vec![
            ImageFile {
                path: "/bin/tool".into(),
                mode: 0o755,
                contents: FileContents::Bytes(b"#!tool".to_vec().into()),
            },
            ImageFile {
                path: "bin/sh".into(),
                mode: 0o777,
                contents: FileContents::Symlink("tool".into()),
            },
            ImageFile {
                path: "./tmp/".into(),
                mode: 0o1777,
                contents: FileContents::Dir,
            },
            ImageFile {
                path: long,
                mode: 0o600,
                contents: FileContents::Bytes(Cow::Borrowed(b"long")),
            },
        ];
        let config = ImageConfig {
            entrypoint: vec!["/bin/tool".into()],
            cmd: vec!["--flag".into()],
            env: vec!["PATH=/bin".into()],
            working_dir: Some("/tmp".into()),
            user: Some("65534".into()),
        };
        (files, config)
    }

    #[test]
    fn the_layer_holds_the_files_and_their_parents() {
        let (files, config) = sample();
        let image = build(&files, &config);
        let entries = entries(&image.layer_tar);
        let paths: Vec<_> = entries.iter().map(|(path, _)| path.as_str()).collect();
        let long = format!("{}/file", "deep".repeat(40));
        assert_eq!(
            paths,
            [
                "bin/",
                "bin/tool",
                "bin/sh",
                "tmp/",
                &format!("{}/", "deep".repeat(40)),
                &long
            ]
        );
        let by_path: BTreeMap<_, _> = entries.into_iter().collect();
        let tool = &by_path["bin/tool"];
        assert_eq!(
            (tool.kind, tool.mode, tool.data.as_slice()),
            (tar::EntryType::Regular, 0o755, &b"#!tool"[..])
        );
        let sh = &by_path["bin/sh"];
        assert_eq!(sh.kind, tar::EntryType::Symlink);
        assert_eq!(sh.link.as_deref(), Some("tool"));
        let tmp = &by_path["tmp/"];
        assert_eq!((tmp.kind, tmp.mode), (tar::EntryType::Directory, 0o1777));
        assert_eq!(by_path["bin/"].mode, 0o755);
        assert_eq!(by_path[long.as_str()].data, b"long");
    }

    #[test]
    fn config_and_manifest_refer_to_the_blobs_by_digest() {
        let (files, config) = sample();
        let image = build(&files, &config);
        assert_eq!(image.layer_digest, digest(&image.layer_tar));
        assert_eq!(image.config_digest, digest(&image.config_json));
        assert_eq!(image.manifest_digest, digest(&image.manifest_json));

        let config: Value = serde_json::from_slice(&image.config_json).unwrap();
        assert_eq!(config["os"], "linux");
        assert_eq!(config["architecture"], go_arch());
        assert_eq!(config["rootfs"]["type"], "layers");
        assert_eq!(config["rootfs"]["diff_ids"][0], image.layer_digest);
        assert_eq!(config["config"]["Entrypoint"][0], "/bin/tool");
        assert_eq!(config["config"]["Cmd"][0], "--flag");
        assert_eq!(config["config"]["Env"][0], "PATH=/bin");
        assert_eq!(config["config"]["WorkingDir"], "/tmp");
        assert_eq!(config["config"]["User"], "65534");

        let manifest: Value = serde_json::from_slice(&image.manifest_json).unwrap();
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
        assert_eq!(manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["config"]["digest"], image.config_digest);
        assert_eq!(manifest["config"]["size"], image.config_json.len());
        assert_eq!(manifest["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["digest"], image.layer_digest);
        assert_eq!(manifest["layers"][0]["size"], image.layer_tar.len());
    }

    #[test]
    fn building_is_deterministic() {
        let (files, config) = sample();
        let (one, two) = (build(&files, &config), build(&files, &config));
        assert_eq!(one.manifest_json, two.manifest_json);
        assert_eq!(one.layer_tar, two.layer_tar);
        assert_eq!(one.archive("a.local/b:c"), two.archive("a.local/b:c"));
        let empty = build(&files, &ImageConfig::default());
        let config: Value = serde_json::from_slice(&empty.config_json).unwrap();
        assert_eq!(config["config"], serde_json::json!({}));
    }

    #[test]
    fn sha256_digests() {
        assert_eq!(
            digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Checks an OCI layout archive: its index names `reference` and
    /// points at `image`'s manifest, and every blob is stored under its
    /// own digest.
    fn check_layout(archive: &[u8], reference: &str, image: &Image) {
        let entries = entries(archive);
        let paths: Vec<_> = entries.iter().map(|(path, _)| path.clone()).collect();
        let blob = |digest: &str| format!("blobs/sha256/{}", &digest[7..]);
        assert_eq!(
            paths,
            [
                "oci-layout".to_string(),
                "index.json".into(),
                "blobs/".into(),
                "blobs/sha256/".into(),
                blob(&image.config_digest),
                blob(&image.layer_digest),
                blob(&image.manifest_digest),
            ]
        );
        let by_path: BTreeMap<_, _> = entries.into_iter().collect();
        for (path, entry) in &by_path {
            if let Some(hex) = path.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
                assert_eq!(digest(&entry.data), format!("sha256:{hex}"));
            }
        }
        let layout: Value = serde_json::from_slice(&by_path["oci-layout"].data).unwrap();
        assert_eq!(layout["imageLayoutVersion"], "1.0.0");
        let index: Value = serde_json::from_slice(&by_path["index.json"].data).unwrap();
        assert_eq!(index["schemaVersion"], 2);
        assert_eq!(index["mediaType"], INDEX_MEDIA_TYPE);
        let manifests = index["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 1);
        let manifest = &manifests[0];
        assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
        assert_eq!(manifest["digest"], image.manifest_digest);
        assert_eq!(manifest["size"], image.manifest_json.len());
        assert_eq!(
            manifest["annotations"][CONTAINERD_NAME_ANNOTATION],
            reference
        );
        assert_eq!(manifest["annotations"][REF_NAME_ANNOTATION], reference);
    }

    #[test]
    fn the_archive_is_an_oci_layout() {
        let (files, config) = sample();
        let image = build(&files, &config);
        check_layout(
            &image.archive("example.local/x:1"),
            "example.local/x:1",
            &image,
        );
    }

    #[test]
    fn the_pause_image_holds_only_pause() {
        assert_eq!(
            PAUSE_IMAGE,
            format!("capstan.local/pause:{}", env!("CARGO_PKG_VERSION"))
        );
        let image = pause_image();
        check_layout(&pause_archive(), PAUSE_IMAGE, &image);
        let layer = entries(&image.layer_tar);
        assert_eq!(layer.len(), 1);
        let (path, pause) = &layer[0];
        assert_eq!((path.as_str(), pause.mode), ("pause", 0o755));
        assert_eq!(pause.data, PAUSE_BINARY);
        assert_eq!(&pause.data[..4], b"\x7fELF");
        let config: Value = serde_json::from_slice(&image.config_json).unwrap();
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/pause"])
        );
        assert!(config["config"].get("Cmd").is_none());
    }

    /// Runs the embedded pause on the host (not as PID 1): `-v` prints the
    /// version; SIGTERM ends it with status 0.
    #[test]
    fn pause_runs() {
        use std::os::unix::fs::PermissionsExt;
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pause");
        std::fs::write(&path, PAUSE_BINARY).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();

        // A process forked elsewhere in this test binary while the file
        // was open for writing keeps it busy until that child execs.
        let retrying = |run: &mut dyn FnMut() -> std::io::Result<()>| {
            for _ in 0..100 {
                match run() {
                    Err(error) if error.raw_os_error() == Some(26) => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    result => return result.unwrap(),
                }
            }
            panic!("{} stayed busy", path.display());
        };
        let mut output = None;
        retrying(&mut || {
            output = Some(Command::new(&path).arg("-v").output()?);
            Ok(())
        });
        let output = output.unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("pause.rs {}\n", env!("CARGO_PKG_VERSION"))
        );

        let mut child = None;
        retrying(&mut || {
            child = Some(Command::new(&path).stderr(Stdio::piped()).spawn()?);
            Ok(())
        });
        let mut child = child.unwrap();
        // Give it time to block the signals (else SIGTERM kills it, which
        // fails the status check below rather than passing it).
        std::thread::sleep(Duration::from_millis(200));
        assert!(child.try_wait().unwrap().is_none(), "pause exited early");
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("pause did not exit on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(0), "{status}");
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(stderr.contains("SIGTERM"), "{stderr}");
    }
}
