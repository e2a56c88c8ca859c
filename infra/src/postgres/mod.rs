//! Cloud-mode storage on PostgreSQL: the read models the projectors build.

pub mod generations;
pub mod notifications;
mod raw_blocks;
pub mod read_model;
