//! A contract document read from its file: YAML or JSON (by the `.json` extension), its
//! kind told from its `openapi`/`asyncapi` version, and normalized to one schema dialect
//! ([`super::normalize`]). The typed models are read from it by the comparisons.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::DiffError;
use super::normalize::{Dialect, normalize};

/// What kind of contract a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OpenAPI 3.0.x (upgraded to 3.1 when read).
    OpenApi30,
    /// OpenAPI 3.1.x.
    OpenApi31,
    /// AsyncAPI 3.x.
    AsyncApi3,
}

impl Kind {
    /// Whether two documents of these kinds can be compared (OpenAPI 3.0 with 3.1, yes).
    pub fn compares_with(self, other: Kind) -> bool {
        (self == Kind::AsyncApi3) == (other == Kind::AsyncApi3)
    }

    /// The schema dialect of documents of this kind.
    pub fn dialect(self) -> Dialect {
        match self {
            Kind::OpenApi30 => Dialect::OpenApi30,
            Kind::OpenApi31 | Kind::AsyncApi3 => Dialect::JsonSchema,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::OpenApi30 => "OpenAPI 3.0",
            Kind::OpenApi31 => "OpenAPI 3.1",
            Kind::AsyncApi3 => "AsyncAPI 3",
        })
    }
}

/// A contract document, parsed and normalized.
#[derive(Debug, Clone)]
pub struct Document {
    path: PathBuf,
    kind: Kind,
    raw: Value,
}

impl Document {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Self, DiffError> {
        let text = std::fs::read_to_string(path).map_err(|source| DiffError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as the contents of `path` (which names it in errors, decides YAML or
    /// JSON, and is where relative `$ref`s start from).
    pub fn parse(path: &Path, text: &str) -> Result<Self, DiffError> {
        let mut raw = parse_tree(path, text)?;
        let kind = kind_of(path, &mut raw)?;
        normalize(&mut raw, kind.dialect());
        Ok(Self {
            path: path.to_path_buf(),
            kind,
            raw,
        })
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The normalized tree.
    pub(crate) fn raw(&self) -> &Value {
        &self.raw
    }

    /// The document read as `T` (the whole of it).
    pub(crate) fn typed<T: DeserializeOwned>(&self) -> Result<T, DiffError> {
        typed(&self.path, "", self.raw.clone())
    }
}

/// `value` (found at `pointer` in `file`) read as `T`; an error names the key path.
pub(crate) fn typed<T: DeserializeOwned>(
    file: &Path,
    pointer: &str,
    value: Value,
) -> Result<T, DiffError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let at = match (pointer.is_empty(), inner.as_str()) {
            (true, ".") => "the top".to_string(),
            (true, _) => inner,
            (false, ".") => format!("#{pointer}"),
            (false, _) => format!("#{pointer} {inner}"),
        };
        DiffError::Invalid {
            file: file.display().to_string(),
            at,
            message: e.into_inner().to_string(),
        }
    })
}

/// The file's tree: JSON when it ends in `.json`, YAML otherwise.
pub(crate) fn parse_tree(path: &Path, text: &str) -> Result<Value, DiffError> {
    let file = path.display().to_string();
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return serde_json::from_str(text).map_err(|e| DiffError::Syntax {
            file,
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        });
    }
    serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        DiffError::Syntax {
            file,
            line,
            column,
            message: e.to_string(),
        }
    })
}

/// The kind, from the version field; the version is made a string (YAML reads `3.0` as a
/// number).
fn kind_of(path: &Path, raw: &mut Value) -> Result<Kind, DiffError> {
    let not = |found: String| DiffError::NotAContract {
        file: path.display().to_string(),
        found,
    };
    let Some(root) = raw.as_object_mut() else {
        return Err(not("the top level is not a mapping".into()));
    };
    for key in ["openapi", "asyncapi"] {
        let Some(v) = root.get(key) else { continue };
        let version = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(not(format!("`{key}` is not a version string"))),
        };
        root.insert(key.into(), Value::String(version.clone()));
        let kind = match key {
            "openapi" if version.starts_with("3.0") => Kind::OpenApi30,
            "openapi" if version.starts_with("3.1") || version.starts_with("3.2") => {
                Kind::OpenApi31
            }
            "asyncapi" if version.starts_with("3.") => Kind::AsyncApi3,
            _ => return Err(not(format!("{key} {version}"))),
        };
        return Ok(kind);
    }
    if let Some(v) = root.get("swagger") {
        return Err(not(format!("swagger {v} (OpenAPI 2)")));
    }
    Err(not("no `openapi` or `asyncapi` version field".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> Result<Document, DiffError> {
        Document::parse(Path::new(name), text)
    }

    #[test]
    fn the_kind_is_told_from_the_version() {
        let k = |t: &str| parse("a.yaml", t).map(|d| d.kind());
        assert_eq!(k("openapi: 3.0.3\n").ok(), Some(Kind::OpenApi30));
        assert_eq!(k("openapi: 3.0\n").ok(), Some(Kind::OpenApi30));
        assert_eq!(k("openapi: 3.1.0\n").ok(), Some(Kind::OpenApi31));
        assert_eq!(k("asyncapi: 3.0.0\n").ok(), Some(Kind::AsyncApi3));
        for (text, says) in [
            ("swagger: '2.0'\n", "OpenAPI 2"),
            ("asyncapi: 2.6.0\n", "asyncapi 2.6.0"),
            ("- a\n", "not a mapping"),
            ("info: {}\n", "no `openapi`"),
        ] {
            let e = k(text).expect_err(text).to_string();
            assert!(e.starts_with("a.yaml: not an OpenAPI 3.x"), "{e}");
            assert!(e.contains(says), "{e}");
        }
        assert!(Kind::OpenApi30.compares_with(Kind::OpenApi31));
        assert!(!Kind::OpenApi31.compares_with(Kind::AsyncApi3));
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let e = parse("a.yaml", "openapi: 3.1.0\npaths: [\n").expect_err("broken");
        assert!(
            matches!(e, DiffError::Syntax { line, .. } if line >= 2),
            "{e}"
        );
        let e = parse("b.json", "{\"openapi\": \"3.1.0\",\n  x}").expect_err("broken");
        assert!(e.to_string().starts_with("b.json:2:3: "), "{e}");
    }
}
