/**
 * A client that keeps calling the served model while the cluster changes under it (a rollout, a
 * pod deleted by hand), for the cluster suite and `npm run bench:rollout`. One request at a time,
 * each on a new connection: a kept-alive connection stays with the pod it first reached, so only
 * new connections show whether the Service routes around pods that are going away. Bounded in
 * count and time.
 */
import * as http from "http";

/** What the loop saw. */
export interface LoopResult {
    readonly sent: number;
    readonly failed: number;
    /** The first failures, as "+12.3 s: HTTP 503: …" or the socket error, timed from the start. */
    readonly failures: readonly string[];
    /** Latency of each successful request, in milliseconds. */
    readonly latenciesMs: readonly number[];
}

/** A running loop. */
export interface ClientLoop {
    /** Requests sent so far. */
    sent(): number;
    /** Stops after the request in flight and gives the result. */
    stop(): Promise<LoopResult>;
}

const KEPT_FAILURES = 10;

/** POSTs `body` (JSON) to `url` until stopped, `maxRequests` are sent or `maxSeconds` pass. */
export function startClientLoop(
    url: string,
    body: string,
    limits: { maxRequests: number; maxSeconds: number; timeoutMs?: number },
): ClientLoop {
    let sent = 0;
    let stopped = false;
    const failures: string[] = [];
    let failed = 0;
    const latenciesMs: number[] = [];
    const startedAt = Date.now();
    const deadline = startedAt + limits.maxSeconds * 1000;
    const fail = (why: string) => {
        failed += 1;
        const at = ((Date.now() - startedAt) / 1000).toFixed(1);
        if (failures.length < KEPT_FAILURES) failures.push(`+${at} s: ${why}`);
    };
    const once = () =>
        new Promise<void>((resolve) => {
            const started = process.hrtime.bigint();
            const req = http.request(
                url,
                {
                    method: "POST",
                    agent: false,
                    headers: { "Content-Type": "application/json", Connection: "close" },
                    timeout: limits.timeoutMs ?? 10_000,
                },
                (res) => {
                    let text = "";
                    res.setEncoding("utf8");
                    res.on("data", (d) => (text += d));
                    res.on("end", () => {
                        if (res.statusCode === 200 && text.includes('"predictions"')) {
                            latenciesMs.push(Number(process.hrtime.bigint() - started) / 1e6);
                        } else {
                            fail(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
                        }
                        resolve();
                    });
                    res.on("error", (err) => {
                        fail(`response: ${err.message}`);
                        resolve();
                    });
                },
            );
            req.on("timeout", () => req.destroy(new Error("timed out")));
            req.on("error", (err) => {
                fail(`request: ${err.message}`);
                resolve();
            });
            req.end(body);
        });
    const done = (async () => {
        while (!stopped && sent < limits.maxRequests && Date.now() < deadline) {
            sent += 1;
            await once();
        }
    })();
    return {
        sent: () => sent,
        stop: async () => {
            stopped = true;
            await done;
            return { sent, failed, failures, latenciesMs };
        },
    };
}

/** The p-th percentile (0-100) of `values`, nearest rank; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
    if (values.length === 0) return NaN;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[
        Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
    ];
}
