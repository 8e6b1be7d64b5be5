//! One error type for the whole tool: a single human line plus the exit status it maps to.
//!
//! Every message names what is wrong and where it came from (file, option, variable, object key),
//! so that `main` can print it as one line. Nothing here ever formats a secret.

use std::fmt;

/// How a failure is reported to the calling CI job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad command line or configuration: the user must change how tmnet is invoked. Exit 2.
    Usage,
    /// Everything else: git, the store, the network, the local file system, integrity. Exit 1.
    Failure,
}

#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Usage,
            message: one_line(message.into()),
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Failure,
            message: one_line(message.into()),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            Kind::Usage => 2,
            Kind::Failure => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Collapse a multi-line message (object_store and git errors can span lines) into one line.
fn one_line(message: String) -> String {
    if !message.contains(['\n', '\r']) {
        return message;
    }
    message
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Describe an I/O error on a local path in one line.
pub fn io_error(action: &str, path: &std::path::Path, err: std::io::Error) -> Error {
    Error::failure(format!("cannot {action} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_single_lines() {
        let err = Error::failure("first\n  second\r\nthird");
        assert_eq!(err.message(), "first second third");
        assert_eq!(err.exit_code(), 1);
        assert_eq!(Error::usage("x").exit_code(), 2);
    }
}
