#!/usr/bin/env bash
# One runner of grade-class.yml: grade its PER_RUNNER shards of the class at once, each into OUT/shard-I.
# Usage: SHARDS=N PER_RUNNER=P RUNNER=R [STAGES="..."] grade-shards.sh CLASS OUT   (run beside the kit/ checkout)
#        PER_RUNNER=P RUNNER=R grade-shards.sh --which    (this runner's shard numbers, one a line)
# Runner R grades shards R*P .. R*P+P-1 of N. Fails when any of them fails; the others still finish.
set -euo pipefail
mine() { seq $((RUNNER * PER_RUNNER)) $((RUNNER * PER_RUNNER + PER_RUNNER - 1)); }   # the one home of the formula
if [[ ${1:-} == --which ]]; then mine; exit 0; fi
class=$1 out=$2
kit=${KIT:-kit/.venv/bin/kit}
mkdir -p "$out"
pids=() shards=()
for shard in $(mine); do
  # shellcheck disable=SC2086 # STAGES is a list of stage ids
  "$kit" grade-all "$class" ${STAGES:-} --shard-count "$SHARDS" --shard-index "$shard" --out "$out/shard-$shard" \
    > "$out/shard-$shard.log" 2>&1 &
  pids+=("$!") shards+=("$shard")
done
status=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then said="finished"; else said="FAILED"; status=1; fi
  echo "== shard ${shards[$i]}: $said"; cat "$out/shard-${shards[$i]}.log"; rm -f "$out/shard-${shards[$i]}.log"
done
exit "$status"
