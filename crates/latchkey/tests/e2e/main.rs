//! End-to-end tests: the real `latchkey` binary on a loopback socket, driven
//! over HTTP the way browsers and apps drive it. One test binary (every file
//! under `tests/` would be another to build and link).

// Helpers are `pub` for the sibling modules of this one binary.
#![allow(unreachable_pub)]

mod support;

mod browser;
mod cli;
mod client;
mod config;
mod csrf;
mod devices;
mod errors;
mod events;
mod fleet;
mod forward_auth;
mod hardening;
mod health;
mod jwt;
mod limits;
mod mobile;
mod operations;
mod pages;
mod ratelimit;
mod refresh;
mod schemathesis;
mod sessions;
mod strategies;
mod token_attacks;
mod verify;
mod walkthrough;
mod web;
