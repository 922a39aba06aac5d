//! How many connections each listener may hold, from the process's open-file limit. Every
//! connection is a descriptor, and so is every call to Twilio a public request may be waiting
//! on (a chat start), the state store's files and sockets, and the ops listener's connections:
//! a public listener allowed to take them all would lock the operator out with the visitors
//! (`accept` failing with "Too many open files"). So the soft limit is raised to the hard one
//! at start, the ops listener gets a small fixed share, a reserve is kept for the store and
//! the process, and the public listener gets half of the rest (one descriptor for its
//! connection, one for the upstream call it may be waiting on), at most
//! `server.max_connections`.

/// Connections the ops listener holds at once: scrapes, probes and an operator.
pub const OPS_CONNECTIONS: usize = 64;
/// Descriptors kept for the state store (file, lock, Redis pool and pub/sub), the runtime, logs.
const RESERVED: u64 = 64;

/// Raises the soft open-file limit to the hard one; the soft limit in force afterwards.
pub fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The public listener's connection cap under `descriptors` open files.
pub fn public_connections(descriptors: u64, configured: usize) -> usize {
    let spare = descriptors.saturating_sub(RESERVED + OPS_CONNECTIONS as u64) / 2;
    (spare as usize).clamp(1, configured.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_cap_leaves_room_for_the_ops_listener_and_the_store() {
        assert_eq!(public_connections(256, 10_000), 64);
        assert_eq!(public_connections(1_048_576, 10_000), 10_000);
        assert_eq!(public_connections(100, 10_000), 1);
        assert_eq!(public_connections(20_000, 500), 500);
    }
}
