import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Analysis, CheckResult, checkAnswers } from "../rollout/analysis";
import { formatReport, writeReport } from "../rollout/report";
import { ChangeSummary, Judge, RolloutStack, rollBack, runRollout } from "../rollout/run";
import { ConfigChanges } from "../rollout/stepConfig";
import {
    RolloutState,
    decideStart,
    describeState,
    formatState,
    parseState,
} from "../rollout/state";
import { planSteps } from "../rollout/steps";

/**
 * A stack that keeps its config as a map and records every call; `up` can be made to fail at a
 * given call, as a killed or failed update would.
 */
class RecordingStack implements RolloutStack {
    readonly config = new Map<string, string>();
    readonly calls: string[] = [];
    /** The config at each `up`. */
    readonly applied: Record<string, string>[] = [];
    constructor(private readonly failUpAt?: number) {}

    async setConfig(changes: ConfigChanges): Promise<void> {
        for (const [k, v] of Object.entries(changes)) {
            if (v === undefined) this.config.delete(k);
            else this.config.set(k, v);
        }
        this.calls.push("config");
    }
    async preview(): Promise<ChangeSummary> {
        this.calls.push("preview");
        return { create: 1, same: 4 };
    }
    async up(): Promise<ChangeSummary> {
        this.calls.push("up");
        if (this.applied.length === this.failUpAt) throw new Error("update failed: killed");
        this.applied.push(Object.fromEntries(this.config));
        return { create: 1, same: 4 };
    }
}

const check = (name: CheckResult["check"], passed: boolean): CheckResult => ({
    check: name,
    passed,
    figures: { servedAccuracy: 0.98, errorRate: passed ? 0 : 0.5, requests: 200, ratio: 1.1 },
    detail: passed
        ? "fine"
        : "canary error rate 50.00% (100 of 200: 100 NOT_FOUND) above maxErrorRate 1.00%",
});

/** A judge passing every window but the steps at `failing` percent, where errors fail. */
function judge(failing: number[] = []): Judge & { weights: number[] } {
    const weights: number[] = [];
    const fn = async (step: { weight: number }) => {
        weights.push(step.weight);
        const passed = !failing.includes(step.weight);
        const analysis: Analysis = {
            passed,
            checks: [check("answers", true), check("errors", passed), check("latency", true)],
        };
        return { analysis, source: "probes" as const, windowSeconds: 60 };
    };
    return Object.assign(fn, { weights });
}

const START: RolloutState = {
    version: 2,
    model: { seed: 7 },
    weights: [10, 25, 50, 100],
    step: 0,
    phase: "step",
};

/** A clock that advances 1 s per reading. */
function clock() {
    let t = 0;
    return () => (t += 1000);
}

const quiet = () => undefined;

describe("npm run rollout, over a recording stack", () => {
    const plan = planSteps(4, true);

    it("steps 10, 25, 50 with the state recorded before each up, judges each, then promotes", async () => {
        const stack = new RecordingStack();
        const j = judge();
        const report = await runRollout(
            { stackName: "dev", stack, judge: j, plan, log: quiet, now: clock() },
            START,
        );
        assert.strictEqual(report.outcome, "promoted");
        assert.deepStrictEqual(j.weights, [10, 25, 50]);
        assert.deepStrictEqual(
            stack.applied.map((c) => [c["tfk8s:canaryWeight"], c["tfk8s:modelVersion"]]),
            [
                ["10", undefined],
                ["25", undefined],
                ["50", undefined],
                [undefined, "2"],
            ],
        );
        // Each up ran with its own step recorded, and the canary's model keys.
        assert.deepStrictEqual(
            stack.applied
                .map((c) => parseState(c["tfk8s:rolloutState"]))
                .map((s) => [s.step, s.phase]),
            [
                [0, "step"],
                [1, "step"],
                [2, "step"],
                [3, "promote"],
            ],
        );
        assert.strictEqual(stack.applied[0]["tfk8s:canarySeed"], "7");
        assert.strictEqual(stack.applied[0]["tfk8s:canaryVersion"], "2");
        // Promotion: the canary's model is the stable one, no canary key is left; then no state.
        assert.strictEqual(stack.applied[3]["tfk8s:seed"], "7");
        assert.ok(Object.keys(stack.applied[3]).every((k) => !k.startsWith("tfk8s:canary")));
        assert.deepStrictEqual([...stack.config.keys()].sort(), [
            "tfk8s:modelVersion",
            "tfk8s:seed",
        ]);
        assert.deepStrictEqual(
            stack.calls.slice(0, 4),
            ["config", "preview", "up", "config"],
            "each step previews before it updates",
        );
        assert.deepStrictEqual(
            report.steps.map((s) => [s.action, s.weight, s.analysis?.passed]),
            [
                ["step", 10, true],
                ["step", 25, true],
                ["step", 50, true],
                ["promote", 100, undefined],
            ],
        );
    });

    it("rolls back at the first failed check, naming it, and clears the state", async () => {
        const stack = new RecordingStack();
        const report = await runRollout(
            { stackName: "dev", stack, judge: judge([25]), plan, log: quiet, now: clock() },
            START,
        );
        assert.strictEqual(report.outcome, "rolled back");
        assert.deepStrictEqual(report.failedChecks, [
            "errors: canary error rate 50.00% (100 of 200: 100 NOT_FOUND) above maxErrorRate 1.00%",
        ]);
        assert.deepStrictEqual(
            report.steps.map((s) => s.action),
            ["step", "step", "rollback"],
        );
        const last = stack.applied[stack.applied.length - 1];
        assert.ok(
            Object.keys(last).every((k) => !k.startsWith("tfk8s:canary")),
            "canary removed",
        );
        assert.strictEqual(parseState(last["tfk8s:rolloutState"]).phase, "rollback");
        assert.strictEqual(stack.config.size, 0, "state cleared after the rollback");
        // The step's start, the preview, the up, the window and the rollback each read the clock.
        assert.ok((report.rollbackSeconds ?? 0) > 0);
        const table = formatReport(report);
        assert.match(
            table,
            /25%\s+3\+1\s+1 create\s+1\.0\s+probes\s+ok acc 0\.9800\s+FAIL 50\.00% of 200/,
        );
        assert.match(
            table,
            /ROLLED BACK on stack dev after \d+\.\d s:\n {2}errors: canary error rate 50\.00%/,
        );
    });

    it("shows a smoke check that could not finish as no answer, not as an accuracy", () => {
        const answers = checkAnswers({ error: "HTTP 400: Matrix size-incompatible" });
        const table = formatReport({
            stack: "dev",
            version: 2,
            plan: "plan",
            steps: [
                {
                    weight: 25,
                    action: "step",
                    preview: {},
                    upSeconds: 1,
                    analysis: {
                        passed: false,
                        checks: [answers],
                        source: "prometheus",
                        windowSeconds: 5,
                    },
                },
            ],
            outcome: "rolled back",
            failedChecks: [],
        });
        assert.match(table, /25%.*prometheus\s+FAIL no answer/);
        assert.match(answers.detail, /could not finish: HTTP 400: Matrix size-incompatible/);
    });

    it("stops with the state recorded when an up fails, then resumes from that step", async () => {
        const killed = new RecordingStack(1);
        const report = await runRollout(
            { stackName: "dev", stack: killed, judge: judge(), plan, log: quiet, now: clock() },
            START,
        );
        assert.strictEqual(report.outcome, "stopped");
        assert.strictEqual(report.error, "update failed: killed");
        const recorded = parseState(killed.config.get("tfk8s:rolloutState") as string);
        assert.deepStrictEqual([recorded.step, recorded.phase], [1, "step"]);
        assert.match(formatReport(report), /STOPPED on stack dev: update failed: killed/);
        assert.doesNotMatch(formatReport(report), /--cancel/);
        const locked = { ...report, error: "error: the stack is currently locked by 1 lock(s)." };
        assert.match(formatReport(locked), /If no pulumi command runs on stack dev, add --cancel/);

        const decision = decideStart(recorded, { stack: "dev", resume: true, rollback: false });
        assert.strictEqual(decision.kind, "resume");
        const j = judge();
        const resumed = await runRollout(
            { stackName: "dev", stack: new RecordingStack(), judge: j, plan, log: quiet },
            decision.state,
        );
        assert.strictEqual(resumed.outcome, "promoted");
        assert.deepStrictEqual(j.weights, [25, 50], "resumes at the step it stopped in");
    });

    it("rolls a stopped rollout back on --rollback", async () => {
        const stack = new RecordingStack();
        const state = { ...START, step: 2 };
        const decision = decideStart(state, { stack: "dev", resume: false, rollback: true });
        assert.strictEqual(decision.kind, "rollback");
        const report = await rollBack(
            { stackName: "dev", stack, judge: judge(), plan, log: quiet },
            decision.state,
        );
        assert.strictEqual(report.outcome, "rolled back");
        assert.strictEqual(stack.applied.length, 1);
        assert.strictEqual(parseState(stack.applied[0]["tfk8s:rolloutState"]).phase, "rollback");
        assert.strictEqual(stack.config.size, 0);
    });

    it("writes rollout-report.json with every step and check", async () => {
        const report = await runRollout(
            { stackName: "dev", stack: new RecordingStack(), judge: judge([50]), plan, log: quiet },
            START,
        );
        const file = path.join(
            fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-report-")),
            "rollout-report.json",
        );
        writeReport(file, report);
        const read = JSON.parse(fs.readFileSync(file, "utf8"));
        assert.strictEqual(read.outcome, "rolled back");
        assert.deepStrictEqual(
            read.steps.map((s: { analysis?: { checks: unknown[] } }) => s.analysis?.checks.length),
            [3, 3, 3, undefined],
        );
        assert.strictEqual(read.steps[2].analysis.checks[1].figures.errorRate, 0.5);
        fs.rmSync(path.dirname(file), { recursive: true });
    });
});

describe("a rollout's recorded state", () => {
    it("round-trips, and a malformed one is refused naming the key", () => {
        assert.deepStrictEqual(parseState(formatState(START)), START);
        assert.throws(
            () => parseState('{"version":2}'),
            /config `tfk8s:rolloutState` is "\{\\"version\\":2\}"; expected the JSON npm run rollout writes/,
        );
        assert.throws(() => parseState("step 2"), /config `tfk8s:rolloutState` is "step 2"/);
        assert.throws(() => parseState(formatState({ ...START, step: 4 })), /rolloutState/);
    });

    it("decides: start without state; refuse a stopped rollout without a flag, saying both", () => {
        const request = { stack: "dev", version: 3, resume: false, rollback: false };
        assert.deepStrictEqual(decideStart(undefined, request), { kind: "start", version: 3 });
        assert.throws(
            () => decideStart({ ...START, step: 1 }, { ...request, version: undefined }),
            /stack dev has a rollout of version 2 stopped at step 2 of 4 \(25%\), applying or judging it; run again with --resume to go on from that step, or --rollback to return to the stable track/,
        );
        assert.throws(
            () => decideStart(START, request),
            /--version 3 cannot start until it is resumed/,
        );
        assert.throws(
            () => decideStart(undefined, { ...request, resume: true }),
            /stack dev has no rollout under way \(its rolloutState is empty\): nothing to resume/,
        );
        assert.throws(
            () => decideStart(undefined, { ...request, version: undefined }),
            /--version <n> is required/,
        );
    });

    it("finishes a rollback on --resume, and will not roll back a promotion under way", () => {
        const rollingBack = { ...START, phase: "rollback" as const };
        const resume = { stack: "dev", resume: true, rollback: false };
        assert.strictEqual(decideStart(rollingBack, resume).kind, "rollback");
        const promoting = { ...START, step: 3, phase: "promote" as const };
        assert.strictEqual(decideStart(promoting, resume).kind, "resume");
        assert.throws(
            () => decideStart(promoting, { ...resume, resume: false, rollback: true }),
            /already makes version 2 the stable track, so it cannot be rolled back from here; run again with --resume/,
        );
        assert.strictEqual(
            describeState(promoting),
            "a rollout of version 2 stopped at step 4 of 4 (100%), promoting it",
        );
    });
});
