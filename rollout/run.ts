/**
 * The rollout itself, over any stack that can set config, preview and update (`RolloutStack`; the
 * Automation API's in `automationStack.ts`, a recording one in the tests) and any judge of an
 * analysis window: each canary step is recorded, previewed, applied and judged; a failed check
 * rolls back at once; after the last share comes the promotion. An `up` that fails stops the run
 * with the state still recorded, for `--resume` or `--rollback`.
 */
import { Analysis, failedChecks } from "./analysis";
import { FiguresSource } from "./figures";
import { RolloutReport, StepReport, formatChanges } from "./report";
import { ConfigChanges, ENDED, phaseConfig } from "./stepConfig";
import { RolloutState } from "./state";
import { RolloutStep, StepPlan } from "./steps";

/** A change summary: operation to count, as `pulumi preview` and `up` give it. */
export type ChangeSummary = Readonly<Record<string, number>>;

/** The stack a rollout drives. */
export interface RolloutStack {
    /** Sets config keys (`tfk8s:<key>`); undefined removes one. */
    setConfig(changes: ConfigChanges): Promise<void>;
    /** Previews the stack as configured. */
    preview(): Promise<ChangeSummary>;
    /** Updates the stack as configured. */
    up(): Promise<ChangeSummary>;
}

/** One window's analysis, and where its figures came from. */
export interface JudgedWindow {
    readonly analysis: Analysis;
    readonly source: FiguresSource;
    readonly windowSeconds: number;
}

/** Judges the canary, live, after `step` is applied. */
export type Judge = (step: RolloutStep) => Promise<JudgedWindow>;

/** What a run needs. */
export interface RolloutRun {
    readonly stackName: string;
    readonly stack: RolloutStack;
    readonly judge: Judge;
    readonly plan: StepPlan;
    /** Progress lines. */
    readonly log: (line: string) => void;
    /** Milliseconds of a monotonic clock. Defaults to `performance.now`. */
    readonly now?: () => number;
}

/** Records the phase, previews and applies it; the step's report without analysis. */
async function apply(
    run: RolloutRun,
    state: RolloutState,
    label: string,
): Promise<Omit<StepReport, "analysis">> {
    const now = run.now ?? (() => performance.now());
    await run.stack.setConfig(phaseConfig(state));
    const preview = await run.stack.preview();
    run.log(`${label}: preview: ${formatChanges(preview)}`);
    const started = now();
    await run.stack.up();
    const upSeconds = (now() - started) / 1000;
    run.log(`${label}: applied in ${upSeconds.toFixed(1)} s`);
    const weight = state.phase === "rollback" ? 0 : state.weights[state.step];
    const pods = state.phase === "step" ? run.plan.steps[state.step]?.pods : undefined;
    return {
        weight,
        action: state.phase,
        ...(pods === undefined ? {} : { pods }),
        preview,
        upSeconds,
    };
}

/** The report of a run that ended with `outcome` after `steps`. */
function reportOf(
    run: RolloutRun,
    state: RolloutState,
    steps: StepReport[],
    outcome: RolloutReport["outcome"],
    more: Partial<Pick<RolloutReport, "failedChecks" | "rollbackSeconds" | "error">> = {},
): RolloutReport {
    return {
        stack: run.stackName,
        version: state.version,
        plan: run.plan.summary,
        steps,
        outcome,
        failedChecks: [],
        ...more,
    };
}

/** The report of a run that stopped on an error, the state left recorded. */
function stopped(
    run: RolloutRun,
    state: RolloutState,
    steps: StepReport[],
    err: unknown,
): RolloutReport {
    return reportOf(run, state, steps, "stopped", {
        error: err instanceof Error ? err.message : String(err),
    });
}

/**
 * Steps from `from` (a state at the step to apply first, phase `step` or `promote`) to the
 * promotion, or to a rollback at the first failed check.
 */
export async function runRollout(run: RolloutRun, from: RolloutState): Promise<RolloutReport> {
    const now = run.now ?? (() => performance.now());
    const steps: StepReport[] = [];
    run.log(`rollout of version ${from.version} on stack ${run.stackName}: ${run.plan.summary}`);
    let state = from;
    try {
        for (let i = from.step; i < from.weights.length; i++) {
            const weight = from.weights[i];
            state = { ...from, step: i, phase: weight === 100 ? "promote" : "step" };
            const label =
                weight === 100
                    ? "promotion"
                    : `step ${i + 1} of ${from.weights.length} (${weight}%)`;
            const stepStart = now();
            const applied = await apply(run, state, label);
            if (weight === 100) {
                steps.push(applied);
                await run.stack.setConfig(ENDED);
                return reportOf(run, from, steps, "promoted");
            }
            const judged = await run.judge(run.plan.steps[i]);
            steps.push({
                ...applied,
                analysis: {
                    ...judged.analysis,
                    source: judged.source,
                    windowSeconds: judged.windowSeconds,
                },
            });
            if (!judged.analysis.passed) {
                const failed = failedChecks(judged.analysis);
                failed.forEach((line) => run.log(`${label}: FAILED ${line}`));
                state = { ...state, phase: "rollback" };
                steps.push(await apply(run, state, "rollback"));
                await run.stack.setConfig(ENDED);
                return reportOf(run, from, steps, "rolled back", {
                    failedChecks: failed,
                    rollbackSeconds: (now() - stepStart) / 1000,
                });
            }
            run.log(`${label}: every check passed`);
        }
        throw new Error(`the steps ${from.weights.join(",")} do not end at 100 (promotion)`);
    } catch (err) {
        return stopped(run, state, steps, err);
    }
}

/** Returns the stack to its stable track: what `--rollback` does with a stopped rollout. */
export async function rollBack(run: RolloutRun, from: RolloutState): Promise<RolloutReport> {
    const now = run.now ?? (() => performance.now());
    const state: RolloutState = { ...from, phase: "rollback" };
    const start = now();
    try {
        const applied = await apply(run, state, "rollback");
        await run.stack.setConfig(ENDED);
        return reportOf(run, from, [applied], "rolled back", {
            failedChecks: ["asked for: --rollback of a stopped rollout"],
            rollbackSeconds: (now() - start) / 1000,
        });
    } catch (err) {
        return stopped(run, state, [], err);
    }
}
