//! JSON -> typed filter tree, in time linear in the filter's size. Every error names the part
//! of the filter that is wrong; that path is only built when there is an error.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::Value;

use super::{Bound, FilterError, Node, Op};

/// Where the parser is in the filter: a chain of keys and array positions back to the root,
/// rendered into a path like `$and[1].price.$gt` only for an error message.
#[derive(Clone, Copy)]
pub(super) struct Crumb<'a> {
    parent: Option<&'a Crumb<'a>>,
    part: Part<'a>,
    depth: usize,
}

#[derive(Clone, Copy)]
enum Part<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> Crumb<'a> {
    pub(super) const ROOT: Crumb<'static> = Crumb { parent: None, part: Part::Root, depth: 0 };

    fn key(&'a self, key: &'a str) -> Crumb<'a> {
        Crumb { parent: Some(self), part: Part::Key(key), depth: self.depth + 1 }
    }

    fn index(&'a self, i: usize) -> Crumb<'a> {
        Crumb { parent: Some(self), part: Part::Index(i), depth: self.depth + 1 }
    }

    fn render(&self) -> String {
        let mut parts = Vec::new();
        let mut at = Some(self);
        while let Some(c) = at {
            parts.push(c.part);
            at = c.parent;
        }
        let mut out = String::new();
        for part in parts.into_iter().rev() {
            match part {
                Part::Root => {}
                Part::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Part::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

fn err(at: &Crumb<'_>, message: impl Into<String>) -> FilterError {
    FilterError { path: at.render(), message: message.into() }
}

/// Deepest nesting accepted; deeper filters are rejected instead of risking the stack.
const MAX_DEPTH: usize = 64;

/// The distinct field paths a filter reads, numbered in order of appearance.
#[derive(Default)]
pub(super) struct Paths {
    pub(super) list: Vec<Vec<String>>,
    index: HashMap<Vec<String>, usize>,
}

impl Paths {
    fn number(&mut self, segments: Vec<String>) -> usize {
        if let Some(&i) = self.index.get(&segments) {
            return i;
        }
        self.list.push(segments.clone());
        self.index.insert(segments, self.list.len() - 1);
        self.list.len() - 1
    }
}

pub(super) fn parse_node(json: &Value, at: &Crumb<'_>, paths: &mut Paths) -> Result<Node, FilterError> {
    if at.depth > MAX_DEPTH {
        return Err(err(at, format!("filter nests deeper than {MAX_DEPTH} levels")));
    }
    let Value::Object(obj) = json else {
        return Err(err(at, format!("a filter must be a JSON object, got {}", type_name(json))));
    };
    let mut parts = Vec::with_capacity(obj.len());
    for (key, val) in obj {
        let here = at.key(key);
        let node = match key.as_str() {
            "$and" | "$or" => {
                let items = match val {
                    Value::Array(items) if !items.is_empty() => items,
                    _ => return Err(err(&here, format!("{key} takes a non-empty array of filters"))),
                };
                let nodes = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse_node(item, &here.index(i), paths))
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "$and" { Node::And(nodes) } else { Node::Or(nodes) }
            }
            "$not" => Node::Not(Box::new(parse_node(val, &here, paths)?)),
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
                let op = parse_field_ops(val, &here)?;
                Node::Field { field: paths.number(segments), op }
            }
        };
        parts.push(node);
    }
    Ok(if parts.len() == 1 { parts.pop().unwrap_or(Node::And(Vec::new())) } else { Node::And(parts) })
}

/// The value of a field condition: a plain value (equality) or an object of `$` operators.
fn parse_field_ops(val: &Value, at: &Crumb<'_>) -> Result<Op, FilterError> {
    if at.depth > MAX_DEPTH {
        return Err(err(at, format!("filter nests deeper than {MAX_DEPTH} levels")));
    }
    let Value::Object(obj) = val else { return Ok(Op::Eq(operand(val, at)?)) };
    let dollar = obj.keys().filter(|k| k.starts_with('$')).count();
    if dollar == 0 {
        return Ok(Op::Eq(operand(val, at)?));
    }
    if dollar != obj.len() {
        return Err(err(at, "mixes $operators with plain keys; use one or the other"));
    }
    let mut ops = obj.iter().map(|(k, v)| parse_op(k, v, &at.key(k))).collect::<Result<Vec<_>, _>>()?;
    Ok(if ops.len() == 1 { ops.remove(0) } else { Op::All(ops) })
}

/// A value compared against records: nested at most as deep as metadata may be, so the
/// recursive comparisons cannot exhaust the stack.
fn operand(val: &Value, at: &Crumb<'_>) -> Result<Value, FilterError> {
    if crate::config::json_depth(val) > crate::config::MAX_METADATA_DEPTH {
        return Err(err(
            at,
            format!("a value nests deeper than {} levels", crate::config::MAX_METADATA_DEPTH),
        ));
    }
    Ok(val.clone())
}

fn parse_op(key: &str, val: &Value, at: &Crumb<'_>) -> Result<Op, FilterError> {
    let cmp = |ord, or_equal| -> Result<Op, FilterError> {
        let bound = match val {
            Value::Number(n) => Bound::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Bound::String(s.clone()),
            other => {
                return Err(err(at, format!("{key} needs a number or a string, got {}", type_name(other))));
            }
        };
        Ok(Op::Cmp(ord, or_equal, bound))
    };
    let list = || -> Result<Vec<Value>, FilterError> {
        match val {
            Value::Array(a) => a.iter().map(|v| operand(v, at)).collect(),
            other => Err(err(at, format!("{key} needs an array, got {}", type_name(other)))),
        }
    };
    match key {
        "$eq" => Ok(Op::Eq(operand(val, at)?)),
        "$ne" => Ok(Op::Ne(operand(val, at)?)),
        "$gt" => cmp(Ordering::Greater, false),
        "$gte" => cmp(Ordering::Greater, true),
        "$lt" => cmp(Ordering::Less, false),
        "$lte" => cmp(Ordering::Less, true),
        "$in" => Ok(Op::In(list()?)),
        "$nin" => Ok(Op::Nin(list()?)),
        "$exists" => match val {
            Value::Bool(b) => Ok(Op::Exists(*b)),
            other => Err(err(at, format!("$exists needs true or false, got {}", type_name(other)))),
        },
        "$contains" => match val {
            Value::Array(_) | Value::Object(_) => Err(err(at, "$contains needs a single value")),
            v => Ok(Op::Contains(v.clone())),
        },
        "$not" => match val {
            Value::Object(o) if !o.is_empty() && o.keys().all(|k| k.starts_with('$')) => {
                Ok(Op::Not(Box::new(parse_field_ops(val, at)?)))
            }
            _ => Err(err(at, "$not on a field needs an object of $operators, like {\"$gt\": 5}")),
        },
        other => Err(err(
            at,
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
