//! The browser glue for engage-engine (being written).
