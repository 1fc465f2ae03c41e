//! Evaluation of a filter tree against a record's JSON metadata. With a column cache bound
//! (see `column`), each condition first asks its field's scalar cell and reads the JSON only
//! when the cell cannot decide.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::column::{Column, decide};
use super::{Bound, Node, Op};

pub(super) fn eval_node(node: &Node, paths: &[Vec<String>], metadata: Option<&Value>) -> bool {
    match node {
        Node::And(nodes) => nodes.iter().all(|n| eval_node(n, paths, metadata)),
        Node::Or(nodes) => nodes.iter().any(|n| eval_node(n, paths, metadata)),
        Node::Not(n) => !eval_node(n, paths, metadata),
        Node::Field { field, op } => eval_op(op, lookup(metadata, &paths[*field])),
    }
}

/// Like [`eval_node`], but consults `columns[field]` (when present) for row `row` first.
pub(super) fn eval_node_with_columns(
    node: &Node,
    paths: &[Vec<String>],
    columns: &[Option<std::sync::Arc<Column>>],
    row: usize,
    metadata: Option<&Value>,
) -> bool {
    match node {
        Node::And(nodes) => nodes.iter().all(|n| eval_node_with_columns(n, paths, columns, row, metadata)),
        Node::Or(nodes) => nodes.iter().any(|n| eval_node_with_columns(n, paths, columns, row, metadata)),
        Node::Not(n) => !eval_node_with_columns(n, paths, columns, row, metadata),
        Node::Field { field, op } => {
            let cell = columns.get(*field).and_then(Option::as_ref).and_then(|c| c.get(row));
            match cell.and_then(|&cell| decide(op, cell)) {
                Some(answer) => answer,
                None => eval_op(op, lookup(metadata, &paths[*field])),
            }
        }
    }
}

pub(super) fn lookup<'a>(metadata: Option<&'a Value>, path: &[String]) -> Option<&'a Value> {
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
