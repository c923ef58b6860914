/**
 * The main job as a user runs it, with no terminal, on a machine with no kubeconfig context: in
 * a fresh copy of the project, `npm run up:dev`, `npm run smoke`, `npm run up:dev` again with a
 * new model version, `npm run smoke` (which must see that version), then `npm run down:dev`.
 * Every `up` finds the local cluster running (the cluster suite's, started by
 * scripts/with-real-stack.sh --cluster) and must leave each of its daemons as it was: running
 * once, neither restarted nor stopped. Runs last in the cluster lane: down:dev stops the cluster.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { clusterDaemonPids, daemonProblems } from "../support/clusterDaemons";
import { copyCheckout } from "../support/projectCopy";

describe("the main job, run twice: up:dev, smoke, up:dev with a new version, smoke, down:dev", function () {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-main-job-"));
    const project = path.join(work, "project");
    const nodeState = process.env.TFK8S_NODE_STATE ?? "";
    let daemonsBefore: Map<string, number>;
    after(() => fs.rmSync(work, { recursive: true, force: true }));

    /** `npm run <args>` in the copy, stdin not a terminal, as a user's CI job would run it. */
    function npmRun(args: string[]): { status: number | null; output: string } {
        const env: NodeJS.ProcessEnv = {
            ...process.env,
            PULUMI_CONFIG_PASSPHRASE: "dev",
            // No current context: up:dev takes the local-cluster branch, as on our CI machine.
            KUBECONFIG: path.join(work, "no-kubeconfig"),
            TMPDIR: work,
        };
        // As a user's shell has them: no backend chosen for them, no stack, no engine mark.
        delete env.PULUMI_BACKEND_URL;
        delete env.PULUMI_STACK;
        const r = spawnSync("npm", ["run", ...args], {
            cwd: project,
            env,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
            maxBuffer: 64 << 20,
        });
        return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
    }

    /** What went wrong, with the end of what the command printed. */
    const tail = (output: string) => output.split("\n").slice(-40).join("\n");

    before(function () {
        if (nodeState === "") {
            throw new Error(
                "run through scripts/with-real-stack.sh --cluster (no TFK8S_NODE_STATE)",
            );
        }
        copyCheckout(project);
        daemonsBefore = clusterDaemonPids(nodeState);
        assert.deepStrictEqual(daemonProblems(nodeState), []);
    });

    it("npm run up:dev deploys with no terminal, passing --yes itself and saying so", () => {
        const up = npmRun(["up:dev"]);
        assert.strictEqual(up.status, 0, tail(up.output));
        assert.match(up.output, /stdin is not a terminal.*passing --yes/);
        // It says so only once new connections reach the new version.
        assert.match(up.output, /version 1 answers at http:\/\/127\.0\.0\.1:30111/);
        assert.match(up.output, /serving at http:\/\/127\.0\.0\.1:30111/);
    });

    it("npm run smoke passes through 127.0.0.1:30111 against version 1", () => {
        const smoke = npmRun(["smoke", "--", "--url", "http://127.0.0.1:30111"]);
        assert.strictEqual(smoke.status, 0, tail(smoke.output));
        assert.match(smoke.output, /^smoke: OK: version 1 /m);
    });

    it("npm run up:dev again, with model version 2, rolls out", () => {
        const up = npmRun(["up:dev", "--", "--config", "tfk8s:modelVersion=2"]);
        assert.strictEqual(up.status, 0, tail(up.output));
        assert.match(up.output, /version 2 answers at http:\/\/127\.0\.0\.1:30111/);
    });

    it("npm run smoke sees version 2 through the same endpoint", () => {
        const smoke = npmRun(["smoke", "--", "--url", "http://127.0.0.1:30111"]);
        assert.strictEqual(smoke.status, 0, tail(smoke.output));
        assert.match(smoke.output, /^smoke: OK: version 2 /m);
    });

    it("after a third up, each daemon and forwarder runs once, the same processes as before", () => {
        const up = spawnSync("bash", [path.join(project, "scripts", "local-cluster.sh"), "up"], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        });
        assert.strictEqual(up.status, 0, up.stderr);
        assert.deepStrictEqual(daemonProblems(nodeState), []);
        assert.deepStrictEqual(clusterDaemonPids(nodeState), daemonsBefore);
        const status = spawnSync(
            "bash",
            [path.join(project, "scripts", "local-cluster.sh"), "status"],
            {
                encoding: "utf8",
            },
        );
        assert.strictEqual(status.status, 0, `${status.stdout}\n${status.stderr}`);
        assert.doesNotMatch(status.stdout, /EXITED/);
    });

    it("npm run down:dev destroys the stack and stops the cluster", () => {
        const down = npmRun(["down:dev"]);
        assert.strictEqual(down.status, 0, tail(down.output));
        assert.match(down.output, /deleted/);
        assert.deepStrictEqual(clusterDaemonPids(nodeState), new Map());
    });
});
