#!/usr/bin/env bash
# The exact commands that produced validation/runs/: each boots a Debian kernel
# in a QEMU guest (TCG on these machines, 1-3 minutes a run) and writes one
# run record. Run lab/setup.sh once first (root). Existing records are kept,
# so an interrupted run resumes where it stopped.
set -u
cd "$(dirname "$0")/.."
PM=${PM:-.venv/bin/perfmodel}
S=lab/scenarios/lab-usemem.yaml
OUT=${OUT:-validation/runs}
mkdir -p "$OUT"

run() {  # run NAME [--hardware H] [--set K=V]...
  local name=$1; shift
  [ -s "$OUT/$name.json" ] && { echo "skip $name"; return 0; }
  echo "=== $name $*"
  "$PM" lab run "$S" --out "$OUT/$name.json" --timeout 900 "$@" || echo "FAILED $name"
}

R61=('--set' 'kernel.release="6.1"')
MIXB=(--set workload.processes.0.content.zero=0.30 --set workload.processes.0.content.incompressible=0.05
      --set workload.processes.0.content.binary=0.30 --set workload.processes.0.content.text=0.35)
RAND=(--set workload.processes.0.pattern.kind=permutation)

# 6.12: the reference configuration three times, for run-to-run spread.
run 612-lz4-p20-seq-a
run 612-lz4-p20-seq-b
run 612-lz4-p20-seq-c
# One factor at a time from the reference.
run 612-off-seq            --set zswap.enabled=N
run 612-lzo-p20-seq        --set zswap.compressor=lzo
run 612-zstd-p20-seq       --set zswap.compressor=zstd
run 612-lz4-p5-seq         --set zswap.max_pool_percent=5
run 612-lz4-p10-seq        --set zswap.max_pool_percent=10
run 612-lz4-p50-seq        --set zswap.max_pool_percent=50
run 612-lz4-p20-rand       "${RAND[@]}"
run 612-lz4-p20-seq-mixb   "${MIXB[@]}"
run 612-lz4-p20-seq-slow   --set swap.device=vda-slow
run 612-off-seq-slow       --set zswap.enabled=N --set swap.device=vda-slow
run 612-lz4-p20-seq-ssd    --set swap.device=vda-ssd
run 612-lz4-p20-seq-numa   --hardware lab-qemu-2node
# Combinations.
run 612-zstd-p20-rand      --set zswap.compressor=zstd "${RAND[@]}"
run 612-lz4-p5-rand        --set zswap.max_pool_percent=5 "${RAND[@]}"
run 612-lz4-p50-rand       --set zswap.max_pool_percent=50 "${RAND[@]}"
run 612-zstd-p20-seq-mixb  --set zswap.compressor=zstd "${MIXB[@]}"
run 612-lzo-p10-seq        --set zswap.compressor=lzo --set zswap.max_pool_percent=10
run 612-zstd-p50-seq       --set zswap.compressor=zstd --set zswap.max_pool_percent=50
run 612-lz4-p20-seq-mixb-slow --set swap.device=vda-slow "${MIXB[@]}"
# 6.1: same-filled pages, non-exclusive loads, no zsmalloc writeback.
run 61-lz4-p20-seq         "${R61[@]}" --set zswap.shrinker_enabled=null
run 61-lz4-p10-seq         "${R61[@]}" --set zswap.shrinker_enabled=null --set zswap.max_pool_percent=10
run 61-zbud-lz4-p20-seq    "${R61[@]}" --set zswap.shrinker_enabled=null --set zswap.zpool=zbud
run 61-off-seq             "${R61[@]}" --set zswap.shrinker_enabled=null --set zswap.enabled=N
run 61-lz4-p20-rand        "${R61[@]}" --set zswap.shrinker_enabled=null "${RAND[@]}"
# NUMA placement on the 2-node guest (vCPU 0 on node 0, vCPU 1 on node 1). usemem reports
# the pages it touched on each CPU per pass ("cpu_pages" in the console log).
N2=(--hardware lab-qemu-2node)
P=workload.processes.0
run 612-lz4-p20-seq-numa-b     "${N2[@]}"    # a repeat: where the unpinned worker runs varies
run 612-lz4-p20-seq-numa-cpu1  "${N2[@]}" --set $P.cpus=1
run 612-lz4-p20-seq-numa-bind1 "${N2[@]}" --set $P.cpus=1 --set $P.mempolicy.mode=bind --set $P.mempolicy.nodes=1
run 612-lz4-p20-seq-numa-cpu0  "${N2[@]}" --set $P.cpus=0
run 612-lz4-p20-seq-numa-il    "${N2[@]}" --set $P.cpus=0 --set $P.mempolicy.mode=interleave --set $P.mempolicy.nodes=0-1
# On a quiet host, with the guest's CPU split in every snapshot (cpu_ticks): a fourth
# reference repeat, repeats of zswap off and of the 50% pool, and page-cluster 0 beside 3.
run 612-lz4-p20-seq-d
run 612-off-seq-b          --set zswap.enabled=N
run 612-lz4-p50-seq-b      --set zswap.max_pool_percent=50
run 612-lz4-p50-rand-b     --set zswap.max_pool_percent=50 "${RAND[@]}"
run 612-lz4-p50-seq-pc0    --set zswap.max_pool_percent=50 --set vm.page-cluster=0
# usemem timing one access in 64 chosen by a hash (@@LAT "sampling":"hashed"), not every
# 64th: the older sequential runs' latencies are a stride locked onto the readahead
# window's phase and are not compared. Their counters and times still are.
run 612-lz4-p20-seq-h
run 612-lz4-p20-seq-h2
run 612-off-seq-h          --set zswap.enabled=N
run 612-zstd-p20-seq-h     --set zswap.compressor=zstd
run 612-lz4-p50-seq-h      --set zswap.max_pool_percent=50
run 612-lz4-p5-seq-h       --set zswap.max_pool_percent=5
run 612-lzo-p20-seq-h      --set zswap.compressor=lzo
run 612-lz4-p20-seq-slow-h --set swap.device=vda-slow
run 612-lz4-p20-seq-mixb-h "${MIXB[@]}"
run 61-lz4-p20-seq-h       "${R61[@]}" --set zswap.shrinker_enabled=null
run 61-off-seq-h           "${R61[@]}" --set zswap.shrinker_enabled=null --set zswap.enabled=N
run 612-lz4-p20-seq-numa-h "${N2[@]}"
# Traced runs (not in the corpus; see validation/traces/README.md):
#   perfmodel lab run lab/scenarios/lab-usemem.yaml --hardware lab-qemu --trace \
#       --out validation/traces/612-lz4-p20-seq-trace-a.json   (and -b)
