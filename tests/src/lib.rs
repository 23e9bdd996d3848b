//! End-to-end tests live in tests/*.rs (being written).
