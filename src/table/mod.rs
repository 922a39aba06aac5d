//! The routing table: the validated configuration compiled into the shape requests need —
//! host and id indexes, per-site language matchers, and for every (site, language) pair its
//! address and merged widget configuration.

mod merge;

use std::borrow::Borrow;
use std::sync::Arc;

use crate::config::{Config, FlowSettings, SiteConfig, WidgetScript};
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
    /// Effective Flex Flow settings (language → site → defaults); equal settings are one copy
    /// shared across the table.
    pub flow: Arc<FlowSettings>,
    /// `defaults.widget` ← site `widget` ← language `widget`, deep-merged; equal merged
    /// widgets are one copy shared across the table.
    pub widget: Arc<Widget>,
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

/// A pair's merged widget settings, as its answer's `appConfig` carries them.
pub type Widget = serde_json::Map<String, serde_json::Value>;

fn widget_hash(widget: &Widget) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&serde_json::to_vec(widget).unwrap_or_default())
}

/// The merged widgets of a table, each kept once: in a large fleet most sites merge to the
/// same few (the defaults, or the defaults with a site's colours), and one copy per site was
/// most of a 100,000-pair table's memory.
#[derive(Default)]
struct Widgets(FastMap<u64, Vec<Arc<Widget>>>);

impl Widgets {
    /// The shared copy of `widget`, and its hash.
    fn intern(&mut self, widget: Widget) -> (Arc<Widget>, u64) {
        let hash = widget_hash(&widget);
        let same = self.0.entry(hash).or_default();
        if let Some(shared) = same.iter().find(|shared| ***shared == widget) {
            return (shared.clone(), hash);
        }
        let shared = Arc::new(widget);
        same.push(shared.clone());
        (shared, hash)
    }
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

/// The distinct flow settings of a table, the first [`Flows::KEPT`] of them shared: a fleet
/// has a few, and 100,000 copies were 30 MB.
#[derive(Default)]
struct Flows(Vec<Arc<FlowSettings>>);

impl Flows {
    const KEPT: usize = 32;

    fn intern(&mut self, flow: FlowSettings) -> Arc<FlowSettings> {
        if let Some(shared) = self.0.iter().find(|shared| ***shared == flow) {
            return shared.clone();
        }
        let flow = Arc::new(flow);
        if self.0.len() < Self::KEPT {
            self.0.push(flow.clone());
        }
        flow
    }
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
        Self::compile(config, config.sites.iter())
    }

    /// Same as [`RoutingTable::build`], taking the sites out of `config`: each is dropped as
    /// soon as it is compiled, so the table reuses their memory instead of adding to it (a
    /// 100,000-pair configuration is 90 MB).
    pub fn build_taking_sites(config: &mut Config) -> Self {
        let sites = std::mem::take(&mut config.sites);
        Self::compile(config, sites.into_iter())
    }

    fn compile<S: Borrow<SiteConfig>>(
        config: &Config,
        all: impl ExactSizeIterator<Item = S>,
    ) -> Self {
        let mut sites = Vec::with_capacity(all.len());
        let mut by_id = FastMap::with_capacity_and_hasher(all.len(), Default::default());
        let mut host_index = HostIndex::default();
        let defaults_widget = merge::from_toml(&config.defaults.widget);
        let mut tag_cache = TagCache::default();
        let mut widgets = Widgets::default();
        let mut flows = Flows::default();
        let account = config.twilio.account_sid.as_deref().unwrap_or("");
        let public_url = config.server.public_url.clone().unwrap_or_default();
        for (index, site) in all.enumerate() {
            let site = site.borrow();
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
            let site_flow = flows.intern(site.flow.inherit(&config.defaults.flow));
            let mut site_widget = defaults_widget.clone();
            merge::deep_merge(&mut site_widget, merge::from_toml(&site.widget));
            let (site_widget, site_widget_hash) = widgets.intern(site_widget);
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
                            widgets.intern(own)
                        }
                        None => (site_widget.clone(), site_widget_hash),
                    };
                    let flow = match settings {
                        Some(settings) => flows.intern(settings.flow.inherit(&site_flow)),
                        None => site_flow.clone(),
                    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    #[test]
    fn equal_widgets_and_flow_settings_are_one_copy() {
        let text = r#"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
[provisioning]
enabled = false
[defaults.widget]
theme = { colour = "blue" }
[[sites]]
id = "a"
default_language = "en"
languages = ["en", "de"]
[sites.language."de"]
flex_flow_sid = "FO0123456789abcdef0123456789abcdef"
[[sites]]
id = "b"
default_language = "en"
languages = ["en", "de"]
[[sites]]
id = "c"
default_language = "en"
languages = ["en"]
[sites.widget]
theme = { colour = "red" }
"#;
        let mut config = Config::from_toml_str(text, &Environment::from_pairs::<&str, &str>([]))
            .unwrap()
            .config;
        let built = RoutingTable::build(&config);
        let taken = RoutingTable::build_taking_sites(&mut config);
        assert!(config.sites.is_empty());
        for table in [built, taken] {
            let pairs: Vec<&Pair> = table.sites.iter().flat_map(|s| &s.pairs).collect();
            let (a_en, c_en) = (pairs[0], pairs[4]);
            for pair in &pairs[1..4] {
                assert!(Arc::ptr_eq(&pair.widget, &a_en.widget));
                assert!(Arc::ptr_eq(&pair.flow, &a_en.flow));
            }
            assert!(!Arc::ptr_eq(&c_en.widget, &a_en.widget));
            assert_eq!(c_en.widget["theme"]["colour"], "red");
            assert!(pairs[1].pinned.is_some() && pairs[3].pinned.is_none());
        }
    }
}
