//! TODO: share client
