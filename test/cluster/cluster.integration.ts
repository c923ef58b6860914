/**
 * The dev stack on a cluster whose pods really run (scripts/local-cluster.sh, through
 * `npm run test:cluster`): `pulumi up` waits for the rollout with the provider's own await logic,
 * the pods pass the real probes under the restricted security context, the smoke check passes
 * through NodePort 30111, a new model version and a deleted pod cost no request, and destroy
 * leaves no pod, ReplicaSet or endpoint. The serving base image is the stand-in of
 * scripts/build-serving-standin.sh: our SavedModel served by real TensorFlow.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { badCanaries } from "../support/badCanaries";
import { startClientLoop } from "../support/clientLoop";
import {
    ClusterStack,
    DEPLOYMENT,
    NAMESPACE,
    NODE_PORT_URL,
    PREDICT_URL,
    canaryRoundTrip,
    containerdSocket,
    initClusterDevStack,
    predictBody,
    pulumiWhileServing,
    readyPods,
    readyPodsOnTrack,
    settledVersion,
} from "../support/clusterStack";
import { clusterDaemonPids, daemonProblems } from "../support/clusterDaemons";
import { startLoadProcess } from "../support/loadProcess";
import { OpenLoopResult } from "../support/openLoop";
import { ok, run } from "../support/realStack";
import {
    LoadFigures,
    STEADY_LOAD,
    evictionsUnderBudget,
    killedServerProcess,
    networkPolicy,
    podSecurity,
    restartedDaemon,
    scaleUpAndDown,
    soak,
} from "../support/resilience";

const ROOT = path.resolve(__dirname, "..", "..");

/** Prints a scenario's figures beside the test's name, without the per-window rows. */
function report(name: string, figures: object): void {
    console.log(`      ${name}: ${JSON.stringify(figures)}`);
}

/** No request of the measured traffic failed, and at least `atLeast` were sent. */
function assertNoFailure(load: LoadFigures, atLeast: number): void {
    assert.strictEqual(
        load.failed,
        0,
        `${JSON.stringify(load.failedBy)}\n${load.failures.join("\n")}`,
    );
    assert.ok(load.sent >= atLeast, `only ${load.sent} requests`);
}

describe("the dev stack on the one-node local cluster", function () {
    let cluster: ClusterStack;
    let body = "";
    let daemonsAtStart: Map<string, number>;
    after(() => cluster?.stack.cleanUp());

    it("creates the dev stack: pushed to the registry with its password, pulled through a pull Secret", async () => {
        body = predictBody();
        // Two pods, so one deleted by hand leaves the other serving.
        cluster = initClusterDevStack(2);
        daemonsAtStart = clusterDaemonPids(cluster.nodeState);
        assert.deepStrictEqual(daemonProblems(cluster.nodeState), []);
    });

    it("pulumi up waits for the real rollout and succeeds", () => {
        const up = cluster.stack.pulumi(["up", "--yes", "--stack", "dev"]);
        ok(up, "pulumi up");
        const deployment = cluster.stack.kubeGet(
            `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${DEPLOYMENT}`,
        );
        assert.ok(deployment !== null, "the Deployment exists");
        assert.strictEqual(deployment.metadata.annotations?.["pulumi.com/skipAwait"], undefined);
        // Pulumi returned only once the rollout was complete: both pods Ready, no other pod.
        assert.strictEqual(deployment.status.readyReplicas, 2, JSON.stringify(deployment.status));
        assert.strictEqual(deployment.status.updatedReplicas, 2);
        assert.strictEqual(readyPods(cluster.stack).length, 2);
        const secret = cluster.stack.kubeGet(
            `/api/v1/namespaces/${NAMESPACE}/secrets/mymodel-serving-pull`,
        );
        assert.strictEqual(secret?.type, "kubernetes.io/dockerconfigjson");
        for (const pod of readyPods(cluster.stack)) {
            assert.deepStrictEqual(pod.spec.imagePullSecrets, [{ name: "mymodel-serving-pull" }]);
            assert.match(
                pod.spec.containers[0].image,
                /^127\.0\.0\.1:5000\/.+@sha256:[0-9a-f]{64}$/,
            );
        }
    });

    it("each container runs as UID 10001 on a read-only root with no capabilities, writing only /tmp", () => {
        const ctr = ["--address", containerdSocket(cluster.nodeState), "--namespace", "k8s.io"];
        const tasks = ok(run("ctr", [...ctr, "tasks", "list"]), "ctr tasks list").split("\n");
        for (const pod of readyPods(cluster.stack)) {
            const id = (pod.status.containerStatuses[0].containerID as string).replace(
                "containerd://",
                "",
            );
            const task = tasks.find((line) => line.startsWith(id));
            assert.ok(task !== undefined, `no task for container ${id}`);
            const pid = task.split(/\s+/)[1];
            // The task is the entrypoint (bash, as in tensorflow/serving's image); the server
            // is its child and inherits all of this.
            const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
            assert.match(status, /^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
            assert.match(status, /^Gid:\s+10001\s+10001\s+10001\s+10001$/m);
            assert.match(status, /^CapEff:\s+0{16}$/m);
            assert.match(status, /^NoNewPrivs:\s+1$/m);
            assert.match(status, /^Seccomp:\s+2$/m);
            const mounts = fs.readFileSync(`/proc/${pid}/mounts`, "utf8").split("\n");
            const root = mounts.find((m) => m.split(" ")[1] === "/");
            assert.match(root ?? "", / ro[, ]/, `root mount: ${root}`);
            const tmp = mounts.find((m) => m.split(" ")[1] === "/tmp");
            assert.match(tmp ?? "", / rw[, ]/, `/tmp mount: ${tmp}`);
        }
    });

    it("npm run smoke passes through NodePort 30111", () => {
        const smoke = run("npx", ["tsx", "client/smoke.ts", "--url", NODE_PORT_URL], {
            cwd: ROOT,
        });
        ok(smoke, "npm run smoke");
        assert.match(smoke.stdout, /smoke: OK: version 1 agrees with the local model on all 100 /);
    });

    it("a new model version rolls out while a client loop runs, with no failed request", async () => {
        const loop = startClientLoop(PREDICT_URL, body, {
            maxRequests: 100_000,
            maxSeconds: 900,
        });
        await pulumiWhileServing(cluster.stack, [
            "up",
            "--yes",
            "--stack",
            "dev",
            "--config",
            "tfk8s:modelVersion=2",
        ]);
        const result = await loop.stop();
        assert.strictEqual(result.failed, 0, result.failures.join("\n"));
        assert.ok(result.sent >= 100, `only ${result.sent} requests during the rollout`);
        assert.strictEqual(await settledVersion("2"), "2");
        assert.strictEqual(readyPods(cluster.stack).length, 2);
    });

    it("a pod deleted by hand is replaced while the Service keeps answering", async () => {
        const before = readyPods(cluster.stack).map((p) => p.metadata.name as string);
        const loop = startClientLoop(PREDICT_URL, body, {
            maxRequests: 100_000,
            maxSeconds: 600,
        });
        cluster.stack.kube("DELETE", `/api/v1/namespaces/${NAMESPACE}/pods/${before[0]}`);
        let replaced = false;
        for (let i = 0; i < 300 && !replaced; i++) {
            await new Promise((r) => setTimeout(r, 1000));
            const names = readyPods(cluster.stack).map((p) => p.metadata.name as string);
            replaced = names.length === 2 && !names.includes(before[0]);
        }
        const result = await loop.stop();
        assert.ok(replaced, "no replacement pod became Ready within 300 s");
        assert.strictEqual(result.failed, 0, result.failures.join("\n"));
        assert.ok(result.sent >= 10, `only ${result.sent} requests while the pod was replaced`);
    });

    it("Pod Security admission admits our pods and refuses one with the host's network and root in the stack's namespace", () => {
        const figures = podSecurity(cluster);
        console.log(`      pod security: ${JSON.stringify(figures)}`);
        assert.strictEqual(figures.enforcedLevel, "restricted");
        assert.strictEqual(figures.ourPodsReady, 2, "our pods were not admitted");
        assert.match(
            figures.hostNetworkRootPodRefusedWith,
            /violates PodSecurity "restricted:v1\.34": host namespaces/,
        );
        assert.match(figures.privilegedPodRefusedWith, /privileged: Forbidden/);
        assert.strictEqual(figures.hostNetworkPodAdmittedWithoutLevel, true);
        for (const name of ["host-neighbour", "privileged-neighbour"]) {
            assert.strictEqual(
                cluster.stack.kubeGet(`/api/v1/namespaces/${NAMESPACE}/pods/${name}`),
                null,
            );
        }
    });

    it("no NetworkPolicy enforcer can run on this kernel: it refuses the nftables queue rule kube-network-policies needs", () => {
        const figures = networkPolicy();
        console.log(`      network policy: ${JSON.stringify(figures)}`);
        assert.match(figures.kernelAnswer, /Could not process rule: No such file or directory/);
    });

    it("evictions respect the disruption budget: the second is refused (429) until a replacement is ready; no request fails", async () => {
        const figures = await evictionsUnderBudget(cluster);
        report("evictions", figures);
        assert.match(figures.refusedWith, /disruption budget/);
        assert.ok(figures.refusals >= 1, "the second eviction was never refused");
        assertNoFailure(figures.load, 200);
    });

    it("a canary at 25% answers its share of 1000 calls; rollback and promotion drop no request", async () => {
        // Each track's smoke check through its own Service, against the track's own export.
        const smoke: Record<string, string> = {};
        const figures = await canaryRoundTrip(
            cluster.stack,
            body,
            { stable: "2", canary: "3" },
            1000,
            () => {
                for (const track of ["stable", "canary"]) {
                    const args = ["--stack", "dev", "--track", track];
                    smoke[track] = ok(cluster.stack.tsx("client/smoke.ts", args), `smoke ${track}`);
                }
            },
        );
        for (const [track, version, dir] of [
            ["stable", "2", "export"],
            ["canary", "3", "export-canary"],
        ]) {
            assert.match(
                smoke[track],
                new RegExp(`stack dev, ${track} track: version ${version} at http://10\\.96\\.`),
            );
            assert.match(
                smoke[track],
                new RegExp(`the SavedModel \\.build/dev/${dir}/mymodel/${version}`),
            );
            assert.match(
                smoke[track],
                new RegExp(
                    `smoke: OK: version ${version} agrees with the local model on all 100 .*at least minAccuracy`,
                ),
            );
        }
        const { observedShare, expectedShare, byVersion } = figures.canary;
        // 1 canary pod of 4 ready ones.
        assert.strictEqual(expectedShare, 0.25);
        assert.ok(
            Math.abs(observedShare - expectedShare) <= 0.05,
            `the canary answered ${observedShare} of the calls (${JSON.stringify(byVersion)}), expected ${expectedShare} ± 0.05`,
        );
        for (const [step, result] of Object.entries({
            rollback: figures.rollback,
            promote: figures.promote,
        })) {
            assert.strictEqual(result.failed, 0, `${step}: ${result.failures.join("\n")}`);
            assert.ok(result.sent >= 10, `only ${result.sent} requests during the ${step}`);
        }
        // Promoted: four stable pods serve version 3, and the canary's objects are gone.
        assert.strictEqual(readyPodsOnTrack(cluster.stack, "stable"), 4);
        assert.strictEqual(readyPodsOnTrack(cluster.stack, "canary"), 0);
        const deployments = cluster.stack.kubeGet(
            `/apis/apps/v1/namespaces/${NAMESPACE}/deployments`,
        );
        assert.deepStrictEqual(
            (deployments?.items ?? []).map((d: any) => d.metadata.name),
            [DEPLOYMENT],
        );
    });

    it("npm run rollout promotes a good canary judged on its pods' own metrics, and rolls back one whose requests fail", async () => {
        const stack = cluster.stack;
        const { models } = badCanaries(path.join(stack.work, "bad-canaries"));
        stack.setConfig("dev", {
            // One step of 2 canary pods: the stable track keeps 2, more than the budget's 1.
            replicas: "4",
            rolloutSteps: "50,100",
            enableMonitoring: "true",
            rolloutWindowSeconds: "5",
            // A 5 s window holds some 70 canary requests, whose p99 is their slowest one: on CI's
            // shared cores one slow request rolled a good canary back (p99 2.6 times the
            // stable's). This test is about promotion and the errors check; the latency check
            // is measured by bench:progressive, with 20 s windows.
            rolloutMaxLatencyRatio: "10",
            // The failing model is brought without the offline evaluation, which would refuse it.
            skipModelEvaluation: "true",
            inputScale: "0-255",
        });
        ok(stack.pulumi(["up", "--yes", "--skip-preview", "--stack", "dev"]), "up with monitoring");
        const served = Number(
            ok(stack.pulumi(["stack", "output", "modelVersion", "--stack", "dev"]), "output"),
        );
        const rollout = (args: string[]) => {
            const file = path.join(stack.work, `rollout-${args.join("-").replace(/\W/g, "")}.json`);
            const r = stack.tsx("rollout/cli.ts", ["--stack", "dev", ...args, "--report", file]);
            const output = `${r.stdout}${r.stderr}`;
            assert.ok(fs.existsSync(file), `no report:\n${output}`);
            return { status: r.status, output, report: JSON.parse(fs.readFileSync(file, "utf8")) };
        };
        // Users' requests during each rollout, each on a new connection, as the Service routes them.
        const underUsers = async (args: string[]) => {
            const users = await startLoadProcess({
                url: PREDICT_URL,
                body,
                ratePerSecond: 10,
                connections: 1,
                newConnections: true,
                seconds: 600,
            });
            // Stopped whatever the rollout does: a generator left running would hold the suite.
            let seen: Promise<OpenLoopResult> | undefined;
            try {
                const run = rollout(args);
                seen = users.stop();
                return { ...run, users: await seen };
            } finally {
                if (seen === undefined) await users.stop();
            }
        };
        const good = await underUsers(["--version", String(served + 1), "--seed", "7"]);
        report("good rollout", good.report.steps);
        assert.strictEqual(good.status, 0, good.output);
        assert.strictEqual(good.users.failed, 0, JSON.stringify(good.users.failedBy));
        assert.strictEqual(good.report.outcome, "promoted");
        const window = good.report.steps[0].analysis;
        assert.strictEqual(window.source, "prometheus");
        const errors = window.checks.find((c: { check: string }) => c.check === "errors");
        // The probes alone send 50 a window; the users' requests to the canary pod count too.
        assert.ok(errors.figures.requests > 50, JSON.stringify(errors));

        const failing = await underUsers([
            ...["--version", String(served + 2)],
            ...["--model-source", models.failing.dir],
        ]);
        report("failing rollout", failing.report.failedChecks);
        assert.strictEqual(failing.status, 1, failing.output);
        assert.strictEqual(failing.report.outcome, "rolled back");
        assert.ok(
            failing.report.failedChecks.some((c: string) => /^errors: .*INVALID_ARGUMENT/.test(c)),
            failing.report.failedChecks.join("\n"),
        );
        assert.strictEqual(await settledVersion(String(served + 1)), String(served + 1));
        // Every failure the users saw was the failing canary's answer, in its one window.
        assert.deepStrictEqual(
            Object.keys(failing.users.failedBy),
            failing.users.failed === 0 ? [] : ["HTTP 400"],
        );
        // The scenarios after this one set their own pods: 50,100 would not suit 2 of them.
        stack.setConfig(
            "dev",
            {},
            {
                rm: ["rolloutSteps", "rolloutWindowSeconds", "rolloutMaxLatencyRatio"],
            },
        );
    });

    it("the autoscaler scales from 2 to 3 pods under load and back to 2 when it stops; no request fails", async () => {
        const figures = await scaleUpAndDown(cluster, { min: 2, max: 3, cpuClients: 4 });
        report("autoscaler", figures);
        assert.strictEqual(figures.cpuLoad.failed, 0);
        assertNoFailure(figures.load, 200);
    });

    it("a server process killed with SIGKILL: its pod is restarted, and with the client's retries no request fails", async () => {
        const without = await killedServerProcess(cluster, { ...STEADY_LOAD, retries: 0 });
        report("killed server, no retries", without);
        const withRetries = await killedServerProcess(cluster, STEADY_LOAD);
        report("killed server, the client's retries", withRetries);
        for (const figures of [without, withRetries]) {
            assert.strictEqual(figures.containerRestarts, 1);
            assert.ok(
                figures.connectionsOnKilledServer >= 1,
                "the killed server carried no traffic",
            );
        }
        assertNoFailure(withRetries.load, 100);
    });

    for (const [daemon, secondsDown] of [
        ["kubelet", 0],
        ["containerd", 0],
        ["kube-proxy", 0],
        ["kube-apiserver", 10],
    ] as const) {
        it(`${daemon} ${secondsDown > 0 ? `stopped for ${secondsDown} s` : "restarted"} under load: no request fails`, async () => {
            const figures = await restartedDaemon(cluster, daemon, secondsDown);
            report(daemon, figures);
            // Restarted on purpose: the suite's last check compares against the new process.
            daemonsAtStart.set(daemon, clusterDaemonPids(cluster.nodeState).get(daemon)!);
            assertNoFailure(figures.load, 100);
        });
    }

    it("a short soak: no request fails and the pods' memory stays flat", async () => {
        const figures = await soak(cluster, { seconds: 60, windowSeconds: 15, warmupSeconds: 30 });
        report("soak", figures);
        assertNoFailure(figures.load, 1000);
        assert.ok(
            Math.abs(figures.podMemoryChangePercent) <= 5,
            `the pods' memory changed ${figures.podMemoryChangePercent}% over the soak (${figures.podMemorySlopeMiBPerMinute} MiB a minute)`,
        );
    });

    it("pulumi destroy leaves no pods, ReplicaSets or endpoints", () => {
        ok(cluster.stack.pulumi(["destroy", "--yes", "--stack", "dev"]), "pulumi destroy");
        const left = (apiPath: string) => cluster.stack.kubeGet(apiPath)?.items ?? [];
        assert.deepStrictEqual(left(`/api/v1/namespaces/${NAMESPACE}/pods`), []);
        assert.deepStrictEqual(left(`/apis/apps/v1/namespaces/${NAMESPACE}/replicasets`), []);
        assert.deepStrictEqual(
            left(`/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices`),
            [],
        );
        assert.strictEqual(cluster.stack.kubeGet(`/api/v1/namespaces/${NAMESPACE}`), null);
    });

    it("no daemon or forwarder of the node exited or was restarted during the suite", () => {
        assert.deepStrictEqual(daemonProblems(cluster.nodeState), []);
        assert.deepStrictEqual(clusterDaemonPids(cluster.nodeState), daemonsAtStart);
    });
});
