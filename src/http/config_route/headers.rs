//! The headers of a served answer (`200` or `304`, the pair's own or degraded), prebuilt once
//! per variant: a variant is the map `respond` would build, in the same order, with stand-ins
//! for what each answer or request supplies (`ETag`, `Content-Language`, the echoed `Origin`).
//! An answer clones its variant and replaces those three in place, which costs less than
//! building the map insert by insert on every page view. Errors keep being built in full.

use http::header::{self, HeaderMap, HeaderValue};

use super::{JSON, VARY, VARY_REFERER, cors};

/// What the stand-ins hold until they are replaced.
const STAND_IN: HeaderValue = HeaderValue::from_static("");

/// Every variant, indexed by [`Variant::index`].
pub struct Served([HeaderMap; 16]);

/// Which prebuilt map an answer starts from.
pub struct Variant {
    pub not_modified: bool,
    /// `Vary` names `Referer` too.
    pub referer: bool,
    /// The request's `Origin` is granted.
    pub cors: bool,
    /// `Cache-Control: no-cache` rather than the server's.
    pub degraded: bool,
}

impl Variant {
    fn index(&self) -> usize {
        usize::from(self.not_modified)
            | usize::from(self.referer) << 1
            | usize::from(self.cors) << 2
            | usize::from(self.degraded) << 3
    }
}

impl Served {
    /// The variants for a server whose answers say `cache_control`.
    pub fn new(cache_control: &HeaderValue) -> Self {
        Self(std::array::from_fn(|index| {
            let variant = Variant {
                not_modified: index & 1 != 0,
                referer: index & 2 != 0,
                cors: index & 4 != 0,
                degraded: index & 8 != 0,
            };
            let mut headers = HeaderMap::with_capacity(8);
            if !variant.not_modified {
                headers.insert(header::CONTENT_TYPE, JSON.clone());
            }
            let vary = if variant.referer {
                &VARY_REFERER
            } else {
                &VARY
            };
            headers.insert(header::VARY, vary.clone());
            let cache_control = if variant.degraded {
                HeaderValue::from_static("no-cache")
            } else {
                cache_control.clone()
            };
            headers.insert(header::CACHE_CONTROL, cache_control);
            headers.insert(header::ETAG, STAND_IN);
            headers.insert(header::CONTENT_LANGUAGE, STAND_IN);
            if variant.cors {
                cors::grant(&STAND_IN, &mut headers);
            }
            headers
        }))
    }

    /// The headers of `variant`, with its `etag`, `language` and granted `origin` in place.
    pub fn headers(
        &self,
        variant: &Variant,
        etag: &HeaderValue,
        language: &HeaderValue,
        origin: Option<&HeaderValue>,
    ) -> HeaderMap {
        let mut headers = self.0[variant.index()].clone();
        headers.insert(header::ETAG, etag.clone());
        headers.insert(header::CONTENT_LANGUAGE, language.clone());
        if let Some(origin) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
        headers
    }
}
