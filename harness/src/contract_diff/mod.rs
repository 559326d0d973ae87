//! `andon contract diff`: what changed between two contract documents — two OpenAPI 3.x
//! (3.0 and 3.1, in any mix) or two AsyncAPI 3 documents — each change classified as
//! **breaking** or **compatible** for the other party (the client of an API, the peer of
//! an event application), to gate a vendor upgrade (an ERP API release 2408 → 2502) on it.
//!
//! The comparison, as its steps:
//! 1. `document` — each file read (YAML, or JSON by its extension; errors with file,
//!    line and column), its kind told from its version, and normalized (`normalize`) to one schema
//!    dialect (OpenAPI 3.0 upgraded to 3.1);
//! 2. the typed models read from it: `oas3` for OpenAPI, `asyncapi`'s own structures for
//!    AsyncAPI;
//! 3. `resolve` follows every `$ref` (in the document, and into local files) and
//!    `shape` expands each schema into a `Shape` — so a change inside a shared
//!    component is reported at the field of every operation that reaches it — guarding
//!    against reference cycles;
//! 4. `openapi` and `asyncapi` walk operations and channels, and `fields` compares
//!    the shapes field by field, each emitting [`Change`]s under the [`rules`] (the list
//!    `docs/contract-diff.md` shows);
//! 5. `change` sorts them into a [`Diff`] with its text, JSON and Markdown renderings.

mod asyncapi;
mod change;
mod document;
mod error;
mod fields;
mod normalize;
mod openapi;
mod resolve;
pub mod rules;
mod shape;

use std::path::Path;

pub use change::{Change, Diff};
pub use document::{Document, Kind};
pub use error::DiffError;
pub use rules::{Rule, Severity};

/// The diff from the document in the file `old` to the one in `new`.
pub fn diff_files(old: &Path, new: &Path) -> Result<Diff, DiffError> {
    let old = Document::read(old)?;
    let new = Document::read(new)?;
    diff(&old, &new)
}

/// The diff from `old` to `new`; they must be of one kind (OpenAPI 3.0 and 3.1 are).
pub fn diff(old: &Document, new: &Document) -> Result<Diff, DiffError> {
    if !old.kind().compares_with(new.kind()) {
        return Err(DiffError::KindMismatch {
            old: old.path().display().to_string(),
            old_kind: old.kind().to_string(),
            new: new.path().display().to_string(),
            new_kind: new.kind().to_string(),
        });
    }
    let changes = match old.kind() {
        Kind::AsyncApi3 => asyncapi::compare(old, new)?,
        Kind::OpenApi30 | Kind::OpenApi31 => openapi::compare(old, new)?,
    };
    Ok(Diff::new(changes))
}

#[cfg(test)]
mod tests;
