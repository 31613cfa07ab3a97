//! Helpers shared by the integration tests that sign their own tokens.
#![allow(dead_code)] // each test file uses a part

pub mod jose;
