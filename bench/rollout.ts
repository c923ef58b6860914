/**
 * `npm run bench:rollout`: the dev stack on the one-node local cluster (through
 * scripts/with-real-stack.sh --cluster). Deploys version 1, then rolls out version 2 while a client
 * loop sends predict requests through NodePort 30111, one at a time on new connections. Writes
 * `bench/results/rollout.json`: requests sent and failed during the rollout, p50 and p99 latency,
 * the rollout's seconds (the `pulumi up` that waits for it), each new pod's start-to-ready seconds,
 * and the peak memory of the node's processes (kubelet, containerd and its shims, kube-proxy) and
 * of the pods, sampled every 500 ms. Then the canary workflow (test/support/clusterStack.ts,
 * `canaryRoundTrip`): version 3 at 25% next to 2, the share of 1000 calls it answers against the
 * share its ready pods imply (`canary.observedShare`, `canary.expectedShare`), a rollback and a
 * promotion under the client loop (`rollback.failed`, `promote.failed`). Targets: no failed request
 * over at least 500 during the rollout, the share within 5 points, no failed request in either step.
 */
import * as fs from "fs";
import * as path from "path";
import { percentile, startClientLoop } from "../test/support/clientLoop";
import {
    DEPLOYMENT,
    NAMESPACE,
    PREDICT_URL,
    canaryRoundTrip,
    containerdSocket,
    initClusterDevStack,
    predictBody,
    pulumiWhileServing,
    readyPods,
    settledVersion,
} from "../test/support/clusterStack";
import { RealStack, ok } from "../test/support/realStack";
import { runCommand } from "../verdict";

const MIN_REQUESTS = 500;

/** Resident memory of a process in bytes, 0 once it is gone. */
function rssBytes(pid: number): number {
    try {
        const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
        return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024;
    } catch {
        return 0;
    }
}

/** Every pid in a cgroup v1 hierarchy under `dir`. */
function cgroupPids(dir: string): number[] {
    if (!fs.existsSync(dir)) return [];
    const pids = fs
        .readFileSync(path.join(dir, "cgroup.procs"), "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map(Number);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) pids.push(...cgroupPids(path.join(dir, e.name)));
    }
    return pids;
}

/** The node's daemons by pid file, and the containerd shims started for our containerd. */
function nodePids(nodeState: string): number[] {
    const daemons = ["kubelet", "containerd", "kube-proxy"].map((name) =>
        Number(fs.readFileSync(path.join(nodeState, `${name}.pid`), "utf8")),
    );
    const socket = containerdSocket(nodeState);
    const shims = fs
        .readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
            try {
                const cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
                return cmd[0].endsWith("containerd-shim-runc-v2") && cmd.includes(socket);
            } catch {
                return false;
            }
        })
        .map(Number);
    return [...daemons, ...shims];
}

/** Samples the memory of the node and of its pods until stopped; the peaks, in MiB. */
function startMemorySampler(nodeState: string): () => { nodeMiB: number; podsMiB: number } {
    let node = 0;
    let pods = 0;
    const sample = () => {
        node = Math.max(
            node,
            nodePids(nodeState).reduce((sum, pid) => sum + rssBytes(pid), 0),
        );
        const inPods = cgroupPids("/sys/fs/cgroup/memory/kubepods");
        pods = Math.max(
            pods,
            inPods.reduce((sum, pid) => sum + rssBytes(pid), 0),
        );
    };
    sample();
    const timer = setInterval(sample, 500);
    return () => {
        clearInterval(timer);
        sample();
        return { nodeMiB: node / 2 ** 20, podsMiB: pods / 2 ** 20 };
    };
}

/** Seconds from each current pod's creation to its Ready condition. */
function startToReadySeconds(stack: RealStack): number[] {
    return readyPods(stack).map((p) => {
        const ready = (p.status.conditions as Array<Record<string, string>>).find(
            (c) => c.type === "Ready",
        ) as Record<string, string>;
        return (
            (Date.parse(ready.lastTransitionTime) - Date.parse(p.metadata.creationTimestamp)) / 1000
        );
    });
}

async function main(): Promise<number> {
    const { stack, nodeState } = initClusterDevStack(2);
    const stopSampling = startMemorySampler(nodeState);
    try {
        ok(
            stack.pulumi(["up", "--yes", "--skip-preview", "--stack", "dev"]),
            "pulumi up of version 1",
        );
        const loop = startClientLoop(PREDICT_URL, predictBody(), {
            maxRequests: 100_000,
            maxSeconds: 900,
        });
        // Let the loop reach a steady state first, so every request of the rollout has company.
        await new Promise((r) => setTimeout(r, 5000));
        const started = process.hrtime.bigint();
        await pulumiWhileServing(stack, [
            "up",
            "--yes",
            "--skip-preview",
            "--stack",
            "dev",
            "--config",
            "tfk8s:modelVersion=2",
        ]);
        const rolloutSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        // Keep the loop going until it has sent the minimum, so the figure covers the new pods too.
        for (let i = 0; i < 600 && loop.sent() < MIN_REQUESTS; i++) {
            await new Promise((r) => setTimeout(r, 100));
        }
        const result = await loop.stop();
        const served = await settledVersion("2");
        if (served !== "2")
            throw new Error(`after the rollout the Service serves version ${served}`);
        const startToReady = startToReadySeconds(stack);
        const memory = stopSampling();
        // Then the canary workflow: version 3 at 25% next to 2, rolled back, again, promoted.
        const canary = await canaryRoundTrip(stack, predictBody(), { stable: "2", canary: "3" });
        ok(stack.pulumi(["destroy", "--yes", "--skip-preview", "--stack", "dev"]), "destroy");

        const report = {
            date: new Date().toISOString(),
            what: `pulumi up of ${DEPLOYMENT} version 1 -> 2 (2 replicas, maxSurge 1, maxUnavailable 0) in ${NAMESPACE} while one client sends predict requests through NodePort 30111`,
            rollout: {
                sent: result.sent,
                failed: result.failed,
                failures: result.failures,
                p50Ms: percentile(result.latenciesMs, 50),
                p99Ms: percentile(result.latenciesMs, 99),
                rolloutSeconds,
            },
            podStartToReadySeconds: startToReady,
            canary: {
                what: "version 3 as a canary at 25% (1 of 4 pods) next to version 2; GET /v1/models/mymodel on a new connection each, counted by the version that answered",
                ...canary.canary,
                withinFivePoints:
                    Math.abs(canary.canary.observedShare - canary.canary.expectedShare) <= 0.05,
            },
            rollback: {
                sent: canary.rollback.sent,
                failed: canary.rollback.failed,
                failures: canary.rollback.failures,
            },
            promote: {
                sent: canary.promote.sent,
                failed: canary.promote.failed,
                failures: canary.promote.failures,
            },
            peakMemoryMiB: memory,
            target: `failed 0 over at least ${MIN_REQUESTS} requests: ${result.failed === 0 && result.sent >= MIN_REQUESTS ? "met" : "MISSED"}`,
        };
        console.log(JSON.stringify(report, null, 2));
        const out = path.join(__dirname, "results", "rollout.json");
        fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
        console.log(`wrote ${out}`);
        const met =
            result.failed === 0 &&
            result.sent >= MIN_REQUESTS &&
            report.canary.withinFivePoints &&
            canary.rollback.failed === 0 &&
            canary.promote.failed === 0;
        return met ? 0 : 1;
    } finally {
        stopSampling();
        stack.cleanUp();
    }
}

runCommand(main, (err) => {
    console.error(err);
    return 1;
});
