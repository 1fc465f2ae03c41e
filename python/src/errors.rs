//! Library errors as Python exceptions: `vectorlite.errors.error_for_code` picks the class
//! (a `VectorLiteError` that is also a `KeyError`, `ValueError` ... where that fits) from the
//! library's error code, so the native client and `HttpClient` raise the same classes.

use pyo3::prelude::*;

/// The Python exception for a library error.
pub fn to_py(e: vectorlite::Error) -> PyErr {
    raise(e.code().name(), e.to_string())
}

/// The Python exception for an error code and message.
pub fn raise(code: String, message: String) -> PyErr {
    Python::attach(|py| {
        let made = py
            .import("vectorlite.errors")
            .and_then(|m| m.getattr("error_for_code"))
            .and_then(|f| f.call1((code, message.clone())));
        match made {
            Ok(exception) => PyErr::from_value(exception),
            Err(e) => e,
        }
    })
}

/// An invalid-input error raised from the binding itself (a Python-side argument problem).
pub fn invalid(message: impl Into<String>) -> PyErr {
    raise("invalid_parameter".into(), message.into())
}

/// `Result` with library errors turned into Python exceptions.
pub trait IntoPy<T> {
    /// Converts the error.
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for vectorlite::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
