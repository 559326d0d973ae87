//! `$ref`s followed: within the document (`#/components/schemas/Material`, any JSON
//! pointer) and into local files beside it (`../schemas/api/Confirmation.schema.json`,
//! `common.schema.json#/$defs/plant`), relative to the file the reference is written in.
//! Referenced files are read once, YAML or JSON, and normalized to the document's dialect.
//! Remote (`http://…`) references and plain-name fragments (`#anchor`) are refused with
//! their file named. Cycles are the caller's to guard (see [`super::shape`]); chains of
//! references to references stop after [`MAX_HOPS`].

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use oas3::spec::ObjectOrReference;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::document::{Document, parse_tree, typed};
use super::error::DiffError;
use super::normalize::{Dialect, normalize};

/// Most references to references followed in a row.
pub const MAX_HOPS: usize = 32;

/// Where a `$ref` leads: a file and a JSON pointer within it (empty: the whole file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The file (lexically normalized).
    pub file: PathBuf,
    /// The JSON pointer.
    pub pointer: String,
}

/// Follows the references of one document.
#[derive(Debug)]
pub struct Resolver {
    dialect: Dialect,
    root: PathBuf,
    files: HashMap<PathBuf, Rc<Value>>,
}

impl Resolver {
    /// A resolver for `doc` (its own tree is the first file it knows).
    pub fn new(doc: &Document) -> Self {
        let root = clean(doc.path());
        let mut files = HashMap::new();
        files.insert(root.clone(), Rc::new(doc.raw().clone()));
        Self {
            dialect: doc.kind().dialect(),
            root,
            files,
        }
    }

    /// The document's own file: where its references start from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `reference`, written in the file `base`, leads.
    pub fn target(&self, base: &Path, reference: &str) -> Result<Target, DiffError> {
        let refuse = |reason: &str| DiffError::Ref {
            file: base.display().to_string(),
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        if file.contains("://") {
            return Err(refuse(
                "only references within the document or to local files are followed",
            ));
        }
        if !fragment.is_empty() && !fragment.starts_with('/') {
            return Err(refuse("only JSON-pointer fragments (`#/…`) are followed"));
        }
        let file = if file.is_empty() {
            base.to_path_buf()
        } else {
            clean(&base.parent().unwrap_or(Path::new("")).join(file))
        };
        Ok(Target {
            file,
            pointer: fragment.to_string(),
        })
    }

    /// The node at `target` (its file read on first use), for the error naming `reference`
    /// in `base`.
    pub fn value(
        &mut self,
        base: &Path,
        reference: &str,
        target: &Target,
    ) -> Result<Value, DiffError> {
        let tree = match self.files.get(&target.file) {
            Some(t) => Rc::clone(t),
            None => {
                let text = std::fs::read_to_string(&target.file).map_err(|e| DiffError::Ref {
                    file: base.display().to_string(),
                    reference: reference.to_string(),
                    reason: format!("cannot read {}: {e}", target.file.display()),
                })?;
                let mut tree = parse_tree(&target.file, &text)?;
                normalize(&mut tree, self.dialect);
                let tree = Rc::new(tree);
                self.files.insert(target.file.clone(), Rc::clone(&tree));
                tree
            }
        };
        tree.pointer(&target.pointer)
            .cloned()
            .ok_or_else(|| DiffError::Ref {
                file: base.display().to_string(),
                reference: reference.to_string(),
                reason: format!("{} has no node #{}", target.file.display(), target.pointer),
            })
    }

    /// Follows `reference` (written in `base`) and reads what it leads to as `T`.
    pub fn follow<T: DeserializeOwned>(
        &mut self,
        base: &Path,
        reference: &str,
    ) -> Result<(Target, T), DiffError> {
        let target = self.target(base, reference)?;
        let value = self.value(base, reference, &target)?;
        let t = typed(&target.file, &target.pointer, value)?;
        Ok((target, t))
    }

    /// The object `item` is or leads to, with the file it is in (where its own references
    /// start from).
    pub fn item<T: DeserializeOwned + Clone>(
        &mut self,
        base: &Path,
        item: &ObjectOrReference<T>,
    ) -> Result<(PathBuf, T), DiffError> {
        let mut reference = match item {
            ObjectOrReference::Object(t) => return Ok((base.to_path_buf(), t.clone())),
            ObjectOrReference::Ref { ref_path, .. } => ref_path.clone(),
        };
        let mut base = base.to_path_buf();
        for _ in 0..MAX_HOPS {
            let (target, next) = self.follow::<ObjectOrReference<T>>(&base, &reference)?;
            base = target.file;
            match next {
                ObjectOrReference::Object(t) => return Ok((base, t)),
                ObjectOrReference::Ref { ref_path, .. } => reference = ref_path,
            }
        }
        Err(DiffError::Ref {
            file: base.display().to_string(),
            reference,
            reason: format!("more than {MAX_HOPS} references to references in a row"),
        })
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_references_split() {
        assert_eq!(
            clean(Path::new("./a/b/../c.yaml")),
            PathBuf::from("a/c.yaml")
        );
        assert_eq!(clean(Path::new("../x")), PathBuf::from("../x"));
        let doc = Document::parse(Path::new("dir/api.yaml"), "openapi: 3.1.0\n").expect("doc");
        let r = Resolver::new(&doc);
        let t = r
            .target(r.root(), "../schemas/a.json#/$defs/b")
            .expect("target");
        assert_eq!(t.file, PathBuf::from("schemas/a.json"));
        assert_eq!(t.pointer, "/$defs/b");
        let t = r.target(r.root(), "#/components/schemas/X").expect("local");
        assert_eq!(t.file, PathBuf::from("dir/api.yaml"));
        for bad in ["https://x.invalid/s.json", "#anchor"] {
            let e = r.target(r.root(), bad).expect_err(bad).to_string();
            assert!(e.starts_with("dir/api.yaml: $ref"), "{e}");
        }
    }

    #[test]
    fn a_missing_node_or_file_is_named() {
        let doc = Document::parse(Path::new("api.yaml"), "openapi: 3.1.0\n").expect("doc");
        let mut r = Resolver::new(&doc);
        let e = r
            .follow::<Value>(Path::new("api.yaml"), "#/components/schemas/Nope")
            .expect_err("missing");
        assert!(
            e.to_string()
                .contains("has no node #/components/schemas/Nope"),
            "{e}"
        );
        let e = r
            .follow::<Value>(Path::new("api.yaml"), "no-such-file.json")
            .expect_err("missing file");
        assert!(
            e.to_string().contains("cannot read no-such-file.json"),
            "{e}"
        );
    }
}
