//! Visitor access tokens: the Twilio Conversations access token a WebChat visitor's browser
//! uses to talk to Twilio directly, minted with an API key's secret as Twilio's helper libraries
//! mint it (`AccessToken` with one `ChatGrant`), and verified when a browser presents one back
//! (to resume a session as the identity it already holds, say).
//!
//! # Layout
//!
//! A JWT, HS256 under the API key secret, byte for byte what the `twilio` Python package
//! (9.13.0, which encodes through PyJWT) emits for the same inputs at the same second;
//! `tests/api/token.rs` checks this against the package itself:
//!
//! ```text
//! header  {"alg":"HS256","cty":"twilio-fpa;v=1","typ":"JWT"}
//! claims  {"jti":"SK…-<now>","grants":{"chat":{"service_sid":"IS…"},"identity":"<identity>"},
//!          "iss":"SK…","exp":<now + ttl>,"nbf":<now>,"sub":"AC…"}
//! ```
//!
//! `nbf` is present and `iat` is not, as in the Python library. The npm `twilio` package (6.3.1)
//! writes `iat` and no `nbf`, and orders header and claims differently; [`TokenIssuer::verify`]
//! accepts both, since only values count (a unit test holds a token the npm package minted).
//! Identities outside ASCII differ in bytes only: Python escapes them as `\uXXXX`, serde_json
//! writes UTF-8. The values, and so what Twilio reads, are the same.
//!
//! # Choices
//!
//! - TTL: at most 24 h, Twilio's maximum for access tokens, and at least 1 s. Anything else is
//!   refused by [`TokenIssuer::new`] rather than clamped: it is a configuration mistake, and a
//!   silently shortened TTL would show up as visitors dropping off mid-chat instead.
//! - Clock skew: `exp` and `nbf` are checked with [`LEEWAY_SECS`] (5 s), because the replica that
//!   verifies a token may not be the one that minted it. No more: an expired token stays expired.
//! - Crypto: jsonwebtoken does the JWT (segments, base64, JSON, the algorithm allow-list); the
//!   HMAC-SHA256 is ring's, already linked for TLS, behind jsonwebtoken's `CryptoProvider` hook
//!   (the `hs256` module below). jsonwebtoken's own backends bring RSA, ECDSA and Ed25519 along
//!   for the one algorithm we use: 50 more crates for `rust_crypto`, a C build for `aws_lc_rs`.
//! - Nothing here logs or formats the secret: `Debug` redacts it and no error carries it, nor
//!   any part of a presented token (the reasons are fixed strings).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize, Serializer};

use crate::redact::Redacted;
use crate::twilio::Credentials;
use crate::twilio::emulator::is_sid;

/// Twilio refuses access tokens that live longer than a day.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Presented tokens longer than this are refused before any parsing. Ours stay under 3 KiB even
/// with a [`MAX_IDENTITY_BYTES`] identity made of characters JSON escapes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The longest identity [`TokenIssuer::mint`] signs. Identities are ours (a visitor id), so
/// anything longer is a bug or abuse, not a visitor.
pub const MAX_IDENTITY_BYTES: usize = 256;

/// Seconds of clock difference tolerated on `exp` and `nbf` between replicas.
pub const LEEWAY_SECS: u64 = 5;

/// The header `cty` that marks a Twilio access token ("Twilio first-party auth", version 1).
const CONTENT_TYPE: &str = "twilio-fpa;v=1";

/// An API key of the account: the SID is the token's issuer, the secret signs it. Twilio signs
/// access tokens only with API keys (`SK…`), never with the account's auth token. `Debug` never
/// shows the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    account_sid: String,
    api_key_sid: String,
    secret: Redacted<String>,
}

impl SigningKey {
    /// In the order of Twilio's `AccessToken(account_sid, signing_key_sid, secret)`.
    pub fn new(
        account_sid: impl Into<String>,
        api_key_sid: impl Into<String>,
        secret: impl Into<String>,
    ) -> Result<Self, SetupError> {
        let key = Self {
            account_sid: account_sid.into(),
            api_key_sid: api_key_sid.into(),
            secret: Redacted::new(secret.into()),
        };
        check_sid("account SID", &key.account_sid, "AC")?;
        check_sid("API key SID", &key.api_key_sid, "SK")?;
        if key.secret.is_empty() {
            return Err(SetupError::EmptySecret);
        }
        Ok(key)
    }

    /// From the credentials flexroute calls the Flex API with, when they are an API key
    /// (`TWILIO_API_KEY` + `TWILIO_API_SECRET`); Account SID + auth token cannot sign tokens.
    pub fn from_credentials(
        account_sid: impl Into<String>,
        credentials: &Credentials,
    ) -> Result<Self, SetupError> {
        Self::new(
            account_sid,
            credentials.username.clone(),
            credentials.secret(),
        )
    }

    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    pub fn api_key_sid(&self) -> &str {
        &self.api_key_sid
    }
}

/// Why a [`SigningKey`] or [`TokenIssuer`] could not be built: configuration errors, for startup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("{what} `{value}` is not valid: expected {prefix} followed by 32 hex digits")]
    Sid {
        what: &'static str,
        prefix: &'static str,
        value: String,
    },
    #[error("the API key secret is empty")]
    EmptySecret,
    #[error("token TTL {0:?} is outside 1 s ..= 24 h (Twilio refuses longer-lived tokens)")]
    Ttl(Duration),
}

fn check_sid(what: &'static str, value: &str, prefix: &'static str) -> Result<(), SetupError> {
    if is_sid(value, prefix) {
        Ok(())
    } else {
        Err(SetupError::Sid {
            what,
            prefix,
            value: value.to_string(),
        })
    }
}

/// Why a token was not minted or not accepted. Every verification failure is the same
/// `403 invalid_token` to the client; the variants are for the log. None carries any part of a
/// presented token or the secret.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    // Minting.
    #[error("the identity is empty")]
    EmptyIdentity,
    #[error("the identity is longer than {MAX_IDENTITY_BYTES} bytes")]
    IdentityTooLong,
    #[error("the token could not be encoded: {0}")]
    Encode(#[source] jsonwebtoken::errors::Error),

    // Verification.
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token algorithm is not HS256")]
    UnsupportedAlgorithm,
    #[error("token signature does not match our API key secret")]
    BadSignature,
    #[error("token has no `{0}` claim")]
    MissingClaim(&'static str),
    #[error("token issuer is not our API key")]
    WrongIssuer,
    #[error("token subject is not our account")]
    WrongSubject,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf in the future)")]
    NotYetValid,
    #[error("token grants another chat service, or none")]
    WrongService,
    #[error("token grants no identity")]
    MissingIdentity,
}

/// A freshly minted token, for the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    /// The token's `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl Minted {
    /// `exp` in milliseconds since the epoch: what the browser app compares with `Date.now()`
    /// to refresh the token before Twilio drops the connection.
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at.saturating_mul(1000)
    }
}

/// What a token that passed [`TokenIssuer::verify`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub identity: String,
    /// The token's `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl Verified {
    /// `exp` in milliseconds since the epoch.
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at.saturating_mul(1000)
    }
}

/// Mints and verifies the access tokens of one chat service under one API key. Keys, header
/// and validation rules are built once in [`TokenIssuer::new`]; share it behind an `Arc`.
pub struct TokenIssuer {
    key: SigningKey,
    chat_service_sid: String,
    ttl_secs: u64,
    header: Header,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("key", &self.key)
            .field("chat_service_sid", &self.chat_service_sid)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// `chat_service_sid` is the Conversations service (`IS…`) the grant names; `ttl` is how
    /// long each token lives, 1 s ..= [`MAX_TTL`] (JWT times are whole seconds: a fraction of a
    /// second is dropped).
    pub fn new(
        key: SigningKey,
        chat_service_sid: impl Into<String>,
        ttl: Duration,
    ) -> Result<Self, SetupError> {
        let chat_service_sid = chat_service_sid.into();
        check_sid("chat service SID", &chat_service_sid, "IS")?;
        if ttl.as_secs() == 0 || ttl > MAX_TTL {
            return Err(SetupError::Ttl(ttl));
        }
        hs256::install();
        let mut header = Header::new(Algorithm::HS256);
        header.cty = Some(CONTENT_TYPE.to_string());
        // PyJWT sorts header keys, so Twilio's tokens end with `typ`; jsonwebtoken writes its
        // named fields in declaration order (`typ` first) and its extras after them.
        header.typ = None;
        header.extras.insert("typ", "JWT");
        let mut validation = Validation::new(Algorithm::HS256);
        // jsonwebtoken checks the signature and the algorithm; the claims are checked on their
        // typed form in `verify_at`, with an injectable clock (and a malformed `exp` or `nbf`
        // fails to parse there instead of being skipped).
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        Ok(Self {
            encoding: EncodingKey::from_secret(key.secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(key.secret.expose().as_bytes()),
            key,
            chat_service_sid,
            ttl_secs: ttl.as_secs(),
            header,
            validation,
        })
    }

    /// How long each token lives: what the browser should plan its refreshes around.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_secs)
    }

    /// A token for `identity`, valid from now for the TTL.
    pub fn mint(&self, identity: &str) -> Result<Minted, TokenError> {
        self.mint_at(identity, unix_now())
    }

    /// [`Self::mint`] with the clock given (seconds since the epoch): same inputs, same token.
    pub fn mint_at(&self, identity: &str, now_unix: u64) -> Result<Minted, TokenError> {
        if identity.is_empty() {
            return Err(TokenError::EmptyIdentity);
        }
        if identity.len() > MAX_IDENTITY_BYTES {
            return Err(TokenError::IdentityTooLong);
        }
        let expires_at = now_unix.saturating_add(self.ttl_secs);
        let claims = Claims {
            jti: Jti {
                api_key_sid: &self.key.api_key_sid,
                now: now_unix,
            },
            grants: Grants {
                chat: ChatGrant {
                    service_sid: &self.chat_service_sid,
                },
                identity,
            },
            iss: &self.key.api_key_sid,
            exp: expires_at,
            nbf: now_unix,
            sub: &self.key.account_sid,
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.encoding)
            .map_err(TokenError::Encode)?;
        Ok(Minted { token, expires_at })
    }

    /// Accepts a token this issuer (or Twilio's helper library with the same key, account and
    /// service) minted and that has not expired; says whose it is.
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        self.verify_at(token, unix_now())
    }

    /// [`Self::verify`] at a given time (seconds since the epoch). Checks, in order: size,
    /// header algorithm (HS256 only, so `none` too is refused), signature, `iss`, `sub`,
    /// `exp` and `nbf` (± [`LEEWAY_SECS`]), the chat grant's service, a non-empty identity.
    pub fn verify_at(&self, token: &str, now_unix: u64) -> Result<Verified, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        check_algorithm(token)?;
        let claims = jsonwebtoken::decode::<ReadClaims>(token, &self.decoding, &self.validation)
            .map_err(refused)?
            .claims;
        if claims.iss.ok_or(TokenError::MissingClaim("iss"))? != self.key.api_key_sid {
            return Err(TokenError::WrongIssuer);
        }
        if claims.sub.ok_or(TokenError::MissingClaim("sub"))? != self.key.account_sid {
            return Err(TokenError::WrongSubject);
        }
        let expires_at = claims.exp.ok_or(TokenError::MissingClaim("exp"))?;
        if now_unix >= expires_at.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now_unix.saturating_add(LEEWAY_SECS))
        {
            return Err(TokenError::NotYetValid);
        }
        let service = claims.grants.chat.and_then(|chat| chat.service_sid);
        if service.as_deref() != Some(self.chat_service_sid.as_str()) {
            return Err(TokenError::WrongService);
        }
        let identity = claims
            .grants
            .identity
            .filter(|identity| !identity.is_empty())
            .ok_or(TokenError::MissingIdentity)?;
        Ok(Verified {
            identity,
            expires_at,
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// jsonwebtoken cannot parse a header whose `alg` it does not know (`none` among them), and
/// reports that as bad JSON; reading `alg` first names the refusal for what it is.
fn check_algorithm(token: &str) -> Result<(), TokenError> {
    #[derive(Deserialize)]
    struct Alg {
        alg: Option<String>,
    }
    let (header, _) = token
        .split_once('.')
        .ok_or(TokenError::Malformed("not header.claims.signature"))?;
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed("header is not base64url"))?;
    let header: Alg = serde_json::from_slice(&json)
        .map_err(|_| TokenError::Malformed("header is not a JSON object"))?;
    match header.alg.as_deref() {
        Some("HS256") => Ok(()),
        _ => Err(TokenError::UnsupportedAlgorithm),
    }
}

/// jsonwebtoken's refusals in our terms. Its messages can quote the token (serde's "invalid
/// type: string …"), so only the kind is kept.
fn refused(error: jsonwebtoken::errors::Error) -> TokenError {
    match error.kind() {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => TokenError::UnsupportedAlgorithm,
        ErrorKind::InvalidToken => TokenError::Malformed("not header.claims.signature"),
        ErrorKind::Base64(_) => TokenError::Malformed("a segment is not base64url"),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            TokenError::Malformed("header or claims are not the expected JSON")
        }
        _ => TokenError::Malformed("refused by the JWT decoder"),
    }
}

/// The claims as written, in the Python library's order (its payload dict's insertion order:
/// `jti` and `grants` first, then `iss`, `exp`, `nbf`, `sub`).
#[derive(Serialize)]
struct Claims<'a> {
    jti: Jti<'a>,
    grants: Grants<'a>,
    iss: &'a str,
    exp: u64,
    nbf: u64,
    sub: &'a str,
}

/// `"<API key SID>-<now>"`, as the helper libraries write it, without a temporary `String`.
struct Jti<'a> {
    api_key_sid: &'a str,
    now: u64,
}

impl Serialize for Jti<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}-{}", self.api_key_sid, self.now))
    }
}

/// The grants in the Python library's order: each grant by its key, then `identity`.
#[derive(Serialize)]
struct Grants<'a> {
    chat: ChatGrant<'a>,
    identity: &'a str,
}

#[derive(Serialize)]
struct ChatGrant<'a> {
    service_sid: &'a str,
}

/// The claims as read: all optional, so that a missing one gets its own refusal, but typed, so
/// that a claim of the wrong type (`"exp": "never"`) is malformed rather than absent.
#[derive(Deserialize)]
struct ReadClaims {
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<u64>,
    nbf: Option<u64>,
    #[serde(default)]
    grants: ReadGrants,
}

#[derive(Default, Deserialize)]
struct ReadGrants {
    identity: Option<String>,
    chat: Option<ReadChatGrant>,
}

#[derive(Deserialize)]
struct ReadChatGrant {
    service_sid: Option<String>,
}

/// jsonwebtoken's crypto for the one algorithm these tokens use, from ring: its HMAC-SHA256,
/// and its constant-time tag comparison for verification.
///
/// jsonwebtoken takes its crypto from one process-wide `CryptoProvider`, chosen on first use;
/// [`install`] (run by [`TokenIssuer::new`], before any token is encoded or decoded) makes it
/// this one. Anything else in the process using jsonwebtoken gets HS256 only.
mod hs256 {
    use std::sync::Once;

    use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
    use jsonwebtoken::errors::{Error, ErrorKind};
    use jsonwebtoken::signature::{self, Signer, Verifier};
    use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
    use ring::hmac;

    static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: signer,
        verifier_factory: verifier,
        key_utils: KeyUtils::new_unimplemented(),
    };

    /// Installs the provider, once per process. If another was installed first it stays (an
    /// install only fails then), and it has the HMAC jsonwebtoken needs anyway.
    pub fn install() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let _ = PROVIDER.install_default();
        });
    }

    struct Hs256(hmac::Key);

    impl Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
            Ok(hmac::sign(&self.0, message).as_ref().to_vec())
        }
    }

    impl Verifier<Vec<u8>> for Hs256 {
        fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
            hmac::verify(&self.0, message, tag).map_err(|_| signature::Error::new())
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    fn hs256(
        algorithm: &Algorithm,
        family: AlgorithmFamily,
        secret: &[u8],
    ) -> Result<Hs256, Error> {
        if *algorithm != Algorithm::HS256 || family != AlgorithmFamily::Hmac {
            return Err(ErrorKind::UnsupportedAlgorithm.into());
        }
        Ok(Hs256(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
        Ok(Box::new(hs256(algorithm, key.family(), key.as_bytes())?))
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
        Ok(Box::new(hs256(
            algorithm,
            key.family(),
            key.try_get_as_bytes()?,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const KEY: &str = "SKfedcba9876543210fedcba9876543210";
    const SECRET: &str = "s3cr3t-api-key-secret-for-tests!";
    const SERVICE: &str = "IS00112233445566778899aabbccddeeff";
    const NOW: u64 = 1_700_000_000;
    const HOUR: Duration = Duration::from_secs(3600);

    /// What `twilio` 9.13.0 (Python, PyJWT 2.15.1) minted for these constants, identity
    /// `visitor-42`, TTL 1 h, its clock pinned to `NOW` (tests/contract/twilio_token.py).
    const PYTHON_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsImN0eSI6InR3aWxpby1mcGE7dj0xIiwidHlwIjoiSldUIn0.eyJqdGkiOiJTS2ZlZGNiYTk4NzY1NDMyMTBmZWRjYmE5ODc2NTQzMjEwLTE3MDAwMDAwMDAiLCJncmFudHMiOnsiY2hhdCI6eyJzZXJ2aWNlX3NpZCI6IklTMDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmYifSwiaWRlbnRpdHkiOiJ2aXNpdG9yLTQyIn0sImlzcyI6IlNLZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTAiLCJleHAiOjE3MDAwMDM2MDAsIm5iZiI6MTcwMDAwMDAwMCwic3ViIjoiQUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiJ9.y6l5BqaEarAkMXa2UJXxkp1ia51ABtdJyu3_2DvI20k";

    /// The same from npm `twilio` 6.3.1 (node jsonwebtoken 9.0.3), `Date.now` pinned to `NOW`:
    /// header `alg, typ, cty`; claims `jti, grants {identity, chat}, iat, exp, iss, sub`, no `nbf`.
    const NPM_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImN0eSI6InR3aWxpby1mcGE7dj0xIn0.eyJqdGkiOiJTS2ZlZGNiYTk4NzY1NDMyMTBmZWRjYmE5ODc2NTQzMjEwLTE3MDAwMDAwMDAiLCJncmFudHMiOnsiaWRlbnRpdHkiOiJ2aXNpdG9yLTQyIiwiY2hhdCI6eyJzZXJ2aWNlX3NpZCI6IklTMDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmYifX0sImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJpc3MiOiJTS2ZlZGNiYTk4NzY1NDMyMTBmZWRjYmE5ODc2NTQzMjEwIiwic3ViIjoiQUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiJ9.eq35TfXU4xsKEGMW9gxnCAVzPfT5TVMx8EQor_b70e0";

    fn issuer_with(account: &str, key: &str, secret: &str, service: &str) -> TokenIssuer {
        TokenIssuer::new(
            SigningKey::new(account, key, secret).unwrap(),
            service,
            HOUR,
        )
        .unwrap()
    }

    fn issuer() -> TokenIssuer {
        issuer_with(ACCOUNT, KEY, SECRET, SERVICE)
    }

    fn segment(token: &str, index: usize) -> String {
        let part = token.split('.').nth(index).unwrap();
        String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Signs any header and claims with `secret`, bypassing every check of ours.
    fn forge(header: &str, claims: &str, secret: &str) -> String {
        let message = format!("{}.{}", b64(header), b64(claims));
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
            message.as_bytes(),
        );
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    const HEADER: &str = r#"{"alg":"HS256","cty":"twilio-fpa;v=1","typ":"JWT"}"#;

    /// The claims of `PYTHON_TOKEN`, in its key order.
    fn claims_text() -> String {
        format!(
            r#"{{"jti":"{KEY}-{NOW}","grants":{{"chat":{{"service_sid":"{SERVICE}"}},"identity":"visitor-42"}},"iss":"{KEY}","exp":{},"nbf":{NOW},"sub":"{ACCOUNT}"}}"#,
            NOW + 3600
        )
    }

    /// The same as a value to edit (serde_json sorts its keys; order does not matter to us).
    fn claims() -> serde_json::Value {
        serde_json::from_str(&claims_text()).unwrap()
    }

    fn refusal(token: &str) -> TokenError {
        issuer().verify_at(token, NOW + 10).unwrap_err()
    }

    #[test]
    fn mints_what_twilios_python_library_mints_byte_for_byte() {
        let minted = issuer().mint_at("visitor-42", NOW).unwrap();
        assert_eq!(minted.token, PYTHON_TOKEN);
        assert_eq!(minted.expires_at, NOW + 3600);
        assert_eq!(minted.expires_at_ms(), (NOW + 3600) * 1000);
    }

    #[test]
    fn header_and_claims_layout_is_exact() {
        let token = issuer().mint_at("visitor-42", NOW).unwrap().token;
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(segment(&token, 0), HEADER);
        assert_eq!(segment(&token, 1), claims_text());
        // The signature is HMAC-SHA256 of `header.claims` under the secret, computed apart.
        assert_eq!(token, forge(HEADER, &claims_text(), SECRET));
    }

    #[test]
    fn round_trip() {
        let issuer = issuer();
        let minted = issuer.mint_at("visitor-42", NOW).unwrap();
        let verified = issuer.verify_at(&minted.token, NOW + 1).unwrap();
        assert_eq!(verified.identity, "visitor-42");
        assert_eq!(verified.expires_at, minted.expires_at);
        assert_eq!(verified.expires_at_ms(), minted.expires_at_ms());
        // On the real clock too.
        let live = issuer.mint("visitor-live").unwrap();
        assert_eq!(issuer.verify(&live.token).unwrap().identity, "visitor-live");
        // Identities JSON must escape survive the trip.
        let odd = "Zoë \"👋\" \\ /\n\u{1}";
        let minted = issuer.mint_at(odd, NOW).unwrap();
        assert_eq!(issuer.verify_at(&minted.token, NOW).unwrap().identity, odd);
    }

    #[test]
    fn accepts_the_helper_libraries_tokens() {
        let issuer = issuer();
        for token in [PYTHON_TOKEN, NPM_TOKEN] {
            let verified = issuer.verify_at(token, NOW + 10).unwrap();
            assert_eq!(verified.identity, "visitor-42");
            assert_eq!(verified.expires_at, NOW + 3600);
        }
    }

    #[test]
    fn ttl_bounds_and_sids_are_checked_at_setup() {
        let key = || SigningKey::new(ACCOUNT, KEY, SECRET).unwrap();
        assert!(TokenIssuer::new(key(), SERVICE, MAX_TTL).is_ok());
        assert!(TokenIssuer::new(key(), SERVICE, Duration::from_secs(1)).is_ok());
        for ttl in [
            Duration::ZERO,
            Duration::from_millis(999),
            MAX_TTL + Duration::from_secs(1),
        ] {
            assert_eq!(
                TokenIssuer::new(key(), SERVICE, ttl).unwrap_err(),
                SetupError::Ttl(ttl)
            );
        }
        let day = TokenIssuer::new(key(), SERVICE, MAX_TTL).unwrap();
        assert_eq!(day.mint_at("v", NOW).unwrap().expires_at, NOW + 86_400);

        assert!(matches!(
            TokenIssuer::new(key(), "CH00112233445566778899aabbccddeeff", HOUR),
            Err(SetupError::Sid { prefix: "IS", .. })
        ));
        // An Account SID + auth token cannot sign: the issuer must be an API key.
        assert!(matches!(
            SigningKey::new(ACCOUNT, ACCOUNT, SECRET),
            Err(SetupError::Sid { prefix: "SK", .. })
        ));
        assert!(matches!(
            SigningKey::new("AC123", KEY, SECRET),
            Err(SetupError::Sid { prefix: "AC", .. })
        ));
        assert_eq!(
            SigningKey::new(ACCOUNT, KEY, "").unwrap_err(),
            SetupError::EmptySecret
        );
        let from_env = SigningKey::from_credentials(ACCOUNT, &Credentials::new(KEY, SECRET));
        assert_eq!(
            from_env.unwrap(),
            SigningKey::new(ACCOUNT, KEY, SECRET).unwrap()
        );
    }

    #[test]
    fn identity_is_bounded_at_mint() {
        let issuer = issuer();
        assert!(matches!(
            issuer.mint_at("", NOW),
            Err(TokenError::EmptyIdentity)
        ));
        let longest = "é".repeat(MAX_IDENTITY_BYTES / 2);
        let minted = issuer.mint_at(&longest, NOW).unwrap();
        assert!(minted.token.len() < MAX_TOKEN_BYTES);
        assert_eq!(
            issuer.verify_at(&minted.token, NOW).unwrap().identity,
            longest
        );
        assert!(matches!(
            issuer.mint_at(&"x".repeat(MAX_IDENTITY_BYTES + 1), NOW),
            Err(TokenError::IdentityTooLong)
        ));
        // The worst case for size: every byte escaped as \u00XX by JSON.
        let escaped = issuer
            .mint_at(&"\u{1}".repeat(MAX_IDENTITY_BYTES), NOW)
            .unwrap();
        assert!(escaped.token.len() < 3072, "{}", escaped.token.len());
    }

    #[test]
    fn refuses_tampered_payload_and_signature() {
        let token = issuer().mint_at("visitor-42", NOW).unwrap().token;
        let parts: Vec<&str> = token.split('.').collect();

        let mut other = claims();
        other["grants"]["identity"] = "someone-else".into();
        let payload_swapped = format!("{}.{}.{}", parts[0], b64(&other.to_string()), parts[2]);
        assert!(matches!(
            refusal(&payload_swapped),
            TokenError::BadSignature
        ));

        let mut signature = parts[2].to_string();
        let first = if signature.starts_with('A') { "B" } else { "A" };
        signature.replace_range(0..1, first);
        let signature_flipped = format!("{}.{}.{signature}", parts[0], parts[1]);
        assert!(matches!(
            refusal(&signature_flipped),
            TokenError::BadSignature
        ));

        let unsigned = format!("{}.{}.", parts[0], parts[1]);
        assert!(matches!(refusal(&unsigned), TokenError::BadSignature));
    }

    #[test]
    fn refuses_another_secret_key_account_or_service() {
        let other_secret = "another-secret-of-thirty-two-by!";
        let cases = [
            issuer_with(ACCOUNT, KEY, other_secret, SERVICE),
            issuer_with(
                ACCOUNT,
                "SK00000000000000000000000000000000",
                SECRET,
                SERVICE,
            ),
            issuer_with("AC00000000000000000000000000000000", KEY, SECRET, SERVICE),
            issuer_with(ACCOUNT, KEY, SECRET, "IS00000000000000000000000000000000"),
        ];
        let refusals: Vec<TokenError> = cases
            .iter()
            .map(|theirs| refusal(&theirs.mint_at("visitor-42", NOW).unwrap().token))
            .collect();
        assert!(
            matches!(
                &refusals[..],
                [
                    TokenError::BadSignature,
                    TokenError::WrongIssuer,
                    TokenError::WrongSubject,
                    TokenError::WrongService,
                ]
            ),
            "{refusals:?}"
        );
    }

    #[test]
    fn expiry_and_not_before_allow_only_the_leeway() {
        let issuer = issuer();
        let token = issuer.mint_at("visitor-42", NOW).unwrap().token;
        let exp = NOW + 3600;
        assert!(issuer.verify_at(&token, exp - 1).is_ok());
        assert!(issuer.verify_at(&token, exp + LEEWAY_SECS - 1).is_ok());
        assert!(matches!(
            issuer.verify_at(&token, exp + LEEWAY_SECS),
            Err(TokenError::Expired)
        ));
        assert!(matches!(
            issuer.verify_at(&token, u64::MAX),
            Err(TokenError::Expired)
        ));
        assert!(issuer.verify_at(&token, NOW - LEEWAY_SECS).is_ok());
        assert!(matches!(
            issuer.verify_at(&token, NOW - LEEWAY_SECS - 1),
            Err(TokenError::NotYetValid)
        ));
    }

    #[test]
    fn refuses_alg_none_and_every_other_algorithm() {
        let unsigned = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&claims_text())
        );
        assert!(matches!(
            refusal(&unsigned),
            TokenError::UnsupportedAlgorithm
        ));
        // Correctly HMAC-signed under our secret, but the header names another algorithm.
        for alg in [
            "HS384", "HS512", "RS256", "ES256", "EdDSA", "none", "hs256", "",
        ] {
            let header = format!(r#"{{"alg":"{alg}","cty":"twilio-fpa;v=1","typ":"JWT"}}"#);
            let token = forge(&header, &claims_text(), SECRET);
            assert!(
                matches!(refusal(&token), TokenError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        let no_alg = forge(r#"{"typ":"JWT"}"#, &claims_text(), SECRET);
        assert!(matches!(refusal(&no_alg), TokenError::UnsupportedAlgorithm));
    }

    #[test]
    fn refuses_garbage_and_oversized_input() {
        let header = b64(HEADER);
        for garbage in [
            String::new(),
            "not a token".to_string(),
            "a.b.c".to_string(),
            "...".to_string(),
            header.clone(),
            format!("{header}.%%%.xyz"),
            format!("{}.e30.", b64("not json")),
            format!("{}.e30.", b64("[]")),
            format!("{header}.{}.{}.x", b64("{}"), b64("sig")),
            // Signed, so only the claims' shape can fail.
            forge(HEADER, "[1,2]", SECRET),
            forge(HEADER, "not json", SECRET),
            format!("{}%", forge(HEADER, &claims_text(), SECRET)),
        ] {
            assert!(
                matches!(refusal(&garbage), TokenError::Malformed(_)),
                "{garbage:?}"
            );
        }
        let token = issuer().mint_at("visitor-42", NOW).unwrap().token;
        let at_limit = format!("{token}{}", "A".repeat(MAX_TOKEN_BYTES - token.len()));
        assert!(matches!(refusal(&at_limit), TokenError::BadSignature));
        let oversized = format!("{at_limit}A");
        assert!(matches!(refusal(&oversized), TokenError::TooLong));
    }

    #[test]
    fn refuses_signed_tokens_with_missing_or_mistyped_claims() {
        let verify = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut claims = claims();
            edit(&mut claims);
            issuer().verify_at(&forge(HEADER, &claims.to_string(), SECRET), NOW + 10)
        };
        let check = |edit: &dyn Fn(&mut serde_json::Value)| verify(edit).unwrap_err();
        let remove = |key: &'static str| {
            move |c: &mut serde_json::Value| {
                c.as_object_mut().unwrap().remove(key);
            }
        };
        assert!(matches!(
            check(&remove("iss")),
            TokenError::MissingClaim("iss")
        ));
        assert!(matches!(
            check(&remove("sub")),
            TokenError::MissingClaim("sub")
        ));
        assert!(matches!(
            check(&remove("exp")),
            TokenError::MissingClaim("exp")
        ));
        // `nbf` is optional: npm's tokens have none.
        assert_eq!(verify(&remove("nbf")).unwrap().identity, "visitor-42");
        assert!(matches!(check(&remove("grants")), TokenError::WrongService));
        // A mistyped time claim is malformed, not skipped (jsonwebtoken's CVE-2026-25537 shape).
        for (key, value) in [("exp", "never"), ("nbf", "99999999999")] {
            let refused = check(&|c| c[key] = value.into());
            assert!(
                matches!(refused, TokenError::Malformed(_)),
                "{key}: {refused:?}"
            );
        }
        let refused = check(&|c| c["exp"] = (NOW as f64 + 0.5).into());
        assert!(matches!(refused, TokenError::Malformed(_)));
        let refused = check(&|c| c["grants"]["identity"] = "".into());
        assert!(matches!(refused, TokenError::MissingIdentity));
        let refused = check(&|c| {
            c["grants"].as_object_mut().unwrap().remove("identity");
        });
        assert!(matches!(refused, TokenError::MissingIdentity));
        let refused = check(&|c| c["grants"]["identity"] = 42.into());
        assert!(matches!(refused, TokenError::Malformed(_)));
        let refused = check(&|c| {
            c["grants"]["chat"]
                .as_object_mut()
                .unwrap()
                .remove("service_sid");
        });
        assert!(matches!(refused, TokenError::WrongService));
        // An issuer list naming ours is not our issuer (jsonwebtoken would accept it).
        let refused = check(&|c| c["iss"] = serde_json::json!([KEY]));
        assert!(matches!(refused, TokenError::Malformed(_)));
    }

    #[test]
    fn debug_and_errors_never_show_the_secret() {
        let issuer = issuer();
        let shown = format!(
            "{issuer:?} {:?}",
            SigningKey::new(ACCOUNT, KEY, SECRET).unwrap()
        );
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains(KEY),
            "{shown}"
        );
        let token = issuer.mint_at("visitor-42", NOW).unwrap().token;
        let mistyped = forge(HEADER, r#"{"exp":"some-attacker-text"}"#, SECRET);
        for error in [
            refusal(&mistyped),
            refusal(&format!("{token}x")),
            refusal("garbage"),
            issuer.mint_at("", NOW).unwrap_err(),
        ] {
            let text = format!("{error} {error:?}");
            assert!(
                !text.contains(SECRET) && !text.contains("attacker"),
                "{text}"
            );
        }
    }
}
