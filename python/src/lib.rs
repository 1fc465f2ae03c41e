//! `vectorlite._vectorlite`: the in-process Python binding of the vectorlite library. A thin
//! skin: it converts Python values (lists, dicts, numpy arrays) to the library's types, calls
//! the library with the GIL released, and converts the answers back. Errors become the
//! exceptions of `vectorlite.errors`, chosen by the library's error code.

// Python methods take their options as keyword arguments, one Rust parameter each; bundling
// them into a struct would only move the list.
#![allow(clippy::too_many_arguments)]

mod client;
mod collection;
mod convert;
mod embed;
mod errors;
mod types;

use pyo3::prelude::*;

/// The native module; `vectorlite/__init__.py` re-exports what users need.
#[pymodule]
fn _vectorlite(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<collection::Collection>()?;
    m.add_class::<types::Record>()?;
    m.add_class::<types::QueryResult>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
