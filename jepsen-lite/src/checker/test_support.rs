//! Test builders for hand-written histories and a brute-force linearizability reference.

use crate::history::{Event, EventType, Process};
use serde_json::Value;

/// A tiny deterministic PRNG (xorshift64*), so tests need no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Builds a history, assigning indices and times in call order.
#[derive(Default)]
pub struct H {
    pub events: Vec<Event>,
}

impl H {
    pub fn new() -> H {
        H::default()
    }

    fn push(
        &mut self,
        kind: EventType,
        process: u64,
        f: &str,
        key: Option<&str>,
        value: Value,
        error: Option<&str>,
    ) {
        let index = self.events.len() as u64;
        self.events.push(Event {
            index,
            time_ns: index * 1_000,
            kind,
            process: Process::Client(process),
            node: Some("n1".into()),
            f: f.into(),
            key: key.map(str::to_string),
            value,
            error: error.map(str::to_string),
        });
    }

    pub fn invoke(&mut self, p: u64, f: &str, key: &str, value: Value) -> &mut H {
        self.push(EventType::Invoke, p, f, Some(key), value, None);
        self
    }

    pub fn ok(&mut self, p: u64, f: &str, key: &str, value: Value) -> &mut H {
        self.push(EventType::Ok, p, f, Some(key), value, None);
        self
    }

    pub fn fail(&mut self, p: u64, f: &str, key: &str, error: &str) -> &mut H {
        self.push(EventType::Fail, p, f, Some(key), Value::Null, Some(error));
        self
    }

    pub fn info(&mut self, p: u64, f: &str, key: &str) -> &mut H {
        self.push(EventType::Info, p, f, Some(key), Value::Null, None);
        self
    }

    /// Invoke immediately followed by ok.
    pub fn call(&mut self, p: u64, f: &str, key: &str, input: Value, output: Value) -> &mut H {
        self.invoke(p, f, key, input).ok(p, f, key, output)
    }
}
