//! Per-field validation errors, gathered so a client learns every problem at once.

use std::collections::BTreeMap;

/// Why text carrying U+0000 is refused, for every field that takes text.
pub const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// The one rule every stored or searched text obeys on both backends:
/// no U+0000, which PostgreSQL cannot store in text and SQLite would keep
/// only to cut short in C strings.
pub fn storable(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        Err(NUL_REFUSED.to_owned())
    } else {
        Ok(())
    }
}

/// Field name → why it was refused. Empty means valid.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records why `field` was refused.
    pub fn add(&mut self, field: &str, why: impl Into<String>) {
        self.0.insert(field.to_owned(), why.into());
    }

    /// Keeps the parsed value on success, records the error otherwise.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(why) => {
                self.add(field, why);
                None
            }
        }
    }

    /// True when nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when valid, the errors otherwise.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}
