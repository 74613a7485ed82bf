//! TODO: chat
