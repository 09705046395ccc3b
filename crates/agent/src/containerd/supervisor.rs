//! containerd as a supervised child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::Notify;

use super::config::{self, ConfigInput};
use super::registries::Registries;
use super::{ContainerdOptions, Paths, Tools};

/// How long containerd may take to answer on its socket.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long containerd has to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Restart back-off: first delay, and the most it grows to.
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A run this long resets the back-off.
const STABLE_RUN: Duration = Duration::from_secs(60);
/// containerd.log beyond this is moved to containerd.log.1 at a start.
const LOG_ROTATE_BYTES: u64 = 50 << 20;

/// A running containerd of the agent. [`Containerd::stop`] ends it
/// gracefully; dropping the handle sends it SIGTERM (and SIGKILL if the
/// runtime goes away first). The containers and their shims live on, as
/// with k3s: [`super::killall`] ends those.
pub struct Containerd {
    socket: PathBuf,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

struct Shared {
    stopping: AtomicBool,
    /// Supervision ended without stopping containerd.
    detached: AtomicBool,
    /// The pid of the current containerd, 0 when there is none.
    pid: AtomicI32,
    wake: Notify,
}

impl Containerd {
    /// containerd's gRPC socket (CRI and its own API).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The pid of the running containerd, if one runs now.
    pub fn pid(&self) -> Option<u32> {
        match self.shared.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid as u32),
        }
    }

    /// Stops containerd (SIGTERM, then SIGKILL after 10 s) and its
    /// supervision. Containers keep running.
    pub async fn stop(mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Containerd {
    /// Ends the supervision but leaves containerd running: it is neither
    /// started again nor stopped by this handle any more (it still dies
    /// with this process). Returns its pid. `capstan killall`'s test uses
    /// it to leave containerd as a crashed agent would.
    pub fn detach(mut self) -> Option<u32> {
        let pid = self.pid();
        self.shared.detached.store(true, Ordering::SeqCst);
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        self.task = None;
        pid
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.task.is_none() {
            return;
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        // The runtime may be going away with the task: signal now.
        let pid = self.shared.pid.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill(2) has no memory effects.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

/// Writes containerd's config and registry hosts, starts containerd and
/// waits (up to 10 s) until its socket answers. A containerd that dies
/// later is started again, after a back-off (1 s doubling to 30 s).
///
/// containerd runs in its own process group (a terminal's Ctrl-C is for
/// capstan) and gets SIGKILL if capstan dies (`PR_SET_PDEATHSIG`, as k3s
/// does), so that no containerd outlives its agent and holds the data
/// dir. Fails if a containerd already answers on this data dir's socket.
pub async fn start(options: &ContainerdOptions, tools: &Tools) -> Result<Containerd, String> {
    // Absolute and without symlinks, as killall finds containerd and its
    // shims by the paths on their command lines.
    let agent_dir = std::fs::create_dir_all(&options.agent_dir)
        .and_then(|()| std::fs::canonicalize(&options.agent_dir))
        .map_err(|error| format!("{}: {error}", options.agent_dir.display()))?;
    let paths = Paths::new(&agent_dir);
    paths.check_socket_length()?;
    if answers(&paths.socket).await {
        return Err(format!(
            "a containerd already answers on {}; stop it (capstan killall) before starting the agent",
            paths.socket.display()
        ));
    }
    write_config(options, tools, &paths)?;
    let started = Instant::now();
    let mut child = spawn(tools, &paths)?;
    let pid = child.id().map_or(0, |pid| pid as i32);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "containerd exited at start ({status}); {}",
                log_tail(&paths.log)
            ));
        }
        if answers(&paths.socket).await {
            break;
        }
        if started.elapsed() > READY_TIMEOUT {
            terminate(&mut child).await;
            return Err(format!(
                "containerd did not answer on {} within {} s; {}",
                paths.socket.display(),
                READY_TIMEOUT.as_secs(),
                log_tail(&paths.log)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(
        pid,
        socket = %paths.socket.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "containerd is up"
    );
    let shared = Arc::new(Shared {
        stopping: AtomicBool::new(false),
        detached: AtomicBool::new(false),
        pid: AtomicI32::new(pid),
        wake: Notify::new(),
    });
    let task = tokio::spawn(supervise(
        child,
        tools.clone(),
        paths.clone(),
        shared.clone(),
    ));
    Ok(Containerd {
        socket: paths.socket,
        shared,
        task: Some(task),
    })
}

/// config.toml and certs.d.
fn write_config(options: &ContainerdOptions, tools: &Tools, paths: &Paths) -> Result<(), String> {
    let registries = match &options.private_registry {
        Some(path) if path.exists() => Registries::load(path)?,
        _ => Registries::default(),
    };
    for warning in registries.warnings() {
        tracing::warn!("{warning}");
    }
    let io = |what: &Path, error: std::io::Error| format!("{}: {error}", what.display());
    for dir in [
        &paths.dir,
        &paths.root,
        &paths.state,
        &paths.runc_root,
        &paths.cni_conf_dir,
    ] {
        std::fs::create_dir_all(dir).map_err(|error| io(dir, error))?;
    }
    registries
        .write_hosts(&paths.certs_d)
        .map_err(|error| io(&paths.certs_d, error))?;
    let auth = registries.auth_toml();
    let text = config::render(&ConfigInput {
        paths,
        tools,
        sandbox_image: &options.sandbox_image,
        enable_unprivileged: config::kernel_allows_unprivileged(),
        restrict_oom_score_adj: config::lacks_cap_sys_resource(),
        registry_auth: &auth,
    });
    // It may hold registry passwords.
    super::write_atomic(&paths.config, text.as_bytes())
        .map_err(|error| io(&paths.config, error))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&paths.config, std::fs::Permissions::from_mode(0o600))
        .map_err(|error| io(&paths.config, error))
}

/// Starts containerd with its output appended to containerd.log.
fn spawn(tools: &Tools, paths: &Paths) -> Result<Child, String> {
    rotate_log(&paths.log);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)
        .map_err(|error| format!("{}: {error}", paths.log.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|error| format!("{}: {error}", paths.log.display()))?;
    let mut command = Command::new(&tools.containerd);
    command.arg("--config").arg(&paths.config);
    if let Ok(level) = std::env::var("CONTAINERD_LOG_LEVEL") {
        command.arg("--log-level").arg(level);
    }
    command
        .env_remove("NOTIFY_SOCKET")
        .env("PATH", child_path(tools))
        .current_dir(&paths.dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Ctrl-C on a terminal is for capstan, which stops containerd itself.
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; nothing is allocated.
    unsafe {
        command.pre_exec(|| {
            // containerd must not outlive capstan (as k3s does it).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    spawn_from_lasting_thread(command)
        .map_err(|error| format!("cannot start {}: {error}", tools.containerd.display()))
}

type SpawnJob = (
    Command,
    tokio::runtime::Handle,
    std::sync::mpsc::Sender<std::io::Result<Child>>,
);

/// Spawns `command` from a thread that lives as long as the process: the
/// parent-death signal fires when the *thread* that forked ends, and a
/// tokio worker may end (after `block_in_place`, say) long before capstan.
fn spawn_from_lasting_thread(command: Command) -> std::io::Result<Child> {
    static SPAWNER: std::sync::OnceLock<std::sync::mpsc::Sender<SpawnJob>> =
        std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::channel::<SpawnJob>();
        let started = std::thread::Builder::new()
            .name("containerd-spawner".into())
            .spawn(move || {
                for (mut command, runtime, reply) in queue {
                    let _entered = runtime.enter();
                    let _ = reply.send(command.spawn());
                }
            });
        if let Err(error) = started {
            tracing::error!("cannot start the containerd spawner thread: {error}");
        }
        jobs
    });
    let (reply, answer) = std::sync::mpsc::channel();
    spawner
        .send((command, tokio::runtime::Handle::current(), reply))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

/// `$PATH` for containerd: the folders of the shim and runc first, as
/// containerd looks its shims up there.
fn child_path(tools: &Tools) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for tool in [&tools.shim, &tools.runc, &tools.containerd] {
        if let Some(dir) = tool.parent() {
            if !dirs.iter().any(|known| known == dir) {
                dirs.push(dir.to_path_buf());
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(
            std::env::split_paths(&path)
                .filter(|dir| !dirs.contains(dir))
                .collect::<Vec<_>>(),
        );
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

fn rotate_log(log: &Path) {
    if std::fs::metadata(log).is_ok_and(|meta| meta.len() > LOG_ROTATE_BYTES) {
        let _ = std::fs::rename(log, log.with_extension("log.1"));
    }
}

/// Watches containerd and starts it again when it dies, until stopped.
async fn supervise(mut child: Child, tools: Tools, paths: Paths, shared: Arc<Shared>) {
    let mut backoff = BACKOFF_START;
    loop {
        let started = Instant::now();
        let status = tokio::select! {
            status = child.wait() => status,
            () = shared.wake.notified() => {
                if shared.detached.load(Ordering::SeqCst) {
                    // Reap it when it ends, whoever ends it.
                    let _ = child.wait().await;
                } else {
                    terminate(&mut child).await;
                }
                shared.pid.store(0, Ordering::SeqCst);
                return;
            }
        };
        shared.pid.store(0, Ordering::SeqCst);
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        if started.elapsed() > STABLE_RUN {
            backoff = BACKOFF_START;
        }
        let status = status.map_or_else(|error| error.to_string(), |status| status.to_string());
        loop {
            tracing::warn!(
                %status,
                log = %paths.log.display(),
                "containerd exited; starting it again in {} s",
                backoff.as_secs()
            );
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shared.wake.notified() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
            if shared.stopping.load(Ordering::SeqCst) {
                return;
            }
            match spawn(&tools, &paths) {
                Ok(next) => {
                    child = next;
                    let pid = child.id().map_or(0, |pid| pid as i32);
                    shared.pid.store(pid, Ordering::SeqCst);
                    tracing::info!(pid, "containerd started again");
                    break;
                }
                Err(error) => tracing::error!("{error}"),
            }
        }
    }
}

/// SIGTERM, then SIGKILL if containerd has not exited in time.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) has no memory effects.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        if tokio::time::timeout(STOP_TIMEOUT, child.wait())
            .await
            .is_ok()
        {
            return;
        }
        tracing::warn!(
            pid,
            "containerd did not stop within {} s; killing it",
            STOP_TIMEOUT.as_secs()
        );
    }
    let _ = child.kill().await;
}

/// Whether something accepts connections on `socket`.
pub(crate) async fn answers(socket: &Path) -> bool {
    tokio::net::UnixStream::connect(socket).await.is_ok()
}

/// The last lines of containerd.log, for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        return format!("see {}", log.display());
    }
    let tail: Vec<&str> = lines.into_iter().rev().collect();
    format!("last lines of {}:\n{}", log.display(), tail.join("\n"))
}
