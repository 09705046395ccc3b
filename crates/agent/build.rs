//! Compiles `pause/pause.rs`, the pod sandbox's first process, into a
//! static executable in `OUT_DIR`, which `images` embeds as the pause image.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=pause/pause.rs");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("pause");
    let source = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("pause")
        .join("pause.rs");
    let mut command = Command::new(&rustc);
    // The linker cargo was told to use for the target, if any.
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut flag = std::ffi::OsString::from("linker=");
        flag.push(linker);
        command.arg("-C").arg(flag);
    }
    let output = command
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "pause",
            "--crate-type",
            "bin",
        ])
        .args(["--target", &target])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        // Statically linked (glibc's libc.a) and not position-independent,
        // so it runs in an image that holds nothing but itself.
        .args([
            "-C",
            "target-feature=+crt-static",
            "-C",
            "relocation-model=static",
        ])
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .env(
            "PAUSE_VERSION",
            env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        )
        .output()
        .unwrap_or_else(|error| panic!("running {rustc:?}: {error}"));
    if !output.status.success() {
        panic!(
            "compiling {}: {}\n{}{}",
            source.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
