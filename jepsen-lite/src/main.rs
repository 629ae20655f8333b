//! `jl`: jepsen-lite, chaos and partition testing of Trent regions with recorded histories and
//! checkers. See `jepsen-lite/README.md`.

fn main() {
    println!("jepsen-lite: see README.md");
}
