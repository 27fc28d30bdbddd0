#!/usr/bin/env bash
# Mutation testing (Stryker) over the modules whose decisions users rely on; docs/mutation.md.
#   bash scripts/mutation.sh                 # the fast modules (CI-sized; a few minutes)
#   bash scripts/mutation.sh all             # every module below, the slow ones too (manual)
#   bash scripts/mutation.sh diagnosis cli   # the named modules
#   bash scripts/mutation.sh --incremental   # (CI) reuse test/mutation/incremental/<module>.json: only
#                                            # mutants whose code or covering tests changed run again
#   bash scripts/mutation.sh --record        # a full run that rewrites those committed reports
# Each module is mutated against the unit test files that state its promises (a mutant is run only
# against the tests that cover it: coverageAnalysis perTest). Prints the score per module and per
# file, and exits 1 when a module scores under MUTATION_MIN (default 85).
# Environment: MUTATION_CONCURRENCY (default 2), MUTATION_MIN (default 85), MUTATION_TIMEOUT_S
# per module (default 1800).
set -euo pipefail
cd "$(dirname "$0")/.."

# name | files to mutate (Stryker's file[:line-line] ranges, comma-separated) | unit test files (out/test/unit/<name>.test.js) | speed
MODULES=(
  "diagnosis|extension/core/compare/diagnosis.ts,extension/core/compare/verdict.ts|diagnosis,diagnosis-sentences,promises|fast"
  "metrics|extension/core/compare/metrics.ts,extension/core/compare/blocks.ts|metrics-promises,diagnosis,promises,core|fast"
  "inspect|extension/core/inspect.ts|inspect,promises|fast"
  "pairing|extension/host/pairing.ts|state,state-fixes,promises|fast"
  "limits|extension/core/formats/safetensors.ts:98-148,extension/core/formats/pickle.ts:145-145,extension/core/formats/pickle.ts:159-168,extension/core/formats/pickle-globals.ts:10-54|limits-promises,limits,formats,hfformats,promises|fast"
  "cli|extension/cli.ts:169-197|cli-promises,cli,cli-options|slow"
  "pipeline|extension/core/pipeline/load.ts:120-140,extension/core/pipeline/compare.ts:100-157|pipeline-promises,pipeline,promises-pipeline|slow"
)

mode=full
want=()
for a in "$@"; do
  case "$a" in
    --incremental) mode=incremental ;;
    --record) mode=record ;;
    *) want+=("$a") ;;
  esac
done
[ ${#want[@]} -eq 0 ] && want=(fast)
selected=()
for m in "${MODULES[@]}"; do
  IFS='|' read -r name _ _ speed <<<"$m"
  for w in "${want[@]}"; do
    if [ "$w" = all ] || [ "$w" = "$speed" ] || [ "$w" = "$name" ]; then selected+=("$m"); break; fi
  done
done
[ ${#selected[@]} -gt 0 ] || { echo "no module named ${want[*]}; modules: $(printf '%s ' "${MODULES[@]%%|*}")" >&2; exit 2; }

mkdir -p reports/mutation test/mutation/incremental
if [ "$mode" != full ]; then
  # The incremental report keys tests by their file (out/test/unit/*.js, compiled): Stryker must
  # read those files as they are now, so build them first (the sandbox builds its own copy too).
  npx --no-install tsc -p .
fi
MIN="${MUTATION_MIN:-85}"
status=0
summary=()
for m in "${selected[@]}"; do
  IFS='|' read -r name mutate specs _ <<<"$m"
  conf="reports/mutation/$name.conf.json"
  MODE="$mode" NAME="$name" MUTATE="$mutate" SPECS="$specs" CONC="${MUTATION_CONCURRENCY:-2}" node -e '
    const c = require("./stryker.conf.json");
    delete c.$schema; delete c._comment;
    c.mutate = process.env.MUTATE.split(",");
    c.mochaOptions.spec = process.env.SPECS.split(",").map((s) => `out/test/unit/${s}.test.js`);
    c.jsonReporter = { fileName: `reports/mutation/${process.env.NAME}.json` };
    c.concurrency = Number(process.env.CONC);
    if (process.env.MODE !== "full") {
      // Incremental: the previous result is read from, and the new one written to, the committed
      // report; "record" ignores what it holds (--force) and measures every mutant again.
      c.incremental = true;
      c.force = process.env.MODE === "record";
      c.incrementalFile = `test/mutation/incremental/${process.env.NAME}.json`;
      // The compiled test files are what the report matches tests by: Stryker must see them.
      c.ignorePatterns = c.ignorePatterns.filter((p) => p !== "out").concat(["out/*", "!out/test", "out/test/*", "!out/test/unit"]);
    }
    require("fs").writeFileSync(`reports/mutation/${process.env.NAME}.conf.json`, JSON.stringify(c, null, 1));'
  t0=$(date +%s)
  echo "== mutation: $name ($mutate) against ${specs}"
  report="reports/mutation/$name.json"
  # --incremental: a module whose mutated files, compiled test files and mutate ranges are exactly
  # those of its committed report is not run at all: Stryker would reuse every result (it diffs
  # only those files), so the recorded result is the result. Otherwise Stryker runs incrementally.
  if [ "$mode" = incremental ] && MUTATE="$mutate" SPECS="$specs" INC="test/mutation/incremental/$name.json" node -e '
    const fs = require("fs");
    if (!fs.existsSync(process.env.INC)) process.exit(1);
    const r = JSON.parse(fs.readFileSync(process.env.INC, "utf8"));
    const same = (files) => Object.entries(files ?? {}).every(([f, v]) => fs.existsSync(f) && fs.readFileSync(f, "utf8") === v.source);
    const specs = process.env.SPECS.split(",").map((s) => `out/test/unit/${s}.test.js`);
    const ok = JSON.stringify(r.config?.mutate) === JSON.stringify(process.env.MUTATE.split(","))
      && JSON.stringify(Object.keys(r.testFiles ?? {}).sort()) === JSON.stringify([...specs].sort())
      && same(r.files) && same(r.testFiles);
    process.exit(ok ? 0 : 1);'; then
    echo "   unchanged since test/mutation/incremental/$name.json: its recorded result (Stryker not run)"
    cp "test/mutation/incremental/$name.json" "$report"
  elif ! timeout "${MUTATION_TIMEOUT_S:-1800}" npx --no-install stryker run "$conf" >"reports/mutation/$name.log" 2>&1; then
    echo "   stryker failed or ran out of time (reports/mutation/$name.log):"; tail -5 "reports/mutation/$name.log"; status=1; continue
  fi
  secs=$(( $(date +%s) - t0 ))
  line=$(NAME="$name" SECS="$secs" MIN="$MIN" node -e '
    const r = JSON.parse(require("fs").readFileSync(`reports/mutation/${process.env.NAME}.json`, "utf8"));
    const count = (ms) => { const k = ms.filter((x) => ["Killed", "Timeout"].includes(x.status)).length;
      const n = ms.filter((x) => ["Killed", "Timeout", "Survived", "NoCoverage"].includes(x.status)).length; return [k, n]; };
    let all = [];
    for (const [file, f] of Object.entries(r.files)) { const [k, n] = count(f.mutants); all = all.concat(f.mutants);
      console.error(`   ${file}: ${n ? (100 * k / n).toFixed(1) : "-"} % (${k}/${n})`);
      for (const x of f.mutants.filter((x) => ["Survived", "NoCoverage"].includes(x.status)))
        console.error(`     ${x.status.padEnd(10)} ${file}:${x.location.start.line}:${x.location.start.column} ${x.mutatorName}${x.replacement !== undefined ? ": " + JSON.stringify(x.replacement).slice(0, 70) : ""}`); }
    const [k, n] = count(all); const s = n ? 100 * k / n : 100;
    console.log(`${process.env.NAME}: ${s.toFixed(1)} % (${k}/${n} killed) in ${process.env.SECS} s${s < Number(process.env.MIN) ? "  < " + process.env.MIN + " %" : ""}`);
    process.exitCode = s < Number(process.env.MIN) ? 3 : 0;' 2>"reports/mutation/$name.survivors.txt")  || status=1
  cat "reports/mutation/$name.survivors.txt"
  echo "   $line"
  summary+=("$line")
done
echo
echo "== mutation score per module (minimum $MIN %)"
printf '   %s\n' "${summary[@]}"
exit $status
