//! Who is calling, and what they may do.

/// The process on the other end of a connection, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Process id, when the OS reports it.
    pub pid: Option<i32>,
}

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Nothing (the connection is refused after the Hello).
    None,
    /// Connect, disconnect, read status, logs and profiles, import user profiles.
    User,
    /// Everything, including managed profiles.
    Admin,
}
