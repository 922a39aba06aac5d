//! Integration tests: every one starts the real server on loopback ports (or runs the real
//! binary) and talks HTTP to it. One test binary, so the suite links once.

mod admin;
mod cli;
mod client;
mod common;
mod config;
mod emulator;
mod faults;
mod language;
mod ops;
mod process;
mod provisioning;
mod reload;
mod response;
mod robustness;
mod running;
mod site;
