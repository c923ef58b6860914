/** What the training graph takes and the names its callers use: signatures, weights, Adam. */
import * as contract from "../../savedmodel/contract";

/** Signature keys of the training SavedModel. */
export const TRAINING_SIGNATURES = {
    load: "load",
    init: "init",
    train: "train",
    remainder: "remainder",
    evaluate: "evaluate",
    weights: "weights",
    gradients: "gradients",
} as const;

/** The tfjs layer weights the graph trains, in `model.getWeights()` order. */
export const WEIGHT_NAMES = ["dense/kernel", "dense/bias", "logits/kernel", "logits/bias"];

/** Image bytes are fed packed four to an int32 (tfjs has no uint8 tensors): int32s per image. */
export const PACKED_IMAGE_INTS = contract.IMAGE_PIXELS / 4;

/** What the training graph computes. */
export interface TrainingGraphOptions {
    /** Units of the hidden layer. */
    readonly hiddenUnits: number;
    /** Dropout rate after the hidden layer; 0 leaves dropout out. */
    readonly dropoutRate: number;
    /** Adam's learning rate. */
    readonly learningRate: number;
    /** Examples per step of the `train` loop. */
    readonly batchSize: number;
    /** Seed of the dropout masks. */
    readonly seed: number;
}

/** Keras' Adam: β1, β2 and ε (Keras uses 1e-7, TF1's AdamOptimizer 1e-8). */
export const KERAS_ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;
