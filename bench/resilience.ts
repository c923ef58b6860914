/**
 * `npm run bench:resilience`: what the dev stack's autoscaler, disruption budget, Pod Security
 * level and restart behaviour do while the model serves, on the one-node local cluster (through
 * scripts/with-real-stack.sh --cluster). First the rate this machine can drive and serve, then
 * each scenario of test/support/resilience.ts at full length under open-loop load through
 * http://127.0.0.1:30111. Writes `bench/results/resilience.json`; exits 1 when a target is missed.
 */
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { PREDICT_URL, initClusterDevStack, predictBody } from "../test/support/clusterStack";
import { runLoadProcess } from "../test/support/loadProcess";
import { OpenLoopResult } from "../test/support/openLoop";
import { ok } from "../test/support/realStack";
import {
    LoadFigures,
    STEADY_LOAD,
    ScenarioContext,
    evictionsUnderBudget,
    killedServerProcess,
    loadFigures,
    networkPolicy,
    podSecurity,
    restartedDaemon,
    scaleUpAndDown,
    soak,
} from "../test/support/resilience";
import { runCommand } from "../verdict";

/** Rates of the capacity sweep, requests per second, each for CAPACITY_SECONDS. */
const CAPACITY_RATES = [25, 50, 100, 200, 400, 800, 1600];
const CAPACITY_SECONDS = 10;
const CAPACITY_CONNECTIONS = 8;
/** "Served" at a rate: nothing failed and p99 stayed under this. */
const SERVED_P99_MS = 250;
const SOAK_SECONDS = 600;

/** The pods' CPU time so far, in seconds: the kubelet's `kubepods` cgroup (cgroupfs driver, v1). */
const KUBEPODS_CPU = "/sys/fs/cgroup/cpuacct/kubepods/cpuacct.usage";

/**
 * Where the CPU went while `run` ran: the share of the whole machine's time spent busy (every
 * process on it, from /proc/stat), and the cores the pods used on average (their cgroup).
 */
async function cpuWhile<T>(
    run: () => Promise<T>,
): Promise<{ value: T; hostCpuBusy: number; podCores: number }> {
    const host = () => {
        const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].split(/\s+/).slice(1);
        const ticks = fields.map(Number);
        // idle and iowait are the fourth and fifth fields.
        return { total: ticks.reduce((a, b) => a + b, 0), idle: ticks[3] + ticks[4] };
    };
    const pods = () => Number(fs.readFileSync(KUBEPODS_CPU, "utf8")) / 1e9;
    const [hostBefore, podsBefore, t0] = [host(), pods(), performance.now()];
    const value = await run();
    const [hostAfter, podsAfter, seconds] = [host(), pods(), (performance.now() - t0) / 1000];
    const busy = 1 - (hostAfter.idle - hostBefore.idle) / (hostAfter.total - hostBefore.total);
    return {
        value,
        hostCpuBusy: Number(busy.toFixed(3)),
        podCores: Number(((podsAfter - podsBefore) / seconds).toFixed(3)),
    };
}

/** One rate of the sweep: the generator's figures and the host's busy share. */
async function atRate(url: string, body: string, rate: number) {
    const { value, hostCpuBusy, podCores } = await cpuWhile(() =>
        runLoadProcess({
            url,
            body,
            ratePerSecond: rate,
            connections: CAPACITY_CONNECTIONS,
            seconds: CAPACITY_SECONDS,
        }),
    );
    const figures: LoadFigures = loadFigures(value as OpenLoopResult);
    const generatorCores = Number((figures.generatorCpuSeconds / CAPACITY_SECONDS).toFixed(3));
    return { ...figures, hostCpuBusy, podCores, generatorCores };
}

/**
 * What rate the generator alone can drive (against a server in this process that answers at
 * once) and what rate the cluster serves, rate by rate.
 */
async function capacity() {
    const server = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => res.end('{"predictions": [[0]]}'));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const local = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const generatorAlone = await atRate(local, predictBody(), 2000);
    server.close();
    const cluster = [];
    for (const rate of CAPACITY_RATES) cluster.push(await atRate(PREDICT_URL, predictBody(), rate));
    const served = cluster.filter((r) => r.failed === 0 && r.p99Ms < SERVED_P99_MS);
    return {
        connections: CAPACITY_CONNECTIONS,
        secondsPerRate: CAPACITY_SECONDS,
        generatorAlone,
        cluster,
        servedRatePerSecond: Math.max(0, ...served.map((r) => r.ratePerSecond)),
        servedMeans: `no failed request and p99 under ${SERVED_P99_MS} ms`,
    };
}

/** Times a scenario and logs that it ended. */
async function timed<T>(
    name: string,
    scenario: () => Promise<T> | T,
): Promise<T & { seconds: number }> {
    const started = Date.now();
    console.log(`bench:resilience: ${name} ...`);
    const figures = await scenario();
    const seconds = Number(((Date.now() - started) / 1000).toFixed(1));
    console.log(`bench:resilience: ${name} done in ${seconds} s`);
    return { ...figures, seconds };
}

async function main(): Promise<number> {
    const { stack, nodeState } = initClusterDevStack(2);
    const ctx: ScenarioContext = { stack, nodeState };
    try {
        ok(stack.pulumi(["up", "--yes", "--skip-preview", "--stack", "dev"]), "pulumi up");
        const noRetries = { ...STEADY_LOAD, retries: 0 };
        const report = {
            command: "npm run bench:resilience",
            machine: { cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
            steadyLoad: STEADY_LOAD,
            capacity: await timed("capacity", capacity),
            podSecurity: await timed("pod security", () => podSecurity(ctx)),
            networkPolicy: await timed("network policy", networkPolicy),
            killedServerProcess: {
                withoutRetries: await timed("killed server, no retries", () =>
                    killedServerProcess(ctx, noRetries),
                ),
                withRetries: await timed("killed server, the client's retries", () =>
                    killedServerProcess(ctx, STEADY_LOAD),
                ),
            },
            evictions: await timed("evictions", () => evictionsUnderBudget(ctx)),
            restarts: {
                kubelet: await timed("kubelet", () => restartedDaemon(ctx, "kubelet")),
                containerd: await timed("containerd", () => restartedDaemon(ctx, "containerd")),
                kubeProxy: await timed("kube-proxy", () => restartedDaemon(ctx, "kube-proxy")),
                apiServerStopped30s: await timed("API server stopped 30 s", () =>
                    restartedDaemon(ctx, "kube-apiserver", 30),
                ),
            },
            scale: await timed("autoscaler", () =>
                scaleUpAndDown(ctx, { min: 2, max: 4, cpuClients: 6 }),
            ),
            soak: await timed("soak", () =>
                soak(ctx, { seconds: SOAK_SECONDS, windowSeconds: 60, warmupSeconds: 60 }),
            ),
        };
        const r = report;
        const targets: Record<string, boolean> = {
            "the cluster serves the steady rate":
                r.capacity.servedRatePerSecond >= STEADY_LOAD.ratePerSecond,
            "our pods admitted, a host-network root pod refused": r.podSecurity.ourPodsReady === 2,
            "a killed server process: 0 failed with the client's retries":
                r.killedServerProcess.withRetries.load.failed === 0,
            "evictions: the second refused (429), 0 failed":
                r.evictions.refusals > 0 && r.evictions.load.failed === 0,
            ...Object.fromEntries(
                Object.entries(r.restarts).map(([name, f]) => [
                    `${name}: 0 failed`,
                    f.load.failed === 0,
                ]),
            ),
            "autoscaler 2→4→2: 0 failed": r.scale.load.failed === 0 && r.scale.cpuLoad.failed === 0,
            "soak: 0 failed": r.soak.load.failed === 0,
            // Flat: the fitted change over the whole soak within 5% of the mean.
            "soak: pod memory flat": Math.abs(r.soak.podMemoryChangePercent) <= 5,
        };
        const missed = Object.entries(targets)
            .filter(([, met]) => !met)
            .map(([name]) => name);
        const out = { ...report, targets, missed };
        const file = path.join(__dirname, "results", "resilience.json");
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
        console.log(JSON.stringify({ targets, missed }, null, 2));
        console.log(`wrote ${file}`);
        return missed.length === 0 ? 0 : 1;
    } finally {
        ok(stack.pulumi(["destroy", "--yes", "--skip-preview", "--stack", "dev"]), "destroy");
        stack.cleanUp();
    }
}

runCommand(main, (err) => {
    console.error(err);
    return 1;
});
