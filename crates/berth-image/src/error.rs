use std::io;

/// Errors of the image store and storage drivers. The daemon maps `NotFound` to 404, `Conflict` to
/// 409, `InvalidInput` to 400 and the rest to 500; the messages are Docker's where Docker has one.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// {0}
    #[error("{0}")]
    NotFound(String),
    /// {0}
    #[error("{0}")]
    Conflict(String),
    /// {0}
    #[error("{0}")]
    InvalidInput(String),
    /// {context}: {source}
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// {0}
    #[error("{0}")]
    Other(String),
}

impl ImageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ImageError::NotFound(_))
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, ImageError::Conflict(_))
    }
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, ImageError::InvalidInput(_))
    }
    pub(crate) fn no_such_image(reference: &str) -> Self {
        ImageError::NotFound(format!("No such image: {reference}"))
    }
}

/// Adds what was being done to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, ImageError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|source| ImageError::Io { context: what(), source })
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::Io { context: what(), source: e.into() })
    }
}
