#!/usr/bin/env bash
# The side-by-side comparison of the README: rounds of our training example and the peers'
# PyTorch and Keras scripts (../shared/peers), interleaved, each program starting once the
# machine has been quiet for 5 s; then the median seconds per epoch of each and the ratios.
#
# Usage: bash benches/side_by_side.sh            # 6 rounds of the seed recipe, 2 epochs each
#        ROUNDS=3 EPOCHS=10 bash benches/side_by_side.sh   # whole 10-epoch runs, as the recipe trains
#        ARCH=iwae bash benches/side_by_side.sh    # the iwae-paper preset against PyTorch
# Env:   ROUNDS (default 6)  EPOCHS (default 2)  ARCH=seed|pytex|iwae (default seed)
#        PEERS="torch keras" (default; "torch" for iwae, which Keras has no script for)
#        PEERS_DIR (default ../shared/peers)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-6}"
EPOCHS="${EPOCHS:-2}"
ARCH="${ARCH:-seed}"
PEERS_DIR="${PEERS_DIR:-../shared/peers}"
PY="${VENV:-$HOME/.venv-peers}/bin/python"
case "$ARCH" in
  seed) PRESET=(); DEFAULT_PEERS="torch keras" ;;
  pytex) PRESET=(--preset pytorch-example); DEFAULT_PEERS="torch keras" ;;
  iwae) PRESET=(--preset iwae-paper); DEFAULT_PEERS="torch" ;;
  *) echo "ARCH must be seed, pytex or iwae, not $ARCH" >&2; exit 2 ;;
esac
PEERS="${PEERS:-$DEFAULT_PEERS}"
cargo build --release --quiet --example train_vae
LOG="$(mktemp)"; OUT="$(mktemp -d)"; trap 'rm -rf "$LOG" "$OUT"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  "$PY" "$PEERS_DIR/wait_quiet.py" --timeout 120 2>/dev/null || echo "warning: machine busy" >&2
  target/release/examples/train_vae "${PRESET[@]}" --epochs "$EPOCHS" --out "$OUT" --quiet 2>&1 \
    | grep '^epoch' | sed -E 's/.* ([0-9.]+) s .*/ours \1/' | tee -a "$LOG" >&2
  # Each peer's summary line goes to stderr whole; every epoch's seconds (the `epoch_s` list,
  # not its `median_epoch_s`) into the log.
  ARCH="$ARCH" PEERS="$PEERS" EPOCHS="$EPOCHS" bash "$PEERS_DIR/run-peers.sh" >"$OUT/peers" 2>&1 || true
  grep '^peer=' "$OUT/peers" >&2 || echo "warning: no summary line from the peers" >&2
  sed -nE 's/^peer=([a-z]+) .* epoch_s=([0-9.,]+) .*/\1 \2/p' "$OUT/peers" | tr ',' ' ' \
    | awk '{for (i = 2; i <= NF; i++) print $1, $i}' >>"$LOG"
done
awk '
  { v[$1] = v[$1] " " $2; n[$1]++ }
  function median(s,   a, k, i, j, t) {
    k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    m = median(v["ours"])
    printf "ours: median %.2f s per epoch (%d epochs)\n", m, n["ours"]
    for (p in v) if (p != "ours")
      printf "%s: median %.2f s per epoch (%d epochs), %.2fx ours\n", p, median(v[p]), n[p], median(v[p]) / m
  }' "$LOG"
