//! The host's nginx in the services bench: packed into the backend pod's
//! image, and run on the host as the reverse proxy the Ingress is compared
//! with.

use super::*;

/// The backend: the host's nginx with every library `ldd` lists (at the
/// same paths, the dynamic loader among them), users for its workers, and
/// a configuration answering `ok` on 8080 with no logging. Connections
/// are kept alive for as many requests as a run sends, so every path
/// measures its own forwarding, not reconnects.
pub(super) fn backend_image() -> Res<Image> {
    let bytes = |path: &Path| -> Res<FileContents> {
        let contents =
            std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
        Ok(FileContents::Bytes(contents.into()))
    };
    let text = |path: &str, contents: &'static str| ImageFile {
        path: path.into(),
        mode: 0o644,
        contents: FileContents::Bytes(contents.as_bytes().into()),
    };
    let mut files = vec![ImageFile {
        path: NGINX.trim_start_matches('/').into(),
        mode: 0o755,
        contents: bytes(Path::new(NGINX))?,
    }];
    for library in shared_libraries(NGINX)? {
        files.push(ImageFile {
            path: library.to_string_lossy().trim_start_matches('/').into(),
            mode: 0o755,
            contents: bytes(&library)?,
        });
    }
    files.extend([
        ImageFile {
            path: "tmp".into(),
            mode: 0o1777,
            contents: FileContents::Dir,
        },
        text(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\n\
             www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        ),
        text("etc/group", "root:x:0:\nwww-data:x:33:\nnobody:x:65534:\n"),
        text(
            "etc/nginx/nginx.conf",
            r#"user www-data;
worker_processes 1;
daemon off;
error_log stderr;
pid /tmp/nginx.pid;
lock_file /tmp/nginx.lock;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 8080;
        location / { return 200 "ok\n"; }
    }
}
"#,
        ),
    ]);
    let config = ImageConfig {
        entrypoint: vec![NGINX.into(), "-c".into(), "/etc/nginx/nginx.conf".into()],
        ..ImageConfig::default()
    };
    Ok(build(&files, &config))
}

/// The files `ldd` says `binary` loads: its libraries and the loader.
fn shared_libraries(binary: &str) -> Res<Vec<PathBuf>> {
    let output = Command::new("ldd").arg(binary).output()?;
    if !output.status.success() {
        return Err(format!(
            "ldd {binary}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    let mut libraries = BTreeSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        // `libc.so.6 => /lib/.../libc.so.6 (0x...)`, or the loader as
        // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
        let target = line.split_once("=>").map_or(line, |(_, target)| target);
        let path = target.trim().split(" (").next().unwrap_or_default();
        if path == "not found" {
            return Err(format!("ldd {binary}: a library is missing: {}", line.trim()).into());
        }
        if path.starts_with('/') {
            libraries.insert(PathBuf::from(path));
        }
    }
    if libraries.is_empty() {
        return Err(format!("ldd {binary} listed no libraries").into());
    }
    Ok(libraries.into_iter().collect())
}

/// nginx on the host as a reverse proxy to the backend pod, the way an
/// ingress controller is usually built: one process (`master_process
/// off`), kept-alive upstream connections, no access log, everything it
/// writes in a temporary directory. Killed on drop.
pub(super) struct HostNginx {
    child: Child,
    pub(super) port: u16,
    dir: tempfile::TempDir,
}

impl HostNginx {
    pub(super) fn start(backend: IpAddr) -> Res<HostNginx> {
        let dir = tempfile::Builder::new()
            .prefix("capstan-bench-nginx-")
            .tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let temp = dir.path().display();
        let config = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
error_log stderr;
pid {temp}/nginx.pid;
lock_file {temp}/nginx.lock;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    keepalive_requests 1000000;
    upstream backend {{
        server {upstream};
        keepalive 32;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#,
            upstream = socket(backend, BACKEND_PORT),
        );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config)?;
        let log = std::fs::File::create(dir.path().join("error.log"))?;
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut nginx = HostNginx { child, port, dir };
        let deadline = Instant::now() + LIMIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if !matches!(nginx.child.try_wait(), Ok(None)) || Instant::now() > deadline {
                return Err(format!("nginx on the host did not start: {}", nginx.log()).into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(nginx)
    }

    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for HostNginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
