//! capstan's pause: the first process of every pod sandbox.
//!
//! It holds the pod's namespaces open and does nothing else: as PID 1 of
//! the sandbox it reaps whatever children get reparented to it, and it
//! exits 0 on SIGINT or SIGTERM (PID 1 gets no default action for those,
//! so without this a stop would have to wait for SIGKILL). `-v` prints the
//! version.
//!
//! Rather than handlers, the three signals are blocked and taken one at a
//! time with `sigwait`: a blocked signal stays pending (the kernel drops
//! default-action signals sent to a namespace's init only when they are
//! not blocked), and all the work happens in ordinary code.
//!
//! `build.rs` compiles this file alone with rustc, statically linked, so
//! it runs in an image that holds nothing else; hence only std and a few
//! libc functions declared by hand. Messages go out through `writeln!`,
//! not `eprintln!`, which would panic (so abort) on a broken stderr.

use std::io::Write;
use std::os::raw::c_int;

const VERSION: &str = match option_env!("PAUSE_VERSION") {
    Some(version) => version,
    None => "HEAD",
};

// Linux's generic numbers (MIPS, SPARC and Alpha have their own).
#[cfg(any(target_arch = "mips", target_arch = "mips64", target_arch = "sparc64"))]
compile_error!("pause.rs: signal numbers of this architecture are not written down");
const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;
const SIGCHLD: c_int = 17;
const SIG_BLOCK: c_int = 0;
const WNOHANG: c_int = 1;

/// glibc's `sigset_t`: 1024 bits.
#[repr(C)]
struct SigSet([u64; 16]);

extern "C" {
    fn sigemptyset(set: *mut SigSet) -> c_int;
    fn sigaddset(set: *mut SigSet, signal: c_int) -> c_int;
    fn pthread_sigmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwait(set: *const SigSet, signal: *mut c_int) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
}

fn main() {
    if std::env::args()
        .skip(1)
        .any(|arg| arg.eq_ignore_ascii_case("-v"))
    {
        println!("pause.rs {VERSION}");
        return;
    }
    if std::process::id() != 1 {
        // Not an error: pause is sometimes run outside a sandbox.
        let _ = writeln!(
            std::io::stderr(),
            "Warning: pause should be the first process"
        );
    }

    let mut set = SigSet([0; 16]);
    // SAFETY: `set` is a valid, writable sigset_t.
    unsafe {
        sigemptyset(&mut set);
        for signal in [SIGINT, SIGTERM, SIGCHLD] {
            sigaddset(&mut set, signal);
        }
        if pthread_sigmask(SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            std::process::exit(1);
        }
    }
    loop {
        let mut signal: c_int = 0;
        // SAFETY: both pointers are valid for the call.
        if unsafe { sigwait(&set, &mut signal) } != 0 {
            continue;
        }
        match signal {
            SIGINT | SIGTERM => {
                let name = match signal {
                    SIGINT => "SIGINT",
                    _ => "SIGTERM",
                };
                let _ = writeln!(std::io::stderr(), "Shutting down, got signal: {name}");
                std::process::exit(0);
            }
            // Signals of several children may have merged into one.
            // SAFETY: a null status pointer is allowed.
            _ => while unsafe { waitpid(-1, std::ptr::null_mut(), WNOHANG) } > 0 {},
        }
    }
}
