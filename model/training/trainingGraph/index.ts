/**
 * The MNIST training run as one TensorFlow graph, written with the serving export's
 * `GraphBuilder`: the data resident in variables, each Adam step (forward pass, sparse softmax
 * cross-entropy, the hand-derived gradients, Keras' Adam) gathering its batch in the graph, a
 * whole epoch of steps in one `While` loop, and the test-set evaluation, for the classifier
 * `createModel` builds (Flatten > Dense(relu) > Dropout > Dense).
 *
 * It is saved as a SavedModel whose signatures share one session's variables:
 * - `load`: the training and test images (bytes, packed four to an int32) and labels in, once;
 * - `init`: the initial kernels and biases in (the tfjs model's, so both trainers start alike),
 *   Adam's slots and step powers reset;
 * - `train`: the batches of an epoch in, as rows of example indices (`order` `(steps, batch)`),
 *   and the number of the first step; that many Adam steps in one loop; each step's mean loss
 *   and correct count out (`stats` `(steps, 2)`);
 * - `remainder`: one step on the last, partial batch of an epoch (`indices`, `step`);
 * - `evaluate`: the mean loss and the correct count on the resident test set;
 * - `weights`: the variables out;
 * - `gradients`: one fed batch's loss and gradients, with no update (for tests).
 *
 * The parts: `options.ts` (what callers name), `builder.ts` (variables, constants, op shapes),
 * `stateSignatures.ts` (load, init, weights), `adamStep.ts` (one step), `trainSignatures.ts`
 * (train, remainder), `evaluation.ts` (evaluate, gradients).
 */
import * as contract from "../../savedmodel/contract";
import { SavedModel, SignatureDef } from "../../savedmodel/proto/tensorflow";
import { TrainingGraphBuilder } from "./builder";
import { evaluateSignature, gradientsSignature } from "./evaluation";
import { TRAINING_SIGNATURES, TrainingGraphOptions } from "./options";
import { initSignature, loadSignature, weightsSignature } from "./stateSignatures";
import { remainderSignature, trainSignature } from "./trainSignatures";

export {
    KERAS_ADAM,
    PACKED_IMAGE_INTS,
    TRAINING_SIGNATURES,
    TrainingGraphOptions,
    WEIGHT_NAMES,
} from "./options";

/** The training SavedModel for `options`: one meta graph tagged `serve`. */
export function buildTrainingGraph(options: TrainingGraphOptions): SavedModel {
    const graph = new TrainingGraphBuilder(options);
    // Signatures are built in this order: the graph's nodes, and so its bytes, follow it.
    const signatureDef: Record<string, SignatureDef> = {
        [TRAINING_SIGNATURES.load]: loadSignature(graph),
        [TRAINING_SIGNATURES.init]: initSignature(graph),
        [TRAINING_SIGNATURES.train]: trainSignature(graph),
        [TRAINING_SIGNATURES.remainder]: remainderSignature(graph),
        [TRAINING_SIGNATURES.evaluate]: evaluateSignature(graph),
        [TRAINING_SIGNATURES.weights]: weightsSignature(graph),
        [TRAINING_SIGNATURES.gradients]: gradientsSignature(graph),
    };
    return {
        schemaVersion: 1,
        metaGraphs: [
            {
                metaInfoDef: { tags: [contract.SERVE_TAG] },
                graphDef: graph.g.graphDef(),
                signatureDef,
            },
        ],
    };
}
