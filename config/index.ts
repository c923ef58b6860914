/**
 * The stack's configuration, read once into a typed, validated object. The keys are declared in
 * `configKeys.ts`; their text formats are parsed here (`formats.ts`), so the components take typed
 * values. Validation runs before any resource exists, so bad config fails `pulumi preview` with an
 * error naming the key, the value and what was expected.
 */
import { ImageSettings, MAX_BATCH_SIZE } from "../components/servingImage";
import { checkServing } from "../components/servingPlan";
import { MODEL_NAME_EXPECTED, MODEL_NAME_PATTERN } from "../model/savedmodel/contract";
import { INPUT_SCALES, isInputScale } from "../model/savedmodel/inputScale";
import { LoadedModelCheck, ModelSource } from "../model/sources/resolve";
import { parseBackendName } from "../model/training/backend";
import { TrainOptions } from "../model/training/train";
import { parseTrainerName } from "../model/training/trainers";
import { readImage } from "./image";
import { NAMESPACE, Reader, checkedAsConfig, fail } from "./reader";
import { RolloutSettings, readRollout } from "./rollout";
import { ServingConfig, readGpu, readServing } from "./serving";

/**
 * The validated configuration of one stack, in slices shaped like what each part takes: the
 * model source for `resolveModel`, `image` for `ServingImage`, `serving` for `ModelServing`.
 */
export interface StackConfig {
    readonly model: {
        readonly name: string;
        readonly version: number;
        readonly source: ModelSource;
        /** Batch sizes of the warmup requests our exports carry; none when empty. */
        readonly warmupBatchSizes: readonly number[];
    };
    readonly image: ImageSettings;
    readonly cluster: {
        /** kubeconfig context; the current one when undefined. */
        readonly context?: string;
        /** Render mode: the directory manifests are written to instead of a cluster. */
        readonly renderDir?: string;
    };
    readonly serving: ServingConfig;
    /** A canary track: its model and the percent of the pods it gets. */
    readonly canary?: {
        readonly version: number;
        readonly source: ModelSource;
        readonly weight: number;
    };
    /** What `npm run rollout` steps through and judges each step on. */
    readonly rollout: RolloutSettings;
}

/** The training keys, checked whatever the source, so a typo fails now, not after a switch back. */
function readTraining(r: Reader): TrainOptions {
    return {
        dataDir: r.string("dataDir"),
        cacheDir: r.string("cacheDir") as string,
        epochs: r.integer("epochs", 1) as number,
        batchSize: r.integer("batchSize", 1) as number,
        seed: r.integer("seed", 0) as number,
        learningRate: r.decimal("learningRate", (n) => n > 0, "a positive decimal"),
        trainSubset: r.integer("trainSubset", 1),
        minAccuracy: r.decimal("minAccuracy", (n) => n > 0 && n <= 1, "a decimal in (0, 1]"),
        backend: parseBackendName(r.string("backend"), `${NAMESPACE}:backend`),
        trainer: parseTrainerName(r.string("trainer"), `${NAMESPACE}:trainer`),
    };
}

/**
 * How a loaded model is checked: the training's gate and cache, and the input range config names.
 * Skipping the evaluation leaves nothing to find the range out, so config must name it.
 */
function readModelCheck(r: Reader, training: TrainOptions): LoadedModelCheck {
    const inputScale = r.string("inputScale");
    if (inputScale !== undefined && !isInputScale(inputScale)) {
        fail("inputScale", inputScale, `${INPUT_SCALES.join(" or ")}, or unset to find it out`);
    }
    const skipEvaluation = r.boolean("skipModelEvaluation");
    if (skipEvaluation && inputScale === undefined) {
        fail(
            "inputScale",
            undefined,
            `${INPUT_SCALES.join(" or ")} with skipModelEvaluation: without an evaluation nothing finds out which pixels the model takes`,
        );
    }
    return {
        minAccuracy: training.minAccuracy as number,
        cacheDir: training.cacheDir as string,
        dataDir: training.dataDir,
        inputScale,
        skipEvaluation,
    };
}

/** `train`, or a path whose contents (SavedModel or tfjs) `model/sources/fromDisk.ts` decides. */
function sourceOf(value: string, training: TrainOptions, check: LoadedModelCheck): ModelSource {
    if (value !== "train") return { kind: "path", path: value, check };
    if (check.inputScale === "0-1") {
        fail(
            "inputScale",
            check.inputScale,
            "0-255 or unset: a model trained here takes 0-255 (its graph scales pixels itself)",
        );
    }
    return { kind: "train", training };
}

/** The keys that describe a canary, besides its version. */
const CANARY_KEYS = ["canaryWeight", "canaryModelSource", "canarySeed", "canaryEpochs"] as const;

/**
 * The canary track: its version and weight, and its model as the stable source with the
 * canary's overrides. A canary key without `canaryVersion` is refused rather than ignored.
 */
function readCanary(
    r: Reader,
    training: TrainOptions,
    check: LoadedModelCheck,
): StackConfig["canary"] {
    const version = r.integer("canaryVersion", 1);
    if (version === undefined) {
        const set = CANARY_KEYS.find((key) => r.raw(key) !== undefined);
        if (set !== undefined) {
            fail(
                "canaryVersion",
                undefined,
                `the canary's model version, which ${set} (${JSON.stringify(r.raw(set))}) describes`,
            );
        }
        return undefined;
    }
    const weight = r.integer("canaryWeight", 0, 100);
    if (weight === undefined) {
        fail("canaryWeight", undefined, "the percent of the pods the canary gets, 1-99");
    }
    const source = sourceOf(
        r.raw("canaryModelSource") ?? (r.string("modelSource") as string),
        {
            ...training,
            seed: r.integer("canarySeed", 0) ?? training.seed,
            epochs: r.integer("canaryEpochs", 1) ?? training.epochs,
        },
        check,
    );
    return { version, source, weight };
}

/** The warmup batch sizes, or none when `warmup` is off; within the batching limit when on. */
function readWarmup(r: Reader, image: ImageSettings): number[] {
    const text = r.string("warmupBatchSizes") as string;
    if (!r.boolean("warmup")) return [];
    const sizes = text.split(",").map((t) => t.trim());
    const limit = image.enableBatching ? MAX_BATCH_SIZE : Number.MAX_SAFE_INTEGER;
    const bad = sizes.find((t) => !/^\d+$/.test(t) || Number(t) < 1 || Number(t) > limit);
    if (bad !== undefined) {
        fail(
            "warmupBatchSizes",
            text,
            image.enableBatching
                ? `comma-separated batch sizes of 1-${MAX_BATCH_SIZE}, the batching limit (enableBatching), e.g. 1,8,100`
                : "comma-separated positive integers, e.g. 1,8,100",
        );
    }
    return sizes.map(Number);
}

/** Reads and validates the current stack's config. Throws on the first invalid key. */
export function loadStackConfig(): StackConfig {
    const r = new Reader();
    const name = r.matching("modelName", MODEL_NAME_PATTERN, MODEL_NAME_EXPECTED) as string;
    const version = r.integer("modelVersion", 1) as number;
    const renderDir = r.string("renderDir");
    const gpu = readGpu(r);
    const image = readImage(r, name, gpu);
    const training = readTraining(r);
    const check = readModelCheck(r, training);
    const serving = { ...readServing(r, image, renderDir), gpu };
    const canary = readCanary(r, training, check);
    // The checks ModelServing makes, naming config keys: those that span keys, and the canary's.
    checkedAsConfig(() =>
        checkServing({
            ...serving,
            modelVersion: version,
            canary: canary && { modelVersion: canary.version, weight: canary.weight },
        }),
    );
    return {
        model: {
            name,
            version,
            source: sourceOf(r.string("modelSource") as string, training, check),
            warmupBatchSizes: readWarmup(r, image),
        },
        image,
        cluster: { context: r.string("kubeContext"), renderDir },
        serving,
        canary,
        rollout: readRollout(
            r,
            serving.replicas,
            serving.gateway !== undefined,
            serving.pdbMinAvailable,
        ),
    };
}
