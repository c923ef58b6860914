/**
 * An open-loop load generator for `npm run bench:resilience` and the cluster suite: requests leave
 * at a fixed rate whatever the server does, over a fixed number of kept-alive connections, so a
 * slow server shows as latency and failures instead of hiding behind a client that waits for it
 * (coordinated omission). Each request's latency counts from the moment it was due, not from
 * when a connection took it. Bounded in time (and so in count: rate × seconds).
 *
 * With `retries`, a request that failed on the connection (refused, reset, closed) or with HTTP
 * 503 is sent again after the product client's backoff (client/servingClient.ts): what a caller
 * using our client would see. Timeouts and other statuses are never retried.
 */
import * as http from "http";
import { backoffDelayMs } from "../../client/servingClient";
import { CLIENT_DEFAULTS } from "../../client/types";
import { PredictAnswer, percentile, postPredict } from "./clientLoop";

/** How much load, for how long. */
export interface OpenLoopOptions {
    readonly url: string;
    /** The predict request's JSON body. */
    readonly body: string;
    /** Requests started per second. */
    readonly ratePerSecond: number;
    /** Kept-alive connections the requests share. */
    readonly connections: number;
    /**
     * Each request on a connection of its own instead (`connections` then bounds none), as a
     * caller without keep-alive sends: a Service then routes every request anew, so traffic
     * follows the pods as they come and go.
     */
    readonly newConnections?: boolean;
    /** Seconds to keep starting requests; the last ones may finish up to `timeoutMs` later. */
    readonly seconds: number;
    /** Per-attempt timeout. Defaults to the product client's. */
    readonly timeoutMs?: number;
    /** Attempts after the first, as the product client makes them. Defaults to 0. */
    readonly retries?: number;
    /** Seconds per row of `perSecond` (a soak reports minutes). Defaults to 1. */
    readonly bucketSeconds?: number;
}

/** Latency percentiles in milliseconds (NaN when nothing succeeded). */
export interface Percentiles {
    readonly p50Ms: number;
    readonly p95Ms: number;
    readonly p99Ms: number;
}

/** One bucket of the run (a second unless `bucketSeconds` says otherwise), by when its requests were due. */
export interface SecondFigures extends Percentiles {
    /** The bucket's start, in seconds from the run's. */
    readonly second: number;
    readonly sent: number;
    readonly succeeded: number;
    readonly failed: number;
}

/** What the generator saw. */
export interface OpenLoopResult extends Percentiles {
    readonly ratePerSecond: number;
    readonly connections: number;
    readonly retries: number;
    readonly sent: number;
    readonly succeeded: number;
    readonly failed: number;
    /** Failed requests by their last attempt's cause: the socket error's code, "timeout" or "HTTP <status>". */
    readonly failedBy: Record<string, number>;
    /** Requests that succeeded only after a retry. */
    readonly succeededAfterRetry: number;
    /** The first failures, as "+12.3 s: <cause>: <detail>", timed from the start. */
    readonly failures: readonly string[];
    /** How late the generator started requests: above a few ms it could not drive the rate itself. */
    readonly startLagP99Ms: number;
    /** CPU seconds the generator's process used (user and system) while it ran. */
    readonly generatorCpuSeconds: number;
    readonly perSecond: readonly SecondFigures[];
}

/** A running generator. */
export interface OpenLoop {
    /** Requests started so far. */
    sent(): number;
    /** Stops starting requests, waits for those in flight and gives the result. */
    stop(): Promise<OpenLoopResult>;
}

const KEPT_FAILURES = 10;

/** One request's outcome. */
interface Outcome {
    readonly dueMs: number;
    readonly answer: PredictAnswer;
    readonly attempts: number;
}

/** Starts the load; it ends by itself after `seconds`, or earlier at `stop()`. */
export function startOpenLoop(options: OpenLoopOptions): OpenLoop {
    const { ratePerSecond, connections, seconds } = options;
    for (const [key, value] of Object.entries({ ratePerSecond, connections, seconds })) {
        if (!(Number.isFinite(value) && value > 0)) {
            throw new Error(`open loop: ${key} is ${value}; expected a positive number`);
        }
    }
    const timeoutMs = options.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs;
    const retries = options.retries ?? 0;
    const agent = new http.Agent(
        options.newConnections === true
            ? { keepAlive: false }
            : { keepAlive: true, maxSockets: connections },
    );
    const outcomes: Outcome[] = [];
    const inFlight = new Set<Promise<void>>();
    const lags: number[] = [];
    const startedAt = performance.now();
    const cpuAtStart = process.cpuUsage();
    const total = Math.floor(ratePerSecond * seconds);
    let started = 0;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let doneSending = () => {};
    const sendingDone = new Promise<void>((resolve) => (doneSending = resolve));

    const send = (index: number) => {
        const dueMs = (index * 1000) / ratePerSecond;
        lags.push(performance.now() - startedAt - dueMs);
        const request = attempt(options, agent, timeoutMs, retries).then(({ answer, attempts }) => {
            // Latency from when the request was due: a queue in the client counts against the server.
            const ms = performance.now() - startedAt - dueMs;
            outcomes.push({ dueMs, attempts, answer: answer.ok ? { ok: true, ms } : answer });
        });
        inFlight.add(request);
        void request.finally(() => inFlight.delete(request));
    };
    // Start every request that is due, then sleep until the next one is.
    const tick = () => {
        const now = performance.now() - startedAt;
        while (!stopped && started < total && (started * 1000) / ratePerSecond <= now) {
            send(started++);
        }
        if (stopped || started >= total) return doneSending();
        const next = (started * 1000) / ratePerSecond - (performance.now() - startedAt);
        timer = setTimeout(tick, Math.max(0, next));
    };
    tick();

    return {
        sent: () => started,
        stop: async () => {
            stopped = true;
            clearTimeout(timer);
            doneSending();
            await sendingDone;
            while (inFlight.size > 0) await Promise.all([...inFlight]);
            agent.destroy();
            const cpu = process.cpuUsage(cpuAtStart);
            return summarize(options, retries, outcomes, lags, (cpu.user + cpu.system) / 1e6);
        },
    };
}

/** Runs the load for its whole length and gives the result. */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
    const loop = startOpenLoop(options);
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    return loop.stop();
}

/** One request, with the product client's retries of connection errors and HTTP 503. */
async function attempt(
    options: OpenLoopOptions,
    agent: http.Agent,
    timeoutMs: number,
    retries: number,
): Promise<{ answer: PredictAnswer; attempts: number }> {
    for (let attempts = 1; ; attempts++) {
        const answer = await postPredict(options.url, options.body, agent, timeoutMs);
        if (answer.ok || attempts > retries || !retryable(answer.cause)) {
            return { answer, attempts };
        }
        await new Promise((r) => setTimeout(r, backoffDelayMs(attempts)));
    }
}

/** The causes the product client retries: the connection's errors and HTTP 503, not timeouts. */
function retryable(cause: string): boolean {
    return cause === "HTTP 503" || (cause !== "timeout" && !cause.startsWith("HTTP "));
}

function percentiles(latencies: readonly number[]): Percentiles {
    const ms = (p: number) => Number(percentile(latencies, p).toFixed(2));
    return { p50Ms: ms(50), p95Ms: ms(95), p99Ms: ms(99) };
}

function summarize(
    options: OpenLoopOptions,
    retries: number,
    outcomes: readonly Outcome[],
    lags: readonly number[],
    generatorCpuSeconds: number,
): OpenLoopResult {
    const ordered = [...outcomes].sort((a, b) => a.dueMs - b.dueMs);
    const failedBy: Record<string, number> = {};
    const failures: string[] = [];
    const latencies: number[] = [];
    const seconds = new Map<number, { latencies: number[]; failed: number }>();
    const bucketSeconds = options.bucketSeconds ?? 1;
    for (const { dueMs, answer } of ordered) {
        const second = Math.floor(dueMs / 1000 / bucketSeconds) * bucketSeconds;
        const bucket = seconds.get(second) ?? { latencies: [], failed: 0 };
        seconds.set(second, bucket);
        if (answer.ok) {
            latencies.push(answer.ms);
            bucket.latencies.push(answer.ms);
            continue;
        }
        bucket.failed += 1;
        failedBy[answer.cause] = (failedBy[answer.cause] ?? 0) + 1;
        if (failures.length < KEPT_FAILURES) {
            failures.push(`+${(dueMs / 1000).toFixed(1)} s: ${answer.cause}: ${answer.detail}`);
        }
    }
    const failed = ordered.length - latencies.length;
    return {
        ratePerSecond: options.ratePerSecond,
        connections: options.connections,
        retries,
        sent: ordered.length,
        succeeded: latencies.length,
        failed,
        failedBy,
        succeededAfterRetry: ordered.filter((o) => o.answer.ok && o.attempts > 1).length,
        failures,
        ...percentiles(latencies),
        startLagP99Ms: Number(percentile(lags, 99).toFixed(2)),
        generatorCpuSeconds: Number(generatorCpuSeconds.toFixed(2)),
        perSecond: [...seconds].map(([second, b]) => ({
            second,
            sent: b.latencies.length + b.failed,
            succeeded: b.latencies.length,
            failed: b.failed,
            ...percentiles(b.latencies),
        })),
    };
}
