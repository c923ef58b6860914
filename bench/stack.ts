/**
 * `npm run bench:stack`: times the dev stack under the real Pulumi CLI (see
 * test/integration/realStack.ts), side by side in one run: the first `pulumi preview` in a fresh
 * project copy (it trains), then with the model cache emptied `pulumi preview` with a cold model
 * cache (it trains) as the reference, `pulumi preview` with the cache warm, `pulumi up` from an empty
 * stack, and a no-change `pulumi up`, counting the changes it reports. Writes
 * `bench/results/stack.json`. Targets: warm preview under 15 s; the no-change up changes nothing.
 *
 * Each preview is broken down by stage: the program records its stages (`model/stageTimes.ts`)
 * in a file the bench names, and what lies outside the program (the CLI, the engine and the
 * plugins before it starts and after it exits) is the rest of the command's wall time.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    STAGE_TIMES_ENV,
    StageSeconds,
    nowMs,
    readStageTimes,
    stageBreakdown,
} from "../model/stageTimes";
import { RealStack, ok, realStackEnv } from "../test/support/realStack";
import { runCommand } from "../verdict";

/** Where the program run by the next pulumi command records its stages. */
const STAGE_FILE = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-stages-")), "stages");

/** Seconds a pulumi command took, its output, and its stages. */
function timed(
    stack: RealStack,
    args: string[],
    what: string,
): { seconds: number; out: string; stages: StageSeconds[] } {
    fs.rmSync(STAGE_FILE, { force: true });
    const started = nowMs();
    const out = ok(stack.pulumi(args), what);
    const ended = nowMs();
    return {
        seconds: (ended - started) / 1000,
        out,
        stages: stageBreakdown(readStageTimes(STAGE_FILE), started, ended),
    };
}

/** Resource operations in an update summary ("+ 3 created", "~ 1 updated", …). */
function changesIn(out: string): number {
    const counts = [...out.matchAll(/(\d+) (created|updated|deleted|replaced)/g)].map((m) =>
        Number(m[1]),
    );
    return counts.reduce((a, b) => a + b, 0);
}

async function main(): Promise<void> {
    const env = realStackEnv();
    if (typeof env === "string") throw new Error(`cannot benchmark the stack: ${env}`);
    // The stack's commands inherit it: RealStack copies this environment.
    process.env[STAGE_TIMES_ENV] = STAGE_FILE;
    const stack = new RealStack(env);
    try {
        stack.initStack("dev", await stack.pushStandInBaseImage());
        // The first command in a fresh project copy also pays for what the machine has not read
        // yet (Node's modules, the native TensorFlow library, the plugins), which is no part of the
        // training: that preview is kept apart, then the model cache is emptied so that the cold
        // and warm previews below differ by the model cache alone.
        const first = timed(stack, ["preview", "-s", "dev"], "first preview");
        fs.rmSync(stack.cacheDir, { recursive: true, force: true });
        const cold = timed(stack, ["preview", "-s", "dev"], "cold preview");
        const warm = timed(stack, ["preview", "-s", "dev"], "warm preview");
        const up = timed(stack, ["up", "-s", "dev", "--yes", "--skip-preview"], "up from empty");
        const again = timed(stack, ["up", "-s", "dev", "--yes", "--skip-preview"], "no-change up");
        ok(stack.pulumi(["destroy", "-s", "dev", "--yes", "--skip-preview"]), "destroy");

        const rows = [
            [
                "pulumi preview, the first in a fresh copy (trains)",
                first.seconds,
                `${(first.seconds / warm.seconds).toFixed(2)} x the warm preview`,
            ],
            [
                "pulumi preview, cold model cache (trains)",
                cold.seconds,
                cold.seconds <= 25 ? "target <= 25 s: met" : "target <= 25 s: MISSED",
            ],
            [
                "pulumi preview, warm model cache",
                warm.seconds,
                warm.seconds < 15 ? "target < 15 s: met" : "target < 15 s: MISSED",
            ],
            ["pulumi up from an empty stack", up.seconds, `${changesIn(up.out)} changes`],
            ["pulumi up with nothing changed", again.seconds, `${changesIn(again.out)} changes`],
        ] as const;
        console.log("");
        for (const [label, seconds, note] of rows) {
            console.log(`${label.padEnd(44)} ${seconds.toFixed(1).padStart(7)} s   ${note}`);
        }
        const ratio = cold.seconds / warm.seconds;
        console.log(
            `cold / warm preview: ${ratio.toFixed(2)} (target <= 1.6: ${ratio <= 1.6 ? "met" : "MISSED"})`,
        );
        for (const [name, run] of [
            ["first preview", first],
            ["cold preview", cold],
            ["warm preview", warm],
        ] as const) {
            console.log(`\n${name} by stage:`);
            for (const s of run.stages) {
                console.log(`  ${s.stage.padEnd(52)} ${s.seconds.toFixed(2).padStart(6)} s`);
            }
        }
        const result = {
            date: new Date().toISOString(),
            firstPreviewSeconds: first.seconds,
            firstPreviewStages: first.stages,
            coldPreviewSeconds: cold.seconds,
            warmPreviewSeconds: warm.seconds,
            coldOverWarm: ratio,
            coldPreviewStages: cold.stages,
            warmPreviewStages: warm.stages,
            upFromEmptySeconds: up.seconds,
            upFromEmptyChanges: changesIn(up.out),
            noChangeUpSeconds: again.seconds,
            noChangeUpChanges: changesIn(again.out),
        };
        const file = path.join(__dirname, "results", "stack.json");
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
        console.log(`written ${file}`);
    } finally {
        stack.cleanUp();
    }
}

runCommand(main);
