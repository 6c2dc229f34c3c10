//! How a command fails: one line for a person, and a documented exit code.

use std::process::ExitCode;

/// A failed command: what went wrong and which exit code says so.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    /// A check failed: a call returned an error, a property did not hold (exit 1).
    pub fn check(error: anyhow::Error) -> Self {
        Self { code: 1, error }
    }

    /// Bad input or environment: bad address, port in use, unreachable (exit 2).
    pub fn environment(error: anyhow::Error) -> Self {
        Self { code: 2, error }
    }

    /// Prints the error on one line and returns its exit code.
    pub fn report(self) -> ExitCode {
        let line = format!("{:#}", self.error).replace('\n', " ");
        eprintln!("error: {line}");
        ExitCode::from(self.code)
    }
}
