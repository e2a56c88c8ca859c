//! The generations record as both SQL adapters keep it: one row of JSON text, replaced only where
//! it still holds the text expected, so two rebuilds never overwrite each other's progress.

use watershed_domain::ports::ReadModelError;
use watershed_domain::Generations;

pub const RECORD_TABLE: &str = "read_model_generations";

/// Deterministic: the same record always encodes to the same text, which is what the
/// compare-and-replace compares.
pub fn encode(record: &Generations) -> String {
    serde_json::to_string(record).expect("the generations record serialises")
}

pub fn decode(text: &str) -> Result<Generations, ReadModelError> {
    serde_json::from_str(text).map_err(|e| {
        ReadModelError::Unavailable(format!(
            "the read-model generations record is unreadable: {e}"
        ))
    })
}
