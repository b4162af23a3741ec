//! Shared parts of the browser tests.
#![allow(dead_code)]

pub mod rp;
