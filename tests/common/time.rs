//! The moment the tests happen at, in every area: a fixed time rather than the wall clock, so
//! that expiry and refresh happen when a test moves its clock and never on their own.

/// The time every test clock starts at, and tokens are issued around.
pub const T0: u64 = 1_700_000_000;
