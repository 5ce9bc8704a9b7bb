//! Unit tests for the schedule module.
