/**
 * What one track served during an analysis window: requests, failures and the p99 latency of the
 * successful ones. Read either from TF Serving's own metrics (two scrapes of each pod's
 * Prometheus page, at the window's start and end) or from the analysis's own probe requests;
 * the figures say which.
 */
import {
    Histogram,
    REQUEST_LATENCY,
    Sample,
    countsDelta,
    histogram,
    histogramDelta,
    histogramQuantile,
    requestCounts,
} from "./prometheus";

/** Where a window's figures come from. */
export type FiguresSource = "prometheus" | "probes";

/** One track's figures over one window. */
export interface WindowFigures {
    readonly source: FiguresSource;
    /** Predict requests answered or failed in the window. */
    readonly requests: number;
    /** Of those, the failed ones. */
    readonly failed: number;
    /** Failed requests by cause: a TF Serving status (`NOT_FOUND`), or a probe's own cause. */
    readonly failuresByCause: Readonly<Record<string, number>>;
    /** `failed / requests`; 0 without requests. */
    readonly errorRate: number;
    /** p99 latency of the successful requests in ms; NaN without any. */
    readonly p99Ms: number;
    /**
     * Pods whose Prometheus page could not be read at the window's start or end (a pod that was
     * killed, or whose port-forward broke), each as the error said; their counts are left out.
     */
    readonly unreadPods?: readonly string[];
}

/** One pod's Prometheus page at the window's start (none for a pod that started since) and end. */
export interface PodScrapes {
    readonly before?: readonly Sample[];
    readonly after: readonly Sample[];
}

function figures(
    source: FiguresSource,
    succeeded: number,
    failuresByCause: Record<string, number>,
    p99Ms: number,
): WindowFigures {
    const failed = Object.values(failuresByCause).reduce((a, b) => a + b, 0);
    const requests = succeeded + failed;
    return {
        source,
        requests,
        failed,
        failuresByCause,
        errorRate: requests === 0 ? 0 : failed / requests,
        p99Ms,
    };
}

/** Buckets of histograms with the same limits added together. */
function addHistograms(a: Histogram | undefined, b: Histogram): Histogram {
    if (a === undefined) return b;
    const limits = (h: Histogram) => h.buckets.map((x) => x.le).join(",");
    if (limits(a) !== limits(b)) {
        throw new Error(`${REQUEST_LATENCY} has different bucket limits on two pods of one track`);
    }
    return {
        buckets: a.buckets.map((x, i) => ({ le: x.le, count: x.count + b.buckets[i].count })),
        sum: a.sum + b.sum,
        count: a.count + b.count,
    };
}

/**
 * A track's figures from its pods' scrapes. Successes are the predict calls the latency histogram
 * timed (`API="predict"`), not the `OK`s of `request_count`: that counter also counts the
 * kubelet's status probes (GETs, all `OK`), which would dilute the error rate. Failures are every
 * status but `OK` of `request_count`, a failed probe included: a pod failing its probes fails.
 */
export function figuresFromScrapes(pods: readonly PodScrapes[], modelName: string): WindowFigures {
    const failures: Record<string, number> = {};
    let latency: Histogram | undefined;
    for (const pod of pods) {
        const model = { model_name: modelName };
        const counts = countsDelta(
            requestCounts(pod.before ?? [], model),
            requestCounts(pod.after, model),
        );
        for (const [status, n] of counts) {
            if (status !== "OK" && n > 0) failures[status] = (failures[status] ?? 0) + n;
        }
        const predicts = { ...model, API: "predict" };
        const after = histogram(pod.after, REQUEST_LATENCY, predicts);
        if (after === undefined) continue;
        const before = pod.before && histogram(pod.before, REQUEST_LATENCY, predicts);
        latency = addHistograms(latency, histogramDelta(before, after));
    }
    const p99Us = latency === undefined ? NaN : histogramQuantile(0.99, latency);
    return figures("prometheus", latency?.count ?? 0, failures, p99Us / 1000);
}

/** One probe request of the analysis: whether it succeeded, its latency, and if not, why. */
export interface ProbeResult {
    readonly ok: boolean;
    readonly latencyMs: number;
    /** Why it failed: an HTTP status, a connection error's code. */
    readonly cause?: string;
}

/** The p99 of `values` by nearest rank; NaN when empty. */
export function nearestRankP99(values: readonly number[]): number {
    if (values.length === 0) return NaN;
    const sorted = [...values].sort((a, b) => a - b);
    // (99 * n) / 100 rather than 0.99 * n, which floating point can put above a whole rank.
    return sorted[Math.ceil((99 * sorted.length) / 100) - 1];
}

/** A track's figures from the analysis's own requests to it. */
export function figuresFromProbes(results: readonly ProbeResult[]): WindowFigures {
    const failures: Record<string, number> = {};
    for (const r of results) {
        if (!r.ok) failures[r.cause ?? "failed"] = (failures[r.cause ?? "failed"] ?? 0) + 1;
    }
    const succeeded = results.filter((r) => r.ok);
    return figures(
        "probes",
        succeeded.length,
        failures,
        nearestRankP99(succeeded.map((r) => r.latencyMs)),
    );
}
