//! Checks on the repository itself: every cited § resolves, packaging installs and verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod doc_refs;
mod packaging;
