//! Visitors' access tokens, as a stranger sends them to `refreshToken`: any bytes. Never
//! panics, and never accepts what this deployment did not sign: the corpus holds tokens signed
//! with the target's secret for one identity, and whatever the fuzzer makes of them verifies
//! only for that identity.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use flexroute::session::token::{SigningKey, TokenIssuer};
use libfuzzer_sys::fuzz_target;

/// The clock the fuzzer verifies at, and when the corpus' tokens were minted.
const NOW: u64 = 1_800_000_000;
const IDENTITY: &str = "fuzz-visitor";

static ISSUER: LazyLock<TokenIssuer> = LazyLock::new(|| {
    let key = SigningKey::new(
        "AC0123456789abcdef0123456789abcdef",
        "SK0123456789abcdef0123456789abcdef",
        "fuzzing-secret-0f1e2d3c",
    )
    .unwrap();
    TokenIssuer::new(
        key,
        "IS0123456789abcdef0123456789abcdef",
        Duration::from_secs(3600),
    )
    .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    // The secret signed one identity only (the corpus' tokens): a token that verifies, however
    // mutated, must carry it, or the signature check let a forged payload through.
    if let Ok(verified) = ISSUER.verify_at(token, NOW) {
        assert_eq!(verified.identity, IDENTITY, "{token}");
    }
});
