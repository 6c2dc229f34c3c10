//! Running the binary under test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

pub fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

/// A `faultline serve` child, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    /// Starts `faultline serve <service>` on an OS-chosen port and waits for
    /// its `listening on` line (no sleeps: the line is the readiness signal).
    pub fn start(service: &str) -> Server {
        Server::start_with(&[service])
    }

    /// Starts `faultline serve <args>` (the service and any flags) on an OS-chosen port.
    pub fn start_with(args: &[&str]) -> Server {
        let mut child = faultline()
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn faultline serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run faultline")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
