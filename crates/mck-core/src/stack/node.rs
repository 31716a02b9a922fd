//! A YAML tree that remembers where every value came from, overlay merging, and a serde
//! deserializer over it that attaches the location of the offending node to every error.
//!
//! The YAML parser is confined to [`parse_file`]; everything else works on [`Node`], so the
//! parser can be swapped without touching the schema.

use std::fmt;
use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// A position in a stack file: file path as given, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    /// The file, as it was given.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One YAML value with its location.
#[derive(Clone, Debug)]
pub struct Node {
    /// Where, when known.
    pub loc: Loc,
    /// The value.
    pub value: NodeValue,
}

#[derive(Clone, Debug)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own location so "unknown key" errors point at the key.
    Map(Vec<(Key, Node)>),
    /// A scalar given on the command line (`--set release.tag=0123`): the schema decides its
    /// type, so a git SHA of digits stays a string and `count=3` is a number.
    Plain(String),
}

#[derive(Clone, Debug)]
pub struct Key {
    pub name: String,
    pub loc: Loc,
}

/// The known word closest to `word`, when it is close enough to be a typo (edit distance at
/// most a third of its length, at least 1; or the same ignoring case, `-`/`_` and order).
pub fn did_you_mean<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_lowercase().replace('-', "_");
    let budget = (word.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| {
            let d = if norm(k) == norm(word) {
                0
            } else {
                edit_distance(&norm(word), &norm(k))
            };
            (d, *k)
        })
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance with transpositions counted as one edit (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// A failure to read or parse one YAML file.
#[derive(Debug)]
pub struct ParseError {
    /// Where.
    pub loc: Loc,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// How to fix a YAML syntax error, by what the parser said.
fn yaml_help(info: &str) -> String {
    if info.contains("billion-laughs") || info.contains("alias") || info.contains("anchor") {
        "stack files do not use YAML anchors and aliases; write the values out".into()
    } else if info.contains("recursion limit") {
        "a stack file nests a few levels deep; this one nests far too deep".into()
    } else if info.contains("duplicated key") {
        "each key appears once per map; remove the repeated one".into()
    } else if info.contains("tabs") {
        "indent with spaces, not tabs".into()
    } else {
        "check the YAML near this line: indent with spaces, close every [ and {, quote values that contain `: ` or start with a special character".into()
    }
}

/// Parses one YAML document. An empty file is an empty map.
pub fn parse_file(file: &str, text: &str) -> Result<Node, ParseError> {
    let file: Arc<str> = Arc::from(file);
    let docs = MarkedYaml::load_from_str(text).map_err(|err| ParseError {
        loc: Loc {
            file: file.clone(),
            line: err.marker().line(),
            col: err.marker().col() + 1,
        },
        message: format!("invalid YAML: {}", err.info()),
        help: Some(yaml_help(err.info())),
    })?;
    if docs.len() > 1 {
        return Err(ParseError {
            loc: Loc {
                file,
                line: 1,
                col: 1,
            },
            message: "a stack file holds exactly one YAML document, found several".to_string(),
            help: Some("remove the `---` separators: one stack per file".into()),
        });
    }
    match docs.into_iter().next() {
        None => Ok(Node {
            loc: Loc {
                file,
                line: 1,
                col: 1,
            },
            value: NodeValue::Map(Vec::new()),
        }),
        Some(doc) => convert(&file, &doc),
    }
}

fn convert(file: &Arc<str>, yaml: &MarkedYaml<'_>) -> Result<Node, ParseError> {
    let loc = Loc {
        file: file.clone(),
        // The parser marks some nodes at line 0 (a tagged scalar at the top: `!\t0x7f…`, found
        // by fuzzing); the document starts on line 1.
        line: yaml.span.start.line().max(1),
        col: yaml.span.start.col() + 1,
    };
    let value = match &yaml.data {
        YamlData::Value(scalar) => match scalar {
            Scalar::Null => NodeValue::Null,
            Scalar::Boolean(b) => NodeValue::Bool(*b),
            Scalar::Integer(i) => NodeValue::Int(*i),
            Scalar::FloatingPoint(x) => NodeValue::Float(x.into_inner()),
            Scalar::String(s) => NodeValue::Str(s.to_string()),
        },
        YamlData::Representation(s, _, _) => NodeValue::Str(s.to_string()),
        YamlData::Sequence(items) => NodeValue::Seq(
            items
                .iter()
                .map(|item| convert(file, item))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(map) => {
            let mut entries: Vec<(Key, Node)> = Vec::with_capacity(map.len());
            for (k, v) in map.iter() {
                let key_node = convert(file, k)?;
                let name = match key_node.value {
                    NodeValue::Str(s) => s,
                    NodeValue::Int(i) => i.to_string(),
                    NodeValue::Bool(b) => b.to_string(),
                    _ => {
                        return Err(ParseError {
                            loc: key_node.loc,
                            message: "mapping keys must be plain strings".to_string(),
                            help: Some("write keys as plain words, e.g. `network:`".into()),
                        });
                    }
                };
                if entries.iter().any(|(existing, _)| existing.name == name) {
                    return Err(ParseError {
                        loc: key_node.loc,
                        message: format!("duplicate key `{name}`"),
                        help: Some(format!("keep one `{name}:` in this map")),
                    });
                }
                entries.push((
                    Key {
                        name,
                        loc: key_node.loc,
                    },
                    convert(file, v)?,
                ));
            }
            NodeValue::Map(entries)
        }
        YamlData::Tagged(_, inner) => return convert(file, inner),
        YamlData::Alias(_) => {
            return Err(ParseError {
                loc,
                message: "YAML aliases are not supported in stack files".to_string(),
                help: Some("write the value out where the alias is".into()),
            });
        }
        YamlData::BadValue => {
            return Err(ParseError {
                loc,
                message: "invalid YAML value".to_string(),
                help: Some(yaml_help("")),
            });
        }
    };
    Ok(Node { loc, value })
}

impl Node {
    /// The map entry `key`, if this is a map holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a path of map keys and sequence indices (`"3"`), returning the deepest node found.
    pub fn locate(&self, path: &[&str]) -> &Node {
        let mut node = self;
        for seg in path {
            let next = match &node.value {
                NodeValue::Map(_) => node.get(seg),
                NodeValue::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(next) => node = next,
                None => break,
            }
        }
        node
    }

    /// Overlays `top` on `self`: maps merge key by key, everything else (lists included) replaces.
    pub fn merge(self, top: Node) -> Node {
        match (self.value, top.value) {
            (NodeValue::Map(mut base), NodeValue::Map(over)) => {
                for (key, value) in over {
                    match base.iter().position(|(k, _)| k.name == key.name) {
                        Some(idx) => {
                            let (_, old) = base.remove(idx);
                            base.insert(idx, (key, old.merge(value)));
                        }
                        None => base.push((key, value)),
                    }
                }
                Node {
                    loc: top.loc,
                    value: NodeValue::Map(base),
                }
            }
            (_, value) => Node {
                loc: top.loc,
                value,
            },
        }
    }

    /// Overlays `value` at the path `keys`, as [`Node::merge`] would, creating the maps on the
    /// way; the maps passed through keep their own locations.
    pub fn set(&mut self, keys: &[Key], value: Node) {
        let Some((key, rest)) = keys.split_first() else {
            let base = std::mem::replace(
                self,
                Node {
                    loc: value.loc.clone(),
                    value: NodeValue::Null,
                },
            );
            *self = base.merge(value);
            return;
        };
        if !matches!(self.value, NodeValue::Map(_)) {
            *self = Node {
                loc: key.loc.clone(),
                value: NodeValue::Map(Vec::new()),
            };
        }
        let NodeValue::Map(entries) = &mut self.value else {
            unreachable!("made a map above")
        };
        let idx = match entries.iter().position(|(k, _)| k.name == key.name) {
            Some(idx) => idx,
            None => {
                entries.push((
                    key.clone(),
                    Node {
                        loc: key.loc.clone(),
                        value: NodeValue::Null,
                    },
                ));
                entries.len() - 1
            }
        };
        if rest.is_empty() {
            entries[idx].0.loc = key.loc.clone();
        }
        entries[idx].1.set(rest, value);
    }

    /// Removes a top-level key, returning its value.
    pub fn take(&mut self, key: &str) -> Option<Node> {
        match &mut self.value {
            NodeValue::Map(entries) => {
                let idx = entries.iter().position(|(k, _)| k.name == key)?;
                Some(entries.remove(idx).1)
            }
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match &self.value {
            NodeValue::Null => "null".to_string(),
            NodeValue::Bool(b) => format!("boolean `{b}`"),
            NodeValue::Int(i) => format!("integer `{i}`"),
            NodeValue::Float(x) => format!("number `{x}`"),
            NodeValue::Str(s) => format!("string \"{s}\""),
            NodeValue::Plain(s) => format!("`{s}`"),
            NodeValue::Seq(_) => "a list".to_string(),
            NodeValue::Map(_) => "a mapping".to_string(),
        }
    }
}

/// A schema error with the location of the node that caused it.
#[derive(Debug)]
pub struct DeError {
    pub loc: Option<Loc>,
    pub message: String,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            loc: None,
            message: msg.to_string(),
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let hint = did_you_mean(field, expected)
            .map_or_else(String::new, |k| format!("did you mean `{k}`? "));
        DeError {
            loc: None,
            message: format!(
                "unknown key `{field}`; {hint}valid keys here: {}",
                expected.join(", ")
            ),
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            loc: None,
            message: format!(
                "unknown value `{variant}`; expected one of: {}",
                expected.join(", ")
            ),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError {
            loc: None,
            message: format!("missing required key `{field}`"),
        }
    }
}

impl DeError {
    fn at(mut self, loc: &Loc) -> Self {
        if self.loc.is_none() {
            self.loc = Some(loc.clone());
        }
        self
    }
}

/// Deserializes `T` from a node; errors carry the location of the node at fault.
pub fn from_node<'a, T: de::Deserialize<'a>>(node: &'a Node) -> Result<T, DeError> {
    T::deserialize(node)
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.value {
            NodeValue::Null => visitor.visit_unit(),
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            NodeValue::Int(i) => visitor.visit_i64(*i),
            NodeValue::Float(x) => visitor.visit_f64(*x),
            NodeValue::Str(s) => visitor.visit_str(s),
            NodeValue::Plain(s) => match s.as_str() {
                "null" | "~" => visitor.visit_unit(),
                "true" => visitor.visit_bool(true),
                "false" => visitor.visit_bool(false),
                _ => match s.parse::<i64>() {
                    Ok(i) => visitor.visit_i64(i),
                    Err(_) => visitor.visit_str(s),
                },
            },
            NodeValue::Seq(items) => visitor.visit_seq(SeqDe { iter: items.iter() }),
            NodeValue::Map(entries) => visitor.visit_map(MapDe {
                iter: entries.iter(),
                value: None,
                key_loc: None,
            }),
        };
        result.map_err(|e: DeError| e.at(&self.loc))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.value {
            NodeValue::Null => visitor.visit_none(),
            NodeValue::Plain(s) if s == "null" || s == "~" => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.value {
            NodeValue::Str(s) | NodeValue::Plain(s) => {
                visitor.visit_str(s).map_err(|e: DeError| e.at(&self.loc))
            }
            _ => Err(self.type_error("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.value {
            NodeValue::Bool(b) => visitor.visit_bool(*b).map_err(|e: DeError| e.at(&self.loc)),
            NodeValue::Plain(s) if s == "true" || s == "false" => visitor
                .visit_bool(s == "true")
                .map_err(|e: DeError| e.at(&self.loc)),
            _ => Err(self.type_error("true or false")),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.value {
            NodeValue::Seq(items) => visitor
                .visit_seq(SeqDe { iter: items.iter() })
                .map_err(|e: DeError| e.at(&self.loc)),
            _ => Err(self.type_error("a list")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.value {
            NodeValue::Map(entries) => visitor
                .visit_map(MapDe {
                    iter: entries.iter(),
                    value: None,
                    key_loc: None,
                })
                .map_err(|e: DeError| e.at(&self.loc)),
            _ => Err(self.type_error("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.value {
            NodeValue::Str(s) | NodeValue::Plain(s) => visitor
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: DeError| e.at(&self.loc)),
            _ => Err(self.type_error("one of the listed words")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
    }
}

impl Node {
    fn type_error(&self, expected: &str) -> DeError {
        DeError {
            loc: Some(self.loc.clone()),
            message: format!("wrong type: expected {expected}, found {}", self.describe()),
        }
    }

    fn int<'de, V: Visitor<'de>>(&'de self, visitor: V) -> Result<V::Value, DeError> {
        match &self.value {
            NodeValue::Int(i) => visitor.visit_i64(*i).map_err(|e: DeError| e.at(&self.loc)),
            NodeValue::Plain(s) if s.parse::<i64>().is_ok() => visitor
                .visit_i64(s.parse().expect("checked"))
                .map_err(|e: DeError| e.at(&self.loc)),
            _ => Err(self.type_error("a whole number")),
        }
    }
}

struct SeqDe<'a> {
    iter: std::slice::Iter<'a, Node>,
}

impl<'de> SeqAccess<'de> for SeqDe<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.iter.next() {
            Some(node) => seed
                .deserialize(node)
                .map(Some)
                .map_err(|e| e.at(&node.loc)),
            None => Ok(None),
        }
    }
}

struct MapDe<'a> {
    iter: std::slice::Iter<'a, (Key, Node)>,
    value: Option<&'a Node>,
    key_loc: Option<&'a Loc>,
}

impl<'de> MapAccess<'de> for MapDe<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                self.key_loc = Some(&key.loc);
                let key_de: de::value::StrDeserializer<'_, DeError> =
                    key.name.as_str().into_deserializer();
                seed.deserialize(key_de)
                    .map(Some)
                    .map_err(|e| e.at(&key.loc))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self
            .value
            .take()
            .expect("next_value_seed called before next_key_seed");
        seed.deserialize(value).map_err(|e| e.at(&value.loc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields are read through Debug only")]
    struct Small {
        name: String,
        count: Option<u32>,
    }

    fn check_err(yaml: &str, expect: &str) {
        let node = parse_file("t.yaml", yaml).unwrap();
        let err = from_node::<Small>(&node).unwrap_err();
        assert_eq!(format!("{}: {}", err.loc.unwrap(), err.message), expect);
    }

    #[test]
    fn errors_point_at_the_offending_node() {
        check_err(
            "name: a\ncolour: red\n",
            "t.yaml:2:1: unknown key `colour`; valid keys here: name, count",
        );
        check_err(
            "name: a\ncount: many\n",
            "t.yaml:2:8: wrong type: expected a whole number, found string \"many\"",
        );
        check_err("count: 3\n", "t.yaml:1:1: missing required key `name`");
        check_err(
            "name: [1]\n",
            "t.yaml:1:7: wrong type: expected a string, found a list",
        );
    }

    #[test]
    fn merge_overlays_maps_and_replaces_lists() {
        let base = parse_file("b.yaml", "a: {x: 1, y: [1, 2]}\nb: 2\n").unwrap();
        let top = parse_file("t.yaml", "a: {y: [3]}\n").unwrap();
        let merged = base.merge(top);
        let y = merged.locate(&["a", "y"]);
        assert!(matches!(&y.value, NodeValue::Seq(items) if items.len() == 1));
        assert_eq!(&*y.loc.file, "t.yaml");
        assert!(matches!(
            merged.locate(&["a", "x"]).value,
            NodeValue::Int(1)
        ));
        assert!(matches!(merged.locate(&["b"]).value, NodeValue::Int(2)));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let err = parse_file("t.yaml", "a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.message, "invalid YAML: duplicated key in mapping");
        assert_eq!(err.loc.line, 2);
    }

    /// Found by fuzzing: the parser marks a tagged scalar at the top on line 0.
    #[test]
    fn every_node_is_located_on_a_line_of_the_file() {
        let node = parse_file("t.yaml", "!\t0x7fffffffffffffff").unwrap();
        assert_eq!(node.loc.line, 1);
    }
}
