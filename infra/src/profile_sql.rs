//! Writes what administrators changed of devices (name, location, tags, disabled) to the
//! `devices` table; one statement for PostgreSQL and SQLite, which store these columns alike.

use watershed_domain::read_model::ProfileChange;
use watershed_domain::DeviceId;

/// Applies `changes` in order, after the delta's registrations.
pub async fn apply<DB>(
    conn: &mut DB::Connection,
    changes: &[(DeviceId, ProfileChange)],
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (device, change) in changes {
        let text = |l: &Option<watershed_domain::Label>| l.as_ref().map(ToString::to_string);
        let query = match change {
            ProfileChange::Name(name) => {
                sqlx::query::<DB>("UPDATE devices SET name = $1 WHERE device_id = $2")
                    .bind(text(name))
            }
            ProfileChange::Location(location) => {
                sqlx::query::<DB>("UPDATE devices SET location = $1 WHERE device_id = $2")
                    .bind(text(location))
            }
            ProfileChange::Tags(tags) => {
                sqlx::query::<DB>("UPDATE devices SET tags = $1 WHERE device_id = $2")
                    .bind(ProfileChange::joined_tags(tags))
            }
            ProfileChange::Disabled(at) => {
                sqlx::query::<DB>("UPDATE devices SET disabled_at_us = $1 WHERE device_id = $2")
                    .bind(at.map(|at| at.timestamp_micros()))
            }
        };
        query.bind(device.to_string()).execute(&mut *conn).await?;
    }
    Ok(())
}
