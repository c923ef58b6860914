/**
 * The stages of a program run, timed for `npm run bench:stack`'s breakdown of a `pulumi preview`.
 * When `TFK8S_STAGE_TIMES` names a file, each stage appends a line `{"stage", "startMs", "endMs"}`
 * to it, in milliseconds since the Unix epoch so that they compare with the times of the process
 * that started pulumi; otherwise nothing is recorded. `stageBreakdown` turns them into the
 * seconds of each stage of the command that ran the program.
 */
import * as fs from "fs";
import { performance } from "perf_hooks";

/** The environment variable naming the file stage times are appended to. */
export const STAGE_TIMES_ENV = "TFK8S_STAGE_TIMES";

/** One recorded stage. */
export interface StageTime {
    readonly stage: string;
    readonly startMs: number;
    readonly endMs: number;
}

/** Now, in milliseconds since the Unix epoch, to a fraction of a millisecond. */
export function nowMs(): number {
    return performance.timeOrigin + performance.now();
}

/** When this process started, in the same clock. */
export function processStartMs(): number {
    return performance.timeOrigin;
}

/** Appends a stage that ran from `startMs` until now, when stage times are asked for. */
export function recordStage(stage: string, startMs: number): void {
    const file = process.env[STAGE_TIMES_ENV];
    if (file === undefined || file === "") return;
    const time: StageTime = { stage, startMs, endMs: nowMs() };
    fs.appendFileSync(file, `${JSON.stringify(time)}\n`);
}

/** Runs `work` as stage `stage`: recorded when it ends, whether it succeeds or fails. */
export async function timedStage<T>(stage: string, work: () => Promise<T> | T): Promise<T> {
    const started = nowMs();
    try {
        return await work();
    } finally {
        recordStage(stage, started);
    }
}

/** The stages recorded in `file`, in the order they ended. */
export function readStageTimes(file: string): StageTime[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as StageTime);
}

/** One stage of a command's wall time, in seconds. */
export interface StageSeconds {
    readonly stage: string;
    readonly seconds: number;
}

/**
 * A command's wall time from `startMs` to `endMs` by stage: the CLI before the program, the
 * program's own stages in order, the rest of the program, the CLI after it.
 */
export function stageBreakdown(
    stages: readonly StageTime[],
    startMs: number,
    endMs: number,
): StageSeconds[] {
    const program = stages.find((s) => s.stage === "program");
    if (program === undefined)
        return [{ stage: "the command (no program ran)", seconds: (endMs - startMs) / 1000 }];
    const inside = stages.filter((s) => s.stage !== "program");
    const seconds = (ms: number) => ms / 1000;
    const within = inside.reduce((ms, s) => ms + (s.endMs - s.startMs), 0);
    return [
        {
            stage: "pulumi CLI, engine and plugins before the program",
            seconds: seconds(program.startMs - startMs),
        },
        ...inside.map((s) => ({ stage: s.stage, seconds: seconds(s.endMs - s.startMs) })),
        {
            stage: "the rest of the program (resources)",
            seconds: seconds(program.endMs - program.startMs - within),
        },
        { stage: "engine and plugins after the program", seconds: seconds(endMs - program.endMs) },
    ];
}
