//! What a node does to its own process before it holds any secret: no core dumps (a core file
//! would hold the root key and every plaintext in flight) and not dumpable, so other processes
//! of the same user can neither ptrace it nor read its memory through `/proc/PID/mem`.

use rustix::process::{set_dumpable_behavior, setrlimit, DumpableBehavior, Resource, Rlimit};

/// Sets the core-file limit to zero (soft and hard, so the process cannot raise it again) and
/// marks the process not dumpable. A failure stops the start: a node that could leave its
/// secrets in a core file must not run.
pub fn harden() -> anyhow::Result<()> {
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(|e| anyhow::anyhow!("setting the core-file size limit to 0: {e}"))?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .map_err(|e| anyhow::anyhow!("marking the process not dumpable: {e}"))?;
    Ok(())
}
