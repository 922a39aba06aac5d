//! Micro-benchmarks for the webchat session backend: minting and verifying a visitor's access
//! token, once per session start or refresh. Run with `cargo bench --bench session`.
//!
//! Both should stay well under 20 µs: they are an HMAC-SHA256 over ~400 bytes, base64 and a
//! small JSON document. The allocation columns show what jsonwebtoken costs beyond that.

use divan::{Bencher, black_box};
use flexroute::session::token::{SigningKey, TokenIssuer};

// Counts allocations per iteration; costs a few ns per allocation.
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

const NOW: u64 = 1_700_000_000;

fn issuer() -> TokenIssuer {
    let key = SigningKey::new(
        "AC0123456789abcdef0123456789abcdef",
        "SKfedcba9876543210fedcba9876543210",
        "s3cr3t-api-key-secret-for-tests!",
    )
    .unwrap();
    let ttl = std::time::Duration::from_secs(3600);
    TokenIssuer::new(key, "IS00112233445566778899aabbccddeeff", ttl).unwrap()
}

/// A visitor id of the length the session backend hands out (a UUID with a prefix).
const IDENTITY: &str = "visitor-6f1c2b0e-8d4a-4f57-9a3e-2c7d5b1e0f94";

#[divan::bench_group(sample_size = 100)]
mod token {
    use super::*;

    /// One token on a fixed clock, so every iteration encodes the same bytes.
    #[divan::bench]
    fn mint(bencher: Bencher) {
        let issuer = issuer();
        bencher.bench(|| issuer.mint_at(black_box(IDENTITY), black_box(NOW)).unwrap());
    }

    /// The full check of a valid token: header, signature, claims, grants.
    #[divan::bench]
    fn verify(bencher: Bencher) {
        let issuer = issuer();
        let token = issuer.mint_at(IDENTITY, NOW).unwrap().token;
        assert_eq!(issuer.verify_at(&token, NOW).unwrap().identity, IDENTITY);
        bencher.bench(|| issuer.verify_at(black_box(&token), black_box(NOW)).unwrap());
    }

    /// A refused token costs no more than an accepted one (the signature is checked first).
    #[divan::bench]
    fn verify_bad_signature(bencher: Bencher) {
        let issuer = issuer();
        let mut token = issuer.mint_at(IDENTITY, NOW).unwrap().token;
        let at = token.rfind('.').unwrap() + 1;
        let first = if token[at..].starts_with('A') {
            "B"
        } else {
            "A"
        };
        token.replace_range(at..at + 1, first);
        assert!(issuer.verify_at(&token, NOW).is_err());
        bencher.bench(|| issuer.verify_at(black_box(&token), black_box(NOW)).is_err());
    }
}
