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
    const done = (async () => {
        while (!stopped && sent < limits.maxRequests && Date.now() < deadline) {
            sent += 1;
            const answer = await postPredict(url, body, false, limits.timeoutMs ?? 10_000);
            if (answer.ok) latenciesMs.push(answer.ms);
            else fail(answer.detail);
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

/** How one predict request ended: its latency, or why it failed. */
export type PredictAnswer =
    | { readonly ok: true; readonly ms: number }
    /** `cause`: "HTTP <status>", the socket error's code, or "timeout"; `detail` says more. */
    | { readonly ok: false; readonly cause: string; readonly detail: string };

/**
 * POSTs a predict `body` to `url` through `agent` (false: a new connection, closed after it) and
 * times it; a 200 must carry predictions. Never rejects.
 */
export function postPredict(
    url: string,
    body: string,
    agent: http.Agent | false,
    timeoutMs: number,
): Promise<PredictAnswer> {
    return new Promise((resolve) => {
        const started = process.hrtime.bigint();
        const failed = (cause: string, detail: string) => resolve({ ok: false, cause, detail });
        const req = http.request(
            url,
            {
                method: "POST",
                agent,
                headers: {
                    "Content-Type": "application/json",
                    ...(agent === false ? { Connection: "close" } : {}),
                },
                timeout: timeoutMs,
            },
            (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (d) => (text += d));
                res.on("end", () => {
                    if (res.statusCode === 200 && text.includes('"predictions"')) {
                        resolve({ ok: true, ms: Number(process.hrtime.bigint() - started) / 1e6 });
                    } else {
                        failed(
                            `HTTP ${res.statusCode}`,
                            `HTTP ${res.statusCode}: ${text.slice(0, 200)}`,
                        );
                    }
                });
                res.on("error", (err: NodeJS.ErrnoException) =>
                    failed(err.code ?? err.message, `response: ${err.message}`),
                );
            },
        );
        req.on("timeout", () =>
            req.destroy(Object.assign(new Error("timed out"), { code: "timeout" })),
        );
        req.on("error", (err: NodeJS.ErrnoException) =>
            failed(err.code ?? err.message, `request: ${err.message}`),
        );
        req.end(body);
    });
}

/** The p-th percentile (0-100) of `values`, nearest rank; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
    if (values.length === 0) return NaN;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[
        Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
    ];
}
