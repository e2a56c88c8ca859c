//! Tells a read model's transient failures (the server is down or busy, a lock timed out) from
//! permanent ones (the server refuses the data itself), so that projectors wait out the first and
//! hand the second to their error policy instead of retrying the same batch for ever.

use sqlx::error::{DatabaseError, ErrorKind};
use watershed_domain::ports::ReadModelError;

/// Classifies `e`; `refuses_data` tells a dialect's data errors by their code.
pub(crate) fn classify(
    e: sqlx::Error,
    refuses_data: fn(&dyn DatabaseError) -> bool,
) -> ReadModelError {
    let permanent = match &e {
        sqlx::Error::Database(db) => {
            matches!(
                db.kind(),
                ErrorKind::UniqueViolation
                    | ErrorKind::ForeignKeyViolation
                    | ErrorKind::NotNullViolation
                    | ErrorKind::CheckViolation
            ) || refuses_data(db.as_ref())
        }
        sqlx::Error::Encode(_) => true,
        _ => false,
    };
    if permanent {
        ReadModelError::Rejected(e.to_string())
    } else {
        ReadModelError::Unavailable(e.to_string())
    }
}

/// PostgreSQL's class 22, data exception: out of range, overflow, invalid text.
pub(crate) fn postgres_refuses_data(db: &dyn DatabaseError) -> bool {
    db.code().is_some_and(|code| code.starts_with("22"))
}

/// SQLite's TOOBIG (18), MISMATCH (20) and RANGE (25), by primary result code.
pub(crate) fn sqlite_refuses_data(db: &dyn DatabaseError) -> bool {
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 18 | 20 | 25))
}
