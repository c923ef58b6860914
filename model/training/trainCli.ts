/** `npm run train`: trains (or loads from the cache) with the flags given, see `trainModel`. */
import * as fs from "fs";
import { parseArgs } from "util";
import { parseBackendName } from "./backend";
import { TrainOptions, parseTrainerName, trainModel } from "./train";

/** Parses `npm run train -- …` flags into options; `--help` prints usage. */
export function parseArguments(argv: string[]): TrainOptions & { out?: string } {
    const { values } = parseArgs({
        args: argv,
        options: {
            epochs: { type: "string" },
            "batch-size": { type: "string" },
            seed: { type: "string" },
            "learning-rate": { type: "string" },
            subset: { type: "string" },
            "data-dir": { type: "string" },
            "cache-dir": { type: "string" },
            "min-accuracy": { type: "string" },
            backend: { type: "string" },
            trainer: { type: "string" },
            "steps-per-run": { type: "string" },
            out: { type: "string" },
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
    };
}

async function main(): Promise<void> {
    const { out, ...options } = parseArguments(process.argv.slice(2));
    const result = await trainModel(options);
    if (out !== undefined) {
        fs.cpSync(result.dir, out, { recursive: true });
        console.log(`artifact copied to ${out}`);
    }
}

if (require.main === module) {
    main().catch((err: Error) => {
        console.error(`error: ${err.message}`);
        process.exit(1);
    });
}
