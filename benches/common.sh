# Shared by load.sh and profile.sh (sourced): readiness polling and the Accept-Language mix.

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
