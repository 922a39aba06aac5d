// flexroute's embed script, served at /v1/webchat/embed.js. A storefront adds one line:
//   <script src="https://chat.example.com/v1/webchat/embed.js" async></script>
// with optional data-site, data-lang, data-credentials="include" and data-timeout (ms).
// It asks flexroute which chat address this visitor should use, loads the widget script of
// the answer's kind (once per page), and starts it with the answer's appConfig. It never
// throws into the page: each failure is one console line, and window.flexroute.ready (a
// promise of {site, language, kind}) rejects with it.
// Full-line comments and indentation are stripped before it is served: keep comments on
// lines of their own, and no block comments.
(function (w, d) {
  'use strict';
  // Pasted twice: the second copy does nothing.
  if (w.flexroute && w.flexroute.setLanguage) return;
  var api = (w.flexroute = {});
  var warn = function (message) {
    try {
      console.warn('flexroute: ' + message);
    } catch (e) {}
  };
  try {
    var me = d.currentScript || d.querySelector('script[src*="/v1/webchat/embed.js"]');
    var data = me.dataset;
    // flexroute's own origin (and any path prefix a proxy adds), from this script's URL.
    var base = me.src.replace(/\/v1\/webchat\/embed\.js([?#].*)?$/, '');
    var credentials = data.credentials === 'include' ? 'include' : 'omit';
    var timeout = +data.timeout || 10000;
    // Widget scripts by URL, each loaded once per page.
    var loads = {};
    // Bumped by each start: an answer for a language the page has since left is dropped.
    var run = 0;
    // The Webchat 2.x instance, once started.
    var webchat2;
  } catch (e) {
    warn('cannot find its own script tag: ' + e.message);
    return;
  }

  var sleep = function (ms) {
    return new Promise(function (done) {
      setTimeout(done, ms);
    });
  };

  // GET the config for this page. `page` is the page's origin and first path segment (unless
  // it is a file name: a language tag has no dot), all flexroute reads of it: one answer then
  // serves every page of a language from the browser's cache, and no query string leaves the
  // page. A 503 is asked again after its Retry-After (at most 3 times, at most 30 s each).
  var ask = function (lang, attempt) {
    var query = new URLSearchParams();
    if (data.site) query.set('site', data.site);
    if (lang) query.set('lang', lang);
    var first = location.pathname.split('/')[1];
    if (first.indexOf('.') >= 0) first = '';
    query.set('page', location.origin + '/' + (first ? first + '/' : ''));
    var url = base + '/v1/webchat/config?' + query;
    var abort = new AbortController();
    var timer = setTimeout(function () {
      abort.abort();
    }, timeout);
    return fetch(url, { credentials: credentials, signal: abort.signal })
      .then(
        function (response) {
          if (response.status === 503 && attempt < 3) {
            clearTimeout(timer);
            var after = parseInt(response.headers.get('Retry-After'), 10);
            return sleep(Math.min(after >= 0 ? after : 5, 30) * 1000).then(function () {
              return ask(lang, attempt + 1);
            });
          }
          return response.json().then(function (body) {
            clearTimeout(timer);
            var error = body.error || {};
            if (!response.ok) throw new Error(response.status + ' ' + error.code + ': ' + error.message);
            return body;
          });
        },
        function (e) {
          throw new Error(
            abort.signal.aborted
              ? 'no answer from ' + url + ' within ' + timeout + ' ms'
              : 'cannot read ' + url + ' (' + e.message + '): flexroute unreachable, or this origin not allowed'
          );
        }
      );
  };

  var present = function (kind) {
    var twilio = w.Twilio;
    return twilio && (kind === 'flex_flow' ? twilio.FlexWebChat : twilio.initWebchat);
  };

  // The kind's widget script, once per page; none configured is fine if the page has it.
  var load = function (script, kind) {
    if (!script) {
      return present(kind) ? Promise.resolve() : Promise.reject(new Error('no widget_script configured for ' + kind));
    }
    var src = script.src;
    loads[src] =
      loads[src] ||
      new Promise(function (done, fail) {
        var tag = d.createElement('script');
        tag.src = src;
        tag.async = true;
        if (script.integrity) {
          tag.integrity = script.integrity;
          tag.crossOrigin = 'anonymous';
        }
        tag.onload = done;
        tag.onerror = function () {
          delete loads[src];
          fail(new Error('cannot load ' + src));
        };
        d.head.appendChild(tag);
      });
    return loads[src];
  };

  var domReady = function () {
    return new Promise(function (done) {
      if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', done);
      else done();
    });
  };

  // Start (or restart) the widget of the answer's kind with its appConfig.
  var start = function (answer) {
    var config = answer.appConfig;
    var twilio = w.Twilio;
    var kind = answer.address.kind;
    if (kind === 'flex_flow') {
      // Webchat 2.x allows one instance per page: a restart gives it the new configuration
      // (the form, and the Flex Flow of the next chat).
      if (webchat2) return webchat2.manager.updateConfig(config);
      return Promise.resolve(twilio.FlexWebChat.createWebChat(config)).then(function (webchat) {
        webchat2 = webchat;
        webchat.init();
      });
    }
    if (kind === 'conversations') {
      // The session routes are flexroute's, wherever the page is.
      config.serverUrl = new URL(config.serverUrl, base + '/').href;
      if (!d.getElementById('twilio-webchat-widget-root')) {
        var root = d.createElement('div');
        root.id = 'twilio-webchat-widget-root';
        d.body.appendChild(root);
      }
    }
    if (kind === 'conversations' || kind === 'webchat3') return Promise.resolve(twilio.initWebchat(config));
    throw new Error('unknown address kind ' + kind);
  };

  var go = function (lang) {
    var mine = ++run;
    var current = function () {
      return mine === run;
    };
    var ready = ask(lang, 0).then(function (answer) {
      if (!current()) return api.ready;
      var kind = answer.address.kind;
      return load(answer.widgetScript, kind)
        .then(domReady)
        .then(function () {
          if (!current()) return api.ready;
          return Promise.resolve(start(answer)).then(function () {
            return { site: answer.site, language: answer.language, kind: kind };
          });
        });
    });
    ready.catch(function (e) {
      if (current()) warn('no chat widget: ' + e.message);
    });
    api.ready = ready;
    return ready;
  };

  // A single-page storefront that changes language: re-asks and restarts the widget.
  api.setLanguage = function (lang) {
    return go(String(lang));
  };
  go(data.lang);
})(window, document);
