//! Path parameters as the OpenAPI document describes them, with the alphabet the handlers enforce,
//! so a generated client (or a fuzzer) knows which ids are well formed.

use serde::Deserialize;
use utoipa::IntoParams;

/// The `{device_id}` of every device route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DevicePath {
    /// 1–64 of `A-Z a-z 0-9 - _ . :`.
    #[param(pattern = r"^[A-Za-z0-9._:-]{1,64}$", min_length = 1, max_length = 64)]
    pub device_id: String,
}
