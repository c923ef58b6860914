/**
 * Public API of the TF Serving client: `TfServingClient` for status, metadata and predictions,
 * its typed errors, and the image conversion the `predict` command uses.
 */
export * from "./errors";
export * from "./tfServing";
export { argMax, softmax } from "./digits";
export { MNIST_GEOMETRY, decodeImage, readMnistImage, toMnist } from "./image";
export type { MnistImage } from "./image";
