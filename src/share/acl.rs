//! TODO: share acl
