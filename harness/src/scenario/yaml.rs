//! Where things are in a YAML document: line and column of a node found by its path, and
//! serde adapters that make errors point at the offending scalar.
//!
//! serde_norway has no spanned values, but it stamps every error raised while a node is
//! being deserialized with that node's position. [`locate`] walks the document to the
//! node and fails there on purpose, then reads the position off the error. It parses the
//! text once per lookup, which costs microseconds for a scenario file and is only done
//! when something is wrong.

use super::error::Problem;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess,
    SeqAccess, Visitor,
};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Pos {
    /// The start of the document.
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// The deepest nesting of `[ ]` and `{ }` a scenario may have: far more than any scenario
/// needs, and few enough that a hostile file is refused at once instead of parsed for long.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Where flow collections (`[ ]`, `{ }`) nest deeper than [`MAX_FLOW_DEPTH`], if they do:
/// one pass over the text, before the parser sees it. Brackets inside quotes and comments
/// do not count.
pub fn too_deep(text: &str) -> Option<(Pos, String)> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = ' ';
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            comment = false;
            prev = c;
            continue;
        }
        match (quote, c) {
            _ if comment => {}
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') if prev.is_whitespace() => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some((
                        Pos { line, column },
                        format!(
                            "collections nest deeper than {MAX_FLOW_DEPTH} levels: a scenario never needs that"
                        ),
                    ));
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    None
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// The value under this key.
    Key(String),
    /// The key itself (for "unknown key" and "duplicate" errors).
    KeyName(String),
    /// The n-th item of a sequence.
    Index(usize),
}

/// What can be a path step.
pub trait IntoSeg {
    /// The step.
    fn into_seg(self) -> Seg;
}
impl IntoSeg for &str {
    fn into_seg(self) -> Seg {
        Seg::Key(self.to_string())
    }
}
impl IntoSeg for usize {
    fn into_seg(self) -> Seg {
        Seg::Index(self)
    }
}
impl IntoSeg for Seg {
    fn into_seg(self) -> Seg {
        self
    }
}

const SENTINEL: &str = "\u{1}andon-locate\u{1}";

/// Where the node at `path` starts, or `None` when the document has no such node.
pub fn locate(text: &str, path: &[Seg]) -> Option<Pos> {
    let de = serde_norway::Deserializer::from_str(text);
    match Locate(path).deserialize(de) {
        Ok(()) => None,
        Err(e) if e.to_string().contains(SENTINEL) => e.location().map(|l| Pos {
            line: l.line(),
            column: l.column(),
        }),
        Err(_) => None,
    }
}

/// Where the node at `path` starts; when it is absent (a default), where its nearest
/// present ancestor starts; the document start as a last resort.
pub fn locate_nearest(text: &str, path: &[Seg]) -> Pos {
    for n in (0..=path.len()).rev() {
        if let Some(p) = locate(text, &path[..n]) {
            return p;
        }
    }
    Pos::START
}

struct Locate<'p>(&'p [Seg]);

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Locate<'_> {
    fn leaf<E: de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(E::custom(SENTINEL))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return Err(de::Error::custom(SENTINEL));
        };
        let find_name = match first {
            Seg::KeyName(k) if rest.is_empty() => Some(k.as_str()),
            _ => None,
        };
        while let Some(key) = map.next_key_seed(KeyText(find_name))? {
            match first {
                Seg::Key(k) if *k == key => {
                    map.next_value_seed(Locate(rest))?;
                    return Ok(());
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return Err(de::Error::custom(SENTINEL));
        };
        let mut i = 0;
        loop {
            if *first == Seg::Index(i) {
                seq.next_element_seed(Locate(rest))?;
                return Ok(());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
}

/// A mapping key as text; fails (at the key) when it is the one looked for.
struct KeyText<'a>(Option<&'a str>);

impl<'de> DeserializeSeed<'de> for KeyText<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyText<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if self.0 == Some(v) {
            return Err(E::custom(SENTINEL));
        }
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
}

/// The position and message of a serde_norway error, the message without its trailing
/// " at line L column C". When the error was raised after a value had been read (so
/// serde_norway stamped the enclosing mapping) and the message quotes the offending
/// value, the position is moved onto that value.
pub fn error_position(text: &str, e: &serde_norway::Error) -> (Pos, String) {
    let message = e.to_string();
    let Some(loc) = e.location() else {
        return (Pos::START, message);
    };
    let pos = Pos {
        line: loc.line(),
        column: loc.column(),
    };
    let suffix = format!(" at line {} column {}", pos.line, pos.column);
    let message = match message.find(&suffix) {
        Some(i) => format!("{}{}", &message[..i], &message[i + suffix.len()..]),
        None => message,
    };
    let refined = quoted(&message)
        .and_then(|q| find_token(text, loc.index(), &q))
        .unwrap_or(pos);
    (refined, message)
}

/// The first `"…"` of a message (serde's Debug quoting), unescaped for the simple cases.
fn quoted(message: &str) -> Option<String> {
    let start = message.find('"')? + 1;
    let mut out = String::new();
    let mut chars = message[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return (!out.is_empty()).then_some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// The position of the first occurrence of `token` as a whole scalar at or after byte
/// `from` of `text`, only when it starts after the mapping began and within 40 lines.
fn find_token(text: &str, from: usize, token: &str) -> Option<Pos> {
    let hay = text.get(from..)?;
    let mut offset = 0;
    while let Some(i) = hay[offset..].find(token) {
        let at = from + offset + i;
        let end = at + token.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        let boundary = |c: Option<char>| {
            c.is_none_or(|c| {
                c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '{' | '}' | '[' | ']' | ':')
            })
        };
        if boundary(before) && boundary(after) {
            let line = text[..at].matches('\n').count() + 1;
            if line > text[..from].matches('\n').count() + 41 {
                return None;
            }
            let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
            let column = text[line_start..at].chars().count() + 1;
            return Some(Pos { line, column });
        }
        offset += i + token.len().max(1);
    }
    None
}

/// Deserializes `T` from a scalar (or a nested node) so that an error `T` raises is
/// stamped with the position of that scalar rather than the enclosing mapping's.
/// Use with `#[serde(deserialize_with = "…")]`.
pub fn at_scalar<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    d.deserialize_any(Scalar::<T>(PhantomData))
}

/// [`at_scalar`] for an optional value: YAML null is `None`.
pub fn at_scalar_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    d.deserialize_any(OptScalar::<T>(PhantomData))
}

struct Scalar<T>(PhantomData<T>);

fn lift<T, E: de::Error>(r: Result<T, de::value::Error>) -> Result<T, E> {
    r.map_err(|e| E::custom(e.to_string()))
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Scalar<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        lift(T::deserialize(v.into_deserializer()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        lift(T::deserialize(v.into_deserializer()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        lift(T::deserialize(v.into_deserializer()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        lift(T::deserialize(v.into_deserializer()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        lift(T::deserialize(v.into_deserializer()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        lift(T::deserialize(().into_deserializer()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::deserialize(SeqAccessDeserializer::new(seq))
    }
}

struct OptScalar<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for OptScalar<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value or nothing")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<T>, E> {
        Scalar(PhantomData).visit_bool(v).map(Some)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        Scalar(PhantomData).visit_i64(v).map(Some)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        Scalar(PhantomData).visit_u64(v).map(Some)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
        Scalar(PhantomData).visit_f64(v).map(Some)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        Scalar(PhantomData).visit_str(v).map(Some)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        Scalar(PhantomData).visit_map(map).map(Some)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
        Scalar(PhantomData).visit_seq(seq).map(Some)
    }
}

/// Collects problems with their positions.
pub(super) struct Ctx<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub problems: Vec<Problem>,
}

impl Ctx<'_> {
    /// Records a problem at the node `path` (or its nearest present ancestor).
    pub fn at(&mut self, path: Vec<Seg>, message: impl Into<String>) {
        let pos = locate_nearest(self.text, &path);
        self.problems.push(Problem {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        });
    }

    /// The 1-based line of the node `path`, for messages that refer to another entry.
    pub fn line_of(&self, path: Vec<Seg>) -> usize {
        locate_nearest(self.text, &path).line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ypath as path;

    const DOC: &str = "\
name: x
faults:
  - { at: 15s, target: erp, kind: meteor }
  - at: 20s
    target: mes
    kind: duplicate
";

    #[test]
    fn locates_values_keys_and_items_in_block_and_flow_style() {
        let p = |path: Vec<Seg>| locate(DOC, &path).map(|p| (p.line, p.column));
        assert_eq!(p(path!["name"]), Some((1, 7)));
        assert_eq!(p(path!["faults", 0]), Some((3, 5)));
        assert_eq!(p(path!["faults", 0, "kind"]), Some((3, 35)));
        assert_eq!(p(path!["faults", 1]), Some((4, 5)));
        assert_eq!(p(path!["faults", 1, "kind"]), Some((6, 11)));
        assert_eq!(
            p(path!["faults", 1, Seg::KeyName("target".into())]),
            Some((5, 5))
        );
        assert_eq!(p(path!["faults", 2]), None);
        assert_eq!(p(path!["nothing"]), None);
    }

    #[test]
    fn nearest_falls_back_to_the_closest_present_ancestor() {
        let p = locate_nearest(DOC, &path!["faults", 1, "for"][..]);
        assert_eq!((p.line, p.column), (4, 5));
    }

    #[test]
    fn quoted_values_are_found_as_whole_tokens() {
        let text = "a: {x: 2xx, y: 2x}\n";
        assert_eq!(
            find_token(text, 3, "2x"),
            Some(Pos {
                line: 1,
                column: 16
            })
        );
        assert_eq!(quoted(r#"duration "2x": bad"#).as_deref(), Some("2x"));
    }
}
