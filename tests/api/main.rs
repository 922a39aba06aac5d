//! Integration tests: every one starts the real server on loopback ports (or runs the real
//! binary) and talks HTTP to it, except the properties, which call the library directly. One test
//! binary, so the suite links once.

mod abuse;
mod admin;
mod browser;
mod cli;
mod client;
mod client_conversations;
mod config;
mod conformance;
mod copies;
mod embed;
mod emulator;
mod faults;
mod kinds;
mod language;
mod layers;
mod openapi;
mod ops;
mod process;
mod properties;
mod provisioning;
mod rate_limit;
mod redis_faults;
mod redis_store;
mod reload;
mod replicas;
mod response;
mod robustness;
mod scenarios;
mod session_faults;
mod sessions;
mod sessions_process;
mod site;
mod sites_dir;
mod slow_readers;
mod support;
mod token;
