//! Alert rules for operators: the rules file imported at start (`file`), changes decided by the
//! rule book and appended to the rules stream (`stream`), and the admin API over them
//! (`routes`). The evaluators follow the stream (`watershed_projectors::rules`).

pub mod file;
pub mod routes;
pub mod stream;

pub use file::{load, parse};
pub use routes::{router, RuleState};
