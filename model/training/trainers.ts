/**
 * Which trainer runs: the graph trainer (whole Adam steps in a TensorFlow session) wherever the
 * TensorFlow backend runs, else tfjs-layers' `fit`; or the one config, a flag or the environment
 * names. `fitClassifier`, the train stage of a run, trains a new model with the chosen one.
 */
import type * as tf from "@tensorflow/tfjs";
import { parseChoice } from "../../errors";
import type { BackendName } from "./backend";
import type { TrainingData } from "./data";
import { fitWithGraph } from "./graphTrainer";
import { TrainingHistory, fitWithLayers } from "./layersTrainer";
import { createModel } from "./model";
import { EpochProgress } from "./progress";
import type { TrainingHyperparameters } from "./trainingCache";

/** The trainers: `graph` runs whole Adam steps in a TensorFlow session, `layers` tfjs' `fit`. */
export const TRAINERS = ["graph", "layers"] as const;
/** One of `TRAINERS`. */
export type TrainerName = (typeof TRAINERS)[number];
/** Environment variable that forces a trainer (`graph` or `layers`). */
export const TRAINER_ENV = "TFK8S_TRAINER";

/** Parses a trainer name from config, a flag or the environment; `auto` and empty mean "choose". */
export function parseTrainerName(
    value: string | undefined,
    field: string,
): TrainerName | undefined {
    return parseChoice(value, field, TRAINERS);
}

/** Which trainer runs and how: the graph trainer's steps per session run. */
export interface TrainerChoice {
    readonly name: TrainerName;
    /** Steps per session run, for the graph trainer; undefined runs a whole epoch at a time. */
    readonly stepsPerRun?: number;
    /** Why this trainer, for the log. */
    readonly reason: string;
}

/** How the graph trainer groups steps into session runs, for the log and the report. */
export function sessionRuns(
    trainer: Pick<TrainerChoice, "name" | "stepsPerRun">,
): string | undefined {
    if (trainer.name !== "graph") return undefined;
    return trainer.stepsPerRun === undefined
        ? "an epoch per session run"
        : `${trainer.stepsPerRun} steps per session run`;
}

/**
 * The graph trainer wherever the TensorFlow backend runs, else the layers trainer; a forced
 * trainer (argument, else `TFK8S_TRAINER`) that cannot run is an error rather than a fallback.
 */
export function chooseTrainer(
    backend: BackendName,
    forced?: TrainerName,
    stepsPerRun?: number,
): TrainerChoice {
    const wanted = forced ?? parseTrainerName(process.env[TRAINER_ENV], TRAINER_ENV);
    if (wanted === "layers") {
        return { name: "layers", reason: "requested" };
    }
    if (backend === "tensorflow") {
        return {
            name: "graph",
            stepsPerRun,
            reason: wanted === "graph" ? "requested" : "first choice on the tensorflow backend",
        };
    }
    if (wanted === "graph") {
        throw new Error(
            `trainer "graph" needs the tensorflow backend (tfjs-node); the ${backend} backend is running`,
        );
    }
    return { name: "layers", reason: `the ${backend} backend has no TensorFlow session` };
}

/** A freshly trained model, its per-epoch metrics and how long training took. */
export interface FittedModel {
    readonly model: tf.LayersModel;
    readonly history: TrainingHistory;
    /** The whole train stage: the epochs and the set-up around them (model, session, upload). */
    readonly trainingSeconds: number;
    /** Each epoch from its start to its end, its test evaluation included. */
    readonly epochSeconds: readonly number[];
}

/** Where the train stage reports: the log, and whether to draw a progress bar there. */
export interface FitReporting {
    readonly log: (line: string) => void;
    readonly progressBar: boolean;
}

/**
 * The train stage of a run: a new seeded model trained on `data.train` by `trainer`, evaluated
 * on the test split after each epoch into the history.
 */
export async function fitClassifier(
    trainer: TrainerChoice,
    hyperparameters: TrainingHyperparameters,
    data: TrainingData,
    reporting: FitReporting,
): Promise<FittedModel> {
    const { epochs, batchSize, seed, learningRate } = hyperparameters;
    const { train } = data;
    const test = data.mnist.test;
    const { log } = reporting;
    const runs = sessionRuns(trainer);
    log(`trainer: ${trainer.name}${runs === undefined ? "" : ` (${runs})`} (${trainer.reason})`);
    log(
        `training ${epochs} epoch(s) on ${train.count} images (batch ${batchSize}, seed ${seed}, lr ${learningRate})`,
    );
    const started = Date.now();
    const model = createModel({ seed, learningRate });
    const stepsPerEpoch = Math.ceil(train.count / batchSize);
    const progress = new EpochProgress(epochs, stepsPerEpoch, log, reporting.progressBar);
    const history =
        trainer.name === "graph"
            ? await fitWithGraph(model, train, {
                  ...hyperparameters,
                  stepsPerRun: trainer.stepsPerRun,
                  progress,
                  test,
              })
            : await fitWithLayers(model, train, { epochs, batchSize, seed, progress, test });
    return {
        model,
        history,
        trainingSeconds: (Date.now() - started) / 1000,
        epochSeconds: progress.epochSeconds,
    };
}
