import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { saveLayersModel } from "../model/training/artifact";
import { createModel } from "../model/training/model";
import {
    SAVED_MODEL_CHECKS,
    SavedModelCheck,
    SavedModelValidationError,
    packageModelSource,
    resolveModelSource,
    validateSavedModelDir,
} from "../model/sources/fromDisk";
import {
    DataType,
    SavedModel,
    SignatureDef,
    TensorInfo,
    encodeSavedModel,
} from "../model/savedmodel/proto/tensorflow";
import { readFields } from "../model/savedmodel/proto/wire";
import { ProtoWriter } from "../model/savedmodel/proto/writer";
import { serializeSavedModel } from "../model/savedmodel/export";
import { PREDICT_METHOD, SAVED_MODEL_FILE } from "../model/savedmodel/contract";

let scratch: string;

function dir(...parts: string[]): string {
    const d = path.join(scratch, ...parts);
    fs.mkdirSync(d, { recursive: true });
    return d;
}

function info(dim: number[], dtype: number = DataType.DT_FLOAT): TensorInfo {
    return { name: "x:0", dtype, shape: { dim } };
}

function signature(
    inputs: Record<string, TensorInfo>,
    outputs: Record<string, TensorInfo> = { y: info([-1, 10]) },
): SignatureDef {
    return { inputs, outputs, methodName: PREDICT_METHOD };
}

const GOOD_SIGNATURES = { serving_default: signature({ images: info([-1, 28, 28]) }) };

/** A SavedModel with one meta graph and no graph nodes: validation reads only the metadata. */
function savedModel(
    tags: string[] = ["serve"],
    signatureDef: Record<string, SignatureDef> = GOOD_SIGNATURES,
): SavedModel {
    return { schemaVersion: 1, metaGraphs: [{ metaInfoDef: { tags }, signatureDef }] };
}

/**
 * Appends raw fields to the first meta graph: how we fake a SaverDef (3) or AssetFileDef (6),
 * which our writer never produces but Keras exports carry.
 */
function withMetaGraphFields(model: SavedModel, extra: (w: ProtoWriter) => void): Uint8Array {
    const fields = readFields(encodeSavedModel(model));
    const meta = fields.find((f) => f.field === 2)!.value as Uint8Array;
    const tail = new ProtoWriter();
    extra(tail);
    const w = new ProtoWriter().varint(1, 1);
    w.bytes(2, Buffer.concat([meta, tail.finish()]));
    return w.finish();
}

function writeSavedModel(d: string, bytes: Uint8Array): string {
    fs.writeFileSync(path.join(d, SAVED_MODEL_FILE), bytes);
    return d;
}

/** The checks some case below made fail, as the thrown errors named them. */
const failedChecks = new Set<SavedModelCheck>();

function failsCheck(d: string, check: SavedModelCheck, message: RegExp): void {
    assert.throws(
        () => validateSavedModelDir(d),
        (err: unknown) => {
            assert.ok(err instanceof SavedModelValidationError, String(err));
            assert.strictEqual(err.check, check);
            assert.match(err.message, new RegExp(`failed check "${check}"`));
            assert.match(err.message, message);
            failedChecks.add(err.check);
            return true;
        },
    );
}

describe("model sources", () => {
    before(() => {
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-modelsource-"));
    });

    after(() => {
        fs.rmSync(scratch, { recursive: true, force: true });
    });

    describe("resolveModelSource", () => {
        it("tells a SavedModel directory from a tfjs model.json file or directory", () => {
            const sm = writeSavedModel(dir("resolve", "sm"), encodeSavedModel(savedModel()));
            const tfjs = dir("resolve", "tfjs");
            fs.writeFileSync(path.join(tfjs, "model.json"), "{}");
            assert.deepStrictEqual(resolveModelSource(sm), { kind: "savedmodel", path: sm });
            assert.deepStrictEqual(resolveModelSource(tfjs), {
                kind: "tfjs",
                path: path.join(tfjs, "model.json"),
            });
            const file = path.join(tfjs, "model.json");
            assert.deepStrictEqual(resolveModelSource(file), { kind: "tfjs", path: file });
        });

        it("names what is missing", () => {
            assert.throws(
                () => resolveModelSource(path.join(scratch, "nope")),
                /nope does not exist/,
            );
            const empty = dir("resolve", "empty");
            assert.throws(
                () => resolveModelSource(empty),
                /holds neither saved_model.pb \(a SavedModel\), model.json \(a tfjs model\) nor numbered version directories \(a TF Serving model base directory\); it is empty\. Expected/,
            );
            fs.mkdirSync(path.join(empty, "export"));
            fs.writeFileSync(path.join(empty, "notes.txt"), "");
            assert.throws(() => resolveModelSource(empty), /; it holds export\/, notes\.txt\./);
            const other = path.join(empty, "weights.bin");
            fs.writeFileSync(other, "");
            assert.throws(() => resolveModelSource(other), /is a file but not a tfjs model.json/);
        });
        it("takes the version to serve from a TF Serving model base directory", () => {
            const base = dir("resolve", "base");
            for (const v of ["1", "3"]) {
                writeSavedModel(dir("resolve", "base", v), encodeSavedModel(savedModel()));
            }
            // Not versions TF Serving would load: they must not count as such either.
            fs.mkdirSync(path.join(base, "01"));
            fs.mkdirSync(path.join(base, "tmp"));
            assert.deepStrictEqual(resolveModelSource(base, 3), {
                kind: "savedmodel",
                path: path.join(base, "3"),
            });
            assert.deepStrictEqual(resolveModelSource(base, 1).path, path.join(base, "1"));
            assert.throws(
                () => resolveModelSource(base, 2),
                /model source .*base is a model base directory holding versions 1, 3, but the version to serve is 2; expected modelVersion \(canaryVersion for the canary\) to name one of them/,
            );
            assert.throws(
                () => resolveModelSource(base),
                /holding versions 1, 3; expected the version to take, or a path to one version directory/,
            );
            fs.mkdirSync(path.join(base, "4"));
            fs.writeFileSync(path.join(base, "4", "saved_model.pbtxt"), "");
            assert.throws(
                () => resolveModelSource(base, 4),
                /its version 4 holds no saved_model.pb \(it holds saved_model.pbtxt\)/,
            );
        });
    });

    describe("validateSavedModelDir", () => {
        it("accepts a valid SavedModel and documents its signatures", () => {
            const d = writeSavedModel(dir("valid"), encodeSavedModel(savedModel()));
            const v = validateSavedModelDir(d);
            assert.strictEqual(v.inputKey, "images");
            assert.strictEqual(v.hasVariables, false);
            assert.deepStrictEqual(v.signatures, {
                tags: ["serve"],
                signatures: {
                    serving_default: {
                        method: PREDICT_METHOD,
                        inputs: {
                            images: { tensor: "x:0", dtype: "DT_FLOAT", shape: [-1, 28, 28] },
                        },
                        outputs: { y: { tensor: "x:0", dtype: "DT_FLOAT", shape: [-1, 10] } },
                    },
                },
            });
        });

        it("accepts unknown image sizes and an unknown rank, as TensorFlow's shape rules do", () => {
            for (const [name, input] of [
                ["unknown-dims", info([-1, -1, -1])],
                [
                    "unknown-rank",
                    {
                        name: "x:0",
                        dtype: DataType.DT_FLOAT,
                        shape: { dim: [], unknownRank: true },
                    },
                ],
            ] as const) {
                const d = writeSavedModel(
                    dir("compatible", name),
                    encodeSavedModel(
                        savedModel(["serve"], {
                            serving_default: signature({ images: input }),
                        }),
                    ),
                );
                assert.strictEqual(validateSavedModelDir(d).inputKey, "images");
            }
        });

        it("fails `directory` for a missing path", () => {
            failsCheck(
                path.join(scratch, "missing"),
                "directory",
                /does not exist or is not a directory/,
            );
        });

        it("fails `saved_model.pb` without the file, and says when only the text format is there", () => {
            failsCheck(dir("no-pb"), "saved_model.pb", /has no saved_model.pb/);
            const text = dir("pbtxt");
            fs.writeFileSync(path.join(text, "saved_model.pbtxt"), "saved_model_schema_version: 1");
            failsCheck(
                text,
                "saved_model.pb",
                /saved_model.pbtxt only; the text format is not supported/,
            );
        });

        it("fails `parse` for bytes that are not a SavedModel", () => {
            failsCheck(
                writeSavedModel(dir("garbage"), Buffer.from("not a protobuf\n")),
                "parse",
                /not a valid SavedModel protobuf/,
            );
            failsCheck(
                writeSavedModel(dir("no-meta"), new ProtoWriter().varint(1, 1).finish()),
                "parse",
                /holds no meta graph/,
            );
        });

        it("fails `tag-set` when no meta graph is tagged exactly serve", () => {
            const d = writeSavedModel(dir("tags"), encodeSavedModel(savedModel(["serve", "gpu"])));
            failsCheck(
                d,
                "tag-set",
                /no meta graph has the tag set \{serve\}; found \{serve, gpu\}/,
            );
        });

        it("fails `serving_default` when the signature is missing, listing those present", () => {
            const d = writeSavedModel(
                dir("no-default"),
                encodeSavedModel(
                    savedModel(["serve"], {
                        predict: signature({ images: info([-1, 28, 28]) }),
                    }),
                ),
            );
            failsCheck(d, "serving_default", /has no serving_default signature; it has predict/);
        });

        it("fails `input-count` for two inputs", () => {
            const d = writeSavedModel(
                dir("two-inputs"),
                encodeSavedModel(
                    savedModel(["serve"], {
                        serving_default: signature({
                            a: info([-1, 28, 28]),
                            b: info([-1, 28, 28]),
                        }),
                    }),
                ),
            );
            failsCheck(d, "input-count", /has 2 inputs \(a, b\); expected exactly one/);
        });

        it("fails `input-dtype` for integer pixels", () => {
            const d = writeSavedModel(
                dir("int-input"),
                encodeSavedModel(
                    savedModel(["serve"], {
                        serving_default: signature({
                            images: info([-1, 28, 28], DataType.DT_UINT8),
                        }),
                    }),
                ),
            );
            failsCheck(d, "input-dtype", /input "images" is DT_UINT8; expected DT_FLOAT/);
        });

        it("fails `input-shape` for a flat input, a fixed batch and another image size", () => {
            const cases: [string, number[], RegExp][] = [
                ["flat", [-1, 784], /shape \(-1, 784\) has rank 2; expected \(n, 28, 28\)/],
                ["fixed-batch", [1, 28, 28], /fixes the batch size at 1; expected -1/],
                ["size", [-1, 32, 32], /shape \(-1, 32, 32\) is not compatible with \(n, 28, 28\)/],
            ];
            for (const [name, dim, message] of cases) {
                const d = writeSavedModel(
                    dir("shape", name),
                    encodeSavedModel(
                        savedModel(["serve"], {
                            serving_default: signature({ images: info(dim) }),
                        }),
                    ),
                );
                failsCheck(d, "input-shape", message);
            }
        });

        it("fails `outputs` for a signature without outputs", () => {
            const d = writeSavedModel(
                dir("no-outputs"),
                encodeSavedModel(
                    savedModel(["serve"], {
                        serving_default: signature({ images: info([-1, 28, 28]) }, {}),
                    }),
                ),
            );
            failsCheck(d, "outputs", /has no outputs/);
        });

        it("fails `variables` when the graph restores a checkpoint that is not there", () => {
            const saver = new ProtoWriter().string(1, "save/Const:0");
            const d = writeSavedModel(
                dir("vars"),
                withMetaGraphFields(savedModel(), (w) => w.message(3, saver)),
            );
            failsCheck(d, "variables", /variables\/variables.index is missing/);
            fs.mkdirSync(path.join(d, "variables"));
            fs.writeFileSync(path.join(d, "variables", "variables.index"), "");
            assert.strictEqual(validateSavedModelDir(d).hasVariables, true);
        });

        it("fails `assets` when listed asset files have no assets/ directory", () => {
            const asset = new ProtoWriter().string(2, "vocab.txt");
            const d = writeSavedModel(
                dir("assets"),
                withMetaGraphFields(savedModel(), (w) => w.message(6, asset)),
            );
            failsCheck(d, "assets", /lists 1 asset files but assets\/ is missing/);
        });

        // Last in this block, because mocha runs a block's tests in order: a check added to
        // SAVED_MODEL_CHECKS without a case above that makes it fail shows up here.
        it("has a case above failing each of SAVED_MODEL_CHECKS", () => {
            const untested = SAVED_MODEL_CHECKS.filter((check) => !failedChecks.has(check));
            assert.deepStrictEqual(untested, [], `no case above fails ${untested.join(", ")}`);
        });
    });

    describe("packageModelSource", () => {
        it("packages the served version of a model base directory, and only that one", async () => {
            const src = dir("pkg-versions");
            writeSavedModel(dir("pkg-versions", "1"), encodeSavedModel(savedModel()));
            writeSavedModel(dir("pkg-versions", "2"), encodeSavedModel(savedModel()));
            fs.writeFileSync(path.join(src, "2", "fingerprint.pb"), "version two");
            const base = dir("pkg-versions-out");
            const packaged = await packageModelSource(src, base, { name: "mnist", version: 2 });
            assert.strictEqual(packaged.source.path, path.join(src, "2"));
            assert.deepStrictEqual(fs.readdirSync(path.join(base, "mnist")), ["2"]);
            assert.strictEqual(
                fs.readFileSync(path.join(base, "mnist", "2", "fingerprint.pb"), "utf8"),
                "version two",
            );
            await assert.rejects(
                packageModelSource(src, base, { name: "mnist", version: 5 }),
                /holding versions 1, 2, but the version to serve is 5/,
            );
        });

        it("copies a SavedModel unchanged, variables/ and assets/ included", async () => {
            const saver = new ProtoWriter().string(1, "save/Const:0");
            const src = writeSavedModel(
                dir("pkg-src"),
                withMetaGraphFields(savedModel(), (w) => w.message(3, saver)),
            );
            fs.mkdirSync(path.join(src, "variables"));
            fs.writeFileSync(path.join(src, "variables", "variables.index"), "index");
            fs.writeFileSync(path.join(src, "variables", "variables.data-00000-of-00001"), "data");
            fs.mkdirSync(path.join(src, "assets"));
            fs.writeFileSync(path.join(src, "assets", "labels.txt"), "0\n1\n");
            fs.writeFileSync(path.join(src, "fingerprint.pb"), "fp");
            const base = dir("pkg-base");
            const packaged = await packageModelSource(src, base, { name: "mnist", version: 4 });
            assert.strictEqual(packaged.dir, path.join(base, "mnist", "4"));
            assert.strictEqual(packaged.source.kind, "savedmodel");
            assert.deepStrictEqual(Object.keys(packaged.signatures.signatures), [
                "serving_default",
            ]);
            for (const file of [
                SAVED_MODEL_FILE,
                "fingerprint.pb",
                "variables/variables.index",
                "variables/variables.data-00000-of-00001",
                "assets/labels.txt",
            ]) {
                assert.ok(
                    fs
                        .readFileSync(path.join(src, file))
                        .equals(fs.readFileSync(path.join(packaged.dir, file))),
                    file,
                );
            }
            // The same version again is refused, unless asked to replace it.
            await assert.rejects(
                packageModelSource(src, base, { name: "mnist", version: 4 }),
                /mnist\/4 already exists; pass `overwrite: true`/,
            );
            const again = await packageModelSource(src, base, {
                name: "mnist",
                version: 4,
                overwrite: true,
            });
            assert.strictEqual(again.dir, packaged.dir);
        });

        it("writes no version directory when validation fails", async () => {
            const src = writeSavedModel(dir("pkg-bad"), encodeSavedModel(savedModel(["train"])));
            const base = dir("pkg-bad-base");
            await assert.rejects(
                packageModelSource(src, base, { name: "m", version: 1 }),
                /failed check "tag-set"/,
            );
            assert.deepStrictEqual(fs.readdirSync(base), []);
        });

        it("converts a tfjs model.json to the same bytes a direct export gives", async () => {
            const model = createModel({ seed: 11 });
            const tfjsDir = dir("pkg-tfjs");
            await saveLayersModel(model, tfjsDir);
            fs.writeFileSync(path.join(tfjsDir, "metadata.json"), "{}");
            const base = dir("pkg-tfjs-base");
            const packaged = await packageModelSource(tfjsDir, base, { name: "mnist", version: 1 });
            assert.deepStrictEqual(packaged.source, {
                kind: "tfjs",
                path: path.join(tfjsDir, "model.json"),
            });
            const written = fs.readFileSync(path.join(packaged.dir, SAVED_MODEL_FILE));
            assert.ok(Buffer.from(serializeSavedModel(model)).equals(written));
            assert.deepStrictEqual(fs.readdirSync(packaged.dir), [SAVED_MODEL_FILE]);
            model.dispose();
        });
    });
});
