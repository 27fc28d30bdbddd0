/** The benchmarks' median: the upper middle of the sorted values (NaN for none). bench.ts keeps its own, which averages the two middles. */
export function median(a: readonly number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}
