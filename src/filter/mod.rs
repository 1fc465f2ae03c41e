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
//!
//! Layout: `parse` turns JSON into the typed tree; `eval` evaluates it against a record's JSON;
//! `column` caches per-field scalar columns so a search rarely touches the JSON at all.

mod column;
mod document;
mod eval;
mod parse;
mod rows;

use std::cmp::Ordering;

use serde_json::Value;

use std::sync::Arc;

use self::column::Column;
pub(crate) use self::column::FieldColumns;
pub use self::document::DocumentFilter;

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
pub struct Filter {
    root: Node,
    /// Every distinct field path the filter reads; `Node::Field::field` indexes into it.
    paths: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Field { field: usize, op: Op },
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
        let mut paths = parse::Paths::default();
        let root = parse::parse_node(json, &parse::Crumb::ROOT, &mut paths)?;
        Ok(Filter { root, paths: paths.list })
    }

    /// True when the record's metadata (None = no metadata) passes the filter.
    pub fn matches(&self, metadata: Option<&Value>) -> bool {
        eval::eval_node(&self.root, &self.paths, metadata)
    }

    /// About how many bytes the filter holds (its paths and operands), so that caches can
    /// keep large filters out.
    pub(crate) fn approx_bytes(&self) -> usize {
        fn value(v: &Value) -> usize {
            16 + match v {
                Value::String(s) => s.len(),
                Value::Array(items) => items.iter().map(value).sum(),
                Value::Object(map) => map.iter().map(|(k, v)| k.len() + value(v)).sum(),
                _ => 0,
            }
        }
        fn op(o: &Op) -> usize {
            16 + match o {
                Op::Eq(v) | Op::Ne(v) | Op::Contains(v) => value(v),
                Op::In(list) | Op::Nin(list) => list.iter().map(value).sum(),
                Op::Cmp(_, _, Bound::String(s)) => s.len(),
                Op::Not(inner) => op(inner),
                Op::All(ops) => ops.iter().map(op).sum(),
                Op::Cmp(..) | Op::Exists(_) => 0,
            }
        }
        fn node(n: &Node) -> usize {
            16 + match n {
                Node::And(nodes) | Node::Or(nodes) => nodes.iter().map(node).sum(),
                Node::Not(inner) => node(inner),
                Node::Field { op: o, .. } => op(o),
            }
        }
        self.paths.iter().flatten().map(|p| 24 + p.len()).sum::<usize>() + node(&self.root)
    }
}

/// A filter bound to one store's column cache for the length of a search.
pub(crate) struct BoundFilter<'f> {
    filter: &'f Filter,
    columns: Vec<Option<Arc<Column>>>,
}

impl<'f> BoundFilter<'f> {
    pub(crate) fn new(filter: &'f Filter, columns: Vec<Option<Arc<Column>>>) -> Self {
        Self { filter, columns }
    }

    /// True when row `row`, whose metadata is `metadata`, passes the filter.
    #[inline]
    pub(crate) fn matches(&self, row: usize, metadata: Option<&Value>) -> bool {
        eval::eval_node_with_columns(&self.filter.root, &self.filter.paths, &self.columns, row, metadata)
    }

    /// Every row of `0..rows` that passes, settled a column at a time (see `rows`);
    /// `metadata(row)` is read only for rows the columns cannot settle.
    pub(crate) fn matching_rows<'m>(
        &self,
        rows: usize,
        metadata: &dyn Fn(usize) -> Option<&'m Value>,
    ) -> crate::bitmap::Bitmap {
        rows::matching_rows(&self.filter.root, &self.filter.paths, &self.columns, rows, metadata)
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
    fn column_assisted_evaluation_agrees_with_json_evaluation() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let seed = 99;
        let mut rng = StdRng::seed_from_u64(seed);
        let values = [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(1),
            json!(1.0),
            json!(2.5),
            json!(-3),
            json!(u64::MAX),
            json!("a"),
            json!("b"),
            json!("ab"),
            json!([1, "a"]),
            json!(["b"]),
            json!({"x": 1}),
        ];
        let pick = |rng: &mut StdRng| values[rng.random_range(0..values.len())].clone();
        let records: Vec<Option<Value>> = (0..300)
            .map(|i| {
                if i % 17 == 0 {
                    return None;
                }
                let mut m = serde_json::Map::new();
                for key in ["f", "g"] {
                    if rng.random_bool(0.8) {
                        m.insert(key.into(), pick(&mut rng));
                    }
                }
                m.insert("n".into(), json!({"f": pick(&mut rng)}));
                Some(Value::Object(m))
            })
            .collect();
        let ops = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains"];
        let store = FieldColumns::default();
        let condition = |rng: &mut StdRng, round: usize| {
            let field = ["f", "g", "n.f", "missing"][round % 4];
            let op = ops[rng.random_range(0..ops.len())];
            let operand = match op {
                "$in" | "$nin" => json!([pick(rng), pick(rng)]),
                "$exists" => json!(rng.random_bool(0.5)),
                "$gt" | "$gte" | "$lt" | "$lte" => {
                    [json!(1), json!(0.5), json!("a"), json!("b")][round % 4].clone()
                }
                "$contains" => [json!(1), json!("a"), json!("b"), json!(true)][round % 4].clone(),
                _ => pick(rng),
            };
            json!({ field: { op: operand } })
        };
        let mut compound = 0;
        for round in 0..600 {
            let one = condition(&mut rng, round);
            // A third are single conditions; the rest combine two (or three) with the
            // connectives, so the column-at-a-time three-valued logic is checked too.
            let json_filter = match round % 3 {
                0 => one,
                1 => json!({"$or": [one, condition(&mut rng, round + 1)]}),
                _ => json!({"$and": [one, {"$not": condition(&mut rng, round + 2)},
                                     {"$or": [condition(&mut rng, round + 3), {"f": {"$exists": false}}]}]}),
            };
            let Ok(filter) = Filter::parse(&json_filter) else { continue };
            compound += usize::from(round % 3 != 0);
            let columns = store.bind(&filter, || Box::new(records.iter().map(Option::as_ref)));
            let bound = BoundFilter { filter: &filter, columns };
            let bits = bound.matching_rows(records.len(), &|row| records[row].as_ref());
            for (row, md) in records.iter().enumerate() {
                let want = filter.matches(md.as_ref());
                assert_eq!(bound.matches(row, md.as_ref()), want, "{json_filter} on {md:?} (seed {seed})");
                assert_eq!(
                    bits.contains(row),
                    want,
                    "{json_filter} on {md:?}, a column at a time (seed {seed})"
                );
            }
        }
        assert!(compound >= 350, "only {compound} compound filters checked");
    }

    /// Regression (hardening issue, defect 5): paths were looked up in a list, so a filter
    /// with many distinct fields parsed in quadratic time (a 2 MB filter pinned a server
    /// thread for minutes). 200,000 distinct paths now parse in one pass.
    #[test]
    fn many_distinct_paths_parse_and_each_gets_one_number() {
        let fields: serde_json::Map<String, Value> =
            (0..200_000).map(|i| (format!("f{i}"), json!(i))).collect();
        let f = Filter::parse(&json!({"$or": [Value::Object(fields), {"f7": 7}]})).unwrap();
        assert_eq!(f.paths.len(), 200_000, "f7 is numbered once");
        assert!(f.matches(Some(&json!({"f7": 7}))));
        // Errors deep inside still name their place.
        let e = Filter::parse(&json!({"$and": [{"a": 1}, {"$or": [{"b": {"$gt": [1]}}]}]})).unwrap_err();
        assert_eq!(e.path, "$and[1].$or[0].b.$gt");
    }

    #[test]
    fn deeply_nested_operands_are_refused() {
        let mut v = json!(1);
        for _ in 0..100 {
            v = json!([v]);
        }
        assert!(Filter::parse(&json!({"a": {"$eq": v.clone()}})).is_err());
        assert!(Filter::parse(&json!({"a": {"$in": [v]}})).is_err());
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
