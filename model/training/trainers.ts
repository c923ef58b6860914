/**
 * Which trainer runs: the graph trainer (whole Adam steps in a TensorFlow session) wherever the
 * TensorFlow backend runs, else tfjs-layers' `fit`; or the one config, a flag or the environment
 * names.
 */
import { parseChoice } from "../../errors";
import type { BackendName } from "./backend";
import { DEFAULT_STEPS_PER_RUN } from "./graphTrainer";

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
    /** Steps per session run, for the graph trainer. */
    readonly stepsPerRun?: number;
    /** Why this trainer, for the log. */
    readonly reason: string;
}

/**
 * The graph trainer wherever the TensorFlow backend runs, else the layers trainer; a forced
 * trainer (argument, else `TFK8S_TRAINER`) that cannot run is an error rather than a fallback.
 */
export function chooseTrainer(
    backend: BackendName,
    forced?: TrainerName,
    stepsPerRun = DEFAULT_STEPS_PER_RUN,
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
