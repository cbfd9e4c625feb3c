#!/usr/bin/env bash
# rustymemctl as an operator types it (issue 23 items 1–2), against a real rustymemd:
#   - options anywhere on the line and as --flag=value; -o yaml|wide; --no-headers;
#   - -h/--help on every command and group (exit 0), help COMMAND, --version;
#   - one duration grammar; bad input exits 2 with one line naming the argument;
#   - tables in human units that fit 100 columns;
#   - the bash, zsh and fish completion scripts, each run in its shell in tmux,
#     complete a knob name that only the live agent knows;
#   - `top` in an 80x24 tmux pane against a loaded agent: the delta column changes
#     between two refreshes, nothing scrolls, q quits and the terminal is restored
#     (also after SIGTERM).
source "$(dirname "$0")/lib.sh"
for tool in tmux zsh fish; do
  command -v "$tool" >/dev/null || fail "$tool is missing (bash scripts/install-deps.sh)"
done
LOAD="$RM_BUILD_DIR/tools/load/rustymem-load"
[ -x "$LOAD" ] || LOAD="$RM_BUILD_DIR/agents/load/rustymem-load"
[ -x "$LOAD" ] || fail "no rustymem-load in the build tree"
TSOCK="rm-cli-ux-$$"
LOAD_PID=""
FLEET_PID=""
ux_cleanup() {
  tmux -L "$TSOCK" kill-server 2>/dev/null || true
  if [ -n "$FLEET_PID" ] && kill -0 "$FLEET_PID" 2>/dev/null; then
    kill -TERM "$FLEET_PID" 2>/dev/null || true
    wait "$FLEET_PID" 2>/dev/null || true
  fi
  if [ -n "$LOAD_PID" ] && kill -0 "$LOAD_PID" 2>/dev/null; then
    kill -TERM "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
  fi
  cleanup
}
trap ux_cleanup EXIT
set -o errtrace
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR   # set -e exits say where
CTL="$RUSTYMEMCTL"

start_agent --node-name uxnode

# ---- options anywhere, --flag=value ------------------------------------------------------
expect_exit 0 "$CTL" stats memory --addr "$ADDR" -o json
A=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["node_name"])' <<<"$OUT")
expect_exit 0 "$CTL" -o json --addr="$ADDR" stats memory
B=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["node_name"])' <<<"$OUT")
expect_exit 0 "$CTL" stats --output=json memory --addr="$ADDR"
C=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["node_name"])' <<<"$OUT")
[ "$A $B $C" = "uxnode uxnode uxnode" ] || fail "options in three places gave: $A $B $C"
expect_exit 0 "$CTL" watch --count=2 --addr "$ADDR" --interval=200ms --json
[ "$(grep -c '"rss_bytes"' <<<"$OUT")" -eq 2 ] || fail "watch --count=2: $OUT"
expect_exit 0 "$CTL" knobs set --addr "$ADDR" pressure.history_size=60 --validate-only -o json
grep -q '"applied": false' <<<"$OUT" || fail "--validate-only after a positional was not applied: $OUT"
pass "options before, between and after the command words, as --flag value and --flag=value"

# ---- output forms ----------------------------------------------------------------------------
expect_exit 0 "$CTL" --addr "$ADDR" knobs get pressure.warning_threshold memory.budget_bytes -o json
J=$OUT
expect_exit 0 "$CTL" --addr "$ADDR" knobs get pressure.warning_threshold memory.budget_bytes -o yaml
/usr/bin/python3 - "$J" "$OUT" <<'PY' || fail "-o yaml is not the -o json document"
import json, sys, yaml
j, y = json.loads(sys.argv[1]), yaml.safe_load(sys.argv[2])
assert j == y, (j, y)
assert y["knobs"][0]["name"] == "pressure.warning_threshold"
PY
expect_exit 0 "$CTL" --addr "$ADDR" stats memory -o yaml
/usr/bin/python3 -c 'import sys,yaml; d=yaml.safe_load(sys.stdin); assert d["rss_bytes"] > 0 and isinstance(d["components"], list), d' <<<"$OUT" ||
  fail "stats memory -o yaml does not parse: $OUT"
expect_exit 0 "$CTL" --addr "$ADDR" knobs list
T=$OUT
awk 'length($0) > 100 { bad = 1; print "too wide: " $0 } END { exit bad }' <<<"$T" >&2 || fail "knobs list is wider than 100 columns"
grep -q "more columns* with -o wide: .*description" <<<"$T" || fail "the default table does not name what -o wide adds: $T"
expect_exit 0 "$CTL" --addr "$ADDR" knobs list -o wide
grep -Eq '^  name +type +value +default_value +.*description' <<<"$OUT" || fail "-o wide lacks columns: $(head -3 <<<"$OUT")"
awk 'length($0) > 100 { w = 1 } END { exit !w }' <<<"$OUT" || fail "-o wide should not be cut to 100 columns"
expect_exit 0 "$CTL" --addr "$ADDR" knobs list --no-headers
grep -q '^  name ' <<<"$OUT" && fail "--no-headers printed a header row"
grep -q '^knobs:' <<<"$OUT" && fail "--no-headers printed a title"
grep -q 'pressure.warning_threshold' <<<"$OUT" || fail "--no-headers lost the rows"
pass "-o yaml is the JSON document as YAML; the table fits 100 columns and names the rest; -o wide has every column; --no-headers"

expect_exit 0 "$CTL" --addr "$ADDR" response trigger gentle
expect_exit 0 "$CTL" --addr "$ADDR" events
grep -q 'PRESSURE_LEVEL_' <<<"$OUT" && fail "events table shows enum names: $OUT"
grep -Eq ' ([0-9]+[smhd] ago|just now) ' <<<"$OUT" || fail "events table shows no age: $OUT"
grep -Eq '(monitor|gentle) +gentle' <<<"$OUT" || fail "events table shows no level words: $OUT"
for c in "stats memory" "stats slab" "forecast" "events" "stats buffer-pool"; do
  # shellcheck disable=SC2086
  expect_exit 0 "$CTL" --addr "$ADDR" $c
  grep -Eq '[0-9]e[-+][0-9]' <<<"$OUT" && fail "$c prints exponent notation: $(grep -E '[0-9]e[-+][0-9]' <<<"$OUT")"
  grep -q 'PRESSURE_LEVEL_' <<<"$OUT" && fail "$c prints enum names"
done
expect_exit 0 "$CTL" --addr "$ADDR" stats memory
grep -Eq '^  buffer_pool +[0-9.]+ (B|KiB|MiB|GiB)' <<<"$OUT" || fail "components table not in human units: $OUT"
grep -Eq '^timestamp_unix_ms +[0-9T:-]+Z \((just now|[0-9]+s ago)\)' <<<"$OUT" || fail "no age for timestamps: $OUT"
pass "tables: level words, ages, KiB/MiB/GiB, no exponent notation"

# ---- help on every command and group ---------------------------------------------------------
expect_exit 0 "$CTL" help-markdown
mapfile -t CMDS < <(/usr/bin/python3 -c '
import re, sys
for syn in re.findall(r"^\| `(.+?)` \|", sys.stdin.read().split("## Arguments")[0], re.M)[1:]:
    w = []
    for t in syn.replace("\\|", "|").split():
        if not re.fullmatch(r"[a-z][a-z-]*", t): break
        w.append(t)
    print(" ".join(w))' <<<"$OUT")
[ "${#CMDS[@]}" -ge 30 ] || fail "help-markdown lists ${#CMDS[@]} commands"
for c in "${CMDS[@]}"; do
  for h in -h --help; do
    # shellcheck disable=SC2086
    expect_exit 0 "$CTL" $c $h
    grep -q "^usage: rustymemctl $c" <<<"$OUT" || fail "'$c $h' printed: $OUT"
  done
  # shellcheck disable=SC2086
  expect_exit 0 "$CTL" help $c
  grep -q "^usage: rustymemctl $c" <<<"$OUT" || fail "'help $c' printed: $OUT"
done
for grp in stats knobs fleet txn events response queries plan-cache; do
  expect_exit 0 "$CTL" "$grp" --help
  grep -q "^usage: rustymemctl $grp" <<<"$OUT" || fail "'$grp --help': $OUT"
done
hist() { "$CTL" --addr "$ADDR" knobs get pressure.history_size -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["knobs"][0]["value"])'; }
H0=$(hist)
expect_exit 0 "$CTL" --addr "$ADDR" knobs set -h "pressure.history_size=$((H0 + 1))"   # help wins, changes nothing
grep -q "^usage: rustymemctl knobs set" <<<"$OUT" || fail "knobs set -h: $OUT"
[ "$(hist)" = "$H0" ] || fail "knobs set -h changed the knob"
expect_exit 0 "$CTL" -h
grep -q "completion bash|zsh|fish" <<<"$OUT" && grep -q "help-markdown" <<<"$OUT" && grep -q -- "--version" <<<"$OUT" ||
  fail "--help does not list completion, help-markdown and --version"
expect_exit 2 "$CTL" help no-such
grep -q "unknown command 'no-such'" <<<"$ERR" || fail "$ERR"
pass "-h and --help on all ${#CMDS[@]} commands and the groups, help COMMAND, exit 0"

# ---- --version ---------------------------------------------------------------------------------
expect_exit 0 "$CTL" --addr "$ADDR" stats memory -o json
SV=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' <<<"$OUT")
expect_exit 0 "$CTL" --version --addr "$ADDR"
grep -Eq '^rustymemctl [0-9]+\.[0-9]+\.[0-9]+' <<<"$OUT" || fail "--version: $OUT"
grep -q "^rustymemd $SV (node uxnode at $ADDR)" <<<"$OUT" || fail "--version lacks the agent's version $SV: $OUT"
expect_exit 0 "$CTL" --version --addr 127.0.0.1:1 --timeout 300ms
grep -q "^rustymemctl " <<<"$OUT" && grep -q "version unknown (UNAVAILABLE" <<<"$OUT" || fail "--version unreachable: $OUT"
pass "--version: the client's and the agent's (MemoryStats.version); exit 0 when the agent is away"

# ---- durations and bad input -----------------------------------------------------------------
expect_exit 0 "$CTL" --addr "$ADDR" --timeout 5s watch --interval 1s --count 1 -o json
expect_exit 0 "$CTL" --addr "$ADDR" --timeout 5000 watch --interval 200 --count 1 -o json   # bare: ms, as before
expect_exit 0 "$CTL" --addr "$ADDR" queries kill --older-than 1h
expect_exit 1 "$CTL" --addr "$ADDR" watch --interval 5ms --count 1
grep -q "interval_ms = 5" <<<"$ERR" || fail "5ms did not reach the agent as interval_ms = 5: $ERR"
bad() {   # bad EXPECTED-TEXT ARGS…: exit 2, one line, naming the argument
  local want=$1; shift
  expect_exit 2 "$CTL" --addr "$ADDR" "$@"
  [ "$(wc -l <<<"$ERR")" -eq 1 ] || fail "'$*': more than one line: $ERR"
  grep -qF -- "$want" <<<"$ERR" || fail "'$*': expected '$want' in: $ERR"
}
bad "--timeout 2x: expected a duration" --timeout 2x health
bad "--interval 2: expected a duration like 500ms, 30s, 5m or 1m30s" top --interval 2
bad "--interval 1m30: expected a duration" watch --interval 1m30
bad "--older-than -3: expected a duration" queries kill --older-than -3
bad "stats memory: unknown option --bogus" stats memory --bogus
bad "evict: unknown option --release" evict --fraction 0.1 --release
bad "evict: --fraction abc: expected a number" evict --fraction=abc
bad "evict: option --fraction F is required" evict
bad "--json takes no value" health --json=yes
bad "events: --limit -1: expected a whole number" events --limit -1
bad "knobs set: 'x' is not NAME=VALUE" knobs set x
bad "response trigger: LEVEL 'loud': expected one of gentle, aggressive, emergency, oom_prevention" response trigger loud
bad "completion: bash|zsh|fish 'csh': expected one of bash, zsh, fish" completion csh
bad "-o needs a value" stats memory -o
bad "top: --sort size: expected one of used, held, delta, name" top --sort size
pass "one duration grammar (500ms/30s/5m, bare numbers in the old unit); bad input: exit 2, one line naming the argument"

# ---- completion in bash, zsh and fish (tmux) -------------------------------------------------
# The knob name comes from the agent: the binary does not contain it.
! grep -aq "pressure.warning_threshold" "$CTL" || fail "rustymemctl carries knob names; the test would not prove a live lookup"
mkdir -p "$TMP/home" "$TMP/bin"
# one session lives for the whole test: the tmux server would exit (and race the next new-session)
# whenever the last session ends
tmux -L "$TSOCK" -f /dev/null new-session -d -s keep "sleep 3600"
ln -s "$CTL" "$TMP/bin/rustymemctl"
TENV=(env -i "HOME=$TMP/home" "PATH=$TMP/bin:/usr/bin:/bin" "TERM=xterm-256color" "LANG=C.UTF-8")
pane_has() {   # pane_has TARGET SECONDS REGEX
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    tmux -L "$TSOCK" capture-pane -p -J -t "$1" | grep -Eq -- "$3" && return 0
    sleep 0.2
  done
  return 1
}
complete_in() {   # complete_in SHELL SETUP-LINE
  local sh=$1 setup=$2 win="c-$1"
  tmux -L "$TSOCK" -f /dev/null new-session -d -s "$win" -x 200 -y 50 "${TENV[@]}" "${SHELLCMD[@]}"
  tmux -L "$TSOCK" send-keys -t "$win" -l "$setup"; tmux -L "$TSOCK" send-keys -t "$win" Enter
  tmux -L "$TSOCK" send-keys -t "$win" -l 'echo READY-4""2'; tmux -L "$TSOCK" send-keys -t "$win" Enter
  pane_has "$win" 30 "^READY-42" || fail "$sh did not start: $(tmux -L "$TSOCK" capture-pane -p -t "$win")"
  # unreachable agent: nothing to complete, the word stays as typed
  tmux -L "$TSOCK" send-keys -t "$win" -l "rustymemctl --addr 127.0.0.1:1 knobs get pressure.warning_thr"
  tmux -L "$TSOCK" send-keys -t "$win" Tab; sleep 2
  tmux -L "$TSOCK" capture-pane -p -J -t "$win" | grep -q "pressure.warning_threshold" &&
    fail "$sh completed a knob name without an agent"
  tmux -L "$TSOCK" send-keys -t "$win" C-u
  # live agent: Tab completes the name, Enter runs the completed command
  tmux -L "$TSOCK" send-keys -t "$win" -l "rustymemctl --addr $ADDR knobs get pressure.warning_thr"
  tmux -L "$TSOCK" send-keys -t "$win" Tab
  pane_has "$win" 20 "knobs get pressure\.warning_threshold" ||
    fail "$sh did not complete the knob name: $(tmux -L "$TSOCK" capture-pane -p -J -t "$win")"
  tmux -L "$TSOCK" send-keys -t "$win" Enter
  pane_has "$win" 20 "^  pressure\.warning_threshold +double " ||
    fail "$sh: the completed command did not run: $(tmux -L "$TSOCK" capture-pane -p -J -t "$win")"
  # a command word and an enum value
  tmux -L "$TSOCK" send-keys -t "$win" -l "rustymemctl --addr $ADDR response trigger oom_"
  tmux -L "$TSOCK" send-keys -t "$win" Tab
  pane_has "$win" 20 "response trigger oom_prevention" || fail "$sh did not complete the level"
  tmux -L "$TSOCK" send-keys -t "$win" C-u
  tmux -L "$TSOCK" kill-session -t "$win"
  pass "$sh completion completes a knob name from the live agent (and a level)"
}
SHELLCMD=(bash --norc --noprofile)
complete_in bash 'PS1="$ "; source <(rustymemctl completion bash)'
SHELLCMD=(zsh -f)
complete_in zsh 'PS1="%% "; autoload -Uz compinit && compinit -u && source <(rustymemctl completion zsh)'
SHELLCMD=(fish --no-config)
complete_in fish 'function fish_prompt; echo "> "; end; rustymemctl completion fish | source'

# ---- top in an 80x24 pane against a loaded agent ---------------------------------------------
"$LOAD" --addr "$ADDR" --profile mixed --threads 2 --sessions 50 --duration 300 >"$TMP/load.log" 2>&1 &
LOAD_PID=$!
tmux -L "$TSOCK" -f /dev/null new-session -d -s top -x 80 -y 24 "${TENV[@]}" bash --norc --noprofile -c \
  "rustymemctl --addr $ADDR top --interval 1s; echo TOP-EXIT=\$?; stty -a > '$TMP/stty.after'; sleep 600"
pane_has top 30 "^COMPONENT +USED +DELTA +HELD +DELTA" || fail "top drew no table: $(tmux -L "$TSOCK" capture-pane -p -t top)"
deltas() {   # the two DELTA columns of the component rows (top's layout: %-20s %10s %11s %10s %11s)
  awk '/^COMPONENT/ { t = 1; next } t && length($0) > 60 { print substr($0, 1, 20) "|" substr($0, 33, 11) "|" substr($0, 56, 11) }' <<<"$1"
}
frame() { tmux -L "$TSOCK" capture-pane -p -t top; }
clock() { head -1 <<<"$1" | grep -Eo '[0-9]{2}:[0-9]{2}:[0-9]{2}$'; }
# F1: a refresh that already has deltas; F2: a later refresh whose delta column differs from F1's
F1=""
for _ in $(seq 1 60); do
  F1=$(frame)
  grep -Eq '[+-][0-9]' <<<"$(deltas "$F1")" && break
  sleep 0.5
done
grep -Eq '[+-][0-9]' <<<"$(deltas "$F1")" || fail "no component changed under load: $F1"
changed=""
for _ in $(seq 1 60); do
  sleep 0.5
  F2=$(frame)
  [ "$(clock "$F2")" != "$(clock "$F1")" ] || continue   # the same refresh
  if [ "$(deltas "$F2")" != "$(deltas "$F1")" ] && grep -Eq '[+-][0-9]' <<<"$(deltas "$F2")"; then
    changed=1
    break
  fi
done
[ -n "$changed" ] || fail "the delta column did not change across refreshes under load:
$F1
---
$F2"
for f in "$F1" "$F2"; do
  [ "$(wc -l <<<"$f")" -le 24 ] || fail "top's frame is taller than the pane"
  awk 'length($0) > 80 { bad = 1 } END { exit bad }' <<<"$f" || fail "top's frame is wider than the pane"
  [ "$(head -1 <<<"$f" | cut -c1-16)" = "rustymemctl top " ] || fail "the first line scrolled away: $f"
done
[ "$(tmux -L "$TSOCK" display -p -t top '#{history_size}')" -eq 0 ] || fail "top scrolled lines into the history"
tmux -L "$TSOCK" send-keys -t top d
pane_has top 10 "^sort delta " || fail "key d did not sort by delta"
tmux -L "$TSOCK" send-keys -t top q
pane_has top 10 "^TOP-EXIT=0" || fail "q did not end top: $(frame)"
until_ok 10 test -s "$TMP/stty.after" || fail "no stty output after top"
grep -Eq '(^| )icanon' "$TMP/stty.after" && grep -Eq '(^| )echo( |$)' "$TMP/stty.after" ||
  fail "terminal not restored after q: $(cat "$TMP/stty.after")"
[ "$(tmux -L "$TSOCK" display -p -t top '#{alternate_on}')" = 0 ] || fail "top left the alternate screen on"
pass "top at 80x24 under load: the delta column changes between refreshes, nothing scrolls, d sorts, q quits and restores the terminal"
echo "frame 1:"; sed 's/^/    /' <<<"$F1"; echo "frame 2:"; sed 's/^/    /' <<<"$F2"

# SIGTERM while running: the terminal comes back too
tmux -L "$TSOCK" -f /dev/null new-session -d -s top2 -x 80 -y 24 "${TENV[@]}" bash --norc --noprofile -c \
  "sh -c 'echo \$\$ > $TMP/top2.pid; exec rustymemctl --addr $ADDR top --interval 1s'; echo TOP2-EXIT=\$?; stty -a > '$TMP/stty2.after'; sleep 600"
pane_has top2 30 "^COMPONENT" || fail "second top drew nothing"
kill -TERM "$(cat "$TMP/top2.pid")"
pane_has top2 10 "^TOP2-EXIT=143" || fail "top did not die of SIGTERM: $(tmux -L "$TSOCK" capture-pane -p -t top2)"
until_ok 10 test -s "$TMP/stty2.after" || fail "no stty output after top"
grep -Eq '(^| )icanon' "$TMP/stty2.after" || fail "terminal not restored after SIGTERM: $(cat "$TMP/stty2.after")"
pass "top restores the terminal on SIGTERM"

# watch on a terminal: redrawn in place, cut to the pane, nothing scrolls
tmux -L "$TSOCK" -f /dev/null new-session -d -s watch -x 80 -y 24 "${TENV[@]}" bash --norc --noprofile -c \
  "rustymemctl --addr $ADDR watch --interval 300ms; sleep 600"
pane_has watch 30 "^rss_bytes " || fail "watch drew nothing: $(tmux -L "$TSOCK" capture-pane -p -t watch)"
W1=$(tmux -L "$TSOCK" capture-pane -p -t watch)
for _ in $(seq 1 100); do   # the agent is under load: its figures change between refreshes
  W2=$(tmux -L "$TSOCK" capture-pane -p -t watch)
  [ "$W2" != "$W1" ] && break
  sleep 0.2
done
[ "$W2" != "$W1" ] || fail "watch did not refresh: $W2"
[ "$(head -1 <<<"$W2" | cut -c1-10)" = "rss_bytes " ] || fail "watch's first line scrolled away: $W2"
grep -q "more lines (a taller terminal" <<<"$W2" || fail "watch does not say what it cut: $W2"
[ "$(tmux -L "$TSOCK" display -p -t watch '#{history_size}')" -eq 0 ] || fail "watch scrolled lines into the history"
awk 'length($0) > 80 { bad = 1 } END { exit bad }' <<<"$W2" || fail "watch's frame is wider than the pane"
tmux -L "$TSOCK" kill-session -t watch
pass "watch on an 80x24 terminal redraws in place, cut to the pane, without scrolling"

# not a terminal: frames one after another, no escape sequences, --count required
expect_exit 0 "$CTL" --addr "$ADDR" top --count 2 --interval 500ms
[ "$(grep -c '^COMPONENT' <<<"$OUT")" -eq 2 ] || fail "top --count 2 printed: $OUT"
grep -q $'\033' <<<"$OUT" && fail "top wrote escape sequences to a pipe"
expect_exit 2 "$CTL" --addr "$ADDR" top
grep -q "give --count N" <<<"$ERR" || fail "$ERR"
pass "top without a terminal: --count frames as plain text"
# ---- the fleet: nodes fits 100 columns with labels; top --fleet ------------------------------
printf 'ux-a %s zone=eu-1 tier=db\nux-gone 127.0.0.1:1 zone=us-2\n' "$ADDR" >"$TMP/agents"
"$RM_BUILD_DIR/agents/fleet/rustymem-fleet" --listen 127.0.0.1:0 --port-file "$TMP/fport" --poll-ms 200 \
  --agents-file "$TMP/agents" >"$TMP/fleet.log" 2>&1 &
FLEET_PID=$!
until_ok 30 test -s "$TMP/fport" || fail "rustymem-fleet did not start: $(cat "$TMP/fleet.log")"
FLEET="127.0.0.1:$(cat "$TMP/fport")"
until_ok 30 bash -c "'$CTL' --fleet '$FLEET' -o json nodes | grep -q '\"reachable\": true'" || fail "the fleet never reached the agent"
expect_exit 0 "$CTL" nodes --fleet "$FLEET"
awk 'length($0) > 100 { bad = 1; print "too wide: " $0 } END { exit bad }' <<<"$OUT" >&2 || fail "nodes is wider than 100 columns"
grep -Eq '^  ux-a .*(monitor|gentle|aggressive|emergency).*tier=db,zone=eu-1|^  ux-a .*zone=eu-1' <<<"$OUT" || fail "nodes lacks level words or labels: $OUT"
expect_exit 0 "$CTL" nodes --fleet "$FLEET" -o wide
grep -q 'stats' <<<"$(sed -n 3p <<<"$OUT")" || fail "nodes -o wide lacks the stats column: $(sed -n 3p <<<"$OUT")"
expect_exit 0 "$CTL" --fleet "$FLEET" top --count 2 --interval 500ms
grep -Eq '^ux-a +(monitor|gentle|aggressive|emergency|oom_prevention) +[0-9.]+%' <<<"$OUT" || fail "top --fleet: $OUT"
grep -Eq '^ux-gone +unreachable' <<<"$OUT" || fail "top --fleet does not show the unreachable node: $OUT"
grep -q "2 nodes, 1 reachable" <<<"$OUT" || fail "top --fleet header: $OUT"
pass "nodes fits 100 columns with labels (-o wide: everything); top --fleet lists every node with its level"
echo "test_cli_ux: all passed"
