//! End-to-end tests against the real `toolhost` binary, in one test binary so
//! the workspace links (and stores) one executable for all of them.

mod auth;
mod cli;
mod devices;
mod dropin;
mod hostile;
mod mcp;
mod ssh;
