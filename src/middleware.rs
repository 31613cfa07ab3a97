//! (owned by the middleware work)
