/**
 * An analysis window on live traffic. For the window's length the analysis sends its own predict
 * requests at a fixed rate to each track (open loop: a slow answer does not delay the next
 * request), taking turns over the track's pods, each recorded with its latency or its cause of
 * failure, while the smoke check runs against the canary. With TF Serving's Prometheus page on,
 * every pod is scraped at the window's start and end, and the track's figures are what its pods
 * counted, the users' requests with the probes; otherwise the probes' own figures are the
 * track's. Either way they go to `analyzeWindow`.
 */
import type { Track } from "../components/modelTrack";
import { SmokeResult } from "../client/smoke";
import { errorMessage } from "../errors";
import { AnalysisThresholds, SmokeError, analyzeWindow } from "./analysis";
import {
    PodScrapes,
    ProbeResult,
    WindowFigures,
    figuresFromProbes,
    figuresFromScrapes,
} from "./figures";
import { Sample } from "./prometheus";
import { JudgedWindow } from "./run";

/** Each track's REST base URLs, one per pod the analysis reaches. */
export type TrackUrls = Readonly<Record<Track, readonly string[]>>;

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

/** Reads one pod's Prometheus page, given its REST base URL. */
export type Scrape = (url: string) => Promise<Sample[]>;

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

/** Probes every track for the window, each request to the next of its pods; each track's results. */
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
            const pods = urls[track];
            pending.push(probe(pods[i % pods.length], o).then((r) => [track, r]));
        }
    }
    const results: Record<Track, ProbeResult[]> = { stable: [], canary: [] };
    for (const [track, r] of await Promise.all(pending)) results[track].push(r);
    return results;
}

/** Every pod's page, track by track, in the order of `urls`; an Error for a page not read. */
async function scrapeAll(urls: TrackUrls, scrape: Scrape): Promise<Record<Track, PageOrError[]>> {
    const track = (t: Track) =>
        Promise.all(
            urls[t].map((url) =>
                scrape(url).catch((err: unknown) => new Error(`${url}: ${errorMessage(err)}`)),
            ),
        );
    const [stable, canary] = await Promise.all([track("stable"), track("canary")]);
    return { stable, canary };
}

type PageOrError = Sample[] | Error;

/** A track's figures from its pods' two scrapes; a pod with a page not read is named, not counted. */
function figuresFromPages(
    before: readonly PageOrError[],
    after: readonly PageOrError[],
    modelName: string,
): WindowFigures {
    const pods: PodScrapes[] = [];
    const unread: string[] = [];
    after.forEach((page, i) => {
        const start = before[i];
        if (page instanceof Error || start instanceof Error) {
            unread.push((page instanceof Error ? page : (start as Error)).message);
        } else pods.push({ before: start, after: page });
    });
    const figures = figuresFromScrapes(pods, modelName);
    return unread.length === 0 ? figures : { ...figures, unreadPods: unread };
}

/**
 * The canary's smoke check; one that cannot finish (its requests fail) is a failed answer, not a
 * stopped rollout, so its error becomes the result.
 */
async function smokeOrError(
    smokeCanary: (canaryUrl: string) => Promise<SmokeResult>,
    url: string,
): Promise<SmokeResult | SmokeError> {
    try {
        return await smokeCanary(url);
    } catch (err) {
        return { error: errorMessage(err) };
    }
}

/**
 * Judges one window: probes on both tracks and the smoke check of the canary (on its first pod),
 * side by side; with `scrape`, the figures are the pods' own between two scrapes of each.
 */
export async function judgeWindow(
    urls: TrackUrls,
    o: ProbeOptions,
    thresholds: AnalysisThresholds,
    smokeCanary: (canaryUrl: string) => Promise<SmokeResult>,
    scrape?: Scrape,
): Promise<JudgedWindow> {
    const before = scrape === undefined ? undefined : await scrapeAll(urls, scrape);
    const [results, answers] = await Promise.all([
        probeTracks(urls, o),
        smokeOrError(smokeCanary, urls.canary[0]),
    ]);
    const after = scrape === undefined ? undefined : await scrapeAll(urls, scrape);
    const figuresOf = (track: Track) =>
        before === undefined || after === undefined
            ? figuresFromProbes(results[track])
            : figuresFromPages(before[track], after[track], o.modelName);
    const analysis = analyzeWindow(
        { canary: figuresOf("canary"), stable: figuresOf("stable"), answers },
        thresholds,
    );
    return {
        analysis,
        source: scrape === undefined ? "probes" : "prometheus",
        windowSeconds: o.seconds,
    };
}
