/**
 * A rollout's report: every step with its preview summary, how long its `up` took, and its
 * analysis with every check and its figures; how it ended and, after a rollback, which checks
 * failed and the seconds from the failing step's start to the stable track serving alone. Printed
 * as a table on the terminal and written whole as `rollout-report.json`.
 */
import * as fs from "fs";
import { formatTable } from "../client/cliSupport";
import { Analysis, CheckName } from "./analysis";
import { FiguresSource } from "./figures";
import { TrackReplicas } from "../components/servingPlan";

/** One applied step (a canary share, the promotion or the rollback). */
export interface StepReport {
    /** The canary's percent; 100 for the promotion, 0 for a rollback. */
    readonly weight: number;
    readonly action: "step" | "promote" | "rollback";
    readonly pods?: TrackReplicas;
    /** The preview's change summary: operation to count (`create`, `update`, `same`, ...). */
    readonly preview: Readonly<Record<string, number>>;
    readonly upSeconds: number;
    /** The analysis window after a canary step. */
    readonly analysis?: Analysis & {
        readonly source: FiguresSource;
        readonly windowSeconds: number;
    };
}

/** How the rollout ended. */
export type Outcome = "promoted" | "rolled back" | "stopped";

/** The whole report. */
export interface RolloutReport {
    readonly stack: string;
    readonly version: number;
    /** How the shares come about, said before the first step. */
    readonly plan: string;
    readonly steps: readonly StepReport[];
    readonly outcome: Outcome;
    /** `<check>: <detail>` of each failed check that caused a rollback. */
    readonly failedChecks: readonly string[];
    /** Seconds from the failing step's start to the end of the rollback's `up`. */
    readonly rollbackSeconds?: number;
    /** Why the rollout stopped without an outcome (an `up` that failed), with the state kept. */
    readonly error?: string;
}

/** The preview summary in one cell: `2 create, 1 update` (unchanged ones left out). */
export function formatChanges(changes: Readonly<Record<string, number>>): string {
    const parts = Object.entries(changes)
        .filter(([op, n]) => op !== "same" && n > 0)
        .map(([op, n]) => `${n} ${op}`);
    return parts.length === 0 ? "no changes" : parts.join(", ");
}

/** A check's cell: `ok` or `FAIL` with its telling figure. */
function checkCell(step: StepReport, name: CheckName): string {
    const check = step.analysis?.checks.find((c) => c.check === name);
    if (check === undefined) return "";
    const f = check.figures;
    const figure =
        name === "answers"
            ? f.error !== undefined
                ? "no answer"
                : `acc ${Number(f.servedAccuracy).toFixed(4)}`
            : name === "errors"
              ? `${(100 * Number(f.errorRate)).toFixed(2)}% of ${f.requests}`
              : `p99 x${Number(f.ratio).toFixed(2)}`;
    return `${check.passed ? "ok" : "FAIL"} ${figure}`;
}

/** The report as the terminal shows it: a table of steps, then the outcome. */
export function formatReport(report: RolloutReport): string {
    const rows = report.steps.map((s) => [
        s.action === "step" ? `${s.weight}%` : s.action,
        s.pods === undefined ? "" : `${s.pods.stable}+${s.pods.canary}`,
        formatChanges(s.preview),
        s.upSeconds.toFixed(1),
        s.analysis?.source ?? "",
        checkCell(s, "answers"),
        checkCell(s, "errors"),
        checkCell(s, "latency"),
    ]);
    const table = formatTable(
        ["step", "pods", "preview", "up s", "figures", "answers", "errors", "latency"],
        rows,
        [3],
    );
    const ending =
        report.outcome === "promoted"
            ? `rollout: version ${report.version} promoted on stack ${report.stack}`
            : report.outcome === "rolled back"
              ? [
                    `rollout: version ${report.version} ROLLED BACK on stack ${report.stack} after ${report.rollbackSeconds?.toFixed(1)} s:`,
                    ...report.failedChecks.map((c) => `  ${c}`),
                ].join("\n")
              : `rollout: STOPPED on stack ${report.stack}: ${report.error}; its rolloutState says where (run again with --resume or --rollback)${lockedHint(report)}`;
    return `${report.plan}\n${table}\n${ending}`;
}

/**
 * What to do when the engine refused the stack as locked: a rollout killed during an `up` leaves
 * its lock behind (the DIY backend's lock file, or the service's update in progress).
 */
function lockedHint(report: RolloutReport): string {
    if (!/the stack is currently locked/.test(report.error ?? "")) return "";
    return (
        `\nThe stack is locked by an update that did not finish. If no pulumi command runs on ` +
        `stack ${report.stack}, add --cancel to end that update first.`
    );
}

/** Writes the report as JSON. */
export function writeReport(file: string, report: RolloutReport): void {
    fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
