//! The store kept in memory only: sandbox mode (whose emulator forgets on restart too) and
//! tests.

use std::collections::HashMap;
use std::io;

use parking_lot::Mutex;

use super::{BoxFuture, StateStore, StoredAddress};

/// Records by (site, slot), latest wins.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<(String, String), StoredAddress>>,
}

impl StateStore for MemoryStore {
    fn load(&self) -> BoxFuture<'_, io::Result<Vec<StoredAddress>>> {
        let records = self.records.lock().values().cloned().collect();
        Box::pin(async move { Ok(records) })
    }

    fn record(&self, address: StoredAddress) -> BoxFuture<'_, io::Result<()>> {
        let key = (address.site.clone(), address.slot().into_owned());
        self.records.lock().insert(key, address);
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        "memory (not persisted)".into()
    }
}
