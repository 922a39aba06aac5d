# Shared by the bench scripts (sourced): the load tools, readiness polling, the wrk Lua scripts.

# need_load_tools: wrk installed (from Debian's package), taskset, and two cores — one for the
# server, one for wrk.
need_load_tools() {
  if ! command -v wrk >/dev/null 2>&1; then
    echo "== installing wrk"
    (apt-get install -y -qq wrk >/dev/null 2>&1) || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
  fi
  command -v taskset >/dev/null || { echo "taskset (util-linux) is needed"; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "needs 2 cores: one for the server, one for wrk"; exit 1; }
}

wait_ready() { # url
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "not ready: $1"; exit 1
}

# write_accept_language_lua FILE: realistic Accept-Language headers, rotated per request
# (negotiation on every request), with a cross-origin Origin as a storefront page sends.
write_accept_language_lua() {
  cat >"$1" <<'LUA'
local headers = {
  "en-US,en;q=0.9", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "fr-CA,fr;q=0.9,en;q=0.8",
  "es-419,es;q=0.9", "es-AR,es;q=0.9,en;q=0.8", "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7",
  "en-GB,en;q=0.9", "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "es-MX,es;q=0.9,en;q=0.8",
  "nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7", "it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7,de;q=0.6",
  "zh-CN,zh;q=0.9,en;q=0.8", "ja,en-US;q=0.9,en;q=0.8", "en", "de", "fr-CA",
  "es-ES,es;q=0.9,ca;q=0.8,en;q=0.7", "en-US", "*", "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5",
}
local i = 0
request = function()
  i = i + 1
  wrk.headers["Accept-Language"] = headers[(i % #headers) + 1]
  wrk.headers["Origin"] = "https://shop.acme.example"
  return wrk.format("GET", "/v1/webchat/config")
end
LUA
}

# write_browser_lua FILE: exactly what a storefront page's browser sends for the widget config
# (issue 17): no `lang`, a cross-origin `Origin`, a `Referer` with path and query, a four-entry
# `Accept-Language` and three cookies (none of them the site's language cookie, so negotiation
# decides). One fixed request: wrk builds it once, so the generator costs as little as a plain
# URL.
write_browser_lua() {
  cat >"$1" <<'LUA'
wrk.method = "GET"
wrk.path = "/v1/webchat/config"
wrk.headers["Origin"] = "https://shop.acme.example"
wrk.headers["Referer"] = "https://shop.acme.example/products/trail-shoes?color=red&utm_source=newsletter"
wrk.headers["Accept-Language"] = "es-AR,es;q=0.9,en-US;q=0.8,en;q=0.7"
wrk.headers["Cookie"] = "_ga=GA1.1.1187432908.1732780800; cart=3f9a2c71; session_id=7b1e94d0c2a84f6e"
LUA
}

# write_explicit_lua FILE: the embed snippet's explicit request, `?site=acme&lang=es-MX`, with
# the `Origin` a cross-origin fetch carries.
write_explicit_lua() {
  cat >"$1" <<'LUA'
wrk.method = "GET"
wrk.path = "/v1/webchat/config?site=acme&lang=es-MX"
wrk.headers["Origin"] = "https://shop.acme.example"
LUA
}

# write_spread_lua FILE: requests spread over the 100,000-pair table of gen_table.py (25,000
# sites × 4 languages): every request a different site and language.
write_spread_lua() {
  cat >"$1" <<'LUA'
local langs = { "en-US", "de-DE", "fr-FR", "es-MX" }
local i = 0
request = function()
  i = i + 1
  local site = (i * 7919) % 25000
  return wrk.format("GET", "/v1/webchat/config?site=site" .. site .. "&lang=" .. langs[(i % 4) + 1])
end
LUA
}
