//! Text calls: embed with the attached model (outside every lock), then store or search the
//! vectors. A collection remembers the model that filled it and refuses a different one.

use std::sync::Arc;

use serde_json::Value;

use super::{Collection, NewRecord, Record, SearchOptions, SearchResult};
use crate::embed::{EmbeddingFunction, same_model};
use crate::error::{Error, Result};
use crate::persist::oplog::Change;

impl Collection {
    /// Attaches (or detaches) the embedder used by the text calls.
    pub fn set_embedder(&self, embedder: Option<Arc<dyn EmbeddingFunction>>) {
        *self.inner.embedder.write() = embedder;
    }

    /// The model id the collection's text vectors came from, once text was added.
    pub fn embedding_model(&self) -> Option<String> {
        self.inner.state.read().embedding_model.clone()
    }

    /// Embeds `text` and adds it with `metadata`; returns the new id.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vectorlite::{CollectionConfig, HashEmbedder, SearchOptions, VectorLiteClient};
    /// let client = VectorLiteClient::with_embedder(Arc::new(HashEmbedder::new(64)));
    /// let notes = client.create_collection("notes", CollectionConfig::new(64))?;
    /// notes.add_text("the cat sat on the mat", None)?;
    /// notes.add_text("stock prices fell sharply", None)?;
    /// let hits = notes.search_text("a cat on a mat", &SearchOptions::new(1))?;
    /// assert_eq!(hits[0].text.as_deref(), Some("the cat sat on the mat"));
    /// # Ok::<(), vectorlite::Error>(())
    /// ```
    pub fn add_text(&self, text: &str, metadata: Option<Value>) -> Result<u64> {
        Ok(self.add_texts(vec![(text.to_owned(), metadata)])?[0])
    }

    /// Embeds many texts in one batched call and adds them; ids in order. All or nothing.
    pub fn add_texts(&self, items: Vec<(String, Option<Value>)>) -> Result<Vec<u64>> {
        let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
        let vectors = self.embed_for_storage(&texts)?;
        let records = items
            .into_iter()
            .zip(vectors)
            .map(|((text, metadata), vector)| NewRecord { vector, text: Some(text), metadata, expiry: None })
            .collect();
        self.add_batch(records)
    }

    /// Embeds many texts in one batched call and inserts or replaces them under the given ids.
    /// All or nothing.
    pub fn upsert_texts(&self, items: Vec<(u64, String, Option<Value>)>) -> Result<()> {
        let texts: Vec<&str> = items.iter().map(|(_, t, _)| t.as_str()).collect();
        let vectors = self.embed_for_storage(&texts)?;
        let records = items
            .into_iter()
            .zip(vectors)
            .map(|((id, text, metadata), vector)| Record {
                id,
                vector,
                text: Some(text),
                metadata,
                ..Record::default()
            })
            .collect();
        self.upsert_batch(records)
    }

    /// Embeds texts that are about to be stored with the attached embedder (one batched call),
    /// and records the model as the collection's, so that later text calls are checked
    /// against it. Build records from the vectors and write them with any write call.
    pub fn embed_for_storage(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let (vectors, model_id) = self.embed_texts(texts)?;
        // The model first: a crash between the two leaves a model guard without records, never
        // records without their guard.
        self.remember_model(model_id)?;
        Ok(vectors)
    }

    /// One vector per text from the attached embedder, and the model's id.
    fn embed_texts(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, String)> {
        let embedder = self.text_embedder()?;
        let vectors = embedder.embed_batch(texts)?;
        if vectors.len() != texts.len() {
            return Err(Error::Embedding {
                message: format!("{} vectors for {} texts", vectors.len(), texts.len()),
            });
        }
        Ok((vectors, embedder.model_id()?))
    }

    /// One query vector per text, from the attached embedder (checked against the collection).
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.embed_texts(texts)?.0)
    }

    /// Embeds `query` and searches with it; filters and options work as for vectors.
    pub fn search_text(&self, query: &str, options: &SearchOptions) -> Result<Vec<SearchResult>> {
        let embedder = self.text_embedder()?;
        let vector = embedder.embed(query)?;
        self.search(&vector, options)
    }

    /// The attached embedder, checked against the collection's dimension and model.
    fn text_embedder(&self) -> Result<Arc<dyn EmbeddingFunction>> {
        let embedder = self
            .inner
            .embedder
            .read()
            .clone()
            .ok_or_else(|| Error::NoEmbedder { collection: self.name().into() })?;
        let (model_id, dimension) = (embedder.model_id()?, embedder.dimension()?);
        let found = describe(&model_id, dimension);
        let mismatch = |expected: String| Error::EmbedderMismatch {
            collection: self.name().into(),
            expected,
            found: found.clone(),
        };
        if dimension != self.config().dimension {
            return Err(mismatch(format!("dimension {}", self.config().dimension)));
        }
        if let Some(model) = self.embedding_model()
            && !same_model(&model, &model_id)
        {
            return Err(mismatch(describe(&model, self.config().dimension)));
        }
        Ok(embedder)
    }

    /// Records the model the collection's text vectors come from, the first time.
    fn remember_model(&self, model_id: String) -> Result<()> {
        self.commit(|state| {
            let change = state.embedding_model.is_none().then_some(Change::Model { model: model_id });
            Ok((change, ()))
        })
    }
}

fn describe(model: &str, dimension: usize) -> String {
    format!("model '{model}' ({dimension} dimensions)")
}
