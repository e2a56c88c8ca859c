//! Cloud-mode storage on PostgreSQL: the read models the projectors build.

pub mod generations;
mod raw_blocks;
pub mod read_model;
