//! Images for tests that run real containers, and a loopback registry to
//! pull them from.
//!
//! [`busybox_image`] is built from the host's busybox-static; [`Registry`]
//! runs Debian's `docker-registry` (the distribution registry) over plain
//! HTTP on a free loopback port, and [`Registry::push`] uploads an image to
//! it with curl.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use capstan_agent::images::{
    build, FileContents, Image, ImageConfig, ImageFile, MANIFEST_MEDIA_TYPE,
};

pub const BUSYBOX: &str = "/bin/busybox";
pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The login [`Registry::start_private`]'s registry asks for.
pub const PRIVATE_USER: &str = "capstan";
pub const PRIVATE_PASSWORD: &str = "capstan-secret";
/// The registry's htpasswd line for that login (bcrypt, the only hash it
/// reads).
const PRIVATE_HTPASSWD: &str =
    "capstan:$2b$05$capstanregistrytestsaexKWxWtnBArXcPnN30cTu5A2SY3kedJm\n";
/// `Basic` base64 of `capstan:capstan-secret`.
const PRIVATE_AUTHORIZATION: &str = "Basic Y2Fwc3RhbjpjYXBzdGFuLXNlY3JldA==";

/// The commands of the busybox image, each a symlink to `/bin/busybox`
/// (`tar` is what `kubectl cp` runs).
pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "sleep", "cat", "echo", "ls", "wget", "nc", "httpd", "mkdir", "touch", "env", "id",
    "hostname", "ip", "ps", "kill", "grep", "head", "tail", "seq", "dd", "true", "false", "date",
    "mount", "test", "cp", "tar", "rm", "nslookup", "timeout",
];

/// A busybox image: `/bin/busybox` (static, from the host) and its applets
/// in `/bin`, `/tmp`, and an `/etc/passwd` and `/etc/group` of root and
/// nobody; runs `sh` with `PATH=/bin`.
pub fn busybox_image() -> Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let busybox = std::fs::read(BUSYBOX)
                .unwrap_or_else(|error| panic!("{BUSYBOX} (busybox-static): {error}"));
            let mut files = vec![ImageFile {
                path: "bin/busybox".into(),
                mode: 0o755,
                contents: FileContents::Bytes(busybox.into()),
            }];
            files.extend(BUSYBOX_APPLETS.iter().map(|applet| ImageFile {
                path: format!("bin/{applet}"),
                mode: 0o777,
                contents: FileContents::Symlink("busybox".into()),
            }));
            let file = |path: &str, mode, contents: &'static str| ImageFile {
                path: path.into(),
                mode,
                contents: FileContents::Bytes(contents.as_bytes().into()),
            };
            let dir = |path: &str, mode| ImageFile {
                path: path.into(),
                mode,
                contents: FileContents::Dir,
            };
            files.extend([
                dir("tmp", 0o1777),
                dir("etc", 0o755),
                file(
                    "etc/passwd",
                    0o644,
                    "root:x:0:0:root:/root:/bin/sh\n\
                     nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
                ),
                file("etc/group", 0o644, "root:x:0:\nnobody:x:65534:\n"),
            ]);
            let config = ImageConfig {
                cmd: vec!["sh".into()],
                env: vec!["PATH=/bin".into()],
                ..ImageConfig::default()
            };
            build(&files, &config)
        })
        .clone()
}

/// An HTTP response as curl got it.
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One plain HTTP request through curl (`HEAD` asks for headers only).
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
    let mut command = Command::new("curl");
    command.args(["-s", "-S", "--max-time", "60", "-i", "-H", "Expect:"]);
    if method == "HEAD" {
        command.arg("-I");
    } else {
        command.args(["-X", method]);
    }
    for (name, value) in headers {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    if body.is_some() {
        command.args(["--data-binary", "@-"]);
    }
    let mut child = command
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run curl");
    let mut stdin = child.stdin.take().expect("stdin");
    let body = body.map(<[u8]>::to_vec);
    let writer = std::thread::spawn(move || {
        if let Some(body) = body {
            let _ = stdin.write_all(&body);
        }
    });
    let output = child.wait_with_output().expect("curl output");
    let _ = writer.join();
    assert!(
        output.status.success(),
        "curl {method} {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_response(&output.stdout)
        .unwrap_or_else(|| panic!("curl {method} {url}: not an HTTP response"))
}

/// Splits `curl -i` output, skipping interim (1xx) responses.
fn parse_response(mut raw: &[u8]) -> Option<Response> {
    loop {
        let end = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        raw = &raw[end + 4..];
        let mut lines = head.lines();
        let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        if (100..200).contains(&status) {
            continue;
        }
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        return Some(Response {
            status,
            headers,
            body: raw.to_vec(),
        });
    }
}

/// A distribution registry on `127.0.0.1:<free port>`, plain HTTP, storing
/// into a temporary directory. Stopped on drop, and also when the test
/// process ends without dropping it (as a [`Registry::shared`] one never
/// is): it runs under a shell that waits on a pipe from this process and,
/// when that closes, stops the registry and removes its storage.
pub struct Registry {
    dir: tempfile::TempDir,
    port: u16,
    /// The wrapping shell.
    child: Option<Child>,
    /// Closing it stops the registry.
    lifeline: Option<ChildStdin>,
    /// The `Authorization` header a private registry needs.
    authorization: Option<&'static str>,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::launch(false)
    }

    /// A registry that serves only [`PRIVATE_USER`] with
    /// [`PRIVATE_PASSWORD`] (HTTP basic authentication).
    pub fn start_private() -> Registry {
        Registry::launch(true)
    }

    fn launch(private: bool) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("registry")
            .tempdir()
            .expect("temporary dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: capstan-tests\n",
            storage = dir.path().join("storage").display(),
        );
        if private {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, PRIVATE_HTPASSWD).expect("write htpasswd");
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: capstan\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, text).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        // The registry's output goes to a file, not this process's pipes,
        // so nothing holds the test's output open.
        let mut child = Command::new("sh")
            .args([
                "-c",
                r#"registry="$1"; config="$2"; dir="$3"
"$registry" serve "$config" </dev/null &
read _ || true
kill $! 2>/dev/null; wait
rm -rf "$dir""#,
                "registry-wrapper",
                DOCKER_REGISTRY,
            ])
            .arg(&config)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let lifeline = child.stdin.take();
        let registry = Registry {
            dir,
            port,
            child: Some(child),
            lifeline,
            authorization: private.then_some(PRIVATE_AUTHORIZATION),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let ready = Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "2",
                ])
                .args(
                    registry
                        .authorization
                        .map(|value| ["-H".to_string(), format!("Authorization: {value}")])
                        .into_iter()
                        .flatten(),
                )
                .arg(registry.url("/v2/"))
                .output()
                .is_ok_and(|output| output.stdout == b"200");
            if ready {
                return registry;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on {} in {READY_TIMEOUT:?}: {}",
                registry.host(),
                registry.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One registry for every test of this test binary, stopped when the
    /// process exits.
    pub fn shared() -> &'static Registry {
        static SHARED: OnceLock<Registry> = OnceLock::new();
        SHARED.get_or_init(Registry::start)
    }

    /// `127.0.0.1:PORT`, the registry part of an image reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host())
    }

    /// The full reference of `repository:tag` in this registry.
    pub fn reference(&self, repository: &str, tag: &str) -> String {
        format!("{}/{repository}:{tag}", self.host())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Uploads the image's blobs (those the registry lacks), then its
    /// manifest as `repository:tag`.
    pub fn push(&self, repository: &str, tag: &str, image: &Image) {
        let login: Vec<(&str, &str)> = self
            .authorization
            .map(|value| ("Authorization", value))
            .into_iter()
            .collect();
        let with_login = |header: (&'static str, &'static str)| {
            let mut headers = login.clone();
            headers.push(header);
            headers
        };
        for (digest, bytes) in image.blobs() {
            let blob = self.url(&format!("/v2/{repository}/blobs/{digest}"));
            if http("HEAD", &blob, &login, None).status == 200 {
                continue;
            }
            let started = http(
                "POST",
                &self.url(&format!("/v2/{repository}/blobs/uploads/")),
                &login,
                None,
            );
            assert_eq!(started.status, 202, "starting an upload: {}", self.log());
            let location = started.header("location").expect("an upload location");
            let mut upload = if location.starts_with('/') {
                self.url(location)
            } else {
                location.to_string()
            };
            upload.push(if upload.contains('?') { '&' } else { '?' });
            upload.push_str(&format!("digest={}", digest.replace(':', "%3A")));
            let put = http(
                "PUT",
                &upload,
                &with_login(("Content-Type", "application/octet-stream")),
                Some(bytes),
            );
            assert_eq!(
                put.status,
                201,
                "uploading {digest}: {}",
                String::from_utf8_lossy(&put.body)
            );
        }
        let put = http(
            "PUT",
            &self.url(&format!("/v2/{repository}/manifests/{tag}")),
            &with_login(("Content-Type", MANIFEST_MEDIA_TYPE)),
            Some(&image.manifest_json),
        );
        assert_eq!(
            put.status,
            201,
            "putting the manifest of {repository}:{tag}: {}",
            String::from_utf8_lossy(&put.body)
        );
    }

    /// Stops the registry and waits (bounded) for it to be gone.
    fn stop(&mut self) {
        drop(self.lifeline.take());
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
