//! Visitor access tokens against Twilio's own helper library (`twilio` for Python, in
//! target/twilio-venv, through tests/contract/twilio_token.py): for the same inputs and clock,
//! flexroute mints the token the library mints, claim for claim and byte for byte where JSON
//! escaping agrees; flexroute accepts the library's tokens; the library and PyJWT accept
//! flexroute's, and refuse them under another secret.

use std::time::{Duration, Instant};

use flexroute::session::token::{SigningKey, TokenIssuer};
use serde_json::{Value, json};

use crate::support::jwt::segment;
use crate::support::python::{self as twilio_python, run_token_script};

const ACCOUNT: &str = "ACa1b2c3d4e5f60718293a4b5c6d7e8f90";
const KEY: &str = "SK0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const SECRET: &str = "k9Jx2mQv7rT4wZ8pL1nB6cF3hD5sG0aY";
const SERVICE: &str = "IS5566778899aabbccddeeff0011223344";

fn issuer(ttl_secs: u64) -> TokenIssuer {
    let key = SigningKey::new(ACCOUNT, KEY, SECRET).unwrap();
    TokenIssuer::new(key, SERVICE, Duration::from_secs(ttl_secs)).unwrap()
}

#[test]
fn tokens_match_twilios_python_library() {
    let started = Instant::now();
    let Some(python) = twilio_python::python() else {
        return;
    };
    let venv_ready = started.elapsed();

    // Identities in the shapes JSON treats differently: plain, `@`/`.`, characters every encoder
    // escapes the same way, and non-ASCII, which Python escapes (`\u00eb`) and serde_json not.
    let identities = [
        "visitor-42",
        "visitor@example.com",
        "quote \" backslash \\ slash / tab \t ctl \u{1}",
        "Zoë 👋",
    ];
    let clocks = [1_700_000_000u64, 1_234_567_890];
    let ttls = [3600u64, 86_400, 1];
    let mut cases = Vec::new();
    for identity in identities {
        for now in clocks {
            for ttl in ttls {
                cases.push((identity, now, ttl));
            }
        }
    }
    let mint_request = |identity: &str, now: Option<u64>, ttl: u64| {
        json!({
            "account_sid": ACCOUNT, "api_key_sid": KEY, "secret": SECRET,
            "identity": identity, "service_sid": SERVICE, "ttl": ttl, "now": now,
        })
    };
    let mut mint: Vec<Value> = cases
        .iter()
        .map(|&(identity, now, ttl)| mint_request(identity, Some(now), ttl))
        .collect();
    // And one on the library's own clock, for flexroute to verify on its own clock.
    mint.push(mint_request("visitor-live", None, 600));

    let live = issuer(600).mint("visitor-live").unwrap();
    let other_secret = TokenIssuer::new(
        SigningKey::new(ACCOUNT, KEY, "another-secret-entirely-0123456789").unwrap(),
        SERVICE,
        Duration::from_secs(600),
    )
    .unwrap()
    .mint("visitor-live")
    .unwrap();
    let verify = json!([
        {"token": live.token, "secret": SECRET, "api_key_sid": KEY},
        {"token": other_secret.token, "secret": SECRET, "api_key_sid": KEY},
    ]);

    let answer = run_token_script(&python, &json!({"mint": mint, "verify": verify}));
    assert_eq!(answer["twilio"], twilio_python::TWILIO, "{answer}");
    let minted = answer["minted"].as_array().unwrap();
    assert_eq!(minted.len(), cases.len() + 1);

    let mut byte_equal = 0;
    for (&(identity, now, ttl), theirs) in cases.iter().zip(minted) {
        let theirs = theirs.as_str().unwrap();
        let issuer = issuer(ttl);
        let ours = issuer.mint_at(identity, now).unwrap();
        let what = format!("{identity:?} at {now} for {ttl} s");
        assert_eq!(
            segment(&ours.token, 0),
            segment(theirs, 0),
            "header, {what}"
        );
        assert_eq!(
            segment(&ours.token, 1),
            segment(theirs, 1),
            "claims, {what}"
        );
        if identity.is_ascii() {
            assert_eq!(ours.token, theirs, "bytes, {what}");
            byte_equal += 1;
        } else {
            // Same values, different escaping, hence a different signature.
            assert_ne!(
                ours.token, theirs,
                "{what}: Python now writes UTF-8 as serde_json does?"
            );
        }
        let verified = issuer.verify_at(theirs, now).unwrap();
        assert_eq!(
            (verified.identity.as_str(), verified.expires_at),
            (identity, now + ttl)
        );
    }
    assert_eq!(byte_equal, 18);

    let library_live = minted.last().unwrap().as_str().unwrap();
    assert_eq!(
        issuer(600).verify(library_live).unwrap().identity,
        "visitor-live"
    );

    let verified = answer["verified"].as_array().unwrap();
    assert_eq!(verified[0]["ok"], true, "{}", verified[0]);
    assert_eq!(verified[0]["header"], segment(&live.token, 0));
    assert_eq!(verified[0]["payload"], segment(&live.token, 1));
    assert_eq!(verified[1]["ok"], false, "{}", verified[1]);
    let error = verified[1]["error"].as_str().unwrap();
    assert!(error.contains("Signature verification failed"), "{error}");

    eprintln!(
        "venv ready in {venv_ready:?}; compared {} tokens in {:?}",
        cases.len() + 3,
        started.elapsed() - venv_ready
    );
}
