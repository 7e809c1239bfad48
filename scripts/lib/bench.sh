# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # max_load, wait_s come from the caller; bench_* go back to it
# The quiet-machine wait and CPU accounting every benchmark step uses, sourced by scripts/bench
# and scripts/peers/run (so a peer's figures are taken under the same rules as hallq's).
#
# The caller sets max_load (the 1-minute load average to wait for) and wait_s (how long to wait
# at most) before calling `run`. A step whose measurement runs in a server that is not this
# shell's child (a database started in the background) names, in bench_servers, a function
# printing the CPU seconds that server has used so far, so its CPU counts as the run's and not
# as other processes'.
#
# After `run`, these describe the measurement (scripts/peers/run puts them in its JSON line):
#   bench_load    1-minute load average when the measurement started
#   bench_others  cores other processes used on average while it ran
#   bench_rc      its exit status

# Busy CPU time of the whole machine, in clock ticks (user nice system irq softirq).
busy() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
hz=$(getconf CLK_TCK)

# Wait until the machine is quiet: the 1-minute load average below max_load and other processes
# using less than 0.1 of a core over a 10 s probe, or wait_s has passed (then say so).
quiet() {
  local waited=0 p0 p1 other
  while :; do
    p0=$(busy); sleep 10; p1=$(busy); waited=$((waited + 10))
    other=$(awk -v a="$p0" -v b="$p1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / 10 }')
    if awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v o="$other" -v m="$max_load" \
        'BEGIN { exit !(l < m && o < 0.1) }'; then
      break
    fi
    if [ "$waited" -ge "$wait_s" ]; then
      echo "bench: still busy after ${wait_s}s (others ${other} cores); running anyway: NOT a quiet figure" >&2
      break
    fi
  done
  bench_load=$(cut -d' ' -f1 /proc/loadavg)
  echo "bench: $(date -u +%FT%TZ) load average $(cut -d' ' -f1-3 /proc/loadavg), others ${other} cores over the last 10 s: $*" >&2
}

# CPU seconds used by this shell's finished (waited-for) children so far: cutime + cstime of
# /proc/$$/stat, the figures the `times` builtin prints. $$ is this shell even inside $(...).
children_s() {
  sed 's/^.*) //' "/proc/$$/stat" | awk -v hz="$hz" '{ print ($14 + $15) / hz }'
}

# CPU seconds this step has used so far: finished children, and the servers it relies on.
ours_s() {
  local servers=0
  if [ -n "${bench_servers:-}" ]; then servers=$("$bench_servers"); fi
  awk -v a="$(children_s)" -v b="$servers" 'BEGIN { print a + b }'
}

# Run "$@" once the machine is quiet; report the CPU other processes used meanwhile. A
# failing run (the load test exits 1 when a request failed) is reported, not fatal.
run() {
  quiet "$@"
  local b0 t0 c0 b1 t1 c1
  bench_rc=0
  c0=$(ours_s); b0=$(busy); t0=$(date +%s.%N)
  "$@" || bench_rc=$?
  b1=$(busy); t1=$(date +%s.%N); c1=$(ours_s)
  bench_others=$(awk -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$hz" 'BEGIN {
    other = (b1 - b0) / hz - (c1 - c0); if (other < 0) other = 0
    printf "%.2f", other / (t1 - t0) }')
  awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v rc="$bench_rc" -v o="$bench_others" 'BEGIN {
    printf "bench: exit %d, wall %.1fs, this run %.1f CPU-s, other processes %.2f cores on average\n", rc, t1 - t0, c1 - c0, o }' >&2
  echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) after" >&2
}

# The machine and the tree the figures belong to.
banner() {
  echo "bench: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $(date -u +%F)" >&2
  df -h . | tail -1 >&2
}
