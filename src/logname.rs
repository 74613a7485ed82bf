//! TODO: logname
