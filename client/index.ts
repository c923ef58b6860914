/**
 * Public API of the TF Serving client: `TfServingClient` for status, metadata and predictions,
 * its options and results, its typed errors, the checks and parsers it is made of, and the image
 * conversion the `predict` command uses. The serving contract's names and types are passed on
 * from `model/savedmodel/contract.ts`, their one home, so callers need not reach into `model/`.
 */
export * from "./servingErrors";
export * from "./types";
export { TfServingClient } from "./tfServingClient";
export { checkImages, imagesFromPixels, normalizeBaseUrl } from "./inputs";
export {
    parseErrorBody,
    parseModelMetadata,
    parseModelStatus,
    parsePredictions,
    unescapeC,
} from "./responses";
export { argMax, softmax } from "./scores";
export { MNIST_GEOMETRY, decodeImage, readMnistImage, toMnist } from "./image";
export type { MnistImage } from "./image";
export {
    IMAGE_PIXELS,
    IMAGE_SIZE,
    MODEL_NAME_PATTERN,
    NUM_CLASSES,
    SIGNATURE_KEYS,
    TENSOR_KEYS,
} from "../model/savedmodel/contract";
export type { SignatureSpec, TensorSpec } from "../model/savedmodel/contract";
