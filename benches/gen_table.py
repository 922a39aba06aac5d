#!/usr/bin/env python3
"""Writes a routing table of SITES sites × 4 languages, every pair pinned, for benches/load.sh:
`gen_table.py 25000 > table-100k.toml` (100,000 pairs). Site N answers to siteN.example and
*.siteN.example; its languages are en-US (default), de-DE, fr-FR and es-MX."""
import sys

sites = int(sys.argv[1]) if len(sys.argv) > 1 else 25000
out = sys.stdout
out.write('[server]\nlisten = "127.0.0.1:18080"\nadmin_listen = "127.0.0.1:18090"\n')
out.write("cache_max_entries = 200000\nconfig_watch_ms = 0\nshutdown_drain_ms = 0\n\n")
out.write('[twilio]\naccount_sid = "AC0123456789abcdef0123456789abcdef"\n\n')
out.write("[provisioning]\nenabled = false\n\n")
out.write("[defaults.widget]\nstartEngagementOnInit = false\n")
out.write('preEngagementConfig = { description = "Please introduce yourself", submitLabel = "Start chat" }\n\n')
languages = ["en-US", "de-DE", "fr-FR", "es-MX"]
for n in range(sites):
    out.write(f'[[sites]]\nid = "site{n}"\nhosts = ["site{n}.example", "*.site{n}.example"]\n')
    out.write(f'allowed_origins = ["https://site{n}.example"]\ndefault_language = "en-US"\n')
    out.write('languages = ["en-US", "de-DE", "fr-FR", "es-MX"]\n')
    for i, language in enumerate(languages):
        sid = f"FO{n * 4 + i:032x}"
        out.write(f'[sites.language."{language}"]\nflex_flow_sid = "{sid}"\n')
    out.write("\n")
