//! The memory tools: their input types (which give the JSON Schemas clients see), their
//! descriptions and hints, and what each one does with the library. Everything here is
//! synchronous and transport-free; `super` runs it for stdio and HTTP sessions.
//!
//! Arguments are parsed here, not by the SDK, so that a bad argument (a misspelt field, a
//! negative `k`, a filter that does not parse) comes back as a tool error the model can read
//! and correct, never as a protocol error.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use rmcp::handler::server::common::{schema_for_output, schema_for_type};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Collection, CollectionConfig, CollectionInfo, Error, Expiry, Filter, HybridOptions, ListOptions,
    NewRecord, Result, SearchOptions, VectorLiteClient, format_rfc3339_ms, validate_collection_name,
};

/// Most memories one `recall` or `list_memories` call returns: a model reads every one.
pub const MAX_MEMORIES: usize = 100;

/// Memories `recall` returns unless told.
const DEFAULT_K: usize = 5;

/// Memories `list_memories` returns unless told.
const DEFAULT_LIMIT: usize = 20;

/// Most texts one `remember` call stores.
const MAX_TEXTS: usize = 1_000;

/// The memory tools over one database, with the collection used when a call names none.
#[derive(Debug, Clone)]
pub struct MemoryTools {
    /// Set once the database has opened (the server starts answering before that).
    client: Arc<OnceLock<Arc<VectorLiteClient>>>,
    default_collection: String,
}

impl MemoryTools {
    /// Tools over `client`; calls that name no collection use `default_collection` (created
    /// by the first `remember`). Fails if the name is not a valid collection name.
    pub fn new(client: Arc<VectorLiteClient>, default_collection: &str) -> Result<Self> {
        Self::opening(Arc::new(OnceLock::from(client)), default_collection)
    }

    /// Tools over a database that may still be opening: calls fail with a "recovering" tool
    /// error until `client` is set.
    pub(crate) fn opening(
        client: Arc<OnceLock<Arc<VectorLiteClient>>>,
        default_collection: &str,
    ) -> Result<Self> {
        validate_collection_name(default_collection)?;
        Ok(Self { client, default_collection: default_collection.to_owned() })
    }

    /// The collection used when a call names none.
    pub fn default_collection(&self) -> &str {
        &self.default_collection
    }

    /// Every tool: name, description, input and output schemas, and hints.
    pub fn list() -> Vec<Tool> {
        let hints = |read_only: bool, destructive: bool, idempotent: bool| {
            ToolAnnotations::new()
                .read_only(read_only)
                .destructive(destructive)
                .idempotent(idempotent)
                .open_world(false)
        };
        vec![
            tool::<RememberArgs, Remembered>(
                "remember",
                "Store one or more memories (facts, preferences, notes, results) as text, with optional metadata, for later recall.",
                hints(false, false, false),
            ),
            tool::<RecallArgs, Recalled>(
                "recall",
                "Find the stored memories most relevant to a query text, best first, optionally only those whose metadata matches a filter.",
                hints(true, false, true),
            ),
            tool::<ForgetArgs, Forgotten>(
                "forget",
                "Delete memories for good, by their ids or by a metadata filter; returns how many were removed.",
                hints(false, true, true),
            ),
            tool::<ListMemoriesArgs, Listed>(
                "list_memories",
                "List stored memories in the order they were stored, optionally only those whose metadata matches a filter, a page at a time.",
                hints(true, false, true),
            ),
            tool::<NoArgs, Collections>(
                "list_collections",
                "List the memory collections with how many memories each holds.",
                hints(true, false, true),
            ),
            tool::<CollectionArgs, Info>(
                "collection_info",
                "Describe one memory collection: its size, vector dimension, metric and index.",
                hints(true, false, true),
            ),
        ]
    }

    /// Runs tool `name` with `arguments` (blocking: embeds, searches, writes). `None` if no
    /// tool has that name. Every failure of the call itself is a tool error (`isError`) with
    /// the library's message.
    pub fn call(&self, name: &str, arguments: Option<JsonObject>) -> Option<CallToolResult> {
        let args = Value::Object(arguments.unwrap_or_default());
        let outcome = match name {
            "remember" => parse(args).and_then(|a| self.remember(a)),
            "recall" => parse(args).and_then(|a| self.recall(a)),
            "forget" => parse(args).and_then(|a| self.forget(a)),
            "list_memories" => parse(args).and_then(|a| self.list_memories(a)),
            "list_collections" => parse::<NoArgs>(args).and_then(|_| self.list_collections()),
            "collection_info" => parse(args).and_then(|a| self.collection_info(a)),
            _ => return None,
        };
        Some(outcome.unwrap_or_else(|message| CallToolResult::error(vec![ContentBlock::text(message)])))
    }

    fn client(&self) -> Result<&Arc<VectorLiteClient>, String> {
        self.client
            .get()
            .ok_or_else(|| "the database is recovering its log after a restart; retry shortly".to_owned())
    }

    /// The collection a call names, or the default one. `Ok(None)` for a default collection
    /// that does not exist yet (nothing remembered yet: reads find nothing); a named one that
    /// does not exist is an error.
    fn existing(&self, named: Option<&str>) -> Result<Option<(Collection, String)>, String> {
        let client = self.client()?;
        let name = named.unwrap_or(&self.default_collection);
        match client.collection(name) {
            Ok(c) => Ok(Some((c, name.to_owned()))),
            Err(Error::CollectionNotFound { .. }) if named.is_none() => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The collection to write to, created with the embedding model's dimension if missing.
    fn for_writing(&self, named: Option<&str>) -> Result<(Collection, String), String> {
        let client = self.client()?;
        let name = named.unwrap_or(&self.default_collection);
        let created = match client.collection(name) {
            Ok(c) => return Ok((c, name.to_owned())),
            Err(Error::CollectionNotFound { .. }) => {
                let embedder = client.embedder().ok_or_else(|| {
                    "this server has no embedding model, so it cannot store text".to_owned()
                })?;
                let dimension = embedder.dimension().map_err(|e| e.to_string())?;
                client.create_collection(name, CollectionConfig::new(dimension))
            }
            Err(e) => Err(e),
        };
        match created {
            Ok(c) => Ok((c, name.to_owned())),
            // Another call created it meanwhile.
            Err(Error::CollectionExists { .. }) => {
                Ok((client.collection(name).map_err(|e| e.to_string())?, name.to_owned()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn remember(&self, args: RememberArgs) -> Result<CallToolResult, String> {
        let texts = match args.text {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(ts) => ts,
        };
        if texts.is_empty() {
            return Err("text is an empty list; give at least one text to remember".into());
        }
        if texts.len() > MAX_TEXTS {
            return Err(format!("{} texts in one call; remember at most {MAX_TEXTS} at a time", texts.len()));
        }
        if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(format!("text {i} is empty; a memory needs some text"));
        }
        let metadata = per_text_metadata(args.metadata, texts.len())?;
        let expiry = args.ttl_seconds.map(Expiry::after_seconds).transpose().map_err(|e| e.to_string())?;
        let (c, name) = self.for_writing(args.collection.as_deref())?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = c.embed_for_storage(&refs).map_err(|e| e.to_string())?;
        let records = texts
            .into_iter()
            .zip(vectors)
            .zip(metadata)
            .map(|((text, vector), metadata)| NewRecord { vector, text: Some(text), metadata, expiry })
            .collect();
        let ids = c.add_batch(records).map_err(|e| e.to_string())?;
        let text = format!("Remembered {} in '{name}' (ids {}).", plural(ids.len(), "memory"), join(&ids));
        output(&Remembered { collection: name, ids }, text)
    }

    fn recall(&self, args: RecallArgs) -> Result<CallToolResult, String> {
        if args.query.trim().is_empty() {
            return Err("query is empty; give the text to search memories for".into());
        }
        let k = args.k.unwrap_or(DEFAULT_K as u64);
        if !(1..=MAX_MEMORIES as u64).contains(&k) {
            return Err(format!("k = {k} is out of range; use 1 to {MAX_MEMORIES}"));
        }
        let filter = parse_filter(args.filter.as_ref())?;
        if args.min_score.is_some_and(|s| !s.is_finite()) {
            return Err("min_score must be a finite number".into());
        }
        let Some((c, name)) = self.existing(args.collection.as_deref())? else {
            return output(
                &Recalled { collection: self.default_collection.clone(), memories: vec![] },
                nothing(),
            );
        };
        let mut options = SearchOptions::new(k as usize);
        if let Some(f) = filter {
            options = options.with_filter(f);
        }
        if let Some(s) = args.min_score {
            options = options.with_min_score(s);
        }
        let hits = match args.mode.as_deref().unwrap_or("vector") {
            "vector" => c.search_text(&args.query, &options),
            "keyword" => c.search_keyword(&args.query, &options),
            "hybrid" => c.search_hybrid(&args.query, None, &options, &HybridOptions::default()),
            other => return Err(format!("unknown mode '{other}'; use vector, keyword or hybrid")),
        }
        .map_err(|e| e.to_string())?;
        let memories: Vec<Memory> = hits
            .into_iter()
            .map(|h| Memory {
                id: h.id,
                text: h.text,
                metadata: h.metadata,
                score: Some(h.score),
                expires_at: None,
            })
            .collect();
        let text = if memories.is_empty() {
            nothing()
        } else {
            format!(
                "{} in '{name}', most relevant first:\n{}",
                plural(memories.len(), "memory"),
                render(&memories)
            )
        };
        output(&Recalled { collection: name, memories }, text)
    }

    fn forget(&self, args: ForgetArgs) -> Result<CallToolResult, String> {
        let filter = match (&args.ids, &args.filter) {
            (Some(_), Some(_)) => return Err("give ids or filter, not both".into()),
            (None, None) => {
                return Err("give the ids of the memories to forget, or a filter that selects them".into());
            }
            (None, Some(f)) if f.as_object().is_some_and(|m| m.is_empty()) => {
                return Err(
                    "an empty filter would forget every memory; give a filter that selects some".into()
                );
            }
            (_, f) => parse_filter(f.as_ref())?,
        };
        let Some((c, name)) = self.existing(args.collection.as_deref())? else {
            return output(
                &Forgotten { collection: self.default_collection.clone(), removed: 0 },
                plural_forgot(0),
            );
        };
        let removed = match (args.ids, filter) {
            (Some(ids), _) => c.delete_many(&ids),
            (None, Some(f)) => c.delete_where(&f),
            (None, None) => Ok(0),
        }
        .map_err(|e| e.to_string())?;
        output(&Forgotten { collection: name, removed }, plural_forgot(removed))
    }

    fn list_memories(&self, args: ListMemoriesArgs) -> Result<CallToolResult, String> {
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT as u64);
        if !(1..=MAX_MEMORIES as u64).contains(&limit) {
            return Err(format!("limit = {limit} is out of range; use 1 to {MAX_MEMORIES}"));
        }
        let offset = usize::try_from(args.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let filter = parse_filter(args.filter.as_ref())?;
        let Some((c, name)) = self.existing(args.collection.as_deref())? else {
            let empty = Listed {
                collection: self.default_collection.clone(),
                total: 0,
                memories: vec![],
                next_offset: None,
            };
            return output(&empty, "No memories stored yet.".into());
        };
        let total = c.count(filter.as_ref());
        let page = c
            .list(&ListOptions { filter, limit: limit as usize, offset, ..ListOptions::default() })
            .map_err(|e| e.to_string())?;
        let memories: Vec<Memory> = page
            .records
            .into_iter()
            .map(|r| Memory {
                id: r.id,
                text: r.text,
                metadata: r.metadata,
                score: None,
                expires_at: r.expires_at.map(format_rfc3339_ms),
            })
            .collect();
        let shown = offset.saturating_add(memories.len());
        let next_offset = (shown < total && !memories.is_empty()).then_some(shown as u64);
        let text = if memories.is_empty() {
            format!(
                "No memories {} in '{name}' ({total} match).",
                if offset > 0 { "at this offset" } else { "match" }
            )
        } else {
            format!("Memories {}-{shown} of {total} in '{name}':\n{}", offset + 1, render(&memories))
        };
        output(&Listed { collection: name, total, memories, next_offset }, text)
    }

    fn list_collections(&self) -> Result<CallToolResult, String> {
        let client = self.client()?;
        let collections: Vec<CollectionSummary> = client
            .list_collections()
            .into_iter()
            .filter_map(|name| client.collection(&name).ok())
            .map(|c| CollectionSummary {
                name: c.name().to_owned(),
                count: c.len(),
                dimension: c.config().dimension,
            })
            .collect();
        let text = if collections.is_empty() {
            "No collections yet.".to_owned()
        } else {
            let lines: Vec<String> =
                collections.iter().map(|c| format!("- {}: {}", c.name, plural(c.count, "memory"))).collect();
            format!("{}:\n{}", plural(collections.len(), "collection"), lines.join("\n"))
        };
        output(&Collections { collections, default_collection: self.default_collection.clone() }, text)
    }

    fn collection_info(&self, args: CollectionArgs) -> Result<CallToolResult, String> {
        let client = self.client()?;
        let name = args.collection.as_deref().unwrap_or(&self.default_collection);
        let info = Info::from(client.collection_info(name).map_err(|e| e.to_string())?);
        let text = format!(
            "'{}': {}, dimension {}, metric {}, {} vectors, about {} KiB in memory.",
            info.name,
            plural(info.count, "memory"),
            info.dimension,
            info.metric,
            info.vector_storage,
            info.memory_bytes / 1024
        );
        output(&info, text)
    }
}

/// A tool whose input is `I` and whose structured output is `O`.
fn tool<I: JsonSchema + 'static, O: JsonSchema + 'static>(
    name: &'static str,
    description: &'static str,
    annotations: ToolAnnotations,
) -> Tool {
    let mut tool = Tool::new(Cow::Borrowed(name), Cow::Borrowed(description), schema_for_type::<I>());
    tool.output_schema = Some(schema_for_output::<O>());
    tool.annotations = Some(annotations);
    tool
}

/// The arguments as `T`, or a message saying what is wrong with them.
fn parse<T: DeserializeOwned>(args: Value) -> Result<T, String> {
    serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))
}

/// A filter in the library's `where` language; `None` and `{}` mean "everything".
fn parse_filter(filter: Option<&Value>) -> Result<Option<Filter>, String> {
    match filter {
        None | Some(Value::Null) => Ok(None),
        Some(f) => Filter::parse(f).map(Some).map_err(|e| format!("invalid filter: {e}")),
    }
}

/// One metadata object for every text, a list with one per text, or none.
fn per_text_metadata(metadata: Option<Value>, n: usize) -> Result<Vec<Option<Value>>, String> {
    match metadata {
        None | Some(Value::Null) => Ok(vec![None; n]),
        Some(Value::Array(list)) if list.len() == n => {
            Ok(list.into_iter().map(|m| if m.is_null() { None } else { Some(m) }).collect())
        }
        Some(Value::Array(list)) => Err(format!(
            "metadata is a list of {} objects for {n} texts; give one per text, or one object for all",
            list.len()
        )),
        Some(m) => Ok(vec![Some(m); n]),
    }
}

/// A result with structured content `value` and the readable `text`.
fn output<T: Serialize>(value: &T, text: String) -> Result<CallToolResult, String> {
    let structured = serde_json::to_value(value).map_err(|e| format!("cannot encode the result: {e}"))?;
    let mut result = CallToolResult::structured(structured);
    result.content = vec![ContentBlock::text(text)];
    Ok(result)
}

/// One line per memory: id, score, text and metadata.
fn render(memories: &[Memory]) -> String {
    let lines: Vec<String> = memories
        .iter()
        .map(|m| {
            let mut line = format!("- [id {}", m.id);
            if let Some(s) = m.score {
                line.push_str(&format!(", score {s:.3}"));
            }
            line.push_str("] ");
            line.push_str(m.text.as_deref().unwrap_or("(no text)"));
            if let Some(meta) = &m.metadata {
                line.push_str(&format!(" {meta}"));
            }
            line
        })
        .collect();
    lines.join("\n")
}

fn nothing() -> String {
    "No memories matched.".to_owned()
}

fn plural_forgot(n: usize) -> String {
    format!("Forgot {}.", plural(n, "memory"))
}

/// "1 memory", "3 memories".
fn plural(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

fn join(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// One text, or several.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
enum OneOrMany {
    /// One memory.
    One(String),
    /// Several memories, stored separately.
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RememberArgs {
    /// What to remember: one text, or a list of texts stored as separate memories.
    text: OneOrMany,
    /// Metadata to recall and filter by later, a JSON object such as {"user": "ann", "topic": "travel"}; with a list of texts, one object for all or a list with one object per text.
    #[serde(default)]
    metadata: Option<Value>,
    /// Forget these memories automatically after this many seconds (default: keep them).
    #[serde(default)]
    ttl_seconds: Option<f64>,
    /// The collection to store in (default: the server's); created if missing.
    #[serde(default)]
    collection: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RecallArgs {
    /// What to look for, in natural language.
    query: String,
    /// How many memories to return, 1 to 100 (default 5).
    #[serde(default)]
    k: Option<u64>,
    /// Only memories whose metadata matches: {"user": "ann"}, {"year": {"$gte": 2024}}, {"tag": {"$in": ["a", "b"]}}, {"$or": [..]}, {"$and": [..]}.
    #[serde(default, alias = "where")]
    filter: Option<Value>,
    /// Only memories at least this similar to the query (cosine similarity, -1 to 1; 0.3 is loosely related, 0.6 closely).
    #[serde(default)]
    min_score: Option<f32>,
    /// How to match: "vector" (by meaning, the default), "keyword" (exact words, names, codes like ERR-4032) or "hybrid" (both).
    #[serde(default)]
    mode: Option<String>,
    /// The collection to search (default: the server's).
    #[serde(default)]
    collection: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ForgetArgs {
    /// The ids of the memories to forget (as returned by remember, recall or list_memories).
    #[serde(default)]
    ids: Option<Vec<u64>>,
    /// Forget every memory whose metadata matches this filter, e.g. {"session": "s1"}; not both ids and filter.
    #[serde(default, alias = "where")]
    filter: Option<Value>,
    /// The collection (default: the server's).
    #[serde(default)]
    collection: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListMemoriesArgs {
    /// Only memories whose metadata matches this filter, e.g. {"user": "ann"}.
    #[serde(default, alias = "where")]
    filter: Option<Value>,
    /// How many memories to return, 1 to 100 (default 20).
    #[serde(default)]
    limit: Option<u64>,
    /// Skip this many matching memories first (for the next page, pass the previous next_offset).
    #[serde(default)]
    offset: Option<u64>,
    /// The collection (default: the server's).
    #[serde(default)]
    collection: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CollectionArgs {
    /// The collection (default: the server's).
    #[serde(default)]
    collection: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// One memory as the tools return it.
#[derive(Debug, Serialize, JsonSchema)]
struct Memory {
    /// Its id, for forget.
    id: u64,
    /// What was remembered.
    text: Option<String>,
    /// Its metadata.
    metadata: Option<Value>,
    /// Similarity to the query (recall only), higher is closer.
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
    /// When it will be forgotten (RFC 3339), if it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Remembered {
    /// The collection written to.
    collection: String,
    /// The new memories' ids, in the order of the texts.
    ids: Vec<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Recalled {
    /// The collection searched.
    collection: String,
    /// The matches, most relevant first.
    memories: Vec<Memory>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Forgotten {
    /// The collection.
    collection: String,
    /// How many memories were removed.
    removed: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Listed {
    /// The collection.
    collection: String,
    /// How many memories match the filter in all.
    total: usize,
    /// This page, in the order they were stored.
    memories: Vec<Memory>,
    /// The offset of the next page, if there is one.
    next_offset: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct CollectionSummary {
    /// Its name.
    name: String,
    /// How many memories it holds.
    count: usize,
    /// Its vector dimension.
    dimension: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Collections {
    /// Every collection.
    collections: Vec<CollectionSummary>,
    /// The one used when a call names none.
    default_collection: String,
}

/// A collection as `collection_info` describes it.
#[derive(Debug, Serialize, JsonSchema)]
struct Info {
    /// Its name.
    name: String,
    /// How many memories it holds.
    count: usize,
    /// Its vector dimension.
    dimension: usize,
    /// How similarity is measured: cosine, dot, euclidean or manhattan.
    metric: String,
    /// The index and its parameters.
    index: Value,
    /// Approximate bytes it takes in memory.
    memory_bytes: usize,
    /// Memories written without an expiry are forgotten this many seconds later.
    #[serde(skip_serializing_if = "Option::is_none")]
    default_ttl_seconds: Option<u64>,
    /// How vectors are kept: f32, f16 or int8.
    vector_storage: String,
}

impl From<CollectionInfo> for Info {
    fn from(info: CollectionInfo) -> Self {
        Info {
            name: info.name,
            count: info.count,
            dimension: info.dimension,
            metric: info.metric.to_string(),
            index: serde_json::to_value(info.index).unwrap_or(Value::Null),
            memory_bytes: info.memory_bytes,
            default_ttl_seconds: info.default_ttl_seconds,
            vector_storage: info.vector_storage.to_string(),
        }
    }
}
