//! The getty state machine (pure).
