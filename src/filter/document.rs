//! Document filters (Chroma's `where_document`): conditions on a record's text, `$contains`,
//! `$not_contains` and `$regex`, combined with `$and` / `$or`. Substring tests are
//! case-sensitive, as in Chroma; a record without text contains nothing.

use serde_json::Value;

use super::FilterError;

/// Longest `$regex` pattern accepted, in bytes.
const MAX_PATTERN: usize = 1_000;

/// Most memory a compiled `$regex` may take, so a pattern cannot blow up (the `regex` crate
/// matches in linear time; this bounds its automaton).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Most conditions (nodes) in one document filter.
const MAX_NODES: usize = 256;

/// A parsed document filter.
///
/// ```
/// use serde_json::json;
/// use vectorlite::DocumentFilter;
/// let f = DocumentFilter::parse(&json!({"$or": [{"$contains": "ERR-4032"}, {"$regex": "order #\\d+"}]}))?;
/// assert!(f.matches(Some("payment failed with ERR-4032")));
/// assert!(f.matches(Some("see order #77")));
/// assert!(!f.matches(Some("all good")) && !f.matches(None));
/// # Ok::<(), vectorlite::FilterError>(())
/// ```
#[derive(Debug, Clone)]
pub enum DocumentFilter {
    /// The text contains this substring.
    Contains(String),
    /// The text does not contain this substring (true for a record without text).
    NotContains(String),
    /// The text matches this regular expression somewhere.
    Regex(regex::Regex),
    /// Every condition holds.
    And(Vec<DocumentFilter>),
    /// At least one condition holds.
    Or(Vec<DocumentFilter>),
}

impl PartialEq for DocumentFilter {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Contains(a), Self::Contains(b)) | (Self::NotContains(a), Self::NotContains(b)) => a == b,
            (Self::Regex(a), Self::Regex(b)) => a.as_str() == b.as_str(),
            (Self::And(a), Self::And(b)) | (Self::Or(a), Self::Or(b)) => a == b,
            _ => false,
        }
    }
}

impl DocumentFilter {
    /// Parses `{"$contains": "..."}`, `{"$not_contains": "..."}`, `{"$regex": "..."}`,
    /// `{"$and": [...]}` or `{"$or": [...]}` (nested freely, up to 256 conditions).
    pub fn parse(json: &Value) -> Result<Self, FilterError> {
        let mut nodes = 0;
        parse_node(json, "", &mut nodes)
    }

    /// True when a record with this text passes.
    pub fn matches(&self, text: Option<&str>) -> bool {
        match self {
            Self::Contains(s) => text.is_some_and(|t| t.contains(s.as_str())),
            Self::NotContains(s) => !text.is_some_and(|t| t.contains(s.as_str())),
            Self::Regex(r) => text.is_some_and(|t| r.is_match(t)),
            Self::And(all) => all.iter().all(|f| f.matches(text)),
            Self::Or(any) => any.iter().any(|f| f.matches(text)),
        }
    }
}

fn error(path: &str, message: impl Into<String>) -> FilterError {
    FilterError { path: path.to_owned(), message: message.into() }
}

fn parse_node(json: &Value, path: &str, nodes: &mut usize) -> Result<DocumentFilter, FilterError> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(error(path, format!("more than {MAX_NODES} conditions")));
    }
    let Some(map) = json.as_object() else {
        return Err(error(path, "a document filter is an object such as {\"$contains\": \"text\"}"));
    };
    let [(op, arg)] = map.iter().collect::<Vec<_>>()[..] else {
        return Err(error(path, "give exactly one operator per object; combine them with $and / $or"));
    };
    let at = if path.is_empty() { op.clone() } else { format!("{path}.{op}") };
    let text = || arg.as_str().map(str::to_owned).ok_or_else(|| error(&at, "takes a string"));
    match op.as_str() {
        "$contains" => Ok(DocumentFilter::Contains(text()?)),
        "$not_contains" => Ok(DocumentFilter::NotContains(text()?)),
        "$regex" => {
            let pattern = text()?;
            if pattern.len() > MAX_PATTERN {
                return Err(error(&at, format!("the pattern is longer than {MAX_PATTERN} bytes")));
            }
            regex::RegexBuilder::new(&pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(DocumentFilter::Regex)
                .map_err(|e| error(&at, format!("invalid regular expression: {e}")))
        }
        "$and" | "$or" => {
            let Some(list) = arg.as_array().filter(|l| !l.is_empty()) else {
                return Err(error(&at, "takes a non-empty list of document filters"));
            };
            let parts = list
                .iter()
                .enumerate()
                .map(|(i, f)| parse_node(f, &format!("{at}[{i}]"), nodes))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if op == "$and" { DocumentFilter::And(parts) } else { DocumentFilter::Or(parts) })
        }
        other => Err(error(
            &at,
            format!("unknown operator {other}; use $contains, $not_contains, $regex, $and, $or"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn operators_and_combinations() {
        let f = DocumentFilter::parse(&json!({"$and": [{"$contains": "ERR"}, {"$not_contains": "ignored"}]}))
            .unwrap();
        assert!(f.matches(Some("ERR-1 raised")));
        assert!(!f.matches(Some("ERR-1 ignored")));
        assert!(!f.matches(Some("err-1 raised")), "case-sensitive");
        let r = DocumentFilter::parse(&json!({"$regex": "^ERR-\\d{4}$"})).unwrap();
        assert!(r.matches(Some("ERR-4032")) && !r.matches(Some("ERR-40")));
        assert!(DocumentFilter::parse(&json!({"$not_contains": "x"})).unwrap().matches(None));
    }

    #[test]
    fn bad_filters_name_their_place() {
        for (bad, at) in [
            (json!("x"), ""),
            (json!({}), ""),
            (json!({"$contains": 1}), "$contains"),
            (json!({"$regex": "("}), "$regex"),
            (json!({"$regex": "a{1000}{1000}"}), "$regex"),
            (json!({"$or": []}), "$or"),
            (json!({"$and": [{"$contains": "a"}, {"$like": "b"}]}), "$and[1].$like"),
            (json!({"$contains": "a", "$regex": "b"}), ""),
        ] {
            let e = DocumentFilter::parse(&bad).expect_err(&bad.to_string());
            assert_eq!(e.path, at, "{bad}: {e}");
        }
        let deep = (0..300).fold(json!({"$contains": "a"}), |f, _| json!({"$and": [f]}));
        assert!(DocumentFilter::parse(&deep).is_err(), "bounded size");
    }
}
