//! `trent-test`: the `trent` command line with the test hooks compiled in (kms-server's
//! `testing` feature): the clock-offset file (`TRENT_TEST_CLOCK_OFFSET_FILE`), the link fault
//! switch (`TRENT_TEST_LINK_FAULT_FILE`) and the planted bugs (`TRENT_PLANTED_BUG`).
//!
//! Only the integration tests and jepsen-lite run it. It is built on its own
//! (`cargo build -p kms-server --features testing --bin trent-test`, see `make build`), so
//! the feature never reaches the `trent` that `make run`, `make bench` and releases build.

#[path = "../main.rs"]
mod trent;

fn main() -> anyhow::Result<()> {
    trent::main()
}
