/**
 * `npm run bench:endpoint`: how fast the README's endpoint is against the cluster behind it. The
 * dev stack (one pod) on the one-node local cluster (through scripts/with-real-stack.sh
 * --cluster); kept-alive clients send batch-1 predicts, side by side in one run, through:
 *   - `forwarder`: http://127.0.0.1:30111, the host's forwarder into the node (local-cluster.sh);
 *   - `nodeIp`: the node's own address, no relay in between;
 *   - `forwarderWithoutNodelay`: a relay like the forwarder but without TCP_NODELAY, which this
 *     bench starts on 127.0.0.1:30199 and stops (by pid): the reference, as the forwarder was.
 * One client, then 16, in rounds that alternate the paths so that drift hits each alike. Writes
 * `bench/results/endpoint.json`: per path and client count, requests, failures, p50/p95/p99 in ms
 * and requests per second. Target: one client's p50 through the forwarder within 1 ms of the
 * node's IP; exits 1 when it is missed or any request failed.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { percentile, postPredict } from "../test/support/clientLoop";
import { initClusterDevStack, predictBody } from "../test/support/clusterStack";
import { ok } from "../test/support/realStack";
import { runCommand } from "../verdict";

const NODE_IP = "10.203.0.2";
const REFERENCE_PORT = 30199;
const ROUNDS = 3;
const REQUESTS_PER_CLIENT = 200;

/** What one path gave over every round at one client count. */
interface PathFigures {
    requests: number;
    failed: number;
    /** Failed requests by cause: the error code, "timeout" or "HTTP <status>". */
    failedBy: Record<string, number>;
    p50Ms: number;
    p95Ms: number;
    p99Ms: number;
    requestsPerSecond: number;
}

/** `clients` kept-alive connections, each sending `perClient` predicts one after another. */
async function keepAliveRun(
    url: string,
    body: string,
    clients: number,
    perClient: number,
): Promise<Run> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
    const latencies: number[] = [];
    const failedBy: Record<string, number> = {};
    const once = async () => {
        const answer = await postPredict(url, body, agent, 10_000);
        if (answer.ok) latencies.push(answer.ms);
        else failedBy[answer.cause] = (failedBy[answer.cause] ?? 0) + 1;
    };
    const t0 = process.hrtime.bigint();
    await Promise.all(
        Array.from({ length: clients }, async () => {
            for (let i = 0; i < perClient; i++) await once();
        }),
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    agent.destroy();
    return { latencies, failedBy, seconds };
}

/** What one or more runs of a path gave. */
interface Run {
    latencies: number[];
    failedBy: Record<string, number>;
    seconds: number;
}

function figures({ latencies, failedBy, seconds }: Run): PathFigures {
    const ms = (p: number) => Number(percentile(latencies, p).toFixed(3));
    const failed = Object.values(failedBy).reduce((a, b) => a + b, 0);
    return {
        requests: latencies.length + failed,
        failed,
        failedBy,
        p50Ms: ms(50),
        p95Ms: ms(95),
        p99Ms: ms(99),
        requestsPerSecond: Number((latencies.length / seconds).toFixed(1)),
    };
}

async function main(): Promise<number> {
    const { stack } = initClusterDevStack(1);
    // The reference relay: the forwarder's command line without nodelay.
    const reference = spawn(
        "socat",
        [`TCP-LISTEN:${REFERENCE_PORT},bind=127.0.0.1,reuseaddr,fork`, `TCP:${NODE_IP}:30111`],
        { stdio: "ignore" },
    );
    try {
        ok(stack.pulumi(["up", "--yes", "--skip-preview", "--stack", "dev"]), "pulumi up");
        const body = predictBody();
        const predict = "/v1/models/mymodel:predict";
        const paths = {
            forwarder: `http://127.0.0.1:30111${predict}`,
            nodeIp: `http://${NODE_IP}:30111${predict}`,
            forwarderWithoutNodelay: `http://127.0.0.1:${REFERENCE_PORT}${predict}`,
        };
        const results: Record<string, Record<string, PathFigures>> = {};
        for (const clients of [1, 16]) {
            const runs = new Map<string, Run>();
            // A warm-up per path, then rounds in turn.
            for (const url of Object.values(paths)) await keepAliveRun(url, body, clients, 20);
            for (let round = 0; round < ROUNDS; round++) {
                for (const [name, url] of Object.entries(paths)) {
                    const r = await keepAliveRun(url, body, clients, REQUESTS_PER_CLIENT);
                    const sum = runs.get(name) ?? { latencies: [], failedBy: {}, seconds: 0 };
                    sum.latencies.push(...r.latencies);
                    for (const [cause, n] of Object.entries(r.failedBy)) {
                        sum.failedBy[cause] = (sum.failedBy[cause] ?? 0) + n;
                    }
                    sum.seconds += r.seconds;
                    runs.set(name, sum);
                }
            }
            results[`clients${clients}`] = Object.fromEntries(
                [...runs].map(([name, r]) => [name, figures(r)]),
            );
        }
        const one = results.clients1;
        const p50GapMs = Number((one.forwarder.p50Ms - one.nodeIp.p50Ms).toFixed(3));
        if (one.forwarder.requests === one.forwarder.failed) {
            throw new Error(
                `every request through the forwarder failed; is the model served at ${paths.forwarder}?`,
            );
        }
        const failed = Object.values(results)
            .flatMap((r) => Object.values(r))
            .reduce((n, f) => n + f.failed, 0);
        const met = Math.abs(p50GapMs) <= 1 && failed === 0;
        const report = {
            command: "npm run bench:endpoint",
            requestsPerClientPerRound: REQUESTS_PER_CLIENT,
            rounds: ROUNDS,
            ...results,
            oneClientP50GapMs: p50GapMs,
            target: `one kept-alive client's p50 through 127.0.0.1:30111 within 1 ms of the node's IP, no failed request: ${met ? "met" : "MISSED"}`,
        };
        console.log(JSON.stringify(report, null, 2));
        const out = path.join(__dirname, "results", "endpoint.json");
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
        console.log(`wrote ${out}`);
        return met ? 0 : 1;
    } finally {
        reference.kill();
        ok(stack.pulumi(["destroy", "--yes", "--skip-preview", "--stack", "dev"]), "destroy");
        stack.cleanUp();
    }
}

runCommand(main, (err) => {
    console.error(err);
    return 1;
});
