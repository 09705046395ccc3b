//! A `capstan server` for tests: started from the built binary on a free
//! loopback port with a fresh data dir, driven with the real kubectl.

#![allow(dead_code)]

pub mod cluster;
pub mod images;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const KUBECTL: &str = "/usr/bin/kubectl";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    extra_args: Vec<String>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// A server without this machine's agent (tests of the control plane
    /// run no containers).
    pub fn start_with(extra_args: &[&str]) -> TestServer {
        let mut args = vec!["--disable-agent"];
        args.extend_from_slice(extra_args);
        TestServer::start_raw(&args)
    }

    /// A server with exactly these flags.
    pub fn start_raw(extra_args: &[&str]) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("capstan-")
            .tempdir()
            .expect("temporary data dir");
        let mut server = TestServer {
            dir,
            port: 0,
            child: None,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        };
        server.launch(0);
        server
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("admin.kubeconfig")
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Starts the binary and waits for its ready line.
    fn launch(&mut self, port: u16) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("server")
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(if self.extra_args.iter().any(|a| a == "--bind-address") {
                Vec::new()
            } else {
                vec!["--bind-address", "127.0.0.1"]
            })
            .args(["--https-port", &port.to_string()])
            .args(&self.extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start capstan server");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining after the ready line so the server never
            // writes into a closed pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("ready at https://").nth(1) {
                        let address = rest.split_whitespace().next().unwrap_or_default();
                        self.port = address.rsplit(':').next().unwrap().parse().expect("port");
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("capstan server did not become ready in {READY_TIMEOUT:?}");
                }
            }
        }
        self.child = Some(child);
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(status.success(), "capstan server exited with {status}");
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("capstan server did not stop on SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Stops and starts again on the same data dir and port.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        self.launch(port);
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// kubectl with a manifest on standard input (`-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write manifest");
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl, asserts success and returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    }

    pub fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        let output = self.kubectl_stdin(args, input);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    }

    /// kubectl with more environment, e.g. `EDITOR` for `kubectl edit`.
    pub fn kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("run kubectl")
    }

    /// kubectl with a manifest on standard input, asserting failure;
    /// returns its standard error.
    pub fn fails_stdin(&self, args: &[&str], input: &str) -> String {
        let output = self.kubectl_stdin(args, input);
        assert!(
            !output.status.success(),
            "kubectl {args:?} should have failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stderr).expect("utf-8")
    }

    /// One HTTP request with the admin client certificate, through curl:
    /// the status code and the body.
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&[u8]>,
    ) -> (u16, String) {
        let tls = self.data_dir().join("tls");
        let mut command = Command::new("curl");
        command
            .args([
                "-s",
                "--max-time",
                "30",
                "-X",
                method,
                "-w",
                "\n%{http_code}",
            ])
            .arg("--cacert")
            .arg(tls.join("ca.crt"))
            .arg("--cert")
            .arg(tls.join("admin.crt"))
            .arg("--key")
            .arg(tls.join("admin.key"))
            .args(["-H", &format!("Content-Type: {content_type}")])
            .arg(format!("{}{path}", self.url()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if body.is_some() {
            command.args(["--data-binary", "@-"]);
        }
        let mut child = command.spawn().expect("run curl");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(body) = body {
            stdin.write_all(body).expect("write body");
        }
        drop(stdin);
        let output = child.wait_with_output().expect("curl output");
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').expect("curl wrote the status code");
        (
            code.trim().parse().expect("an HTTP status"),
            body.to_string(),
        )
    }

    /// A kube-rs client of the admin kubeconfig.
    pub async fn client(&self) -> kube::Client {
        use kube::config::{KubeConfigOptions, Kubeconfig};
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig()).expect("kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("client config");
        kube::Client::try_from(config).expect("client")
    }

    /// Runs kubectl, asserts failure and returns its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        assert!(
            !output.status.success(),
            "kubectl {args:?} should have failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stderr).expect("utf-8")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` every 100 ms until it holds, or panics after `limit`
/// naming what did not happen.
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or panics after
/// `timeout` naming what did not happen.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl TestServer {
    /// `kubectl get ARGS -o json`, parsed; `None` when kubectl fails.
    pub fn get_json(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let output = self.kubectl(&all);
        if !output.status.success() {
            return None;
        }
        serde_json::from_slice(&output.stdout).ok()
    }
}
