/**
 * What the stacks declare, seen acting while the model serves (the dev stack on the one-node
 * local cluster): the autoscaler scaling, evictions held by the disruption budget, a killed
 * server process, node components and the API server restarted, Pod Security admission, and a
 * soak. Each scenario runs under the open-loop generator (./loadProcess.ts) and returns its
 * figures; `npm run bench:resilience` runs them at full length, the cluster suite short.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { CLIENT_DEFAULTS } from "../../client/types";
import { DEPLOYMENT, NAMESPACE, PREDICT_URL, predictBody, readyPods, upDev } from "./clusterStack";
import { LoopResult, startClientLoop } from "./clientLoop";
import { clusterDaemonPids } from "./clusterDaemons";
import { startLoadProcess } from "./loadProcess";
import { OpenLoopResult } from "./openLoop";
import { RealStack } from "./realStack";

const ROOT = path.resolve(__dirname, "..", "..");

/** The deployed dev stack the scenarios act on. */
export interface ScenarioContext {
    readonly stack: RealStack;
    /** The node's state directory (its daemons' pid files). */
    readonly nodeState: string;
}

/** The measured traffic: batch-1 predicts through the README's endpoint. */
export interface Load {
    readonly ratePerSecond: number;
    readonly connections: number;
    /** Attempts after the first, as the product client makes them. */
    readonly retries: number;
}

/** The traffic every scenario measures unless it says otherwise: our client's own retries. */
export const STEADY_LOAD: Load = {
    ratePerSecond: 20,
    connections: 4,
    retries: CLIENT_DEFAULTS.retries,
};

/** The figures of one run of the generator, without its per-second rows. */
export type LoadFigures = Omit<OpenLoopResult, "perSecond">;

/** Longer than the readiness probe's period (10 s, components/modelDeployment.ts). */
const SETTLED_SECONDS = 15;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How `underLoad` runs the generator around its action. */
export interface UnderLoadOptions {
    /** Seconds the load goes on after the action. Defaults to 3. */
    readonly settleSeconds?: number;
    /** The generator's own bound on its sending. Defaults to an hour: the action ends the load. */
    readonly seconds?: number;
    /** Seconds per row of the result's `perSecond`. Defaults to 1. */
    readonly bucketSeconds?: number;
}

/** Runs `action` under `load` (plus `settleSeconds` after it); the load's figures and its value. */
export async function underLoad<T>(
    load: Load,
    action: () => Promise<T>,
    options: UnderLoadOptions = {},
): Promise<{ load: OpenLoopResult; value: T }> {
    const settleSeconds = options.settleSeconds ?? 3;
    const generator = await startLoadProcess({
        url: PREDICT_URL,
        body: predictBody(),
        ...load,
        seconds: options.seconds ?? 3600,
        bucketSeconds: options.bucketSeconds,
    });
    // Stop the generator even when the action failed, so that nothing outlives the scenario.
    const outcome = await action().then(
        async (value) => {
            await sleep(settleSeconds * 1000);
            return { value };
        },
        (error: unknown) => ({ error }),
    );
    const result = await generator.stop();
    if ("error" in outcome) throw outcome.error;
    const value = outcome.value;
    return { load: result, value };
}

/** The generator's figures without the per-second rows. */
export function loadFigures({ perSecond: _rows, ...figures }: OpenLoopResult): LoadFigures {
    return figures;
}

/** Seconds until `done()` holds, polled every second; throws after `seconds`, saying `what`. */
export async function secondsUntil(
    what: string,
    seconds: number,
    done: () => boolean,
): Promise<number> {
    const started = Date.now();
    for (;;) {
        let holds = false;
        try {
            holds = done();
        } catch {
            // The API server may be down on purpose: keep polling.
        }
        if (holds) return (Date.now() - started) / 1000;
        if (Date.now() - started > seconds * 1000) {
            throw new Error(`${what}: not within ${seconds} s`);
        }
        await sleep(1000);
    }
}

/** The `message` of the API server's Status in a refused request's error (RealStack.kube). */
function apiMessage(err: unknown): string {
    const text = String(err);
    try {
        return JSON.parse(text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1)).message;
    } catch {
        return text;
    }
}

/**
 * Seconds until `done()` began to hold for good: it then held at every poll (each second) for
 * `holdSeconds`. Throws after `seconds`, saying `what`.
 */
async function steadyFor(
    what: string,
    seconds: number,
    holdSeconds: number,
    done: () => boolean,
): Promise<number> {
    const started = Date.now();
    let since: number | undefined;
    await secondsUntil(what, seconds, () => {
        if (!done()) {
            since = undefined;
            return false;
        }
        since ??= Date.now();
        return Date.now() - since >= holdSeconds * 1000;
    });
    return ((since ?? Date.now()) - started) / 1000;
}

/** The model Deployment's wanted and ready replicas. */
function replicas(stack: RealStack): { wanted: number; ready: number } {
    const status = stack.kubeGet(
        `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${DEPLOYMENT}`,
    )?.status;
    return { wanted: status?.replicas ?? 0, ready: status?.readyReplicas ?? 0 };
}

/** `n` ready pods, all wanted. */
function settledAt(stack: RealStack, n: number): boolean {
    const r = replicas(stack);
    return r.wanted === n && r.ready === n && readyPods(stack).length === n;
}

/** How the autoscaler acted: seconds to its first new ready pod, to its maximum, and back. */
export interface ScaleFigures {
    readonly minReplicas: number;
    readonly maxReplicas: number;
    readonly secondsToFirstNewReadyPod: number;
    readonly secondsToMaxReplicas: number;
    readonly secondsBackToMinAfterLoad: number;
    /** The measured traffic, open loop, through the whole scenario. */
    readonly load: LoadFigures;
    /** The closed-loop clients that push the pods' CPU over the target. */
    readonly cpuLoad: { readonly clients: number; readonly sent: number; readonly failed: number };
}

/**
 * The autoscaler from `min` pods to `max` under CPU load and back once it stops. The CPU load
 * is closed-loop (each client sends its next batch of 100 images when the last one answers), so
 * it takes what the pods can give without queueing past its timeout; the measured traffic beside
 * it is open-loop. The target is 100%: an idle stand-in pod uses 140-165m of its 250m request
 * here, so at 50% idle pods would never scale down. Scale-down acts at once (window 0).
 */
export async function scaleUpAndDown(
    ctx: ScenarioContext,
    opts: { min: number; max: number; cpuClients: number; load?: Load },
): Promise<ScaleFigures> {
    const { stack } = ctx;
    stack.setConfig("dev", {
        replicas: String(opts.min),
        autoscaleMaxReplicas: String(opts.max),
        autoscaleCpuPercent: "100",
        autoscaleScaleDownWindowSeconds: "0",
    });
    await upDev(stack);
    await secondsUntil(`${opts.min} pods while idle`, 180, () => settledAt(stack, opts.min));
    // The autoscaler acts on metrics-server's figures, one per pod per resolution (15 s).
    const topPath = `/apis/metrics.k8s.io/v1beta1/namespaces/${NAMESPACE}/pods`;
    await secondsUntil("metrics for every pod", 60, () => {
        return (stack.kubeGet(topPath)?.items ?? []).length >= opts.min;
    });
    const timings = { firstNew: NaN, max: NaN, back: NaN, cpuSent: 0, cpuFailed: 0 };
    const { load } = await underLoad(opts.load ?? STEADY_LOAD, async () => {
        const heavy = predictBody(100);
        const cpu = Array.from({ length: opts.cpuClients }, () =>
            startClientLoop(PREDICT_URL, heavy, {
                maxRequests: 50_000,
                maxSeconds: 600,
                timeoutMs: 20_000,
            }),
        );
        try {
            timings.firstNew = await secondsUntil("a new ready pod under load", 300, () => {
                return replicas(stack).ready > opts.min;
            });
            // Both from the start of the load.
            timings.max =
                timings.firstNew +
                (await secondsUntil(`${opts.max} ready pods under load`, 300, () => {
                    return replicas(stack).ready === opts.max;
                }));
        } finally {
            for (const r of await Promise.all(cpu.map((l) => l.stop()))) {
                timings.cpuSent += r.sent;
                timings.cpuFailed += r.failed;
            }
        }
        timings.back = await secondsUntil(`back to ${opts.min} pods`, 300, () =>
            settledAt(stack, opts.min),
        );
    });
    stack.setConfig(
        "dev",
        {},
        { rm: ["autoscaleMaxReplicas", "autoscaleCpuPercent", "autoscaleScaleDownWindowSeconds"] },
    );
    return {
        minReplicas: opts.min,
        maxReplicas: opts.max,
        secondsToFirstNewReadyPod: Number(timings.firstNew.toFixed(1)),
        secondsToMaxReplicas: Number(timings.max.toFixed(1)),
        secondsBackToMinAfterLoad: Number(timings.back.toFixed(1)),
        load: loadFigures(load),
        cpuLoad: { clients: opts.cpuClients, sent: timings.cpuSent, failed: timings.cpuFailed },
    };
}

/** How evictions went against the stable track's budget. */
export interface EvictionFigures {
    readonly disruptionsAllowedBefore: number;
    /** The API server's answer to the second eviction while the first pod's replacement started. */
    readonly refusedWith: string;
    readonly refusals: number;
    readonly secondsUntilSecondEvictionAllowed: number;
    readonly secondsUntilBothReplaced: number;
    readonly load: LoadFigures;
}

/**
 * Evicts the two ready pods one after the other through the Eviction API, as `kubectl drain`
 * does: the second is refused (429) while the budget (minAvailable 1) allows no disruption, and
 * tried again every second until it is allowed.
 */
export async function evictionsUnderBudget(
    ctx: ScenarioContext,
    load: Load = STEADY_LOAD,
): Promise<EvictionFigures> {
    const { stack } = ctx;
    const pdb = `/apis/policy/v1/namespaces/${NAMESPACE}/poddisruptionbudgets/${DEPLOYMENT}`;
    const allowed = () => stack.kubeGet(pdb)?.status?.disruptionsAllowed as number;
    await secondsUntil("the budget to allow one disruption", 60, () => allowed() === 1);
    const evict = (pod: string) =>
        stack.kube("POST", `/api/v1/namespaces/${NAMESPACE}/pods/${pod}/eviction`, {
            apiVersion: "policy/v1",
            kind: "Eviction",
            metadata: { name: pod, namespace: NAMESPACE },
        });
    const [first, second] = readyPods(stack).map((p) => p.metadata.name as string);
    const { load: seen, value } = await underLoad(load, async () => {
        evict(first);
        const started = Date.now();
        let refusedWith = "";
        let refusals = 0;
        for (;;) {
            try {
                evict(second);
                break;
            } catch (err) {
                const message = String(err);
                if (!/answered 429/.test(message) || refusals > 300) throw err;
                refusedWith ||= apiMessage(err);
                refusals++;
                await sleep(1000);
            }
        }
        const secondAllowed = (Date.now() - started) / 1000;
        const replaced = await secondsUntil("both evicted pods replaced", 300, () => {
            const names = readyPods(stack).map((p) => p.metadata.name as string);
            return names.length === 2 && !names.includes(first) && !names.includes(second);
        });
        return { refusedWith, refusals, secondAllowed, replaced: secondAllowed + replaced };
    });
    return {
        disruptionsAllowedBefore: 1,
        refusedWith: value.refusedWith,
        refusals: value.refusals,
        secondsUntilSecondEvictionAllowed: Number(value.secondAllowed.toFixed(1)),
        secondsUntilBothReplaced: Number(value.replaced.toFixed(1)),
        load: loadFigures(seen),
    };
}

/**
 * The model server's process inside `pod`: the child of the container's first process (TF
 * Serving's entrypoint script runs it without exec), found by the pod's HOSTNAME in /proc.
 */
function serverProcessOf(pod: string): number {
    const inPod = fs
        .readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .map(Number)
        .filter((pid) => {
            try {
                return fs
                    .readFileSync(`/proc/${pid}/environ`, "utf8")
                    .split("\0")
                    .includes(`HOSTNAME=${pod}`);
            } catch {
                return false;
            }
        });
    const parentOf = (pid: number) => {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    };
    const servers = inPod.filter((pid) => inPod.includes(parentOf(pid)));
    if (servers.length !== 1) {
        throw new Error(`expected one server process in pod ${pod}, found ${servers.length}`);
    }
    return servers[0];
}

/**
 * Connections the server process `pid` has open on its REST port (8501), as `ss` sees them in
 * the pod's network namespace: the kept-alive connections the Service routed to that pod.
 */
function restConnections(pid: number): number {
    const r = spawnSync(
        "nsenter",
        ["-t", String(pid), "-n", "ss", "-tnH", "state", "established", "( sport = :8501 )"],
        { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`ss in the network namespace of ${pid}: ${r.stderr}`);
    return r.stdout.split("\n").filter((line) => line.trim() !== "").length;
}

/** A killed server process: what the traffic saw and how soon its pod served again. */
export interface KillFigures {
    readonly retries: number;
    /** The generator's kept-alive connections the killed server held (the pod with the most). */
    readonly connectionsOnKilledServer: number;
    readonly secondsUntilPodReadyAgain: number;
    readonly containerRestarts: number;
    readonly load: LoadFigures;
}

/**
 * SIGKILL to the model server inside one of the pods (no graceful delete: the kubelet sees the
 * container exit and restarts it), under `load`.
 */
export async function killedServerProcess(ctx: ScenarioContext, load: Load): Promise<KillFigures> {
    const { stack } = ctx;
    const pods = readyPods(stack);
    let pod = "";
    let connections = -1;
    const restartsOf = () =>
        (stack.kubeGet(`/api/v1/namespaces/${NAMESPACE}/pods/${pod}`)?.status
            ?.containerStatuses?.[0]?.restartCount ?? 0) as number;
    const { load: seen, value } = await underLoad(load, async () => {
        await sleep(2000);
        // The pod whose server holds most of the generator's connections, so the kill hits traffic.
        for (const name of pods.map((p) => p.metadata.name as string)) {
            const held = restConnections(serverProcessOf(name));
            if (held > connections) [pod, connections] = [name, held];
        }
        const before = restartsOf();
        process.kill(serverProcessOf(pod), "SIGKILL");
        const seconds = await secondsUntil(`pod ${pod} ready again`, 300, () => {
            return restartsOf() > before && readyPods(stack).length === pods.length;
        });
        return { seconds, restarts: restartsOf() - before };
    });
    return {
        retries: load.retries,
        connectionsOnKilledServer: connections,
        secondsUntilPodReadyAgain: Number(value.seconds.toFixed(1)),
        containerRestarts: value.restarts,
        load: loadFigures(seen),
    };
}

/** A node component or the API server restarted: how long it took and what the traffic saw. */
export interface RestartFigures {
    readonly daemon: string;
    readonly secondsDown: number;
    /** From the restart command's start until the node and every pod were ready for good. */
    readonly secondsUntilBackAndSettled: number;
    /** The fewest ready pods a poll (each second) saw meanwhile. */
    readonly fewestReadyPodsSeen: number;
    /**
     * A client beside the measured traffic that opens a new connection for each request, one at
     * a time, without retries: what a caller without kept-alive connections saw.
     */
    readonly newConnections: {
        readonly sent: number;
        readonly failed: number;
        readonly failures: readonly string[];
    };
    readonly load: LoadFigures;
}

/**
 * Stops one daemon of the cluster (`local-cluster.sh restart`: TERM, `secondsDown`, then `up`)
 * under load, and waits until the node is Ready with every pod ready again.
 */
export async function restartedDaemon(
    ctx: ScenarioContext,
    daemon: string,
    secondsDown = 0,
    load: Load = STEADY_LOAD,
): Promise<RestartFigures> {
    const { stack } = ctx;
    const wanted = replicas(stack).wanted;
    const before = clusterDaemonPids(ctx.nodeState).get(daemon);
    let fewestReady = wanted;
    const fresh = startClientLoop(PREDICT_URL, predictBody(), {
        maxRequests: 50_000,
        maxSeconds: 600,
    });
    let measured: { load: OpenLoopResult; value: number };
    let newConnections: LoopResult;
    try {
        measured = await underLoad(load, async () => {
            const started = Date.now();
            await restartCommand(daemon, secondsDown);
            const restarted = (Date.now() - started) / 1000;
            const after = clusterDaemonPids(ctx.nodeState).get(daemon);
            if (after === undefined || after === before) {
                throw new Error(`${daemon} was not restarted (pid ${before}, then ${after})`);
            }
            // A restarted kubelet reports each pod not ready until its readiness probe runs again:
            // settled means ready for longer than the probe's period, with the load still running.
            const back = await steadyFor(
                `node Ready and ${wanted} pods ready after ${daemon}`,
                180,
                SETTLED_SECONDS,
                () => {
                    const ready = readyPods(stack).length;
                    fewestReady = Math.min(fewestReady, ready);
                    return nodeReady(stack) && ready === wanted;
                },
            );
            return restarted + back;
        });
    } finally {
        // Once on every path, so that the client never outlives a failed scenario.
        newConnections = await fresh.stop();
    }
    const { sent, failed, failures } = newConnections;
    const { load: seen, value } = measured;
    return {
        newConnections: { sent, failed, failures },
        daemon,
        secondsDown,
        secondsUntilBackAndSettled: Number(value.toFixed(1)),
        fewestReadyPodsSeen: fewestReady,
        load: loadFigures(seen),
    };
}

/** The node's Ready condition is True. */
function nodeReady(stack: RealStack): boolean {
    const node = stack.kubeGet("/api/v1/nodes/tfk8s-node");
    return (node?.status?.conditions ?? []).some(
        (c: Record<string, string>) => c.type === "Ready" && c.status === "True",
    );
}

/** `local-cluster.sh restart`, without blocking the event loop; throws with its output on failure. */
function restartCommand(daemon: string, secondsDown: number): Promise<void> {
    // The daemon outlives this process: it gets the machine's temporary directory, not the suite's.
    const env = { ...process.env, TMPDIR: "/tmp" };
    const child = spawn(
        "bash",
        ["scripts/local-cluster.sh", "restart", daemon, String(secondsDown)],
        { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    return new Promise((resolve, reject) => {
        child.on("exit", (code) =>
            code === 0
                ? resolve()
                : reject(
                      new Error(`local-cluster.sh restart ${daemon} failed (${code}):\n${output}`),
                  ),
        );
    });
}

/** Pod Security admission in the stack's namespace. */
export interface PodSecurityFigures {
    /** The namespace's `pod-security.kubernetes.io/enforce` label. */
    readonly enforcedLevel: string;
    readonly ourPodsReady: number;
    /** The API server's answer to a pod with the host's network, running as root. */
    readonly hostNetworkRootPodRefusedWith: string;
    /** Its answer to a privileged container (refused in every namespace: --allow-privileged is off). */
    readonly privilegedPodRefusedWith: string;
    /** The same host-network pod passes admission (a dry run) where no level is enforced. */
    readonly hostNetworkPodAdmittedWithoutLevel: boolean;
}

/** Our pods admitted, and two pods our namespace's level forbids refused, with the API server's words. */
export function podSecurity(ctx: ScenarioContext): PodSecurityFigures {
    const { stack } = ctx;
    const ns = stack.kubeGet(`/api/v1/namespaces/${NAMESPACE}`);
    const pod = (namespace: string, name: string, spec: object) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace },
        spec,
    });
    const hostRoot = (namespace: string) =>
        pod(namespace, "host-neighbour", {
            hostNetwork: true,
            containers: [
                { name: "c", image: "tfk8s.local/pause:1", securityContext: { runAsUser: 0 } },
            ],
        });
    const privileged = pod(NAMESPACE, "privileged-neighbour", {
        containers: [
            { name: "c", image: "tfk8s.local/pause:1", securityContext: { privileged: true } },
        ],
    });
    const refusal = (body: object) => {
        try {
            stack.kube("POST", `/api/v1/namespaces/${NAMESPACE}/pods`, body);
        } catch (err) {
            return apiMessage(err);
        }
        throw new Error(`the API server admitted ${JSON.stringify(body)}`);
    };
    const admitted = stack.kube(
        "POST",
        "/api/v1/namespaces/default/pods?dryRun=All",
        hostRoot("default"),
    );
    return {
        enforcedLevel: ns?.metadata.labels?.["pod-security.kubernetes.io/enforce"] ?? "",
        ourPodsReady: readyPods(stack).length,
        hostNetworkRootPodRefusedWith: refusal(hostRoot(NAMESPACE)),
        privilegedPodRefusedWith: refusal(privileged),
        hostNetworkPodAdmittedWithoutLevel: admitted?.metadata.name === "host-neighbour",
    };
}

/** A steady rate for a while: latency and the pods' memory per window, and their trends. */
export interface SoakFigures {
    readonly warmupSeconds: number;
    readonly seconds: number;
    readonly windowSeconds: number;
    readonly load: LoadFigures;
    readonly perWindow: ReadonlyArray<{
        readonly second: number;
        readonly sent: number;
        readonly failed: number;
        readonly p99Ms: number;
        /** The ready model pods' memory together (metrics-server's working set), averaged over the window; null without a sample. */
        readonly podMemoryMiB: number | null;
    }>;
    /** Least-squares slopes over the windows, per minute. */
    readonly p99SlopeMsPerMinute: number;
    readonly podMemorySlopeMiBPerMinute: number;
    readonly podMemoryMeanMiB: number;
    /** The fitted change over the whole soak, as a share of the mean, in percent. */
    readonly podMemoryChangePercent: number;
}

/**
 * `seconds` of `load`, reported per `windowSeconds`, sampling the pods' memory every 5 s, after
 * `warmupSeconds` of the same load that are not measured: a container restarted by an earlier
 * scenario grows while it serves its first requests, which is not a leak.
 */
export async function soak(
    ctx: ScenarioContext,
    opts: { seconds: number; windowSeconds: number; warmupSeconds: number; load?: Load },
): Promise<SoakFigures> {
    const load = opts.load ?? STEADY_LOAD;
    await underLoad(load, () => sleep(opts.warmupSeconds * 1000), { settleSeconds: 0 });
    const samples: Array<{ at: number; mib: number }> = [];
    const started = Date.now();
    const { load: result } = await underLoad(
        load,
        async () => {
            // metrics-server scrapes every 15 s; sampling more often only averages the same figures.
            while (Date.now() - started < opts.seconds * 1000) {
                const mib = podMemoryMiB(ctx.stack);
                if (mib !== undefined) samples.push({ at: (Date.now() - started) / 1000, mib });
                await sleep(5_000);
            }
        },
        { settleSeconds: 0, seconds: opts.seconds, bucketSeconds: opts.windowSeconds },
    );
    const perWindow = result.perSecond.map((w) => {
        const inWindow = samples.filter(
            (s) => s.at >= w.second && s.at < w.second + opts.windowSeconds,
        );
        const mib = inWindow.reduce((a, s) => a + s.mib, 0) / inWindow.length;
        return {
            second: w.second,
            sent: w.sent,
            failed: w.failed,
            p99Ms: w.p99Ms,
            podMemoryMiB: inWindow.length > 0 ? Number(mib.toFixed(1)) : null,
        };
    });
    const slope = (rows: ReadonlyArray<{ second: number; value: number | null }>) => {
        const known = rows.filter((r) => r.value !== null) as Array<{
            second: number;
            value: number;
        }>;
        const perSecond = slopePerSecond(
            known.map((r) => r.second),
            known.map((r) => r.value),
        );
        return Number((perSecond * 60).toFixed(3));
    };
    const memorySlope = slope(perWindow.map((w) => ({ second: w.second, value: w.podMemoryMiB })));
    const meanMiB = samples.reduce((a, s) => a + s.mib, 0) / samples.length;
    return {
        warmupSeconds: opts.warmupSeconds,
        seconds: opts.seconds,
        windowSeconds: opts.windowSeconds,
        load: loadFigures(result),
        perWindow,
        p99SlopeMsPerMinute: slope(perWindow.map((w) => ({ second: w.second, value: w.p99Ms }))),
        podMemorySlopeMiBPerMinute: memorySlope,
        podMemoryMeanMiB: Number(meanMiB.toFixed(1)),
        podMemoryChangePercent: Number(
            (((memorySlope * (opts.seconds / 60)) / meanMiB) * 100).toFixed(2),
        ),
    };
}

/**
 * The ready model pods' memory together, in MiB, as metrics-server serves it: a pod that is
 * leaving (after the autoscaler's scale-down) keeps its last figure there for a while, and a new
 * one has none until its first scrape: undefined until every ready pod has one.
 */
function podMemoryMiB(stack: RealStack): number | undefined {
    const ready = new Set(readyPods(stack).map((p) => p.metadata.name as string));
    const items = (
        (stack.kubeGet(`/apis/metrics.k8s.io/v1beta1/namespaces/${NAMESPACE}/pods`)?.items ??
            []) as Array<{
            metadata: { name: string };
            containers: Array<{ usage: { memory: string } }>;
        }>
    ).filter((item) => ready.has(item.metadata.name));
    if (items.length !== ready.size) return undefined;
    const units: Record<string, number> = { Ki: 1 / 1024, Mi: 1, Gi: 1024, "": 1 / 1024 / 1024 };
    let total = 0;
    for (const item of items) {
        for (const c of item.containers) {
            const [, value, unit] = /^(\d+)(Ki|Mi|Gi|)$/.exec(c.usage.memory) ?? [];
            if (value === undefined)
                throw new Error(`memory usage ${c.usage.memory} not understood`);
            total += Number(value) * units[unit];
        }
    }
    return total;
}

/** The least-squares slope of `ys` over `xs`. */
export function slopePerSecond(xs: readonly number[], ys: readonly number[]): number {
    const n = xs.length;
    if (n < 2) return NaN;
    const mx = xs.reduce((a, b) => a + b, 0) / n;
    const my = ys.reduce((a, b) => a + b, 0) / n;
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) {
        num += (xs[i] - mx) * (ys[i] - my);
        den += (xs[i] - mx) ** 2;
    }
    return num / den;
}

/** Why no NetworkPolicy is enforced on the local cluster, as this machine answers today. */
export interface NetworkPolicyFigures {
    readonly enforced: false;
    readonly enforcer: string;
    /** What the kernel said to the nft rule the enforcer needs, asked in a scratch namespace. */
    readonly kernelAnswer: string;
}

/**
 * SIG Network's kube-network-policies (sigs.k8s.io/kube-network-policies v0.8.0) sends each new
 * connection to user space through an nftables `queue` rule; this asks the kernel for such a rule
 * in a network namespace of its own and gives its answer. Nothing else here enforces a policy,
 * so the scenario records the blocked enforcer instead of a blocked call.
 */
export function networkPolicy(): NetworkPolicyFigures {
    const netns = `tfk8s-nfqueue-probe-${process.pid}`;
    const sh = (script: string) => spawnSync("bash", ["-c", script], { encoding: "utf8" });
    sh(`ip netns add ${netns}`);
    try {
        const r = sh(
            `ip netns exec ${netns} nft -f - <<'EOF'\n` +
                "table inet probe {\n  chain forward {\n    type filter hook forward priority 0;\n" +
                "    ct state new queue num 100 bypass\n  }\n}\nEOF",
        );
        const answer = `${r.stdout}${r.stderr}`.trim() || `exit ${r.status}`;
        if (r.status === 0) {
            throw new Error(
                "this kernel accepts nftables queue rules: kube-network-policies can run here, so the network policy scenario must be measured",
            );
        }
        return {
            enforced: false,
            enforcer: "sigs.k8s.io/kube-network-policies v0.8.0",
            kernelAnswer: answer,
        };
    } finally {
        sh(`ip netns del ${netns}`);
    }
}
