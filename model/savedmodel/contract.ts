/**
 * The serving contract of an exported model: what a client sends, what it gets back, and the
 * names TF Serving addresses it by. It imports neither tfjs nor the protobuf layer, so the client
 * and the components share it with the writer instead of restating it.
 */

/** Images are square, this many pixels on a side (MNIST). */
export const IMAGE_SIZE = 28;
/** Pixels per image. */
export const IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE;
/** Classes the model scores: the digits 0-9. */
export const NUM_CLASSES = 10;
/** Pixels arrive as intensities 0-255; the model sees them times this factor, in [0, 1]. */
export const PIXEL_SCALE = 1 / 255;

/** The tag TF Serving loads by default. */
export const SERVE_TAG = "serve";
/** The method name of a Predict signature, which TF Serving's REST `:predict` dispatches to. */
export const PREDICT_METHOD = "tensorflow/serving/predict";
/** File name of the serialized SavedModel inside a version directory. */
export const SAVED_MODEL_FILE = "saved_model.pb";

/** Signature keys of an exported model. */
export const SIGNATURE_KEYS = {
    /** Pixels 0-255 in, logits out; what a request without `signature_name` gets. */
    default: "serving_default",
    /** Pixels 0-255 in, softmax probabilities out. */
    probabilities: "probabilities",
    /** The tfjs/Keras model's own contract: inputs scaled to 0-1 in, model output out. */
    keras: "keras",
} as const;

/** Input and output keys of the pixel signatures. */
export const TENSOR_KEYS = {
    images: "images",
    logits: "logits",
    probabilities: "probabilities",
} as const;

/**
 * Model names: they become a directory in the image and a segment of TF Serving's REST paths
 * (`/v1/models/<name>:predict`), so `/` and `:` are out, and a leading `.` would hide the
 * directory. 63 characters keep the derived Kubernetes names within a DNS label.
 */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** What `MODEL_NAME_PATTERN` accepts, in words for error messages. */
export const MODEL_NAME_EXPECTED =
    "letters, digits, '_', '-' or '.', starting with a letter or digit, at most 63 characters";

/** One input or output of a signature: the tensor behind it, its dtype and shape. */
export interface TensorSpec {
    /** Graph tensor the signature maps this key to (`node:output`). */
    readonly tensor: string;
    /** TensorFlow dtype name, e.g. `DT_FLOAT`. */
    readonly dtype: string;
    /** Dimensions, -1 where any size is accepted; null when even the rank is unknown. */
    readonly shape: readonly number[] | null;
    /** What the values mean, when we know. */
    readonly description?: string;
}

/** One signature: its method and its tensors by key. */
export interface SignatureSpec {
    /** Method name; `tensorflow/serving/predict` for every signature we write. */
    readonly method: string;
    /** Inputs by key, the names a TF Serving request uses. */
    readonly inputs: Readonly<Record<string, TensorSpec>>;
    /** Outputs by key. */
    readonly outputs: Readonly<Record<string, TensorSpec>>;
    /** What the signature is for, when we know. */
    readonly description?: string;
}

/** The serving contract of a SavedModel: the tag set and its signatures by key. */
export interface ServingSignatures {
    /** Tag set of the meta graph TF Serving loads. */
    readonly tags: readonly string[];
    /** Signatures by key; `serving_default` is what a request without a signature gets. */
    readonly signatures: Readonly<Record<string, SignatureSpec>>;
}
