//! Host patterns and language tags: how the configuration writes them (checked by `config`'s
//! validation) and the indices the routing table compiles from them, which requests are
//! resolved against. Below `config`, so that validating a file and building a table share one
//! parser.

pub mod hosts;
pub mod languages;

use std::collections::HashMap;

/// The table's maps: keys come from the configuration, and lookups (of whatever a request
/// sends) cannot add to them, so a fast hash needs no flooding resistance beyond foldhash's
/// per-process seed. SipHash, the default, was a tenth of a cache hit's instructions.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
