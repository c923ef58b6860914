/**
 * A SavedModel's signatures as `metadata.json` documents them: keys, tensor names, dtype names
 * and shapes, from the protobuf `SignatureDef`s, for our export and for loaded SavedModels alike.
 */
import { SIGNATURE_KEYS, ServingSignatures, TensorSpec } from "./contract";
import { SignatureDef, TensorInfo, dataTypeName } from "./proto/tensorflow";

/**
 * Documents a signature map as `metadata.json` carries it. `notes` describe tensors by key and
 * `signatureNotes` signatures by key; both are optional (a loaded SavedModel has none).
 */
export function describeSignatures(
    tags: readonly string[],
    signatureDef: Readonly<Record<string, SignatureDef>>,
    notes: Readonly<Record<string, string>> = {},
    signatureNotes: Readonly<Record<string, string>> = {},
): ServingSignatures {
    const tensors = (infos: Readonly<Record<string, TensorInfo>>): Record<string, TensorSpec> =>
        Object.fromEntries(
            Object.keys(infos)
                .sort()
                .map((key) => {
                    const t = infos[key];
                    const shape =
                        t.shape === undefined || t.shape.unknownRank === true
                            ? null
                            : [...t.shape.dim];
                    const description = notes[key];
                    return [
                        key,
                        {
                            tensor: t.name,
                            dtype: dataTypeName(t.dtype),
                            shape,
                            ...(description !== undefined ? { description } : {}),
                        },
                    ];
                }),
        );
    // serving_default first: it is the one most readers look for; the rest alphabetically.
    const rank = (key: string): string => (key === SIGNATURE_KEYS.default ? "" : key);
    const keys = Object.keys(signatureDef).sort((a, b) => (rank(a) < rank(b) ? -1 : 1));
    return {
        tags: [...tags],
        signatures: Object.fromEntries(
            keys.map((key) => {
                const s = signatureDef[key];
                const description = signatureNotes[key];
                return [
                    key,
                    {
                        method: s.methodName,
                        inputs: tensors(s.inputs),
                        outputs: tensors(s.outputs),
                        ...(description !== undefined ? { description } : {}),
                    },
                ];
            }),
        ),
    };
}
