//! What `capstan` says when it cannot start: one clear line and a non-zero
//! exit, never a panic or a page of usage.

use std::process::Command;

fn capstan(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(args)
        .output()
        .expect("run capstan");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    (output.status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_bad_flag_is_one_line_and_exit_2() {
    let (code, stderr) = capstan(&["server", "--no-such-flag"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "capstan: unexpected argument '--no-such-flag' found\n"
    );
    let (code, stderr) = capstan(&["server", "--service-cidr", "10.43.0.0"]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("invalid CIDR address: 10.43.0.0"),
        "{stderr}"
    );
    let (code, stderr) = capstan(&["server", "--service-node-port-range", "32767-30000"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid port range"), "{stderr}");
}

#[test]
fn an_unusable_data_dir_is_one_line_and_exit_1() {
    let file = tempfile::NamedTempFile::new().unwrap();
    // A data dir below a regular file cannot be created.
    let dir = file.path().join("data");
    let (code, stderr) = capstan(&[
        "server",
        "--data-dir",
        dir.to_str().unwrap(),
        "--https-port",
        "0",
    ]);
    assert_eq!(code, 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("capstan: data dir {}:", dir.display())),
        "{stderr}"
    );
}

#[test]
fn help_and_version_succeed() {
    let output = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["server", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--data-dir",
        "--https-port",
        "--store",
        "--etcd-endpoints",
        "--service-cidr",
        "--disable-agent",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
