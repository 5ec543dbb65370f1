//! `strait-esp`: ESP security associations for Strait (RFC 4303, RFC 3948), sans-IO.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
