//! Cloud-mode storage on PostgreSQL: the read models the projectors build.

pub mod read_model;
