//! HTTP Basic authentication as Twilio does it: the user is an Account SID or an API Key SID,
//! the password its Auth Token or API Key Secret.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::twilio::Credentials;

/// Whether the request's `Authorization: Basic …` names one of `accepted` with its secret.
pub fn authorized(headers: &HeaderMap, accepted: &[Credentials]) -> bool {
    let Some((user, secret)) = basic_pair(headers) else {
        return false;
    };
    // Every pair is compared, so the time taken does not tell which user exists.
    accepted.iter().fold(false, |found, c| {
        let same =
            (c.username == user) & constant_time_eq(c.secret().as_bytes(), secret.as_bytes());
        found | same
    })
}

fn basic_pair(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (user, secret) = decoded.split_once(':')?;
    Some((user.to_string(), secret.to_string()))
}

/// Equal-length inputs take the same time whatever their content. The length itself is not
/// hidden: Auth Tokens and API Key Secrets all have one fixed length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 with padding (RFC 4648 §4), which is what Basic auth uses. `None` for
/// anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let padding = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut group = 0u32;
        for &c in &chunk[..4 - padding] {
            group = group << 6 | sextet(c)?;
        }
        group <<= 6 * padding as u32;
        let decoded = [(group >> 16) as u8, (group >> 8) as u8, group as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[test]
    fn decodes_base64_with_and_without_padding() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        for bad in ["Zg", "Zg=", "Z===", "Zg==Zm9v", "Zm9*", "Zm 9"] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn accepts_only_a_known_pair() {
        let accepted = [
            Credentials::new("ACone", "token"),
            Credentials::new("SKkey", "secret"),
        ];
        // "ACone:token", "SKkey:secret", "ACone:tokeN", "SKkey:token".
        assert!(authorized(&headers("Basic QUNvbmU6dG9rZW4="), &accepted));
        assert!(authorized(&headers("basic U0trZXk6c2VjcmV0"), &accepted));
        assert!(!authorized(&headers("Basic QUNvbmU6dG9rZU4="), &accepted));
        assert!(!authorized(&headers("Basic U0trZXk6dG9rZW4="), &accepted));
        assert!(!authorized(&headers("Bearer QUNvbmU6dG9rZW4="), &accepted));
        assert!(!authorized(&headers("Basic !!!!"), &accepted));
        assert!(!authorized(&HeaderMap::new(), &accepted));
    }

    #[test]
    fn compares_secrets_of_any_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
