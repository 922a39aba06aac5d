//! One scan of Twilio's chat addresses shared by every pair that needs one at that moment.
//! Conversations address configurations cannot be filtered by friendly name, so finding a
//! pair's address means listing every chat address; twenty pairs missing at once must cost one
//! listing, not twenty. A pair joins the scan in flight when it may (its first look), or waits
//! for one that starts after a given instant (the look after a create whose answer was lost,
//! which must see what that create did).

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::{Semaphore, watch};

use crate::twilio::client::{FlexApiClient, TwilioError};
use crate::twilio::conversations::AddressConfiguration;

pub(super) type Scanned = Result<Arc<Vec<AddressConfiguration>>, TwilioError>;

#[derive(Default)]
pub(super) struct SharedScan {
    running: Mutex<Option<Running>>,
}

struct Running {
    started: Instant,
    outcome: watch::Receiver<Option<Scanned>>,
}

impl SharedScan {
    /// Every chat address, from a scan that started no earlier than `fresh_after` (any scan
    /// in flight when `None`).
    pub(super) async fn chat_addresses(
        &self,
        client: &FlexApiClient,
        permits: &Arc<Semaphore>,
        fresh_after: Option<Instant>,
    ) -> Scanned {
        let mut outcome = self.join_or_start(client, permits, fresh_after);
        match outcome.wait_for(Option::is_some).await {
            Ok(scanned) => scanned.clone().expect("waited for an outcome"),
            Err(_) => Err(TwilioError::Transport(
                "the address scan stopped without an outcome".into(),
            )),
        }
    }

    fn join_or_start(
        &self,
        client: &FlexApiClient,
        permits: &Arc<Semaphore>,
        fresh_after: Option<Instant>,
    ) -> watch::Receiver<Option<Scanned>> {
        let mut running = self.running.lock();
        if let Some(scan) = running.as_ref() {
            let in_flight = scan.outcome.borrow().is_none() && scan.outcome.has_changed().is_ok();
            let fresh = fresh_after.is_none_or(|after| scan.started >= after);
            if in_flight && fresh {
                return scan.outcome.clone();
            }
        }
        let (tx, rx) = watch::channel(None);
        *running = Some(Running {
            started: Instant::now(),
            outcome: rx.clone(),
        });
        drop(running);
        let client = client.clone();
        let permits = permits.clone();
        // Its own task: a visitor's request that gives up waiting must not cancel the scan
        // the other pairs are waiting on.
        tokio::spawn(async move {
            let scanned = match permits.acquire().await {
                Ok(_permit) => client.list_chat_addresses().await.map(Arc::new),
                Err(e) => Err(TwilioError::Transport(e.to_string())),
            };
            let _ = tx.send(Some(scanned));
        });
        rx
    }
}
