//! Versions of the two internal wires: the Raft wire between a region's nodes (bincode) and the
//! link between regions (JSON). Each request and answer carries its channel's version in a
//! header. A version changes only when its encoding changes in a way an older node cannot
//! read, so two nodes interoperate exactly when they speak the same version of a channel; a
//! receiver refuses any other with a message naming both (see [`Channel::check`]).

/// One internal channel and the version of it this build speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    /// Its name in messages (`Raft`, `link`).
    pub name: &'static str,
    /// The header that carries the version.
    pub header: &'static str,
    /// The version this build speaks.
    pub version: u32,
}

/// The Raft wire between a region's nodes (`/raft/*` bincode bodies).
pub const RAFT: Channel = Channel {
    name: "Raft",
    header: "x-trent-raft-wire",
    version: 1,
};

/// The link between regions (`/link/v1/*` JSON bodies).
pub const LINK: Channel = Channel {
    name: "link",
    header: "x-trent-link-wire",
    version: 1,
};

impl Channel {
    /// Whether a peer that sent `header` (the channel header's value, if any) speaks `ours`;
    /// if not, why, naming both versions and what to do.
    pub fn check(&self, header: Option<&str>, ours: u32) -> Result<(), String> {
        let name = self.name;
        match header {
            None => Err(format!(
                "the sender sent no {name} wire version (a Trent release from before wire \
                 versions) and the receiver speaks {name} wire version {ours}: upgrade every \
                 node, then start them again"
            )),
            Some(text) => match text.trim().parse::<u32>() {
                Ok(theirs) if theirs == ours => Ok(()),
                Ok(theirs) => Err(format!(
                    "the sender speaks {name} wire version {theirs} and the receiver speaks \
                     {ours}: both ends must speak the same version (upgrade every node, then \
                     start them again)"
                )),
                Err(_) => Err(format!(
                    "the sender sent an unreadable {name} wire version {text:?}; the receiver \
                     speaks {ours}"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_version_is_accepted_and_refusals_name_both() {
        assert!(RAFT.check(Some("1"), 1).is_ok());
        let newer = RAFT.check(Some("2"), 1).unwrap_err();
        assert!(
            newer.contains("Raft wire version 2") && newer.contains("receiver speaks 1"),
            "{newer}"
        );
        let older = LINK.check(None, 1).unwrap_err();
        assert!(
            older.contains("no link wire version") && older.contains("link wire version 1"),
            "{older}"
        );
        assert!(RAFT
            .check(Some("one"), 1)
            .unwrap_err()
            .contains("unreadable"));
        assert!(LINK.check(Some(" 3 "), 3).is_ok());
    }
}
