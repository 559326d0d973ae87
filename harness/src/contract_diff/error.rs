//! Why two documents could not be compared: every error names the file, and the line and
//! column, or the place in the document, where the reader found the problem.

/// A document that cannot be read or compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file, as given.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not well-formed YAML or JSON.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file, as given.
        file: String,
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// What the parser says.
        message: String,
    },
    /// The file is well-formed but not a document of a kind andon compares.
    #[error("{file}: not an OpenAPI 3.x or AsyncAPI 3 document: {found}")]
    NotAContract {
        /// The file, as given.
        file: String,
        /// What it is instead.
        found: String,
    },
    /// The document does not have the structure its kind requires.
    #[error("{file}: at {at}: {message}")]
    Invalid {
        /// The file, as given (or the file a `$ref` led to).
        file: String,
        /// Where: the path of keys to the offending node (`paths./x.get.responses`).
        at: String,
        /// What is wrong.
        message: String,
    },
    /// A `$ref` that cannot be followed.
    #[error("{file}: $ref '{reference}': {reason}")]
    Ref {
        /// The file the reference is in.
        file: String,
        /// The reference, as written.
        reference: String,
        /// Why it cannot be followed.
        reason: String,
    },
    /// A schema that expands (through its references) beyond what can be compared.
    #[error("{file}: $ref '{reference}': schemas nest or expand beyond {limit} {what}")]
    TooLarge {
        /// The file of the schema.
        file: String,
        /// The reference being expanded when the limit was reached.
        reference: String,
        /// The limit.
        limit: usize,
        /// `levels` or `nodes`.
        what: &'static str,
    },
    /// The two documents are of different kinds.
    #[error("{old} is {old_kind} but {new} is {new_kind}: only documents of one kind compare")]
    KindMismatch {
        /// The old file.
        old: String,
        /// Its kind.
        old_kind: String,
        /// The new file.
        new: String,
        /// Its kind.
        new_kind: String,
    },
}
