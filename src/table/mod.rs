//! The routing table: the validated configuration compiled into the shape requests need —
//! host and id indexes, per-site language matchers, and for every (site, language) pair its
//! address and merged widget configuration.

mod merge;

use std::sync::Arc;

use crate::config::{Config, FlowSettings, WidgetScript};
use crate::lookup::FastMap;
use crate::lookup::hosts::{HostIndex, HostPattern, normalize_origin};
use crate::lookup::languages::{SiteLanguages, TagCache};

pub use crate::address::{Address, AddressKind};

/// One configured (site, language) pair.
#[derive(Debug)]
pub struct Pair {
    pub language: Arc<str>,
    /// `address_kind` (language → site → defaults).
    pub kind: AddressKind,
    /// Pinned in the config (the kind's pin key); `None` means the pair is missing until
    /// provisioned (or, for a kind that is never provisioned, validation refused the file).
    pub pinned: Option<Address>,
    /// Effective Flex Flow settings (language → site → defaults).
    pub flow: FlowSettings,
    /// `defaults.widget` ← site `widget` ← language `widget`, deep-merged; pairs without a
    /// widget of their own share their site's.
    pub widget: Arc<serde_json::Map<String, serde_json::Value>>,
    /// Hash of everything a cached answer for this pair is built from (pinned address,
    /// widget, account SID): a reload drops the cached answers whose fingerprint changed.
    pub fingerprint: u64,
}

#[derive(Debug)]
pub struct Site {
    pub id: Arc<str>,
    pub hosts: Vec<String>,
    pub languages: SiteLanguages,
    /// Indexed like `languages`.
    pub pairs: Vec<Pair>,
    pub path_language: bool,
    pub language_cookie: Option<Box<str>>,
    allowed_origins: Vec<Box<str>>,
}

impl Site {
    /// Whether a browser on `origin` may read this site's answers (exact, case-insensitive).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    }

    pub fn default_pair(&self) -> &Pair {
        &self.pairs[self.languages.default_index()]
    }
}

fn widget_hash(widget: &serde_json::Map<String, serde_json::Value>) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&serde_json::to_vec(widget).unwrap_or_default())
}

/// What a cached answer for a pair is built from, hashed: its widget, its kind, its pinned
/// address, the account SID, the session backend's URL and the kind's widget script.
fn fingerprint(
    widget_hash: u64,
    kind: AddressKind,
    pinned: &Option<Address>,
    account: &str,
    server_url: &str,
    script: Option<&WidgetScript>,
) -> u64 {
    let pinned = pinned.as_ref().map_or("", Address::sid);
    let (src, integrity) = script.map_or(("", ""), |s| {
        (s.src.as_str(), s.integrity.as_deref().unwrap_or(""))
    });
    let inputs = format!(
        "{widget_hash:016x}\u{1f}{kind}\u{1f}{pinned}\u{1f}{account}\u{1f}{server_url}\u{1f}{src}\u{1f}{integrity}"
    );
    xxhash_rust::xxh3::xxh3_64(inputs.as_bytes())
}

#[derive(Debug)]
pub struct RoutingTable {
    pub sites: Vec<Site>,
    by_id: FastMap<Box<str>, usize>,
    hosts: HostIndex,
    pub account_sid: Option<String>,
    /// `server.public_url` without a trailing slash: the origin (and path prefix) browsers
    /// reach this server at, for the session backend's `serverUrl`.
    pub public_url: Option<Box<str>>,
}

/// Counts for `flexroute check` and the `flexroute_routes` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub sites: usize,
    pub pairs: usize,
    pub pinned: usize,
    pub missing: usize,
    pub hosts: usize,
    /// Pairs of each kind, in [`AddressKind::ALL`] order.
    pub kinds: [usize; 3],
}

impl RoutingTable {
    /// Compiles a configuration that passed validation.
    pub fn build(config: &Config) -> Self {
        let mut sites = Vec::with_capacity(config.sites.len());
        let mut by_id = FastMap::with_capacity_and_hasher(config.sites.len(), Default::default());
        let mut host_index = HostIndex::default();
        let defaults_widget = merge::from_toml(&config.defaults.widget);
        let mut tag_cache = TagCache::default();
        let account = config.twilio.account_sid.as_deref().unwrap_or("");
        let public_url = config.server.public_url.clone().unwrap_or_default();
        for (index, site) in config.sites.iter().enumerate() {
            let tags: Vec<Arc<str>> = site
                .languages
                .iter()
                .map(|t| {
                    tag_cache
                        .canonical(t)
                        .unwrap_or_else(|_| Arc::from(t.as_str()))
                })
                .collect();
            let default = tags
                .iter()
                .position(|t| t.eq_ignore_ascii_case(&site.default_language))
                .unwrap_or(0);
            let languages = SiteLanguages::new(tags, default);
            let site_flow = site.flow.inherit(&config.defaults.flow);
            let mut site_widget = defaults_widget.clone();
            merge::deep_merge(&mut site_widget, merge::from_toml(&site.widget));
            let site_widget_hash = widget_hash(&site_widget);
            let site_widget = Arc::new(site_widget);
            let pairs = languages
                .tags()
                .iter()
                .map(|tag| {
                    let settings = site
                        .language
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(tag))
                        .map(|(_, language)| language);
                    let (merged, merged_hash) = match settings.filter(|s| !s.widget.is_empty()) {
                        Some(settings) => {
                            let mut own = (*site_widget).clone();
                            merge::deep_merge(&mut own, merge::from_toml(&settings.widget));
                            let hash = widget_hash(&own);
                            (Arc::new(own), hash)
                        }
                        None => (site_widget.clone(), site_widget_hash),
                    };
                    let flow =
                        settings.map_or_else(|| site_flow.clone(), |s| s.flow.inherit(&site_flow));
                    let kind = flow.address_kind.unwrap_or_default();
                    let pinned = settings
                        .and_then(|s| s.pinned(kind))
                        .map(|sid| Address::new(kind, sid));
                    let fingerprint = fingerprint(
                        merged_hash,
                        kind,
                        &pinned,
                        account,
                        &public_url,
                        flow.widget_script.get(kind),
                    );
                    Pair {
                        language: tag.clone(),
                        kind,
                        fingerprint,
                        pinned,
                        flow,
                        widget: merged,
                    }
                })
                .collect();
            for host in &site.hosts {
                if let Ok(pattern) = HostPattern::parse(host) {
                    host_index.insert(&pattern, index);
                }
            }
            by_id.insert(site.id.as_str().into(), index);
            sites.push(Site {
                id: site.id.as_str().into(),
                hosts: site.hosts.clone(),
                languages,
                pairs,
                path_language: site.path_language,
                language_cookie: site.language_cookie.as_deref().map(Into::into),
                allowed_origins: site
                    .allowed_origins
                    .iter()
                    .filter_map(|o| normalize_origin(o))
                    .map(Into::into)
                    .collect(),
            });
        }
        RoutingTable {
            sites,
            by_id,
            hosts: host_index,
            account_sid: config.twilio.account_sid.clone(),
            public_url: config
                .server
                .public_url
                .as_deref()
                .map(|url| url.trim_end_matches('/').into()),
        }
    }

    /// The pair a route key names, if this table configures it.
    pub fn pair(&self, site: &str, language: &str) -> Option<(&Site, &Pair)> {
        let site = &self.sites[self.site_by_id(site)?];
        let pair = &site.pairs[site.languages.position(language)?];
        Some((site, pair))
    }

    pub fn site_by_id(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn site_by_host(&self, host: &str) -> Option<usize> {
        self.hosts.lookup(host)
    }

    pub fn summary(&self) -> Summary {
        let pairs = self.sites.iter().map(|s| s.pairs.len()).sum();
        let pinned = self
            .sites
            .iter()
            .flat_map(|s| &s.pairs)
            .filter(|p| p.pinned.is_some())
            .count();
        let mut kinds = [0; 3];
        for pair in self.sites.iter().flat_map(|s| &s.pairs) {
            kinds[pair.kind as usize] += 1;
        }
        Summary {
            sites: self.sites.len(),
            pairs,
            pinned,
            missing: pairs - pinned,
            hosts: self.sites.iter().map(|s| s.hosts.len()).sum(),
            kinds,
        }
    }
}
