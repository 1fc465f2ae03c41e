//! Metadata filters: the Mongo-style `where` JSON that Chroma and Pinecone users know, parsed
//! once into a typed [`Filter`] and evaluated per record. Parsing reports the exact part that is
//! wrong; evaluation never fails (a type mismatch simply does not match).
//!
//! Semantics, chosen to match MongoDB where Chroma is silent:
//! - `{"a": 1, "b": 2}` is an implicit `$and`; `{}` matches everything.
//! - `{"field": value}` is `$eq`. Numbers compare by value (`1 == 1.0`); arrays and objects compare deeply.
//! - `$ne` and `$nin` also match records where the field is missing.
//! - `$gt $gte $lt $lte` take a number or a string and only match a field of the same kind.
//! - `$contains` matches an array field holding an equal element, or a string field containing the substring.
//! - Dotted paths (`"author.name"`) walk nested objects.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// A filter that could not be parsed; `path` names the bad part, such as `$and[1].price.$gt`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter at '{path}': {message}")]
pub struct FilterError {
    /// Where in the filter JSON the problem is (empty for the top level).
    pub path: String,
    /// What is wrong and what is allowed instead.
    pub message: String,
}

/// A parsed metadata filter.
///
/// ```
/// use serde_json::json;
/// use vectorlite::Filter;
/// let f = Filter::parse(&json!({"author": "ann", "year": {"$gte": 2020}})).unwrap();
/// assert!(f.matches(Some(&json!({"author": "ann", "year": 2024}))));
/// assert!(!f.matches(Some(&json!({"author": "bob", "year": 2024}))));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Node);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Field { path: Vec<String>, op: Op },
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(Value),
    Ne(Value),
    Cmp(Ordering, bool, Bound),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    Contains(Value),
    Not(Box<Op>),
    All(Vec<Op>),
}

#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Number(f64),
    String(String),
}

impl Filter {
    /// Parses a `where` JSON object.
    pub fn parse(json: &Value) -> Result<Self, FilterError> {
        parse_node(json, "").map(Filter)
    }

    /// True when the record's metadata (None = no metadata) passes the filter.
    pub fn matches(&self, metadata: Option<&Value>) -> bool {
        eval_node(&self.0, metadata)
    }
}

impl TryFrom<Value> for Filter {
    type Error = FilterError;
    fn try_from(v: Value) -> Result<Self, FilterError> {
        Filter::parse(&v)
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, FilterError> {
        let v: Value = serde_json::from_str(s)
            .map_err(|e| FilterError { path: String::new(), message: format!("not valid JSON: {e}") })?;
        Filter::parse(&v)
    }
}

fn err(path: &str, message: impl Into<String>) -> FilterError {
    FilterError { path: path.to_owned(), message: message.into() }
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() { part.to_owned() } else { format!("{path}.{part}") }
}

/// Deepest nesting accepted; deeper filters are rejected instead of risking the stack.
const MAX_DEPTH: usize = 64;

fn parse_node(json: &Value, path: &str) -> Result<Node, FilterError> {
    if path.matches('$').count() > MAX_DEPTH {
        return Err(err(path, format!("filter nests deeper than {MAX_DEPTH} levels")));
    }
    let Value::Object(obj) = json else {
        return Err(err(path, format!("a filter must be a JSON object, got {}", type_name(json))));
    };
    let mut parts = Vec::with_capacity(obj.len());
    for (key, val) in obj {
        let here = join(path, key);
        let node = match key.as_str() {
            "$and" | "$or" => {
                let Value::Array(items) = val else {
                    return Err(err(&here, format!("{key} takes a non-empty array of filters")));
                };
                if items.is_empty() {
                    return Err(err(&here, format!("{key} takes a non-empty array of filters")));
                }
                let nodes = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse_node(item, &format!("{here}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "$and" { Node::And(nodes) } else { Node::Or(nodes) }
            }
            "$not" => Node::Not(Box::new(parse_node(val, &here)?)),
            k if k.starts_with('$') => {
                return Err(err(
                    &here,
                    format!("unknown operator {k}; top-level operators are $and, $or, $not"),
                ));
            }
            k => {
                let segments: Vec<String> = k.split('.').map(str::to_owned).collect();
                if segments.iter().any(String::is_empty) {
                    return Err(err(&here, "field path has an empty segment"));
                }
                Node::Field { path: segments, op: parse_field_ops(val, &here)? }
            }
        };
        parts.push(node);
    }
    Ok(if parts.len() == 1 { parts.pop().unwrap_or(Node::And(Vec::new())) } else { Node::And(parts) })
}

/// The value of a field condition: a plain value (equality) or an object of `$` operators.
fn parse_field_ops(val: &Value, path: &str) -> Result<Op, FilterError> {
    let Value::Object(obj) = val else { return Ok(Op::Eq(val.clone())) };
    let dollar = obj.keys().filter(|k| k.starts_with('$')).count();
    if dollar == 0 {
        return Ok(Op::Eq(val.clone()));
    }
    if dollar != obj.len() {
        return Err(err(path, "mixes $operators with plain keys; use one or the other"));
    }
    let mut ops = obj.iter().map(|(k, v)| parse_op(k, v, &join(path, k))).collect::<Result<Vec<_>, _>>()?;
    Ok(if ops.len() == 1 { ops.remove(0) } else { Op::All(ops) })
}

fn parse_op(key: &str, val: &Value, path: &str) -> Result<Op, FilterError> {
    let cmp = |ord, or_equal| -> Result<Op, FilterError> {
        let bound = match val {
            Value::Number(n) => Bound::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Bound::String(s.clone()),
            other => {
                return Err(err(path, format!("{key} needs a number or a string, got {}", type_name(other))));
            }
        };
        Ok(Op::Cmp(ord, or_equal, bound))
    };
    let list = || -> Result<Vec<Value>, FilterError> {
        match val {
            Value::Array(a) => Ok(a.clone()),
            other => Err(err(path, format!("{key} needs an array, got {}", type_name(other)))),
        }
    };
    match key {
        "$eq" => Ok(Op::Eq(val.clone())),
        "$ne" => Ok(Op::Ne(val.clone())),
        "$gt" => cmp(Ordering::Greater, false),
        "$gte" => cmp(Ordering::Greater, true),
        "$lt" => cmp(Ordering::Less, false),
        "$lte" => cmp(Ordering::Less, true),
        "$in" => Ok(Op::In(list()?)),
        "$nin" => Ok(Op::Nin(list()?)),
        "$exists" => match val {
            Value::Bool(b) => Ok(Op::Exists(*b)),
            other => Err(err(path, format!("$exists needs true or false, got {}", type_name(other)))),
        },
        "$contains" => match val {
            Value::Array(_) | Value::Object(_) => Err(err(path, "$contains needs a single value")),
            v => Ok(Op::Contains(v.clone())),
        },
        "$not" => {
            if path.matches('$').count() > MAX_DEPTH {
                return Err(err(path, format!("filter nests deeper than {MAX_DEPTH} levels")));
            }
            match val {
                Value::Object(o) if !o.is_empty() && o.keys().all(|k| k.starts_with('$')) => {
                    Ok(Op::Not(Box::new(parse_field_ops(val, path)?)))
                }
                _ => Err(err(path, "$not on a field needs an object of $operators, like {\"$gt\": 5}")),
            }
        }
        other => Err(err(
            path,
            format!(
                "unknown operator {other}; use $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $not"
            ),
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn eval_node(node: &Node, metadata: Option<&Value>) -> bool {
    match node {
        Node::And(nodes) => nodes.iter().all(|n| eval_node(n, metadata)),
        Node::Or(nodes) => nodes.iter().any(|n| eval_node(n, metadata)),
        Node::Not(n) => !eval_node(n, metadata),
        Node::Field { path, op } => eval_op(op, lookup(metadata, path)),
    }
}

fn lookup<'a>(metadata: Option<&'a Value>, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(metadata?, |v, key| match v {
        Value::Object(map) => map.get(key),
        _ => None,
    })
}

fn eval_op(op: &Op, field: Option<&Value>) -> bool {
    match op {
        Op::Eq(v) => field.is_some_and(|f| json_eq(f, v)),
        Op::Ne(v) => !field.is_some_and(|f| json_eq(f, v)),
        Op::Cmp(want, or_equal, bound) => {
            let ord = match (field, bound) {
                (Some(Value::Number(n)), Bound::Number(b)) => n.as_f64().and_then(|x| x.partial_cmp(b)),
                (Some(Value::String(s)), Bound::String(b)) => Some(s.as_str().cmp(b.as_str())),
                _ => None,
            };
            ord.is_some_and(|o| o == *want || (*or_equal && o == Ordering::Equal))
        }
        Op::In(list) => field.is_some_and(|f| list.iter().any(|v| json_eq(f, v))),
        Op::Nin(list) => !field.is_some_and(|f| list.iter().any(|v| json_eq(f, v))),
        Op::Exists(want) => field.is_some() == *want,
        Op::Contains(v) => match (field, v) {
            (Some(Value::Array(items)), _) => items.iter().any(|x| json_eq(x, v)),
            (Some(Value::String(s)), Value::String(sub)) => s.contains(sub.as_str()),
            _ => false,
        },
        Op::Not(inner) => !eval_op(inner, field),
        Op::All(ops) => ops.iter().all(|o| eval_op(o, field)),
    }
}

/// JSON equality where numbers compare by value, so `1` equals `1.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => objects_eq(x, y),
        _ => a == b,
    }
}

fn objects_eq(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "author": "ann",
            "year": 2021,
            "score": 4.5,
            "tags": ["rust", "db"],
            "draft": false,
            "note": null,
            "title": "Vector search in practice",
            "meta": {"lang": "en", "pages": 12, "reviewer": {"name": "zoe"}}
        })
    }

    #[test]
    fn filter_semantics_table() {
        let cases: &[(Value, bool)] = &[
            (json!({}), true),
            (json!({"author": "ann"}), true),
            (json!({"author": "bob"}), false),
            (json!({"year": 2021.0}), true),
            (json!({"author": {"$eq": "ann"}}), true),
            (json!({"author": {"$ne": "ann"}}), false),
            (json!({"missing": {"$ne": "x"}}), true),
            (json!({"year": {"$gt": 2020}}), true),
            (json!({"year": {"$gt": 2021}}), false),
            (json!({"year": {"$gte": 2021}}), true),
            (json!({"year": {"$lt": 2021}}), false),
            (json!({"year": {"$lte": 2021}}), true),
            (json!({"year": {"$gt": 2000, "$lt": 2022}}), true),
            (json!({"year": {"$gt": 2000, "$lt": 2021}}), false),
            (json!({"score": {"$gt": 4.4}}), true),
            (json!({"author": {"$gt": "abc"}}), true),
            (json!({"author": {"$lt": "abc"}}), false),
            (json!({"author": {"$gt": 1}}), false),
            (json!({"year": {"$gt": "1"}}), false),
            (json!({"author": {"$in": ["bob", "ann"]}}), true),
            (json!({"author": {"$in": []}}), false),
            (json!({"author": {"$nin": ["bob", "ann"]}}), false),
            (json!({"missing": {"$nin": ["x"]}}), true),
            (json!({"note": {"$exists": true}}), true),
            (json!({"missing": {"$exists": false}}), true),
            (json!({"author": {"$exists": false}}), false),
            (json!({"tags": {"$contains": "rust"}}), true),
            (json!({"tags": {"$contains": "go"}}), false),
            (json!({"title": {"$contains": "search"}}), true),
            (json!({"year": {"$contains": 2021}}), false),
            (json!({"tags": ["rust", "db"]}), true),
            (json!({"tags": ["db", "rust"]}), false),
            (json!({"meta.lang": "en"}), true),
            (json!({"meta.reviewer.name": "zoe"}), true),
            (json!({"meta.pages": {"$gte": 12}}), true),
            (json!({"meta.lang.x": "en"}), false),
            (json!({"meta": {"lang": "en", "pages": 12.0, "reviewer": {"name": "zoe"}}}), true),
            (json!({"$and": [{"author": "ann"}, {"year": 2021}]}), true),
            (json!({"$and": [{"author": "ann"}, {"year": 2020}]}), false),
            (json!({"$or": [{"author": "bob"}, {"year": 2021}]}), true),
            (json!({"$or": [{"author": "bob"}, {"year": 2020}]}), false),
            (json!({"$not": {"author": "bob"}}), true),
            (json!({"$not": {"author": "ann"}}), false),
            (json!({"year": {"$not": {"$gt": 2030}}}), true),
            (json!({"author": "ann", "draft": true}), false),
            (json!({"draft": false}), true),
        ];
        let d = doc();
        for (filter, want) in cases {
            let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
            assert_eq!(f.matches(Some(&d)), *want, "{filter}");
        }
    }

    #[test]
    fn records_without_metadata_only_match_negative_conditions() {
        let cases = [
            (json!({"a": 1}), false),
            (json!({"a": {"$ne": 1}}), true),
            (json!({"a": {"$exists": false}}), true),
            (json!({}), true),
        ];
        for (filter, want) in cases {
            assert_eq!(Filter::parse(&filter).unwrap().matches(None), want, "{filter}");
        }
    }

    #[test]
    fn errors_name_the_bad_part() {
        let cases: &[(Value, &str)] = &[
            (json!([1]), ""),
            (json!({"$and": {}}), "$and"),
            (json!({"$or": []}), "$or"),
            (json!({"$and": [{"a": 1}, {"price": {"$gt": [1]}}]}), "$and[1].price.$gt"),
            (json!({"a": {"$in": 3}}), "a.$in"),
            (json!({"a": {"$exists": "yes"}}), "a.$exists"),
            (json!({"a": {"$regex": "x"}}), "a.$regex"),
            (json!({"$where": "x"}), "$where"),
            (json!({"a": {"$gt": 1, "b": 2}}), "a"),
            (json!({"a..b": 1}), "a..b"),
            (json!({"a": {"$contains": [1]}}), "a.$contains"),
            (json!({"a": {"$not": 3}}), "a.$not"),
        ];
        for (filter, path) in cases {
            let e = Filter::parse(filter).expect_err(&filter.to_string());
            assert_eq!(e.path, *path, "{filter}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut f = json!({"a": 1});
        for _ in 0..200 {
            f = json!({ "$not": f });
        }
        assert!(Filter::parse(&f).is_err());
        let from_str: Result<Filter, _> = "{\"a\": ".parse();
        assert!(from_str.is_err());
    }
}
