//! Collection configuration: dimension, similarity metric and index type. Plain serde data with
//! defaults; validation lives here so every entry point checks the same rules.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fulltext::TextConfig;

/// The largest dimension a collection accepts.
pub const MAX_DIMENSION: usize = 65_536;

/// The largest `k` (and HNSW `ef`) a search accepts.
pub const MAX_K: usize = 10_000;

/// The most bytes one record's text, or its metadata as JSON, may take: the snapshot format's
/// per-entry limit, checked on every write so that everything accepted can be saved and read back.
pub const MAX_ENTRY_BYTES: usize = 64 << 20;

/// The deepest nesting of arrays and objects accepted in metadata (JSON readers refuse deeper
/// documents, and recursive code must not overflow the stack on them).
pub const MAX_METADATA_DEPTH: usize = 64;

/// How two vectors are compared. Scores are always "higher is better":
///
/// | metric | score |
/// |---|---|
/// | `Cosine` | cosine similarity in [-1, 1] (vectors are stored L2-normalised) |
/// | `DotProduct` | inner product |
/// | `Euclidean` | negated L2 distance |
/// | `Manhattan` | negated L1 distance |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SimilarityMetric {
    /// Cosine similarity; zero vectors are rejected.
    #[default]
    #[serde(alias = "Cosine")]
    Cosine,
    /// Euclidean (L2) distance, negated.
    #[serde(alias = "Euclidean", alias = "l2")]
    Euclidean,
    /// Inner product.
    #[serde(rename = "dot", alias = "DotProduct", alias = "dotproduct", alias = "dot_product")]
    DotProduct,
    /// Manhattan (L1) distance, negated.
    #[serde(alias = "Manhattan", alias = "l1")]
    Manhattan,
}

/// How a collection keeps its vectors in memory and on disk, chosen at creation.
///
/// | storage | bytes per value | searches read | scores |
/// |---|---|---|---|
/// | `f32` | 4 | the vectors | exact |
/// | `f16` | 2 | half floats, widened on the fly | within f16 rounding (about 3 decimal digits) |
/// | `int8` | 1 (+4 with `rescore`) | one byte per value, per-dimension ranges | exact after rescoring, else approximate |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VectorStorage {
    /// Full precision.
    #[default]
    F32,
    /// IEEE half precision: half the memory; values must lie within +-65,504.
    F16,
    /// Scalar quantisation: each value becomes a byte within its dimension's range, learned from
    /// the data (and widened, re-encoding the rows, when a new vector falls outside it).
    Int8,
}

impl std::str::FromStr for VectorStorage {
    type Err = Error;

    /// `f32`, `f16` or `int8`, in any case (`float32`, `float16`, `half` and `i8` too).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(Self::F32),
            "f16" | "float16" | "half" => Ok(Self::F16),
            "int8" | "i8" => Ok(Self::Int8),
            _ => {
                Err(invalid("vector_storage", format!("'{s}' is not a vector storage; use f32, f16 or int8")))
            }
        }
    }
}

impl std::fmt::Display for VectorStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Int8 => "int8",
        })
    }
}

/// HNSW graph parameters (Malkov & Yashunin 2016).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct HnswParams {
    /// Links per node on the upper layers; layer 0 keeps `2 * m`. Default 16.
    pub m: usize,
    /// Beam width while building; higher builds a better graph, slower. Default 200.
    pub ef_construction: usize,
    /// Default beam width while searching (overridable per query); clamped up to `k`.
    /// Default 48, which reaches recall@10 >= 0.95 on the benchmark data.
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self { m: 16, ef_construction: 200, ef_search: 48 }
    }
}

/// The index a collection searches with. In JSON: `{"type": "hnsw", "m": 16,
/// "ef_construction": 200, "ef_search": 48}` or `{"type": "flat"}` (the forms `"flat"`,
/// `"hnsw"`, `"Flat"` and `{"HNSW": {...}}` of older files and requests are read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexType {
    /// Exact brute-force scan: perfect recall, linear time.
    Flat,
    /// Approximate search over a hierarchical navigable small-world graph.
    HNSW(HnswParams),
}

/// The JSON shape of [`IndexType`].
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename = "Index")]
struct IndexJson {
    /// `flat` or `hnsw`.
    #[serde(rename = "type")]
    kind: String,
    /// HNSW only: links per node on the upper layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<usize>,
    /// HNSW only: beam width while building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ef_construction: Option<usize>,
    /// HNSW only: default beam width while searching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ef_search: Option<usize>,
}

impl Serialize for IndexType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let json = match self {
            IndexType::Flat => {
                IndexJson { kind: "flat".into(), m: None, ef_construction: None, ef_search: None }
            }
            IndexType::HNSW(p) => IndexJson {
                kind: "hnsw".into(),
                m: Some(p.m),
                ef_construction: Some(p.ef_construction),
                ef_search: Some(p.ef_search),
            },
        };
        json.serialize(s)
    }
}

impl<'de> Deserialize<'de> for IndexType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        /// Every shape an index has had.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            Tagged(IndexJson),
            Name(String),
            Legacy(Legacy),
        }
        #[derive(Deserialize)]
        enum Legacy {
            Flat,
            #[serde(rename = "HNSW")]
            Hnsw(HnswParams),
        }
        let bad =
            |what: String| serde::de::Error::custom(format!("{what} is not an index; use flat or hnsw"));
        match Any::deserialize(d)? {
            Any::Legacy(Legacy::Flat) => Ok(IndexType::Flat),
            Any::Legacy(Legacy::Hnsw(p)) => Ok(IndexType::HNSW(p)),
            Any::Name(name) => name.parse().map_err(|_| bad(format!("'{name}'"))),
            Any::Tagged(j) => match j.kind.to_ascii_lowercase().as_str() {
                "flat" => Ok(IndexType::Flat),
                "hnsw" => {
                    let d = HnswParams::default();
                    Ok(IndexType::HNSW(HnswParams {
                        m: j.m.unwrap_or(d.m),
                        ef_construction: j.ef_construction.unwrap_or(d.ef_construction),
                        ef_search: j.ef_search.unwrap_or(d.ef_search),
                    }))
                }
                other => Err(bad(format!("'{other}'"))),
            },
        }
    }
}

#[cfg(feature = "server")]
impl utoipa::PartialSchema for IndexType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <IndexJson as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "server")]
impl utoipa::ToSchema for IndexType {
    fn name() -> std::borrow::Cow<'static, str> {
        "Index".into()
    }
}

impl Default for IndexType {
    fn default() -> Self {
        IndexType::HNSW(HnswParams::default())
    }
}

impl std::str::FromStr for SimilarityMetric {
    type Err = Error;

    /// `cosine`, `euclidean` (or `l2`), `dot` (or `dot_product`, `dotproduct`, `ip`),
    /// `manhattan` (or `l1`), in any case: the names the server, the CLI and the JSON accept.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" => Ok(Self::Cosine),
            "euclidean" | "l2" => Ok(Self::Euclidean),
            "dot" | "dot_product" | "dotproduct" | "ip" => Ok(Self::DotProduct),
            "manhattan" | "l1" => Ok(Self::Manhattan),
            _ => Err(invalid(
                "metric",
                format!("'{s}' is not a metric; use cosine, euclidean, dot or manhattan"),
            )),
        }
    }
}

impl std::fmt::Display for SimilarityMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cosine => "cosine",
            Self::Euclidean => "euclidean",
            Self::DotProduct => "dot",
            Self::Manhattan => "manhattan",
        })
    }
}

impl std::str::FromStr for IndexType {
    type Err = Error;

    /// `flat` or `hnsw` (with default parameters), in any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "flat" => Ok(Self::Flat),
            "hnsw" => Ok(Self::default()),
            _ => Err(invalid("index", format!("'{s}' is not an index type; use flat or hnsw"))),
        }
    }
}

impl IndexType {
    /// The lower-case name: `flat` or `hnsw`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Flat => "flat",
            Self::HNSW(_) => "hnsw",
        }
    }
}

/// Everything fixed at collection creation.
///
/// ```
/// use vectorlite::{CollectionConfig, IndexType, SimilarityMetric};
/// let config = CollectionConfig::new(384)
///     .with_metric(SimilarityMetric::Euclidean)
///     .with_index(IndexType::Flat);
/// assert_eq!(config.dimension, 384);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// Length of every vector, 1 to [`MAX_DIMENSION`].
    pub dimension: usize,
    /// Similarity metric; default cosine.
    #[serde(default)]
    pub metric: SimilarityMetric,
    /// Index type; default HNSW with [`HnswParams::default`].
    #[serde(default)]
    pub index: IndexType,
    /// Records written without an expiry expire this many seconds after they are written
    /// (`None`: never). See [`crate::NewRecord::expiry`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_ttl_seconds: Option<u64>,
    /// How record text is analysed and scored for keyword search.
    #[serde(default, skip_serializing_if = "TextConfig::is_default")]
    pub text: TextConfig,
    /// How vectors are kept; default `f32`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub vector_storage: VectorStorage,
    /// `int8` only: also keep every vector at full precision (4 bytes per value more) and
    /// rescore the candidates of each search with it, so results and scores are exact.
    /// Default true; ignored by `f32` and `f16`.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub rescore: bool,
    /// Keep the full-precision rows (`f32`, or `int8` with `rescore`) in a memory-mapped file
    /// instead of RAM; the OS pages them in as searches read them. With `int8` a search reads
    /// only its few dozen candidates from it, so the graph walk stays in RAM over the codes.
    /// The file lives in a durable database's data directory, else in the system's temporary
    /// directory (`TMPDIR`), and is removed by the OS when the collection goes. Default false.
    #[serde(default, skip_serializing_if = "is_default")]
    pub on_disk: bool,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Serde's default for flags that are on unless turned off (one home for every such field).
pub(crate) fn yes() -> bool {
    true
}

fn is_true(v: &bool) -> bool {
    *v
}

impl CollectionConfig {
    /// A config with the given dimension, cosine metric and default HNSW.
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension,
            metric: SimilarityMetric::default(),
            index: IndexType::default(),
            default_ttl_seconds: None,
            text: TextConfig::default(),
            vector_storage: VectorStorage::F32,
            rescore: true,
            on_disk: false,
        }
    }

    /// Sets how vectors are kept, and for `int8` whether full-precision copies are kept for
    /// rescoring.
    pub fn with_storage(mut self, storage: VectorStorage, rescore: bool) -> Self {
        self.vector_storage = storage;
        self.rescore = rescore;
        self
    }

    /// Keeps the full-precision rows in a memory-mapped file (see [`on_disk`](Self::on_disk)).
    pub fn with_rows_on_disk(mut self, on_disk: bool) -> Self {
        self.on_disk = on_disk;
        self
    }

    /// True when the store keeps every vector at full precision (`f32`, or `int8` with
    /// `rescore`).
    pub(crate) fn keeps_f32(&self) -> bool {
        match self.vector_storage {
            VectorStorage::F32 => true,
            VectorStorage::F16 => false,
            VectorStorage::Int8 => self.rescore,
        }
    }

    /// Sets the default time to live of records written without an expiry.
    pub fn with_default_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.default_ttl_seconds = Some(ttl.as_secs());
        self
    }

    /// Replaces the metric.
    pub fn with_metric(mut self, metric: SimilarityMetric) -> Self {
        self.metric = metric;
        self
    }

    /// Sets how text is analysed and scored for keyword search.
    pub fn with_text(mut self, text: TextConfig) -> Self {
        self.text = text;
        self
    }

    /// Replaces the index type.
    pub fn with_index(mut self, index: IndexType) -> Self {
        self.index = index;
        self
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        if let Some(problem) = self.text.problem() {
            return Err(invalid("text", problem));
        }
        if self.default_ttl_seconds == Some(0) {
            return Err(invalid(
                "default_ttl_seconds",
                "0 would expire every record at once; use at least 1".into(),
            ));
        }
        if self.dimension == 0 || self.dimension > MAX_DIMENSION {
            return Err(invalid("dimension", format!("{} is not in 1..={MAX_DIMENSION}", self.dimension)));
        }
        if self.vector_storage == VectorStorage::Int8 && self.metric == SimilarityMetric::Manhattan {
            return Err(invalid(
                "vector_storage",
                "int8 storage supports the cosine, dot and euclidean metrics, not manhattan".into(),
            ));
        }
        if self.on_disk && !self.keeps_f32() {
            return Err(invalid(
                "on_disk",
                format!(
                    "{} storage{} keeps no full-precision rows to put on disk",
                    self.vector_storage,
                    if self.vector_storage == VectorStorage::Int8 { " without rescore" } else { "" }
                ),
            ));
        }
        if let IndexType::HNSW(p) = self.index {
            if !(2..=128).contains(&p.m) {
                return Err(invalid("m", format!("{} is not in 2..=128", p.m)));
            }
            if !(1..=4096).contains(&p.ef_construction) {
                return Err(invalid("ef_construction", format!("{} is not in 1..=4096", p.ef_construction)));
            }
            if !(1..=MAX_K).contains(&p.ef_search) {
                return Err(invalid("ef_search", format!("{} is not in 1..={MAX_K}", p.ef_search)));
            }
        }
        Ok(())
    }
}

pub(crate) fn invalid(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

/// Checks a collection name against `[A-Za-z0-9_-]{1,64}` ([`Error::InvalidCollectionName`]
/// otherwise); names double as file names later.
pub fn validate_collection_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(Error::InvalidCollectionName { name: name.to_owned() }) }
}

/// Checks a record's metadata: a JSON object (`null` means none), nested at most
/// [`MAX_METADATA_DEPTH`] deep and at most [`MAX_ENTRY_BYTES`] as JSON.
pub(crate) fn check_metadata(metadata: Option<serde_json::Value>) -> Result<Option<serde_json::Value>> {
    use serde_json::Value;
    let object = match metadata {
        None | Some(Value::Null) => return Ok(None),
        Some(v @ Value::Object(_)) => v,
        Some(other) => {
            return Err(Error::InvalidMetadata {
                found: match other {
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    Value::String(_) => "a string",
                    _ => "an array",
                },
            });
        }
    };
    if json_depth(&object) > MAX_METADATA_DEPTH {
        return Err(invalid("metadata", format!("nests deeper than {MAX_METADATA_DEPTH} levels")));
    }
    let bytes = json_len(&object);
    if bytes > MAX_ENTRY_BYTES {
        return Err(invalid("metadata", format!("is {bytes} bytes as JSON, more than {MAX_ENTRY_BYTES}")));
    }
    Ok(Some(object))
}

/// Checks a record's text against [`MAX_ENTRY_BYTES`].
pub(crate) fn check_text(text: &Option<String>) -> Result<()> {
    match text {
        Some(t) if t.len() > MAX_ENTRY_BYTES => {
            Err(invalid("text", format!("is {} bytes, more than {MAX_ENTRY_BYTES}", t.len())))
        }
        _ => Ok(()),
    }
}

/// Nesting depth of a JSON value (a scalar is 0, `{}` and `[]` are 1), without recursion so a
/// hostile value cannot overflow the stack.
pub(crate) fn json_depth(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(depth + 1);
                stack.extend(items.iter().map(|x| (x, depth + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(depth + 1);
                stack.extend(map.values().map(|x| (x, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// Bytes of `v` as compact JSON, counted without building the string.
fn json_len(v: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_allowed_alphabet() {
        for good in ["a", "memories_2024", "A-b_c", &"x".repeat(64)] {
            assert!(validate_collection_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "../x", "é", "a.b", &"x".repeat(65)] {
            assert!(
                matches!(validate_collection_name(bad), Err(Error::InvalidCollectionName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn config_ranges_are_checked() {
        assert!(CollectionConfig::new(384).validate().is_ok());
        assert!(CollectionConfig::new(0).validate().is_err());
        assert!(CollectionConfig::new(MAX_DIMENSION + 1).validate().is_err());
        let bad_m = IndexType::HNSW(HnswParams { m: 1, ..Default::default() });
        assert!(CollectionConfig::new(8).with_index(bad_m).validate().is_err());
        let bad_ef = IndexType::HNSW(HnswParams { ef_search: 0, ..Default::default() });
        assert!(CollectionConfig::new(8).with_index(bad_ef).validate().is_err());
    }

    #[test]
    fn metric_and_index_names_parse_from_text() {
        for (text, metric) in [
            ("cosine", SimilarityMetric::Cosine),
            ("L2", SimilarityMetric::Euclidean),
            ("Euclidean", SimilarityMetric::Euclidean),
            ("dot", SimilarityMetric::DotProduct),
            ("ip", SimilarityMetric::DotProduct),
            ("manhattan", SimilarityMetric::Manhattan),
        ] {
            assert_eq!(text.parse::<SimilarityMetric>().unwrap(), metric, "{text}");
            assert_eq!(metric.to_string().parse::<SimilarityMetric>().unwrap(), metric);
        }
        assert!("hamming".parse::<SimilarityMetric>().is_err());
        assert_eq!("FLAT".parse::<IndexType>().unwrap(), IndexType::Flat);
        assert_eq!("hnsw".parse::<IndexType>().unwrap(), IndexType::default());
        assert!("ivf".parse::<IndexType>().is_err());
    }

    #[test]
    fn metadata_is_checked_for_shape_depth_and_size() {
        use serde_json::json;
        assert_eq!(check_metadata(None).unwrap(), None);
        assert_eq!(check_metadata(Some(json!(null))).unwrap(), None);
        assert!(check_metadata(Some(json!({"a": [1, {"b": 2}]}))).is_ok());
        assert!(matches!(check_metadata(Some(json!([1]))), Err(Error::InvalidMetadata { .. })));
        let mut deep = json!(1);
        for _ in 0..MAX_METADATA_DEPTH {
            deep = json!([deep]);
        }
        assert!(check_metadata(Some(json!({"x": deep.clone()}))).is_err(), "one level too deep");
        assert!(check_metadata(Some(json!({"x": deep[0].clone()}))).is_ok(), "exactly at the limit");
        let big = "x".repeat(MAX_ENTRY_BYTES);
        assert!(check_metadata(Some(json!({ "t": big.clone() }))).is_err());
        assert!(check_text(&Some(big.clone())).is_ok());
        assert!(check_text(&Some(big + "y")).is_err());
    }

    #[test]
    fn metric_names_parse_from_json() {
        let m: SimilarityMetric = serde_json::from_str("\"dot\"").unwrap();
        assert_eq!(m, SimilarityMetric::DotProduct);
        let m: SimilarityMetric = serde_json::from_str("\"Euclidean\"").unwrap();
        assert_eq!(m, SimilarityMetric::Euclidean);
        let c: CollectionConfig = serde_json::from_str(r#"{"dimension": 3}"#).unwrap();
        assert_eq!(c, CollectionConfig::new(3));
    }

    #[test]
    fn index_types_read_every_shape_they_have_had_and_write_the_tagged_one() {
        let hnsw = IndexType::HNSW(HnswParams { m: 8, ef_construction: 100, ef_search: 32 });
        let json = serde_json::to_value(hnsw).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "hnsw", "m": 8, "ef_construction": 100, "ef_search": 32})
        );
        assert_eq!(serde_json::from_value::<IndexType>(json).unwrap(), hnsw);
        assert_eq!(serde_json::to_value(IndexType::Flat).unwrap(), serde_json::json!({"type": "flat"}));
        for (old, want) in [
            (serde_json::json!("Flat"), IndexType::Flat),
            (serde_json::json!("flat"), IndexType::Flat),
            (serde_json::json!({"HNSW": {"m": 8, "ef_construction": 100, "ef_search": 32}}), hnsw),
            (serde_json::json!({"type": "HNSW", "m": 8, "ef_construction": 100, "ef_search": 32}), hnsw),
            (serde_json::json!({"type": "hnsw"}), IndexType::default()),
        ] {
            assert_eq!(serde_json::from_value::<IndexType>(old.clone()).unwrap(), want, "{old}");
        }
        assert!(serde_json::from_value::<IndexType>(serde_json::json!({"type": "ivf"})).is_err());
    }
}
