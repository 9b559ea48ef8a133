// "Did you mean …?" for mistyped names (commands, options, config keys): the closest candidate by
// edit distance, offered only when it is close enough to be a plausible typo.

/**
 * Edit distance where insertions, deletions, substitutions and swaps of two adjacent letters
 * ("trian" for "train") all cost 1 (optimal string alignment), case-insensitive.
 */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let before: number[] = [];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) row[j] = Math.min(row[j], before[j - 2] + 1);
    }
    before = prev;
    prev = row;
  }
  return prev[y.length];
}

/**
 * The candidate nearest to `name`, if within a third of the longer name's length (at least 1, so
 * one typo in a short name still counts) or if one contains the other; else undefined.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const list = [...candidates];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of list) {
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(Math.max(name.length, best.length) / 3))) return best;
  // No plausible typo: a name that is part of a longer one ("topk" → "topkFraction"), shortest first.
  const lower = name.toLowerCase();
  if (lower.length < 3) return undefined;
  return list.filter((c) => c.toLowerCase().includes(lower) || lower.includes(c.toLowerCase())).sort((a, b) => a.length - b.length)[0];
}

/** " (did you mean X?)" or "" — for appending to an error message. */
export function didYouMean(name: string, candidates: Iterable<string>, format = (s: string) => s): string {
  const c = closest(name, candidates);
  return c === undefined ? '' : ` (did you mean ${format(c)}?)`;
}
