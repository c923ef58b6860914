/**
 * Reading TF Serving's Prometheus page: the text exposition format as its exporter prints it
 * (`# TYPE` lines, `name{label="value",...} number`), and the two request metrics the rollout's
 * analysis needs, summed over the series that match, as the change between two scrapes.
 */

/** TF Serving's request counter: labels `model_name`, `status` (`OK` or an error code's name). */
export const REQUEST_COUNT = ":tensorflow:serving:request_count";
/** TF Serving's request latency histogram in microseconds: `model_name`, `API`, `entrypoint`. */
export const REQUEST_LATENCY = ":tensorflow:serving:request_latency";

/** One line of a page: a series and its value. */
export interface Sample {
    readonly name: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/** The samples of a page; throws naming the line that is not the text format. */
export function parsePrometheusText(page: string): Sample[] {
    const samples: Sample[] = [];
    page.split("\n").forEach((raw, i) => {
        const line = raw.trim();
        if (line === "" || line.startsWith("#")) return;
        const match = SAMPLE_LINE.exec(line);
        const value = match === null ? NaN : parseValue(match[3]);
        if (match === null || Number.isNaN(value)) {
            throw new Error(
                `Prometheus page line ${i + 1} is not a sample: ${JSON.stringify(raw)}`,
            );
        }
        samples.push({ name: match[1], labels: parseLabels(match[2] ?? "", raw, i), value });
    });
    return samples;
}

function parseValue(text: string): number {
    if (text === "+Inf") return Infinity;
    if (text === "-Inf") return -Infinity;
    return Number(text);
}

function parseLabels(text: string, raw: string, index: number): Record<string, string> {
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < text.length) {
        const start = LABEL.lastIndex;
        const match = LABEL.exec(text);
        if (match === null || LABEL.lastIndex === start) {
            throw new Error(
                `Prometheus page line ${index + 1} has malformed labels: ${JSON.stringify(raw)}`,
            );
        }
        labels[match[1]] = match[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    return labels;
}

/** Label values a series must have; other labels may be anything. */
export type LabelMatch = Readonly<Record<string, string>>;

function matches(sample: Sample, name: string, match: LabelMatch): boolean {
    return sample.name === name && Object.entries(match).every(([k, v]) => sample.labels[k] === v);
}

/** Requests by status (`OK`, `NOT_FOUND`, ...) of the series of `REQUEST_COUNT` that match. */
export function requestCounts(samples: readonly Sample[], match: LabelMatch): Map<string, number> {
    const counts = new Map<string, number>();
    for (const s of samples) {
        if (!matches(s, REQUEST_COUNT, match)) continue;
        const status = s.labels.status ?? "";
        counts.set(status, (counts.get(status) ?? 0) + s.value);
    }
    return counts;
}

/** A histogram: cumulative counts by upper limit (the last `Infinity`), and its sum. */
export interface Histogram {
    readonly buckets: readonly { readonly le: number; readonly count: number }[];
    readonly sum: number;
    readonly count: number;
}

/**
 * The histogram `name` summed over the series that match, or undefined when none does. Series
 * summed must share their bucket limits, as every series of one TF Serving metric does.
 */
export function histogram(
    samples: readonly Sample[],
    name: string,
    match: LabelMatch,
): Histogram | undefined {
    const byLimit = new Map<number, number>();
    let sum = 0;
    let count = 0;
    let found = false;
    for (const s of samples) {
        if (matches(s, `${name}_bucket`, match)) {
            const le = parseValue(s.labels.le ?? "");
            if (Number.isNaN(le)) throw new Error(`${name}_bucket has no numeric le label`);
            byLimit.set(le, (byLimit.get(le) ?? 0) + s.value);
            found = true;
        } else if (matches(s, `${name}_sum`, match)) sum += s.value;
        else if (matches(s, `${name}_count`, match)) count += s.value;
    }
    if (!found) return undefined;
    const buckets = [...byLimit.entries()]
        .sort(([a], [b]) => a - b)
        .map(([le, n]) => ({ le, count: n }));
    return { buckets, sum, count };
}

/**
 * What happened between two scrapes of one server: `after - before`, bucket by bucket. A counter
 * that went down means the server restarted in between, so everything it counted since is new:
 * the later scrape alone (Prometheus's `increase` treats a reset the same way).
 */
export function histogramDelta(before: Histogram | undefined, after: Histogram): Histogram {
    if (before === undefined || after.count < before.count) return after;
    const earlier = new Map(before.buckets.map((b) => [b.le, b.count]));
    return {
        buckets: after.buckets.map((b) => ({
            le: b.le,
            count: b.count - (earlier.get(b.le) ?? 0),
        })),
        sum: after.sum - before.sum,
        count: after.count - before.count,
    };
}

/** `after - before` of request counts by status; a reset (any count down) keeps `after`. */
export function countsDelta(
    before: ReadonlyMap<string, number>,
    after: ReadonlyMap<string, number>,
): Map<string, number> {
    const reset = [...before].some(([status, n]) => (after.get(status) ?? 0) < n);
    if (reset) return new Map(after);
    return new Map([...after].map(([status, n]) => [status, n - (before.get(status) ?? 0)]));
}

/**
 * The `q` quantile of a histogram, as Prometheus's `histogram_quantile` estimates it: linear
 * within the bucket the rank falls in, the lower limit of the first being 0. A rank in the last
 * (`+Inf`) bucket gives the largest finite limit, the most the buckets can say. NaN when empty.
 */
export function histogramQuantile(q: number, h: Histogram): number {
    if (h.count <= 0 || h.buckets.length === 0) return NaN;
    const total = h.buckets[h.buckets.length - 1].count;
    const rank = q * total;
    let lower = 0;
    let below = 0;
    for (const b of h.buckets) {
        if (b.count >= rank && b.count > below) {
            if (!Number.isFinite(b.le)) return lower;
            return lower + ((b.le - lower) * (rank - below)) / (b.count - below);
        }
        lower = b.le;
        below = b.count;
    }
    return lower;
}

/** The samples of the Prometheus page at `url`; throws naming the URL when it cannot be read. */
export async function scrapePage(url: string, timeoutMs = 10_000): Promise<Sample[]> {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
    return parsePrometheusText(await response.text());
}
