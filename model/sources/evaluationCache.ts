/**
 * Evaluations of loaded models, cached by the content hash of the packaged version directory and
 * of the test data: an unchanged model is evaluated once, not at every preview. An entry is
 * published whole by the training cache's machinery, or not at all when the evaluation fails.
 */
import * as fs from "fs";
import * as path from "path";
import { hashDirectory } from "../contentHash";
import { cacheKey, commitEntry, lookupEntry, withEntryLock } from "../training/cache";
import type { MnistData } from "../training/data";
import { ScaleEvaluations, evaluateSavedModel } from "./evaluation";

/** Bump with any change to how a loaded model is evaluated, so cached figures are remade. */
export const EVALUATION_RECIPE = { version: 1 } as const;

/** The subdirectory of the cache directory holding evaluations. */
export const EVALUATIONS_DIR = "evaluations";
const EVALUATION_FILE = "evaluation.json";

/** An evaluation and where it came from. */
export interface CachedEvaluation {
    /** Test accuracy and loss for each way of sending pixels. */
    readonly evaluations: ScaleEvaluations;
    /** Test images evaluated. */
    readonly testImages: number;
    /** Whether the figures were read from the cache instead of evaluated now. */
    readonly fromCache: boolean;
}

/** The evaluation of the SavedModel at `versionDir` on `mnist`'s test split, cached in `cacheDir`. */
export async function cachedEvaluation(
    versionDir: string,
    mnist: MnistData,
    cacheDir: string,
    log: (line: string) => void,
): Promise<CachedEvaluation> {
    const dir = path.join(cacheDir, EVALUATIONS_DIR);
    const key = cacheKey({
        recipe: EVALUATION_RECIPE,
        model: hashDirectory(versionDir),
        data: mnist.sha256,
    });
    const read = (entry: string): CachedEvaluation => ({
        ...(JSON.parse(fs.readFileSync(path.join(entry, EVALUATION_FILE), "utf8")) as {
            evaluations: ScaleEvaluations;
            testImages: number;
        }),
        fromCache: true,
    });
    const cached = lookupEntry(dir, key);
    if (cached !== undefined) return read(cached);
    const waiting = (holder: number) =>
        log(`waiting for process ${holder}, which is evaluating the same model (cache key ${key})`);
    return withEntryLock(dir, key, waiting, async () => {
        const meanwhile = lookupEntry(dir, key);
        if (meanwhile !== undefined) return read(meanwhile);
        const evaluations = await evaluateSavedModel(versionDir, mnist.test);
        const record = { evaluations, testImages: mnist.test.count };
        await commitEntry(dir, key, async (tmp) => {
            fs.writeFileSync(
                path.join(tmp, EVALUATION_FILE),
                `${JSON.stringify(record, null, 2)}\n`,
            );
        });
        return { ...record, fromCache: false };
    });
}
