/**
 * `npm run bench:progressive`: `npm run rollout` on the dev stack of the one-node local cluster
 * (through scripts/with-real-stack.sh --cluster), as a user runs it, while users' requests arrive
 * through NodePort 30111 at a steady rate, each on a new connection so the Service routes each
 * anew. Ten pods, TF Serving's Prometheus page on, a 20 s analysis window per step:
 *   - a good canary (another training seed) stepped 10 → 30 → 50 → 100 (the default steps as the
 *     shares of 10 pods give them: 25% is not one) and promoted;
 *   - three bad canaries (bench/bad_canaries.py), each to be rolled back by the check it fails:
 *     one that answers wrong, one whose requests fail, one that is slow;
 *   - a rollout killed (SIGKILL, its process group) during an analysis window, then resumed, and
 *     one killed during a step's `pulumi up`, then rolled back.
 * Writes `progressive` into bench/results/rollout.json (the rest of that file is bench:rollout's):
 * per scenario the outcome, the checks that failed, the seconds from the failing step's start to
 * the rollback, and what the users' requests saw. The offline evaluation is skipped
 * (skipModelEvaluation) so that the wrong model reaches the cluster at all: what is measured is
 * the live analysis. Targets: the good canary promoted with 0 failed of at least 2000 requests;
 * each bad one rolled back by its check, 0 failed for the wrong and the slow one; both killed
 * rollouts ended by the next run with the version expected.
 */
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { RolloutReport } from "../rollout/report";
import {
    PREDICT_URL,
    initClusterDevStack,
    predictBody,
    settledVersion,
} from "../test/support/clusterStack";
import { startLoadProcess } from "../test/support/loadProcess";
import type { OpenLoopResult } from "../test/support/openLoop";
import { badCanaries } from "../test/support/badCanaries";
import { killProcessesWithEnv } from "../test/support/processes";
import { ENGINE_MARK, RealStack, ok } from "../test/support/realStack";
import { runCommand } from "../verdict";

const REPLICAS = 10;
const WINDOW_SECONDS = 20;
/** The users' requests per second through the NodePort. */
const USER_RATE = 15;
const MIN_GOOD_REQUESTS = 2000;
const RESULTS = path.join(__dirname, "results", "rollout.json");

/** One `npm run rollout`: how it exited, what it printed, its report when it wrote one. */
interface RolloutRun {
    readonly status: number | null;
    readonly signal: NodeJS.Signals | null;
    readonly seconds: number;
    readonly output: string;
    readonly report?: RolloutReport;
    /** The processes it left running, ended once it exited. */
    readonly leftoverProcesses: readonly string[];
}

/**
 * Runs `npm run rollout -- <args>` in the stack's project copy, in a process group of its own;
 * with `killWhen`, SIGKILLs the group `killDelayMs` after the first output line matching it.
 */
function rollout(
    stack: RealStack,
    args: string[],
    killWhen?: { readonly line: RegExp; readonly delayMs: number },
): Promise<RolloutRun> {
    const reportFile = path.join(stack.work, `rollout-report-${Date.now()}.json`);
    // Marks every process the run starts, the pulumi CLI's plugins included (see below).
    const mark = crypto.randomBytes(8).toString("hex");
    const tsx = path.join(stack.project, "node_modules", ".bin", "tsx");
    const child = spawn(tsx, ["rollout/cli.ts", ...args, "--report", reportFile], {
        cwd: stack.project,
        env: { ...stack.pulumiEnv, [ENGINE_MARK]: mark },
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
    });
    const started = performance.now();
    let output = "";
    let printed = 0;
    let killing = false;
    const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8");
        // Whole lines only, each marked as the rollout's.
        const end = output.lastIndexOf("\n") + 1;
        if (end > printed) {
            process.stdout.write(output.slice(printed, end).replace(/^(?=.)/gm, "  rollout| "));
            printed = end;
        }
        if (killWhen !== undefined && !killing && killWhen.line.test(output)) {
            killing = true;
            setTimeout(() => process.kill(-(child.pid as number), "SIGKILL"), killWhen.delayMs);
        }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    return new Promise((resolve) =>
        child.on("close", (status, signal) =>
            resolve({
                status,
                signal,
                seconds: (performance.now() - started) / 1000,
                output,
                // The CLI starts its plugins in process groups of their own, so a killed rollout
                // leaves them until they find their engine gone; they are ended here, by pid, as
                // a machine that restarts would.
                leftoverProcesses: killProcessesWithEnv(ENGINE_MARK, mark).map((p) =>
                    path.basename(p.command.split(" ")[0]),
                ),
                ...(fs.existsSync(reportFile)
                    ? { report: JSON.parse(fs.readFileSync(reportFile, "utf8")) as RolloutReport }
                    : {}),
            }),
        ),
    );
}

/** What the users' requests saw during one scenario. */
function usersSaw(result: OpenLoopResult) {
    return {
        sent: result.sent,
        failed: result.failed,
        failedBy: result.failedBy,
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
    };
}

/** `run` under the users' steady requests; its value and what they saw. */
async function withUsers<T>(
    run: () => Promise<T>,
): Promise<{ value: T; users: ReturnType<typeof usersSaw> }> {
    const load = await startLoadProcess({
        url: PREDICT_URL,
        body: predictBody(),
        ratePerSecond: USER_RATE,
        connections: 1,
        newConnections: true,
        seconds: 1200,
    });
    try {
        const value = await run();
        return { value, users: usersSaw(await load.stop()) };
    } catch (err) {
        await load.stop();
        throw err;
    }
}

/** The stack's `rolloutState`, or undefined when none is recorded. */
function recordedState(stack: RealStack): unknown {
    const r = stack.pulumi(["config", "get", "--stack", "dev", "tfk8s:rolloutState"]);
    return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}

/** Throws, with what the rollout printed, unless it ended with `outcome`. */
function expectOutcome(run: RolloutRun, outcome: RolloutReport["outcome"], what: string): void {
    if (run.report?.outcome !== outcome) {
        throw new Error(
            `${what} ended ${run.report?.outcome ?? `without a report (exit ${run.status}, ${run.signal})`}, not ${outcome}:\n${run.output}`,
        );
    }
}

/** Throws unless the Service answers with `version` alone. */
async function expectServed(version: number, after: string): Promise<void> {
    const served = await settledVersion(String(version), 60);
    if (served !== String(version)) {
        throw new Error(`after ${after} the Service serves version ${served}, not ${version}`);
    }
}

/** Each step's window in brief: the checks' telling figures and where they came from. */
function windows(report: RolloutReport | undefined) {
    return (report?.steps ?? [])
        .filter((s) => s.analysis !== undefined)
        .map((s) => ({
            weight: s.weight,
            pods: s.pods,
            upSeconds: Number(s.upSeconds.toFixed(1)),
            source: s.analysis?.source,
            checks: Object.fromEntries(
                (s.analysis?.checks ?? []).map((c) => [
                    c.check,
                    { passed: c.passed, ...c.figures },
                ]),
            ),
        }));
}

/** A rollout's figures for the JSON. */
function rolloutFigures(run: RolloutRun) {
    return {
        exitStatus: run.status,
        outcome: run.report?.outcome,
        plan: run.report?.plan,
        seconds: Number(run.seconds.toFixed(1)),
        failedChecks: run.report?.failedChecks ?? [],
        rollbackSeconds:
            run.report?.rollbackSeconds === undefined
                ? undefined
                : Number(run.report.rollbackSeconds.toFixed(1)),
        windows: windows(run.report),
    };
}

async function main(): Promise<number> {
    const { stack } = initClusterDevStack(REPLICAS);
    try {
        const { models } = badCanaries(path.join(stack.work, "bad-canaries"));
        stack.setConfig("dev", {
            enableMonitoring: "true",
            rolloutWindowSeconds: String(WINDOW_SECONDS),
            skipModelEvaluation: "true",
            inputScale: "0-255",
            // Ten pods and a canary's surge pod on the node's 2 cores: a quarter core each would
            // leave some unscheduled (Insufficient cpu).
            cpuRequest: "100m",
        });
        ok(stack.pulumi(["up", "--yes", "--skip-preview", "--stack", "dev"]), "up of version 1");
        await expectServed(1, "the first up");

        const good = await withUsers(() =>
            rollout(stack, ["--stack", "dev", "--version", "2", "--seed", "7"]),
        );
        expectOutcome(good.value, "promoted", "the good canary's rollout");
        await expectServed(2, "the good canary's rollout");

        const bad: Record<string, unknown> = {};
        let version = 3;
        for (const [kind, { dir, ...model }] of Object.entries(models)) {
            const run = await withUsers(() =>
                rollout(stack, [
                    "--stack",
                    "dev",
                    "--version",
                    String(version++),
                    "--model-source",
                    dir,
                ]),
            );
            expectOutcome(run.value, "rolled back", `the ${kind} canary's rollout`);
            await expectServed(2, `the ${kind} canary's rollout`);
            const figures = rolloutFigures(run.value);
            bad[kind] = {
                model,
                ...figures,
                // The check this canary was made to fail, as the report words it.
                itsCheck: figures.failedChecks.find((c) => c.startsWith(`${model.caughtBy}:`)),
                users: run.users,
            };
        }

        // Killed during the first analysis window: the state says step 1; --resume goes on.
        const killedInWindow = await withUsers(async () => {
            const killed = await rollout(
                stack,
                ["--stack", "dev", "--version", "6", "--seed", "8"],
                {
                    line: /analysis: /,
                    delayMs: 5000,
                },
            );
            const state = recordedState(stack);
            const resumed = await rollout(stack, ["--stack", "dev", "--resume"]);
            expectOutcome(resumed, "promoted", "the resumed rollout");
            return { killed, state, resumed };
        });
        await expectServed(6, "the resumed rollout");

        // Killed during the second step's `pulumi up`: --rollback returns to the stable track.
        const killedInUp = await withUsers(async () => {
            const killed = await rollout(
                stack,
                ["--stack", "dev", "--version", "7", "--seed", "9"],
                {
                    line: /step 2 of \d+ \(\d+%\): preview: /,
                    delayMs: 3000,
                },
            );
            const state = recordedState(stack);
            // As a user would: --rollback first, which finds the killed update's lock, then
            // again with --cancel as the report says.
            const locked = await rollout(stack, ["--stack", "dev", "--rollback"]);
            const rolledBack = await rollout(stack, ["--stack", "dev", "--rollback", "--cancel"]);
            expectOutcome(rolledBack, "rolled back", "the rollback of the killed rollout");
            return { killed, state, locked, rolledBack };
        });
        await expectServed(6, "the rollback of the killed rollout");
        ok(stack.pulumi(["destroy", "--yes", "--skip-preview", "--stack", "dev"]), "destroy");

        const interrupted = (
            run: typeof killedInWindow | typeof killedInUp,
            next: RolloutRun,
            killedDuring: string,
        ) => ({
            killedDuring,
            killedBy: run.value.killed.signal,
            killedAfterSeconds: Number(run.value.killed.seconds.toFixed(1)),
            recordedState: run.value.state,
            leftoverProcesses: run.value.killed.leftoverProcesses,
            ...("locked" in run.value
                ? {
                      withoutCancel: {
                          outcome: run.value.locked.report?.outcome,
                          error: run.value.locked.report?.error?.match(
                              /the stack is currently locked[^\n]*/,
                          )?.[0],
                      },
                  }
                : {}),
            next: rolloutFigures(next),
            users: run.users,
        });
        const progressive = {
            what:
                `npm run rollout on the dev stack (${REPLICAS} pods, pod shares, a ${WINDOW_SECONDS} s window per step, figures from each pod's Prometheus page) ` +
                `while users send ${USER_RATE} predict requests/s through NodePort 30111, each on a new connection`,
            command: "npm run bench:progressive",
            usersPerSecond: USER_RATE,
            promoted: { ...rolloutFigures(good.value), users: good.users },
            rolledBack: bad,
            resumedAfterKill: interrupted(
                killedInWindow,
                killedInWindow.value.resumed,
                "the first analysis window",
            ),
            rolledBackAfterKill: interrupted(
                killedInUp,
                killedInUp.value.rolledBack,
                "the second step's pulumi up",
            ),
        };
        const expectations: Array<[string, boolean]> = [
            [
                "good canary promoted",
                good.value.report?.outcome === "promoted" && good.value.status === 0,
            ],
            [
                `good canary: 0 failed of >= ${MIN_GOOD_REQUESTS}`,
                good.users.failed === 0 && good.users.sent >= MIN_GOOD_REQUESTS,
            ],
            ...(["wrong", "failing", "slow"] as const).map((kind, i): [string, boolean] => {
                const check = ["answers", "errors", "latency"][i];
                const b = bad[kind] as ReturnType<typeof rolloutFigures> & {
                    users: { failed: number };
                };
                return [
                    `${kind} canary rolled back by its ${check} check${kind === "failing" ? "" : ", 0 failed"}`,
                    b.outcome === "rolled back" &&
                        b.failedChecks.some((c) => c.startsWith(`${check}:`)) &&
                        (kind === "failing" || b.users.failed === 0),
                ];
            }),
            [
                "killed in a window, then resumed to promotion",
                killedInWindow.value.resumed.report?.outcome === "promoted",
            ],
            [
                "killed in an up, then rolled back",
                killedInUp.value.rolledBack.report?.outcome === "rolled back",
            ],
        ];
        const previous = fs.existsSync(RESULTS) ? JSON.parse(fs.readFileSync(RESULTS, "utf8")) : {};
        const targets = expectations.map(([what, met]) => `${what}: ${met ? "met" : "MISSED"}`);
        const written = { ...previous, progressive: { ...progressive, targets } };
        fs.writeFileSync(RESULTS, `${JSON.stringify(written, null, 2)}\n`);
        console.log(JSON.stringify(written.progressive, null, 2));
        console.log(`wrote progressive into ${RESULTS}`);
        return expectations.every(([, met]) => met) ? 0 : 1;
    } finally {
        stack.cleanUp();
    }
}

runCommand(main, (err) => {
    console.error(err);
    return 1;
});
