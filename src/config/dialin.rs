//! TODO: dialin
