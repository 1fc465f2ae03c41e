//! JSON -> typed filter tree. Every error names the part of the filter that is wrong.

use std::cmp::Ordering;

use serde_json::Value;

use super::{Bound, FilterError, Node, Op};

fn err(path: &str, message: impl Into<String>) -> FilterError {
    FilterError { path: path.to_owned(), message: message.into() }
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() { part.to_owned() } else { format!("{path}.{part}") }
}

/// Deepest nesting accepted; deeper filters are rejected instead of risking the stack.
const MAX_DEPTH: usize = 64;

pub(super) fn parse_node(
    json: &Value,
    path: &str,
    paths: &mut Vec<Vec<String>>,
) -> Result<Node, FilterError> {
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
                    .map(|(i, item)| parse_node(item, &format!("{here}[{i}]"), paths))
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
                let field = paths.iter().position(|p| *p == segments).unwrap_or_else(|| {
                    paths.push(segments);
                    paths.len() - 1
                });
                Node::Field { field, op }
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
