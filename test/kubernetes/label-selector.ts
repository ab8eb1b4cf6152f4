/**
 * Kubernetes label selectors as the API server parses them: `a=b`, `a==b`, `a!=b`, `a`, `!a`,
 * `a in (x,y)`, `a notin (x,y)`, joined by commas (AND).
 */
export function matchesSelector(selector: string | null, labels: Record<string, string>): boolean {
  if (!selector) return true;
  return splitTerms(selector).every((term) => matchesTerm(term.trim(), labels));
}

function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  terms.push(current);
  return terms.filter((t) => t.trim() !== '');
}

function matchesTerm(term: string, labels: Record<string, string>): boolean {
  const set = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(term);
  if (set) {
    const values = set[3]!.split(',').map((v) => v.trim());
    const has = set[1]! in labels && values.includes(labels[set[1]!]!);
    return set[2] === 'in' ? has : !has;
  }
  const inequality = /^([^!=]+)!=(.*)$/.exec(term);
  if (inequality) return labels[inequality[1]!.trim()] !== inequality[2]!.trim();
  const equality = /^([^!=]+)==?(.*)$/.exec(term);
  if (equality) return labels[equality[1]!.trim()] === equality[2]!.trim();
  if (term.startsWith('!')) return !(term.slice(1).trim() in labels);
  return term in labels;
}
