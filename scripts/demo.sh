#!/usr/bin/env bash
# The README's first command: install what is missing, build privtrack in
# Release, record the sample visits through policy/default.ini into ./var,
# then show them (query, stats) and what a dry run reports (the audit).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Dependencies"
scripts/install-deps.sh

step "Build (Release, build/)"
cmake --preset release >/dev/null
cmake --build --preset release --target privtrack_cli
pt="$root/build/cli/privtrack"
"$pt" version

policy=policy/default.ini
# The samples are dated 2025-01-15; the default policy keeps records 90 days
# and never shows expired ones, so the demo replays them as yesterday's.
date="$(date -u -d yesterday +%F)"
samples() { sed "s/2025-01-15/$date/g" samples/visits.jsonl; }

step "Policy: $policy"
"$pt" policy show --policy "$policy"

step "Record samples/visits.jsonl (as $date) into ./var"
# A fresh store each time, so that the figures below are the samples'; a
# ./var that the demo did not create is kept, renamed, never deleted.
if [ -e ./var ] && [ ! -e ./var/.privtrack-demo ]; then
    keep="./var.before-demo-$(date +%Y%m%d-%H%M%S)"
    mv ./var "$keep"
    echo "(the existing ./var was not made by the demo: moved to $keep)"
fi
rm -rf ./var
mkdir -m 700 ./var
touch ./var/.privtrack-demo
# The samples include one malformed line on purpose, to show how it is
# reported (FILE:LINE on stderr); the other lines are still recorded.
samples | "$pt" record --policy "$policy" --storage ./var -
echo
echo "On disk:"
find ./var -type f ! -name .privtrack-demo -printf '  %p  (%m, %s bytes)\n' | sort

step "privtrack query --date $date"
"$pt" query --policy "$policy" --storage ./var --date "$date"

step "privtrack stats --date $date"
"$pt" stats --policy "$policy" --storage ./var --date "$date"

step "Dry-run audit: the same samples, nothing written"
audit="$(samples | "$pt" record --policy "$policy" --dry-run -)"
printf '%s\n' "$audit" | /usr/bin/python3 -c 'import json, re, sys
for n, line in enumerate(sys.stdin, 1):
    a = json.loads(line)
    if n == 1:
        print("visit 1, in full:")
        print(json.dumps(a, indent=2))
        print("every visit:")
    what = a["decision"] + (" (%s)" % a["reason"] if a.get("reason") else "")
    rules = "; ".join("%s: %s" % (c["field"], re.split(r",(?![^(]*\))", c["rule"])[0])
                      for c in a.get("changes", []))
    print("  visit %2d: %-14s %s" % (n, what, rules))'
echo "(the malformed line is not a visit: it is reported on stderr and skipped)"

step "Two days of a small site (samples/report.jsonl), for the report"
# Dated 2025-01-14 and -15 in the file; replayed as the two days before
# today, within the default policy's retention and key grace.
before="$(date -u -d '2 days ago' +%F)"
sed -e "s/2025-01-14/$before/g" -e "s/2025-01-15/$date/g" samples/report.jsonl |
    "$pt" record --policy "$policy" --storage ./var -
"$pt" stats --policy "$policy" --storage ./var --days 3

step "The HTML report of those days"
report="$root/var/report.html"
"$pt" report --policy "$policy" --storage ./var --days 3 --output "$report"
echo "Open it in a browser (it loads nothing from anywhere): $report"
