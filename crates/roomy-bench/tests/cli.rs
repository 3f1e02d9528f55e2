//! The command line: every tool is listed, and a wrong invocation fails
//! with a usage error rather than starting anything. (Building this test
//! is also what gives CI the `roomy-bench` binary of the test build.)

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_roomy-bench"))
        .args(args)
        .output()
        .expect("roomy-bench runs")
}

#[test]
fn help_lists_every_tool() {
    let out = bench(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for tool in ["load", "idle", "crash", "graph", "upload", "tus-interop"] {
        assert!(help.contains(tool), "{tool} missing from:\n{help}");
    }
}

#[test]
fn a_wrong_invocation_is_a_usage_error() {
    let out = bench(&["crash", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}
