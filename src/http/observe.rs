//! One middleware for every public request: the request counter and latency histogram, a
//! debug log line, the refusals of `refuse` (`400` without exactly one `Host`, `413` for a
//! declared body over `MAX_BODY_BYTES`; counted like any answer), and the shortcut that
//! answers the config route from the cache ahead of the router. The route label is the
//! pattern the path matches (`{site}` standing for any segment), so unknown paths collapse
//! into one `unmatched` series instead of one per path. Metric handles are looked up once per
//! (route, status) and kept, so a request costs atomic increments, not label hashing.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, Uri};
use pin_project_lite::pin_project;
use prometheus::{Histogram, IntCounter};
use tower::Service;

use super::{AppState, error, refuse};
use crate::metrics::Metrics;

/// Statuses whose counters are kept at hand; any other is looked up by label (still bounded:
/// only flexroute and hyper choose statuses).
const COMMON_STATUSES: [u16; 10] = [200, 204, 304, 400, 404, 405, 413, 429, 500, 503];

pub struct RouteMetrics {
    route: &'static str,
    /// Whether `route` has a `{placeholder}` segment, so is matched segment by segment.
    templated: bool,
    metrics: Metrics,
    duration: OnceLock<Histogram>,
    requests: [OnceLock<IntCounter>; COMMON_STATUSES.len()],
}

impl RouteMetrics {
    pub fn new(route: &'static str, metrics: &Metrics) -> Self {
        Self {
            route,
            templated: route.contains('{'),
            metrics: metrics.clone(),
            duration: OnceLock::new(),
            requests: Default::default(),
        }
    }

    /// Whether the router would take `path` to this route: the same path for a static route;
    /// for a templated one the same segments, a `{placeholder}` standing for any non-empty one
    /// (as the router matches; no route has a catch-all). No allocation.
    fn matches(&self, path: &str) -> bool {
        if !self.templated {
            return self.route == path;
        }
        let mut segments = path.split('/');
        let same = self.route.split('/').all(|pattern| {
            segments.next().is_some_and(|segment| {
                if pattern.starts_with('{') && pattern.ends_with('}') {
                    !segment.is_empty()
                } else {
                    segment == pattern
                }
            })
        });
        same && segments.next().is_none()
    }

    fn record(&self, status: StatusCode, seconds: f64) {
        let labels = [self.route, status.as_str()];
        match COMMON_STATUSES.iter().position(|s| *s == status.as_u16()) {
            Some(i) => self.requests[i]
                .get_or_init(|| self.metrics.http_requests.with_label_values(&labels))
                .inc(),
            None => self.metrics.http_requests.with_label_values(&labels).inc(),
        }
        self.duration
            .get_or_init(|| self.metrics.http_duration.with_label_values(&[self.route]))
            .observe(seconds);
    }
}

/// The handles for every route the router has, plus `unmatched`.
pub struct HttpMetrics(Vec<RouteMetrics>);

impl HttpMetrics {
    pub fn new(routes: &[&'static str], metrics: &Metrics) -> Self {
        let labels = routes.iter().copied().chain(["unmatched"]);
        Self(
            labels
                .map(|route| RouteMetrics::new(route, metrics))
                .collect(),
        )
    }

    /// The index of the route `path` matches (the last one, `unmatched`, if none).
    fn index_of(&self, path: &str) -> usize {
        let last = self.0.len() - 1;
        self.0[..last]
            .iter()
            .position(|r| r.matches(path))
            .unwrap_or(last)
    }

    fn route(&self, index: usize) -> &RouteMetrics {
        &self.0[index]
    }
}

/// The public router wrapped once, outside it: metrics, the `400` and `413`, the shortcut, and
/// panics turned into `500 internal`. Outside rather than as router layers because each
/// `Router::layer` boxes and clones every route's service again on every request; this costs
/// neither. The route label is the router's route the path matches, else `unmatched`.
#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    app: AppState,
    /// The shortcut, and the index of its route among the metrics' routes.
    shortcut: Option<(usize, Shortcut)>,
}

/// A route whose requests of one method are answered without the router when they can be at
/// once: `answer` gives the response, or `None` to ask the router after all.
#[derive(Clone)]
pub struct Shortcut {
    pub method: Method,
    pub route: &'static str,
    pub answer: fn(&AppState, &Uri, &HeaderMap) -> Option<Response>,
}

impl<S> Observed<S> {
    pub fn new(inner: S, app: AppState) -> Self {
        Self {
            inner,
            app,
            shortcut: None,
        }
    }

    /// Tries `shortcut` before `inner` for its route's requests (with the same metrics, size
    /// limit and panic handling): for the hot route, it saves the router's boxing and cloning.
    pub fn with_shortcut(mut self, shortcut: Shortcut) -> Self {
        let route = self.app.http_metrics.index_of(shortcut.route);
        debug_assert_ne!(
            self.app.http_metrics.route(route).route,
            "unmatched",
            "a shortcut's route is one of the router's"
        );
        self.shortcut = Some((route, shortcut));
        self
    }

    /// The shortcut's answer for a request to `route`, a panic in it turned into the `500` it
    /// is; `None` for the router.
    fn shortcut<B>(&self, route: usize, request: &http::Request<B>) -> Option<Response> {
        let (_, shortcut) = self
            .shortcut
            .as_ref()
            .filter(|(index, shortcut)| *index == route && request.method() == shortcut.method)?;
        let (uri, headers) = (request.uri(), request.headers());
        panic::catch_unwind(AssertUnwindSafe(|| {
            (shortcut.answer)(&self.app, uri, headers)
        }))
        .unwrap_or_else(|panic| Some(error::panic_response(panic)))
    }
}

impl<S, B> Service<http::Request<B>> for Observed<S>
where
    S: Service<http::Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let route = self.app.http_metrics.index_of(request.uri().path());
        let method = tracing::enabled!(tracing::Level::DEBUG).then(|| request.method().clone());
        let at_once = refuse::refused(request.version(), request.headers())
            .or_else(|| self.shortcut(route, &request));
        let inner = match at_once {
            Some(response) => Inner::Ready {
                response: Some(response),
            },
            None => match panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
                Ok(future) => Inner::Running { future },
                Err(panic) => Inner::Ready {
                    response: Some(error::panic_response(panic)),
                },
            },
        };
        ObservedFuture {
            inner,
            app: self.app.clone(),
            route,
            started,
            method,
        }
    }
}

pin_project! {
    pub struct ObservedFuture<F> {
        #[pin]
        inner: Inner<F>,
        app: AppState,
        route: usize,
        started: Instant,
        method: Option<Method>,
    }
}

pin_project! {
    #[project = InnerProjection]
    enum Inner<F> {
        Running { #[pin] future: F },
        Ready { response: Option<Response> },
    }
}

impl<F> Future for ObservedFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.project() {
            InnerProjection::Running { future } => {
                match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(response))) => response,
                    Err(panic) => error::panic_response(panic),
                }
            }
            InnerProjection::Ready { response } => response
                .take()
                .expect("an observed future is not polled after it finished"),
        };
        let elapsed = this.started.elapsed();
        let route = this.app.http_metrics.route(*this.route);
        route.record(response.status(), elapsed.as_secs_f64());
        if let Some(method) = this.method.take() {
            tracing::debug!(
                // A method is a token of any length: cut, like anything a client chose.
                method = %crate::text::Bounded(method.as_str()),
                route = route.route,
                status = response.status().as_u16(),
                micros = elapsed.as_micros() as u64,
                "request"
            );
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::config::{Config, Environment};

    const TABLE: &str = r#"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
[provisioning]
enabled = false
[[sites]]
id = "acme"
default_language = "en"
languages = ["en"]
[sites.language."en"]
flex_flow_sid = "FO0123456789abcdef0123456789abcdef"
"#;

    async fn handler_with_a_bug() -> &'static str {
        panic!("a handler bug")
    }

    async fn observed() -> (Observed<Router>, AppState) {
        let config = Config::from_toml_str(TABLE, &Environment::default())
            .unwrap()
            .config;
        let store = std::sync::Arc::new(crate::provision::store::MemoryStore::default());
        let app = crate::app::App::build(&config, None, Some(store))
            .await
            .unwrap();
        let app = AppState::new(app, None, &config.server, None);
        let router = Router::new()
            .route("/v1/webchat/config", get(handler_with_a_bug))
            .route("/healthz", get(|| async { "ok" }));
        (Observed::new(router, app.clone()), app)
    }

    fn series(app: &AppState, line: &str) -> Option<String> {
        let text = String::from_utf8(app.metrics.render()).unwrap();
        text.lines()
            .find(|l| l.starts_with(line))
            .map(|l| l[line.len()..].trim().to_string())
    }

    async fn call(service: Observed<Router>, request: http::Request<Body>) -> (u16, String) {
        let response = service.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_panic_is_a_counted_500_and_the_route_label_is_the_path_or_unmatched() {
        let (service, app) = observed().await;
        let get = |uri: &str| {
            http::Request::get(uri)
                .header("host", "acme.example")
                .body(Body::empty())
                .unwrap()
        };
        let (status, body) = call(service.clone(), get("/v1/webchat/config?site=acme")).await;
        assert_eq!(status, 500);
        assert!(body.contains(r#""code":"internal""#), "{body}");
        assert!(!body.contains("a handler bug"), "panic text leaked: {body}");
        let (status, _) = call(service.clone(), get("/healthz")).await;
        assert_eq!(status, 200);
        let (status, _) = call(service.clone(), get("/no/such/path")).await;
        assert_eq!(status, 404);
        let large = http::Request::get("/healthz")
            .header("host", "acme.example")
            .header("content-length", "1000000")
            .body(Body::empty())
            .unwrap();
        let (status, body) = call(service, large).await;
        assert_eq!(status, 413);
        assert!(body.contains("payload_too_large"), "{body}");
        for (labels, count) in [
            (r#"route="/v1/webchat/config",status="500""#, "1"),
            (r#"route="/healthz",status="200""#, "1"),
            (r#"route="unmatched",status="404""#, "1"),
            (r#"route="/healthz",status="413""#, "1"),
        ] {
            let line = format!("flexroute_http_requests_total{{{labels}}}");
            assert_eq!(series(&app, &line).as_deref(), Some(count), "{line}");
        }
    }

    #[tokio::test]
    async fn a_path_is_labelled_with_the_route_pattern_it_matches() {
        let (_, app) = observed().await;
        let label = |path: &str| {
            let metrics = &app.http_metrics;
            metrics.route(metrics.index_of(path)).route
        };
        let init = "/v1/webchat/{site}/{language}/initWebchat";
        assert_eq!(label("/v1/webchat/shop/en/initWebchat"), init);
        assert_eq!(label("/v1/webchat/a%2Fb/x/initWebchat"), init);
        assert_eq!(
            label("/v1/webchat/shop/en/refreshToken"),
            "/v1/webchat/{site}/{language}/refreshToken"
        );
        assert_eq!(label("/v1/webchat/config"), "/v1/webchat/config");
        for unmatched in [
            "/v1/webchat//en/initWebchat",
            "/v1/webchat/shop/en/initWebchat/",
            "/v1/webchat/shop/initWebchat",
            "/v1/webchat/shop/en/x/initWebchat",
            "/v1/webchat/shop/en/initwebchat",
            "/v1/webchat/config/",
        ] {
            assert_eq!(label(unmatched), "unmatched", "{unmatched}");
        }
    }

    fn shortcut_with_a_bug(_: &AppState, uri: &Uri, _: &HeaderMap) -> Option<Response> {
        (uri.path() == "/v1/webchat/config").then(|| panic!("a shortcut bug"))
    }

    #[tokio::test]
    async fn a_panic_in_the_shortcut_is_a_counted_500_and_other_paths_take_the_router() {
        let (service, app) = observed().await;
        let service = service.with_shortcut(Shortcut {
            method: Method::GET,
            route: "/v1/webchat/config",
            answer: shortcut_with_a_bug,
        });
        let get = |uri: &str| {
            http::Request::get(uri)
                .header("host", "acme.example")
                .body(Body::empty())
                .unwrap()
        };
        let (status, body) = call(service.clone(), get("/v1/webchat/config?site=acme")).await;
        assert_eq!(status, 500);
        assert!(body.contains(r#""code":"internal""#), "{body}");
        assert!(
            !body.contains("a shortcut bug"),
            "panic text leaked: {body}"
        );
        let (status, body) = call(service, get("/healthz")).await;
        assert_eq!((status, body.as_str()), (200, "ok"));
        let line = r#"flexroute_http_requests_total{route="/v1/webchat/config",status="500"}"#;
        assert_eq!(series(&app, line).as_deref(), Some("1"));
    }
}
