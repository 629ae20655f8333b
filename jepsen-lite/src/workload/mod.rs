//! The workloads' client side (Jepsen's `client` and interpreter): what each op sends, the
//! shared worker state and rate limiter, the worker loops, setup and the final phase. The ops
//! themselves are drawn by `generator`; their histories are judged by `checker`.
//!
//! | file | holds |
//! |---|---|
//! | [`ops`] | the KMS request(s) of each single-region op and how the reply is classified |
//! | [`mrk_ops`] | the same for the `multi-region` ops |
//! | [`driver`] | `driver::Shared`, the rate limiter, `driver::perform` (invoke, run, complete) |
//! | [`workers`] | the main phase's workers and which workload and node each gets |
//! | [`setup`] | the keys the workloads need, created before the main phase |
//! | [`final_reads`] | the single-region final phase after the last heal |
//! | [`multi_region`] | the `multi-region` workers, settle loop and final reads |

pub mod driver;
pub mod final_reads;
pub mod mrk_ops;
pub mod multi_region;
pub mod ops;
pub mod setup;
pub mod workers;
