#!/usr/bin/env bash
# The promptgov governance flow, end to end, on the embedded example: no external services, no keys.
#
#   promote 1.2.1 → a worse 1.2.2 is refused by its gate → promote 1.3.0 → production
#   drifts → triggers fire → rollback --dry-run → rollback → checklist, audit entry,
#   notification received, audit verify clean, and a fresh clone verifies. The rollback is made
#   through `promptgov serve` (loopback, tokens) while a watching SDK client picks it up.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEMO="${DEMO_DIR:-$(mktemp -d)/promptgov-demo}"
PY="${PYTHON:-python}"
export PROMPTGOV_REPO="$DEMO" CI=1

step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
expect_fail() { printf '\033[2m$ %s\033[0m\n' "$*"; if "$@"; then echo "expected a refusal"; exit 1; fi; }

step "A local notification sink (stands in for Slack / Teams / a webhook)"
SINK_LOG="$(mktemp)"
(cd "$HERE" && exec "$PY" -m tests.notify_sink --port 0) >"$SINK_LOG" &
SINK_PID=$!
SERVE_PID="" WATCH_PID=""
cleanup() { for pid in $WATCH_PID $SERVE_PID $SINK_PID; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 50); do [ -s "$SINK_LOG" ] && break; sleep 0.1; done
SINK_URL="$(head -n1 "$SINK_LOG")"
echo "sink listening on $SINK_URL"

step "1. A governed repository with the example prompt, in git"
run promptgov init "$DEMO" --example
run promptgov notify add oncall "${SINK_URL/http:/json:}/hooks/oncall" --events rollback,promotion,trigger,test
# Each move of prod is tagged on a deploy branch (an edit by hand, as a team would make it).
sed -i 's/^  - name: prod$/  - name: prod\n    deploy_branch: prod/' "$DEMO/promptgov.yml"
step "promptgov.yml is governed: the edit is in force only once approved as a policy change"
run promptgov policy propose --reason "page on-call; tag prod deploys" --by carol
run promptgov policy approve --by alice --comment "on-call wants these"
run promptgov policy apply --by carol
run promptgov schema
run promptgov docs
(cd "$DEMO" && git init -q -b main && git add -A && git -c user.name=demo -c user.email=demo@example.com commit -qm "governed repository")
run promptgov notify test

step "2. Register 1.2.1, evaluate it, gate it, approve it, promote it dev → staging → prod"
run promptgov add support-reply --version 1.2.1 -m "first production prompt" --author carol
run promptgov eval support-reply@1.2.1
for env in dev staging prod; do
  run promptgov gate support-reply@1.2.1 --env "$env"
done
run promptgov approve support-reply@1.2.1 --env staging --by dave --comment "reviewed drafts"
run promptgov approve support-reply@1.2.1 --env prod --by alice --comment "ship it"
run promptgov promote support-reply@1.2.1 --to dev --by carol --reason "first release"
run promptgov promote support-reply@1.2.1 --to staging --by carol --reason "ready for staging"
run promptgov promote support-reply@1.2.1 --to prod --by alice --reason "release 1.2.1"

step "3. A worse prompt (1.2.2) fails its gate and cannot be promoted"
sed -i 's/Greet the customer by name, apologize for the inconvenience, /Be brief. Greet the customer by name, /' "$DEMO/prompts/support-reply/prompt.yml"
run promptgov add support-reply -m "shorter replies" --author carol
run promptgov eval support-reply@1.2.2 || true
expect_fail promptgov gate support-reply@1.2.2 --env dev
expect_fail promptgov promote support-reply@1.2.2 --to dev --by carol --reason "try it"

step "4. 1.3.0 passes everything and reaches prod"
sed -i 's/Be brief. Greet the customer by name, /Greet the customer by name and apologize for the inconvenience; /' "$DEMO/prompts/support-reply/prompt.yml"
run promptgov add support-reply --bump minor -m "reworded instructions" --author carol
run promptgov diff support-reply 1.2.1 1.3.0
run promptgov eval support-reply@1.3.0
for env in dev staging prod; do run promptgov gate support-reply@1.3.0 --env "$env"; done
run promptgov approve support-reply@1.3.0 --env staging --by dave
run promptgov approve support-reply@1.3.0 --env prod --by bob
run promptgov promote support-reply@1.3.0 --to dev --by carol --reason "reworded"
run promptgov promote support-reply@1.3.0 --to staging --by carol --reason "reworded"
run promptgov promote support-reply@1.3.0 --to prod --by bob --reason "release 1.3.0"
run promptgov status

step "5. A week in production: the upstream model changes under 1.3.0, customers complain"
AT="$("$PY" "$HERE/scripts/demo_logs.py" "$DEMO" | tail -n1)"
run promptgov report support-reply --complaint "Reply promised a refund we do not offer" --by support-lead --severity high --evidence "https://tickets.example.com/4711"
expect_fail promptgov triggers support-reply --env prod --logs "$DEMO/logs/production.jsonl" --window 24h --at "$AT"

step "6. Roll back: the plan first, then the real thing"
run promptgov rollback support-reply --env prod --dry-run --reason "drift after upstream model update" --authorized-by alice
EVIDENCE="$(find "$DEMO/logs/triggers" -name '*drift*.md' | sort | tail -n1)"
step "The prompt service: promptgov serve on loopback, a token per caller, a watching SDK"
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
APP_TOKEN="$(promptgov token create --name checkout-app --role viewer --expires 1d --by ops --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
ALICE_TOKEN="$(promptgov token create --name alice --role releaser --env prod --expires 1d --by ops --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
echo "tokens created for checkout-app (viewer) and alice (releaser, prod); only their hashes are stored"
promptgov serve --host 127.0.0.1 --port "$PORT" &
SERVE_PID=$!
for _ in $(seq 100); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "serving on $URL"
READY="$(mktemp -u)"
"$PY" "$HERE/scripts/demo_watch.py" "$URL" "$APP_TOKEN" "$READY" &
WATCH_PID=$!
for _ in $(seq 100); do [ -e "$READY" ] && break; sleep 0.1; done
[ -e "$READY" ] || { echo "the SDK did not subscribe"; exit 1; }
step "Roll back through the API, as alice (the token holder is the actor)"
printf '\033[2m$ POST %s/v1/prompts/support-reply/rollbacks\033[0m\n' "$URL"
"$PY" - "$URL" "$ALICE_TOKEN" "${EVIDENCE#"$DEMO/"}" <<'PYEOF'
import sys, time, httpx
url, token, evidence = sys.argv[1:4]
body = {"env": "prod", "reason": "drift after upstream model update; refund complaints",
        "evidence": [evidence, "https://tickets.example.com/4711"]}
print(f"API: rollback sent at {time.time():.3f}")
r = httpx.post(f"{url}/v1/prompts/support-reply/rollbacks", json=body,
               headers={"Authorization": f"Bearer {token}"}, timeout=120)
r.raise_for_status()
out = r.json()
print(f"API: {out['plan']['current']} → {out['plan']['new_version']} (restored {out['plan']['target']}); answered at {time.time():.3f} after re-running its evals")
PYEOF
wait "$WATCH_PID"
WATCH_PID=""
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""
echo "server stopped"
run promptgov rollback support-reply --env prod --reason "drift after upstream model update; refund complaints" --authorized-by alice

step "7. The record: audit entry, change log, notification received, git, verification"
run promptgov audit show --action rollback
tail -n 12 "$DEMO/schemas/prompt-change-log.yml"
echo "notifications received by the sink:"
tail -n +2 "$SINK_LOG" | "$PY" -c 'import json,sys
for line in sys.stdin:
    r = json.loads(line); body = r["json"] or {}
    print(" ", r["path"], "→", body.get("title"))'
(cd "$DEMO" && git log --oneline -3 && git log --oneline -2 prod && git tag)
run promptgov history support-reply
run promptgov audit verify
run promptgov verify
step "8. A fresh clone of the governed repository verifies on its own"
CLONE="$(mktemp -d)/clone"
run git clone -q "$DEMO" "$CLONE"
run promptgov merge-driver install --repo "$CLONE"
run promptgov verify --repo "$CLONE"
step "Done: the governed repository is at $DEMO"
