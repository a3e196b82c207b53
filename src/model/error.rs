//! The one error every command returns, carrying the exit code it means (the codes are
//! `model::exit`). A command that completes returns how it ended instead (a
//! `verdict::Judgement`: PASS 0, FAIL 3, INCONCLUSIVE 4); `main` turns either into the
//! process's exit code, and is the only place that exits.
//!
//! It lives at the bottom of the house so that every layer can say which kind of failure
//! it met (bad input or a run that could not do its work) without importing upward.

use std::fmt::Display;

use crate::model::exit;

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// Bad input: a malformed profile or option, a client that does not run, an output
    /// that cannot be written or would destroy an input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The run could not do its work: a server or collector that does not answer, a
    /// journal or temp dir that cannot be made, deletes that failed (exit 1).
    #[error("{0}")]
    Failed(String),
    /// Interrupted twice, or once before traffic started (exit 130).
    #[error("interrupted")]
    Interrupted,
    /// Already said where it belongs: in the run's log (file and console) once logging
    /// is set up, or on stderr in the command's own words. `main` prints nothing more;
    /// the exit code is the inner error's.
    #[error("{0}")]
    Reported(Box<Error>),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Failed(_) => exit::RUN_FAILED,
            Error::Interrupted => exit::INTERRUPTED,
            Error::Reported(e) => e.exit_code(),
        }
    }

    /// The same error, marked as already reported (so `main` does not print it twice).
    pub fn reported(self) -> Error {
        match self {
            Error::Reported(_) => self,
            e => Error::Reported(Box::new(e)),
        }
    }

    pub fn is_reported(&self) -> bool {
        matches!(self, Error::Reported(_))
    }

    /// The same kind of error, its message after `what: ` (the flag or file it is about).
    pub fn context(self, what: impl Display) -> Error {
        match self {
            Error::Usage(m) => Error::Usage(format!("{what}: {m}")),
            Error::Failed(m) => Error::Failed(format!("{what}: {m}")),
            Error::Interrupted => Error::Interrupted,
            Error::Reported(e) => Error::Reported(Box::new(e.context(what))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant against the code `model::exit` documents for it (a new variant
    /// fails to compile here until it is given one).
    #[test]
    fn every_error_exits_with_its_documented_code() {
        let all = [
            Error::Usage("bad".into()),
            Error::Failed("down".into()),
            Error::Interrupted,
            Error::Reported(Box::new(Error::Failed("logged".into()))),
        ];
        for e in all {
            let expected = match &e {
                Error::Usage(_) => 2,
                Error::Failed(_) => 1,
                Error::Interrupted => 130,
                Error::Reported(inner) => inner.exit_code(),
            };
            assert_eq!(e.exit_code(), expected, "{e:?}");
        }
        assert_eq!(Error::Usage("x".into()).reported().exit_code(), 2);
        assert_eq!(Error::Failed("x".into()).reported().exit_code(), 1);
        assert_eq!(Error::Interrupted.reported().exit_code(), 130);
    }

    #[test]
    fn reported_is_marked_once_and_keeps_its_text() {
        let e = Error::Failed("journal".into()).reported().reported();
        assert!(e.is_reported());
        assert!(matches!(&e, Error::Reported(inner) if !inner.is_reported()));
        assert_eq!(e.to_string(), "journal");
        assert!(!Error::Usage("x".into()).is_reported());
    }

    #[test]
    fn context_keeps_the_kind() {
        let e = Error::Usage("not a size".into()).context("--size");
        assert_eq!((e.to_string().as_str(), e.exit_code()), ("--size: not a size", 2));
        let e = Error::Failed("gone".into()).context("--ops-log x");
        assert_eq!((e.to_string().as_str(), e.exit_code()), ("--ops-log x: gone", 1));
    }
}
