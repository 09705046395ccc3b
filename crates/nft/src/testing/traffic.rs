//! Traffic through the rules: a TCP server answering "hello" inside a namespace, and busybox
//! `nc` connecting to it from inside another (or the same) one. Every wait is bounded.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::Netns;

const BUSYBOX: &str = "/bin/busybox";
/// How long `connect_until_hello` keeps trying: a server may still be starting.
const HELLO_WAIT: Duration = Duration::from_secs(5);

/// Why traffic tests cannot run here, if they cannot: they need root, nft and busybox.
pub fn traffic_unavailable() -> Option<String> {
    Netns::unavailable().or_else(|| {
        (!std::path::Path::new(BUSYBOX).exists()).then(|| format!("{BUSYBOX} is missing"))
    })
}

/// A TCP server answering "hello" in a namespace, killed on drop.
pub struct Hello(Child);

impl Hello {
    pub fn listen(netns: &Netns, port: u16) -> Hello {
        let child = netns
            .command(BUSYBOX)
            .args([
                "nc",
                "-ll",
                "-p",
                &port.to_string(),
                "-e",
                BUSYBOX,
                "echo",
                "hello",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("busybox nc");
        Hello(child)
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects from inside `netns`, giving up on connecting or reading after `wait` (whole
/// seconds, at least one); what came back, then nc's complaints.
pub fn connect(netns: &Netns, address: &str, port: u16, wait: Duration) -> String {
    let wait = wait.as_secs().max(1);
    // `timeout` bounds the whole run, should nc itself hang.
    let output = Command::new("timeout")
        .args([
            &(wait + 3).to_string(),
            "ip",
            "netns",
            "exec",
            &netns.name,
            BUSYBOX,
            "nc",
            "-w",
            &wait.to_string(),
            address,
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(output) => format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(err) => format!("cannot run timeout: {err}"),
    }
}

/// One connection with a one-second wait: whether "hello" came back.
pub fn connects(netns: &Netns, address: &str, port: u16) -> bool {
    connect(netns, address, port, Duration::from_secs(1)).contains("hello")
}

/// Connects until "hello" comes back, for up to 5 s; the last reply.
pub fn connect_until_hello(netns: &Netns, address: &str, port: u16) -> String {
    let deadline = Instant::now() + HELLO_WAIT;
    loop {
        let reply = connect(netns, address, port, Duration::from_secs(1));
        if reply.contains("hello") || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
