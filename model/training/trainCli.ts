/** `npm run train`: trains (or loads from the cache) with the flags given, see `trainModel`. */
import * as fs from "fs";
import { parseArgs } from "util";
import { parseBackendName } from "./backend";
import { TrainOptions, trainModel } from "./train";
import { parseTrainerName } from "./trainers";
import { runCommand } from "../../verdict";

/** What `npm run train -- --help` prints. */
export const USAGE = `usage: npm run train -- [options]
  --epochs N  --batch-size N  --seed N  --learning-rate X  --subset N (first N training images)
  --data-dir DIR (four MNIST IDX files)  --cache-dir DIR  --min-accuracy X (0-1]
  --backend auto|tensorflow|wasm|cpu  --trainer auto|graph|layers  --steps-per-run N
  --out DIR (copy the artifact there)  --help`;

/** A flag followed by its value (`parseArgs`' "string"; numbers are read from it below). */
const WITH_VALUE = { type: "string" } as const;

/** Parses `npm run train -- …` flags into options (`help` when `--help` was given). */
export function parseArguments(argv: string[]): TrainOptions & { out?: string; help?: boolean } {
    const { values } = parseArgs({
        args: argv,
        options: {
            epochs: WITH_VALUE,
            "batch-size": WITH_VALUE,
            seed: WITH_VALUE,
            "learning-rate": WITH_VALUE,
            subset: WITH_VALUE,
            "data-dir": WITH_VALUE,
            "cache-dir": WITH_VALUE,
            "min-accuracy": WITH_VALUE,
            backend: WITH_VALUE,
            trainer: WITH_VALUE,
            "steps-per-run": WITH_VALUE,
            out: WITH_VALUE,
            help: { type: "boolean" },
        },
        strict: true,
    });
    const num = (flag: string): number | undefined => {
        const raw = values[flag as keyof typeof values];
        if (raw === undefined) return undefined;
        const n = Number(raw);
        if (raw === "" || !Number.isFinite(n)) {
            throw new Error(`\`--${flag}\` is "${raw}"; expected a number`);
        }
        return n;
    };
    return {
        epochs: num("epochs"),
        batchSize: num("batch-size"),
        seed: num("seed"),
        learningRate: num("learning-rate"),
        trainSubset: num("subset"),
        dataDir: values["data-dir"],
        cacheDir: values["cache-dir"],
        minAccuracy: num("min-accuracy"),
        backend: parseBackendName(values.backend, "--backend"),
        trainer: parseTrainerName(values.trainer, "--trainer"),
        stepsPerRun: num("steps-per-run"),
        out: values.out,
        help: values.help,
    };
}

async function main(): Promise<void> {
    let parsed: ReturnType<typeof parseArguments>;
    try {
        parsed = parseArguments(process.argv.slice(2));
    } catch (err) {
        throw new Error(`${(err as Error).message}\n${USAGE}`);
    }
    const { out, help, ...options } = parsed;
    if (help === true) {
        console.log(USAGE);
        return;
    }
    const result = await trainModel(options);
    if (out !== undefined) {
        fs.cpSync(result.dir, out, { recursive: true });
        console.log(`artifact copied to ${out}`);
    }
}

if (require.main === module) {
    runCommand(main);
}
