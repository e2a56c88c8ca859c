//! Cloud-mode storage on PostgreSQL: the read models the projectors build.

pub mod generations;
pub mod read_model;
