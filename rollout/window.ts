/**
 * An analysis window on live traffic, measured by the analysis's own probes: for the window's
 * length, predict requests at a fixed rate to each track's REST URL (open loop: a slow answer
 * does not delay the next request), each recorded with its latency or its cause of failure,
 * while the smoke check runs against the canary. The figures then go to `analyzeWindow`.
 */
import type { Track } from "../components/modelTrack";
import { SmokeResult } from "../client/smoke";
import { AnalysisThresholds, analyzeWindow } from "./analysis";
import { ProbeResult, figuresFromProbes } from "./figures";
import { JudgedWindow } from "./run";

/** Each track's REST base URL. */
export type TrackUrls = Readonly<Record<Track, string>>;

/** How the probes run. */
export interface ProbeOptions {
    readonly modelName: string;
    /** The `:predict` body every probe sends (a real MNIST image, so the model computes). */
    readonly body: string;
    readonly seconds: number;
    /** Requests per second to each track. */
    readonly ratePerSecond: number;
    /** A probe that takes longer fails with cause `timeout`. */
    readonly timeoutMs: number;
}

/** One probe: its latency, and for a failure the HTTP status or the error's code. */
async function probe(url: string, o: ProbeOptions): Promise<ProbeResult> {
    const started = performance.now();
    const latencyMs = () => performance.now() - started;
    try {
        const response = await fetch(`${url}/v1/models/${o.modelName}:predict`, {
            method: "POST",
            body: o.body,
            signal: AbortSignal.timeout(o.timeoutMs),
        });
        await response.arrayBuffer();
        return response.ok
            ? { ok: true, latencyMs: latencyMs() }
            : { ok: false, latencyMs: latencyMs(), cause: `HTTP ${response.status}` };
    } catch (err) {
        const e = err as { name?: string; cause?: { code?: string } };
        const cause = e.name === "TimeoutError" ? "timeout" : (e.cause?.code ?? e.name ?? "error");
        return { ok: false, latencyMs: latencyMs(), cause };
    }
}

/** Probes every track for the window; each track's results. */
export async function probeTracks(
    urls: TrackUrls,
    o: ProbeOptions,
): Promise<Record<Track, ProbeResult[]>> {
    const tracks = Object.keys(urls) as Track[];
    const pending: Promise<[Track, ProbeResult]>[] = [];
    const intervalMs = 1000 / o.ratePerSecond;
    const total = Math.round(o.seconds * o.ratePerSecond);
    const start = performance.now();
    for (let i = 0; i < total; i++) {
        // Open loop: each request at its own time, whether or not the earlier ones have answered.
        const wait = start + i * intervalMs - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        for (const track of tracks) {
            pending.push(probe(urls[track], o).then((r) => [track, r]));
        }
    }
    const results: Record<Track, ProbeResult[]> = { stable: [], canary: [] };
    for (const [track, r] of await Promise.all(pending)) results[track].push(r);
    return results;
}

/** Judges one window: probes on both tracks and the smoke check of the canary, side by side. */
export async function judgeByProbes(
    urls: TrackUrls,
    o: ProbeOptions,
    thresholds: AnalysisThresholds,
    smokeCanary: (canaryUrl: string) => Promise<SmokeResult>,
): Promise<JudgedWindow> {
    const [results, answers] = await Promise.all([probeTracks(urls, o), smokeCanary(urls.canary)]);
    const analysis = analyzeWindow(
        {
            canary: figuresFromProbes(results.canary),
            stable: figuresFromProbes(results.stable),
            answers,
        },
        thresholds,
    );
    return { analysis, source: "probes", windowSeconds: o.seconds };
}
