//! Python values <-> the library's: JSON-like Python objects (dicts, lists, str, int, float,
//! bool, None) <-> `serde_json::Value`, nesting bounded so that hostile input cannot overflow
//! the stack; vectors through numpy (`float32`, C-contiguous) so that arrays pass without
//! copies.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::errors::invalid;

/// Deeper Python structures are refused (the library takes metadata 64 levels deep).
const MAX_DEPTH: usize = 100;

/// A JSON value from a Python object.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_json_at(obj, 0)
}

fn to_json_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!("a value nests deeper than {MAX_DEPTH} levels")));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(invalid("an integer beyond 64 bits cannot be stored; use a string"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| invalid(format!("{v} cannot be stored in JSON; use a finite number")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| invalid("dictionary keys must be strings"))?;
            map.insert(key.to_cow()?.into_owned(), to_json_at(&v, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return obj
            .try_iter()?
            .map(|item| to_json_at(&item?, depth + 1))
            .collect::<PyResult<_>>()
            .map(Value::Array);
    }
    // numpy scalars and other numbers.
    if obj.hasattr("__index__")? {
        return to_json_at(&obj.call_method0("__index__")?, depth);
    }
    if obj.hasattr("__float__")? {
        return to_json_at(&obj.call_method0("__float__")?.into_any(), depth);
    }
    Err(invalid(format!("a {} cannot be stored as JSON", obj.get_type().name()?)))
}

/// An optional JSON object from an optional Python object (`None` stays `None`).
pub fn to_json_opt(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Value>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => to_json(o).map(Some),
    }
}

/// A Python object from a JSON value.
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Vectors as a C-contiguous 2-D float32 numpy array: a float32 array passes as it is; lists
/// and other dtypes are converted once by numpy. A 1-D input is one row.
pub fn matrix<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<PyReadonlyArray2<'py, f32>> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", np.getattr("float32")?)?;
    let array = np
        .call_method("ascontiguousarray", (obj,), Some(&kwargs))
        .map_err(|e| invalid(format!("{what}: not an array of numbers ({e})")))?;
    let array = match array.getattr("ndim")?.extract::<usize>()? {
        1 => array.call_method1("reshape", (1, -1))?,
        2 => array,
        n => return Err(invalid(format!("{what}: a {n}-dimensional array; give one vector or a 2-D batch"))),
    };
    let array =
        array.cast_into::<PyArray2<f32>>().map_err(|_| invalid(format!("{what}: not a float32 array")))?;
    Ok(array.readonly())
}

/// The rows of a readonly 2-D array as slices (it is C-contiguous, see [`matrix`]).
pub fn rows<'a>(array: &'a PyReadonlyArray2<'_, f32>) -> PyResult<Vec<&'a [f32]>> {
    let cols = array.shape()[1];
    let data = array.as_slice().map_err(|_| invalid("vectors must be C-contiguous"))?;
    if cols == 0 {
        return Ok(vec![&data[..0]; array.shape()[0]]);
    }
    Ok(data.chunks_exact(cols).collect())
}

/// A numpy array owning `v` (no copy).
pub fn vector_out<'py>(py: Python<'py>, v: Vec<f32>) -> Bound<'py, PyArray1<f32>> {
    PyArray1::from_vec(py, v)
}
