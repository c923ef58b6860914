/**
 * The subset of TensorFlow's protobuf schema a SavedModel needs, as TypeScript types with an
 * encoder and a decoder for each.
 *
 * Field numbers were taken from TensorFlow's public definitions (`saved_model.proto`,
 * `meta_graph.proto`, `graph.proto`, `node_def.proto`, `attr_value.proto`, `tensor.proto`,
 * `tensor_shape.proto`, `types.proto`, `versions.proto`) and checked against the descriptors
 * of the TensorFlow 2.21 wheel. Messages and fields we never write are skipped when decoding, so
 * a SavedModel from Keras (function library, object graph, saver) still parses.
 *
 * Encoding is deterministic: fields go out in field-number order and map entries sorted by key,
 * which is also what TensorFlow's own deterministic serialization does.
 */
import {
    WireType,
    bytesFields,
    lastBytes,
    lastField,
    lastVarint,
    readFields,
    readMap,
    readRepeatedFloats,
    readRepeatedVarints,
    str,
    toInt32,
    toInt64,
} from "./wire";
import { ProtoWriter, writeMap } from "./writer";

/** `tensorflow.DataType` values we read or write (types.proto). */
export const DataType = {
    DT_INVALID: 0,
    DT_FLOAT: 1,
    DT_DOUBLE: 2,
    DT_INT32: 3,
    DT_UINT8: 4,
    DT_INT16: 5,
    DT_INT8: 6,
    DT_STRING: 7,
    DT_INT64: 9,
    DT_BOOL: 10,
    DT_HALF: 19,
    DT_RESOURCE: 20,
    DT_VARIANT: 21,
} as const;

const DATA_TYPE_NAMES: ReadonlyMap<number, string> = new Map(
    Object.entries(DataType).map(([name, value]) => [value, name]),
);

/** `DT_FLOAT` for 1 and so on; unknown numbers come back as `DT_<n>`. */
export function dataTypeName(dtype: number): string {
    return DATA_TYPE_NAMES.get(dtype) ?? `DT_${dtype}`;
}

/** TensorShapeProto: `dim` sizes, -1 for an unknown size; `unknownRank` when even the rank is. */
export interface TensorShape {
    readonly dim: readonly number[];
    readonly unknownRank?: boolean;
}

/**
 * TensorProto. We write values only as `tensor_content` (raw little-endian bytes); decoding also
 * fills `floatVal`/`intVal`/`int64Val` when a writer (TensorFlow itself, for small constants)
 * used the typed repeated fields instead.
 */
export interface TensorValue {
    readonly dtype: number;
    readonly shape: TensorShape;
    readonly content?: Uint8Array;
    readonly floatVal?: readonly number[];
    readonly intVal?: readonly number[];
    readonly int64Val?: readonly number[];
}

/** AttrValue.ListValue, limited to the element kinds our ops use. */
export interface AttrList {
    readonly s?: readonly Uint8Array[];
    readonly i?: readonly number[];
    readonly f?: readonly number[];
    readonly b?: readonly boolean[];
    readonly type?: readonly number[];
    readonly shape?: readonly TensorShape[];
}

/**
 * AttrValue, a oneof. `other` stands for the members we never write (`func`, `placeholder`,
 * list of tensors); their field number is kept so a decoded graph still says what was there.
 */
export type AttrValue =
    | { readonly kind: "s"; readonly value: Uint8Array }
    | { readonly kind: "i"; readonly value: number }
    | { readonly kind: "f"; readonly value: number }
    | { readonly kind: "b"; readonly value: boolean }
    | { readonly kind: "type"; readonly value: number }
    | { readonly kind: "shape"; readonly value: TensorShape }
    | { readonly kind: "tensor"; readonly value: TensorValue }
    | { readonly kind: "list"; readonly value: AttrList }
    | { readonly kind: "other"; readonly field: number }
    | { readonly kind: "unset" };

/** NodeDef. `attr` is a map; its encoding is sorted by key whatever the object's key order. */
export interface NodeDef {
    readonly name: string;
    readonly op: string;
    readonly input: readonly string[];
    readonly device?: string;
    readonly attr: Readonly<Record<string, AttrValue>>;
}

/** VersionDef of a GraphDef. */
export interface VersionDef {
    readonly producer: number;
    readonly minConsumer: number;
    readonly badConsumers?: readonly number[];
}

/** GraphDef without the function library, which a frozen graph does not need. */
export interface GraphDef {
    readonly node: readonly NodeDef[];
    readonly versions?: VersionDef;
    /** Decode only: the graph carries a function library (Keras exports do). */
    readonly hasLibrary?: boolean;
}

/** TensorInfo for a dense tensor: its graph name (`node:output`), dtype and shape. */
export interface TensorInfo {
    readonly name: string;
    readonly dtype: number;
    readonly shape?: TensorShape;
}

/** SignatureDef: named inputs and outputs plus the method TF Serving dispatches on. */
export interface SignatureDef {
    readonly inputs: Readonly<Record<string, TensorInfo>>;
    readonly outputs: Readonly<Record<string, TensorInfo>>;
    readonly methodName: string;
}

/** MetaGraphDef.MetaInfoDef, the fields we use. */
export interface MetaInfoDef {
    readonly tags: readonly string[];
}

/** MetaGraphDef, the fields we use. */
export interface MetaGraphDef {
    readonly metaInfoDef: MetaInfoDef;
    readonly graphDef?: GraphDef;
    readonly signatureDef: Readonly<Record<string, SignatureDef>>;
    /** Decode only: a SaverDef is present, so the graph restores variables from a checkpoint. */
    readonly hasSaverDef?: boolean;
    /** Decode only: the number of AssetFileDef entries. */
    readonly assetFileCount?: number;
}

/** SavedModel: the file `saved_model.pb`. */
export interface SavedModel {
    readonly schemaVersion: number;
    readonly metaGraphs: readonly MetaGraphDef[];
}

// Field numbers, named after the .proto fields.
const F = {
    savedModel: { schemaVersion: 1, metaGraphs: 2 },
    metaGraph: {
        metaInfoDef: 1,
        graphDef: 2,
        saverDef: 3,
        signatureDef: 5,
        assetFileDef: 6,
    },
    metaInfo: { tags: 4 },
    graph: { node: 1, library: 2, versions: 4 },
    versions: { producer: 1, minConsumer: 2, badConsumers: 3 },
    node: { name: 1, op: 2, input: 3, device: 4, attr: 5 },
    attr: { list: 1, s: 2, i: 3, f: 4, b: 5, type: 6, shape: 7, tensor: 8 },
    list: { s: 2, i: 3, f: 4, b: 5, type: 6, shape: 7 },
    tensor: { dtype: 1, shape: 2, content: 4, floatVal: 5, intVal: 7, int64Val: 10 },
    shape: { dim: 2, unknownRank: 3 },
    dim: { size: 1 },
    signature: { inputs: 1, outputs: 2, methodName: 3 },
    tensorInfo: { name: 1, dtype: 2, shape: 3 },
} as const;

// ---------------------------------------------------------------------------------------------
// Encoders. Each returns a writer so a parent can embed it without copying.

function encodeShape(shape: TensorShape): ProtoWriter {
    const w = new ProtoWriter();
    for (const size of shape.dim) {
        if (!Number.isInteger(size) || size < -1) {
            throw new Error(`TensorShapeProto dim ${size}: expected an integer >= -1`);
        }
        const d = new ProtoWriter();
        if (size !== 0) {
            d.int64(F.dim.size, size);
        }
        w.message(F.shape.dim, d);
    }
    if (shape.unknownRank === true) {
        if (shape.dim.length > 0) {
            throw new Error("TensorShapeProto: unknownRank with dims; expected one or the other");
        }
        w.bool(F.shape.unknownRank, true);
    }
    return w;
}

/** A TensorProto (values as `tensor_content` only), as a writer a parent message can embed. */
export function encodeTensor(t: TensorValue): ProtoWriter {
    const w = new ProtoWriter();
    w.varint(F.tensor.dtype, t.dtype);
    w.message(F.tensor.shape, encodeShape(t.shape));
    if (t.content !== undefined && t.content.length > 0) {
        w.bytes(F.tensor.content, t.content);
    }
    if (t.floatVal !== undefined || t.intVal !== undefined || t.int64Val !== undefined) {
        throw new Error(
            "TensorProto: only tensor_content is written; typed value lists are decode-only",
        );
    }
    return w;
}

function encodeList(list: AttrList): ProtoWriter {
    const w = new ProtoWriter();
    for (const s of list.s ?? []) {
        w.bytes(F.list.s, s);
    }
    w.packedInt64(F.list.i, list.i ?? []);
    const f = list.f ?? [];
    if (f.length > 0) {
        // A packed float run is one length-delimited field holding the raw little-endian floats.
        const floats = new Uint8Array(4 * f.length);
        const view = new DataView(floats.buffer);
        f.forEach((v, k) => view.setFloat32(4 * k, v, true));
        w.bytes(F.list.f, floats);
    }
    w.packedInt64(
        F.list.b,
        (list.b ?? []).map((b) => (b ? 1 : 0)),
    );
    w.packedInt64(F.list.type, list.type ?? []);
    for (const s of list.shape ?? []) {
        w.message(F.list.shape, encodeShape(s));
    }
    return w;
}

function encodeAttr(a: AttrValue): ProtoWriter {
    const w = new ProtoWriter();
    // Oneof members are written even when they hold the default, or the oneof would read unset.
    switch (a.kind) {
        case "list":
            return w.message(F.attr.list, encodeList(a.value));
        case "s":
            return w.bytes(F.attr.s, a.value);
        case "i":
            return w.int64(F.attr.i, a.value);
        case "f":
            return w.float(F.attr.f, a.value);
        case "b":
            return w.bool(F.attr.b, a.value);
        case "type":
            return w.varint(F.attr.type, a.value);
        case "shape":
            return w.message(F.attr.shape, encodeShape(a.value));
        case "tensor":
            return w.message(F.attr.tensor, encodeTensor(a.value));
        case "other":
        case "unset":
            throw new Error(`AttrValue of kind "${a.kind}" cannot be encoded`);
    }
}

function encodeNode(n: NodeDef): ProtoWriter {
    const w = new ProtoWriter();
    w.string(F.node.name, n.name);
    w.string(F.node.op, n.op);
    for (const input of n.input) {
        w.string(F.node.input, input);
    }
    if (n.device !== undefined && n.device !== "") {
        w.string(F.node.device, n.device);
    }
    writeMap(w, F.node.attr, n.attr, encodeAttr);
    return w;
}

function encodeGraph(g: GraphDef): ProtoWriter {
    const w = new ProtoWriter();
    for (const n of g.node) {
        w.message(F.graph.node, encodeNode(n));
    }
    if (g.versions !== undefined) {
        const v = new ProtoWriter();
        if (g.versions.producer !== 0) {
            v.int64(F.versions.producer, g.versions.producer);
        }
        if (g.versions.minConsumer !== 0) {
            v.int64(F.versions.minConsumer, g.versions.minConsumer);
        }
        v.packedInt64(F.versions.badConsumers, g.versions.badConsumers ?? []);
        w.message(F.graph.versions, v);
    }
    return w;
}

function encodeTensorInfo(t: TensorInfo): ProtoWriter {
    const w = new ProtoWriter();
    w.string(F.tensorInfo.name, t.name);
    w.varint(F.tensorInfo.dtype, t.dtype);
    if (t.shape !== undefined) {
        w.message(F.tensorInfo.shape, encodeShape(t.shape));
    }
    return w;
}

/** A SignatureDef, as a writer a parent message can embed. */
export function encodeSignature(s: SignatureDef): ProtoWriter {
    const w = new ProtoWriter();
    writeMap(w, F.signature.inputs, s.inputs, encodeTensorInfo);
    writeMap(w, F.signature.outputs, s.outputs, encodeTensorInfo);
    w.string(F.signature.methodName, s.methodName);
    return w;
}

function encodeMetaGraph(m: MetaGraphDef): ProtoWriter {
    const w = new ProtoWriter();
    const info = new ProtoWriter();
    for (const tag of m.metaInfoDef.tags) {
        info.string(F.metaInfo.tags, tag);
    }
    w.message(F.metaGraph.metaInfoDef, info);
    if (m.graphDef !== undefined) {
        w.message(F.metaGraph.graphDef, encodeGraph(m.graphDef));
    }
    writeMap(w, F.metaGraph.signatureDef, m.signatureDef, encodeSignature);
    return w;
}

/** Serializes a SavedModel to the bytes of `saved_model.pb`. */
export function encodeSavedModel(model: SavedModel): Uint8Array {
    const w = new ProtoWriter();
    w.int64(F.savedModel.schemaVersion, model.schemaVersion);
    for (const m of model.metaGraphs) {
        w.message(F.savedModel.metaGraphs, encodeMetaGraph(m));
    }
    return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoders. Each takes the bytes of one message and a path used in error messages.

/** Decodes a TensorShapeProto. */
export function decodeShape(bytes: Uint8Array, what = "TensorShapeProto"): TensorShape {
    const fields = readFields(bytes, what);
    const dim = bytesFields(fields, F.shape.dim, what).map((d) => {
        const size = lastVarint(readFields(d, what), F.dim.size, what);
        return size === undefined ? 0 : toInt64(size, `${what}.dim.size`);
    });
    const unknownRank = (lastVarint(fields, F.shape.unknownRank, what) ?? 0n) !== 0n;
    return unknownRank ? { dim, unknownRank } : { dim };
}

/** Decodes a TensorProto. */
export function decodeTensor(bytes: Uint8Array, what = "TensorProto"): TensorValue {
    const fields = readFields(bytes, what);
    const shapeBytes = lastBytes(fields, F.tensor.shape, what);
    const floatVal = readRepeatedFloats(fields, F.tensor.floatVal, what);
    const intVal = readRepeatedVarints(fields, F.tensor.intVal, what).map(toInt32);
    const int64Val = readRepeatedVarints(fields, F.tensor.int64Val, what).map((v) =>
        toInt64(v, `${what}.int64_val`),
    );
    return {
        dtype: Number(lastVarint(fields, F.tensor.dtype, what) ?? 0n),
        shape:
            shapeBytes === undefined
                ? { dim: [] }
                : decodeShape(shapeBytes, `${what}.tensor_shape`),
        ...(lastBytes(fields, F.tensor.content, what) !== undefined
            ? { content: lastBytes(fields, F.tensor.content, what) }
            : {}),
        ...(floatVal.length > 0 ? { floatVal } : {}),
        ...(intVal.length > 0 ? { intVal } : {}),
        ...(int64Val.length > 0 ? { int64Val } : {}),
    };
}

function decodeList(bytes: Uint8Array, what: string): AttrList {
    const fields = readFields(bytes, what);
    return {
        s: bytesFields(fields, F.list.s, what),
        i: readRepeatedVarints(fields, F.list.i, what).map((v) => toInt64(v, `${what}.i`)),
        f: readRepeatedFloats(fields, F.list.f, what),
        b: readRepeatedVarints(fields, F.list.b, what).map((v) => v !== 0n),
        type: readRepeatedVarints(fields, F.list.type, what).map(toInt32),
        shape: bytesFields(fields, F.list.shape, what).map((s) => decodeShape(s, `${what}.shape`)),
    };
}

/** Decodes an AttrValue; the last oneof member on the wire wins, as in protobuf. */
export function decodeAttr(bytes: Uint8Array, what = "AttrValue"): AttrValue {
    const fields = readFields(bytes, what);
    if (fields.length === 0) {
        return { kind: "unset" };
    }
    const f = fields[fields.length - 1];
    const expect = (wireType: number): void => {
        if (f.wireType !== wireType) {
            throw new Error(
                `${what}: field ${f.field} has wire type ${f.wireType}; expected ${wireType}`,
            );
        }
    };
    switch (f.field) {
        case F.attr.list:
            expect(WireType.LENGTH_DELIMITED);
            return { kind: "list", value: decodeList(f.value as Uint8Array, `${what}.list`) };
        case F.attr.s:
            expect(WireType.LENGTH_DELIMITED);
            return { kind: "s", value: f.value as Uint8Array };
        case F.attr.i:
            expect(WireType.VARINT);
            return { kind: "i", value: toInt64(f.value as bigint, `${what}.i`) };
        case F.attr.f: {
            expect(WireType.FIXED32);
            const b = f.value as Uint8Array;
            return {
                kind: "f",
                value: new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true),
            };
        }
        case F.attr.b:
            expect(WireType.VARINT);
            return { kind: "b", value: (f.value as bigint) !== 0n };
        case F.attr.type:
            expect(WireType.VARINT);
            return { kind: "type", value: toInt32(f.value as bigint) };
        case F.attr.shape:
            expect(WireType.LENGTH_DELIMITED);
            return { kind: "shape", value: decodeShape(f.value as Uint8Array, `${what}.shape`) };
        case F.attr.tensor:
            expect(WireType.LENGTH_DELIMITED);
            return { kind: "tensor", value: decodeTensor(f.value as Uint8Array, `${what}.tensor`) };
        default:
            return { kind: "other", field: f.field };
    }
}

/** Decodes a NodeDef. */
export function decodeNode(bytes: Uint8Array, what = "NodeDef"): NodeDef {
    const fields = readFields(bytes, what);
    const name = str(lastBytes(fields, F.node.name, what) ?? new Uint8Array(0));
    const inner = `${what}(${name})`;
    const device = lastBytes(fields, F.node.device, inner);
    return {
        name,
        op: str(lastBytes(fields, F.node.op, inner) ?? new Uint8Array(0)),
        input: bytesFields(fields, F.node.input, inner).map(str),
        ...(device !== undefined ? { device: str(device) } : {}),
        attr: readMap(fields, F.node.attr, `${inner}.attr`, decodeAttr),
    };
}

/** Decodes a GraphDef (nodes and versions; the function library is only noted). */
export function decodeGraph(bytes: Uint8Array, what = "GraphDef"): GraphDef {
    const fields = readFields(bytes, what);
    const node = bytesFields(fields, F.graph.node, what).map((n, k) =>
        decodeNode(n, `${what}.node[${k}]`),
    );
    const versionBytes = lastBytes(fields, F.graph.versions, what);
    let versions: VersionDef | undefined;
    if (versionBytes !== undefined) {
        const vf = readFields(versionBytes, `${what}.versions`);
        versions = {
            producer: toInt32(lastVarint(vf, F.versions.producer, what) ?? 0n),
            minConsumer: toInt32(lastVarint(vf, F.versions.minConsumer, what) ?? 0n),
            badConsumers: readRepeatedVarints(vf, F.versions.badConsumers, what).map(toInt32),
        };
    }
    return {
        node,
        ...(versions !== undefined ? { versions } : {}),
        hasLibrary: lastField(fields, F.graph.library) !== undefined,
    };
}

/** Decodes a TensorInfo. Sparse and composite tensors come back without a name. */
export function decodeTensorInfo(bytes: Uint8Array, what = "TensorInfo"): TensorInfo {
    const fields = readFields(bytes, what);
    const shape = lastBytes(fields, F.tensorInfo.shape, what);
    return {
        name: str(lastBytes(fields, F.tensorInfo.name, what) ?? new Uint8Array(0)),
        dtype: toInt32(lastVarint(fields, F.tensorInfo.dtype, what) ?? 0n),
        ...(shape !== undefined ? { shape: decodeShape(shape, `${what}.tensor_shape`) } : {}),
    };
}

/** Decodes a SignatureDef. */
export function decodeSignature(bytes: Uint8Array, what = "SignatureDef"): SignatureDef {
    const fields = readFields(bytes, what);
    return {
        inputs: readMap(fields, F.signature.inputs, `${what}.inputs`, decodeTensorInfo),
        outputs: readMap(fields, F.signature.outputs, `${what}.outputs`, decodeTensorInfo),
        methodName: str(lastBytes(fields, F.signature.methodName, what) ?? new Uint8Array(0)),
    };
}

/** What to decode of a meta graph. */
export interface DecodeOptions {
    /** Decode the GraphDef, the bulk of the bytes. Defaults to true; false skips it. */
    readonly graph?: boolean;
}

/** Decodes one meta graph of a SavedModel (see `DecodeOptions`). */
function decodeMetaGraph(bytes: Uint8Array, what: string, options: DecodeOptions): MetaGraphDef {
    const fields = readFields(bytes, what);
    const infoBytes = lastBytes(fields, F.metaGraph.metaInfoDef, what);
    const info = infoBytes === undefined ? [] : readFields(infoBytes, `${what}.meta_info_def`);
    const graphBytes = lastBytes(fields, F.metaGraph.graphDef, what);
    return {
        metaInfoDef: {
            tags: bytesFields(info, F.metaInfo.tags, `${what}.meta_info_def`).map(str),
        },
        ...(graphBytes !== undefined && options.graph !== false
            ? { graphDef: decodeGraph(graphBytes, `${what}.graph_def`) }
            : {}),
        signatureDef: readMap(
            fields,
            F.metaGraph.signatureDef,
            `${what}.signature_def`,
            decodeSignature,
        ),
        hasSaverDef: lastField(fields, F.metaGraph.saverDef) !== undefined,
        assetFileCount: bytesFields(fields, F.metaGraph.assetFileDef, what).length,
    };
}

/** Decodes the bytes of a `saved_model.pb`. */
export function decodeSavedModel(
    bytes: Uint8Array,
    what = "SavedModel",
    options: DecodeOptions = {},
): SavedModel {
    const fields = readFields(bytes, what);
    return {
        schemaVersion: toInt64(lastVarint(fields, F.savedModel.schemaVersion, what) ?? 0n, what),
        metaGraphs: bytesFields(fields, F.savedModel.metaGraphs, what).map((m, k) =>
            decodeMetaGraph(m, `${what}.meta_graphs[${k}]`, options),
        ),
    };
}

/** An `s` attr as text, or undefined when the attr is missing or of another kind. */
export function attrText(a: AttrValue | undefined): string | undefined {
    return a?.kind === "s" ? str(a.value) : undefined;
}

/**
 * A decoded tensor's 4-byte values: from `tensor_content` (little-endian) when present, else from
 * the typed `*_val` field; `dtype` must match.
 */
function tensorValues<T extends Float32Array | Int32Array>(
    t: TensorValue,
    dtype: number,
    array: { new (n: number): T; from(values: readonly number[]): T },
    read: (view: DataView, offset: number) => number,
    typed: readonly number[] | undefined,
): T {
    if (t.dtype !== dtype) {
        throw new Error(
            `tensor dtype is ${dataTypeName(t.dtype)}; expected ${dataTypeName(dtype)}`,
        );
    }
    if (t.content === undefined) {
        return array.from(typed ?? []);
    }
    const view = new DataView(t.content.buffer, t.content.byteOffset, t.content.byteLength);
    const out = new array(t.content.byteLength >> 2);
    for (let k = 0; k < out.length; k++) {
        out[k] = read(view, 4 * k);
    }
    return out;
}

/** A tensor's values as float32, from `tensor_content` or `float_val` (decoded tensors). */
export function tensorFloats(t: TensorValue): Float32Array {
    const read = (view: DataView, at: number) => view.getFloat32(at, true);
    return tensorValues(t, DataType.DT_FLOAT, Float32Array, read, t.floatVal);
}

/** A tensor's values as int32, from `tensor_content` or `int_val` (decoded tensors). */
export function tensorInt32s(t: TensorValue): Int32Array {
    const read = (view: DataView, at: number) => view.getInt32(at, true);
    return tensorValues(t, DataType.DT_INT32, Int32Array, read, t.intVal);
}
