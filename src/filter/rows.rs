//! A filter over every row at once, a column at a time: each condition settles 64 rows per
//! word from its field's scalar column, `$and`/`$or`/`$not` combine words, and only the rows no
//! column could settle (equal string hashes, arrays, paths without a column) read their JSON.
//! This is what makes a filtered search cost about what its matches cost: no per-row walk of
//! the filter tree, no per-row pointer chase into the metadata.

use serde_json::Value;

use super::column::{Column, decide_column};
use super::eval::eval_node_with_columns;
use super::{Node, Op};
use crate::bitmap::Bitmap;

/// Filters with more conditions than this are evaluated row by row instead (each condition
/// costs a pass over its column, and row-by-row evaluation stops at the first deciding one).
const MAX_COLUMN_PASSES: usize = 64;

/// Three-valued answers for every row: `yes` and `no` bits; a row in neither is unknown.
struct Answers {
    yes: Vec<u64>,
    no: Vec<u64>,
}

impl Answers {
    fn unknown(words: usize) -> Self {
        Self { yes: vec![0; words], no: vec![0; words] }
    }
}

/// The rows `0..rows` passing the filter `root`; `metadata(row)` is the row's JSON, read only
/// for rows the columns cannot settle.
pub(super) fn matching_rows<'m>(
    root: &Node,
    paths: &[Vec<String>],
    columns: &[Option<std::sync::Arc<Column>>],
    rows: usize,
    metadata: &dyn Fn(usize) -> Option<&'m Value>,
) -> Bitmap {
    let by_row = |row: usize| eval_node_with_columns(root, paths, columns, row, metadata(row));
    if conditions(root) > MAX_COLUMN_PASSES {
        let mut bits = Bitmap::new(rows);
        (0..rows).filter(|&r| by_row(r)).for_each(|r| bits.insert(r));
        return bits;
    }
    let answers = answer(root, columns, rows);
    let mut bits = Bitmap::from_words(rows, |w| answers.yes[w]);
    for (w, (&yes, &no)) in answers.yes.iter().zip(&answers.no).enumerate() {
        let mut unknown = !(yes | no);
        while unknown != 0 {
            let row = w * 64 + unknown.trailing_zeros() as usize;
            unknown &= unknown - 1;
            if row < rows && by_row(row) {
                bits.insert(row);
            }
        }
    }
    bits
}

/// Conditions in the tree (its leaves).
fn conditions(node: &Node) -> usize {
    match node {
        Node::And(nodes) | Node::Or(nodes) => nodes.iter().map(conditions).sum(),
        Node::Not(n) => conditions(n),
        Node::Field { .. } => 1,
    }
}

fn answer(node: &Node, columns: &[Option<std::sync::Arc<Column>>], rows: usize) -> Answers {
    let words = rows.div_ceil(64);
    match node {
        Node::And(nodes) | Node::Or(nodes) => {
            let and = matches!(node, Node::And(_));
            // `$and`: yes where every part says yes, no where any says no; `$or` the mirror.
            let mut acc = Answers {
                yes: vec![if and { !0 } else { 0 }; words],
                no: vec![if and { 0 } else { !0 }; words],
            };
            for part in nodes {
                let a = answer(part, columns, rows);
                for w in 0..words {
                    if and {
                        acc.yes[w] &= a.yes[w];
                        acc.no[w] |= a.no[w];
                    } else {
                        acc.yes[w] |= a.yes[w];
                        acc.no[w] &= a.no[w];
                    }
                }
            }
            acc
        }
        Node::Not(n) => {
            let a = answer(n, columns, rows);
            Answers { yes: a.no, no: a.yes }
        }
        Node::Field { field, op } => match columns.get(*field).and_then(Option::as_ref) {
            Some(column) if column.len() == rows => answer_column(op, column, words),
            _ => Answers::unknown(words),
        },
    }
}

fn answer_column(op: &Op, column: &Column, words: usize) -> Answers {
    let mut out = Answers::unknown(words);
    decide_column(op, column, &mut out.yes, &mut out.no);
    out
}
