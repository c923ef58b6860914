/**
 * Builds TensorFlow GraphDefs node by node, for the serving export and for any other graph we
 * write. It knows nodes, attrs and constants, nothing of tfjs layers.
 */
import * as os from "os";
import { AttrValue, DataType, GraphDef, NodeDef, TensorInfo } from "./proto/tensorflow";

/**
 * GraphDef `versions.producer`: the GraphDef version of TensorFlow 2.21, whose op definitions
 * the graph follows. `min_consumer` stays 0 so older runtimes (TF Serving images lag TensorFlow)
 * accept it; only attrs that have existed since TF 1.x are written for the same reason.
 */
export const GRAPH_PRODUCER = 2474;

/** Small constructors so node definitions read like TensorFlow's text format. */
export const attr = {
    type: (value: number): AttrValue => ({ kind: "type", value }),
    shape: (dim: readonly number[]): AttrValue => ({ kind: "shape", value: { dim } }),
    bool: (value: boolean): AttrValue => ({ kind: "b", value }),
    str: (value: string): AttrValue => ({ kind: "s", value: Buffer.from(value, "utf8") }),
    ints: (i: readonly number[]): AttrValue => ({ kind: "list", value: { i } }),
    int: (value: number): AttrValue => ({ kind: "i", value }),
    float: (value: number): AttrValue => ({ kind: "f", value }),
};
/** The `T: DT_FLOAT` attr most float ops take. */
export const T_FLOAT = attr.type(DataType.DT_FLOAT);
/** The DT_INT32 type attr (shapes, axes, labels). */
export const T_INT32 = attr.type(DataType.DT_INT32);

/** A tensor flowing through the graph under construction: its name and static shape. */
export interface GraphTensor {
    readonly name: string;
    /** -1 for the batch dimension. */
    readonly shape: readonly number[];
}

/** The number of elements of a tensor with dimensions `dims`. */
export function product(dims: readonly number[]): number {
    return dims.reduce((a, b) => a * b, 1);
}

/** Whether two static shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
    return a.length === b.length && a.every((d, k) => d === b[k]);
}

/** A float tensor's signature entry: `<node>:0`, DT_FLOAT and its static shape. */
export function tensorInfo(t: GraphTensor): TensorInfo {
    return { name: `${t.name}:0`, dtype: DataType.DT_FLOAT, shape: { dim: t.shape } };
}

/** Tensor content bytes, which TensorFlow reads as little-endian whatever the host. */
function littleEndian(values: Float32Array | Int32Array): Uint8Array {
    const bytes = new Uint8Array(values.byteLength);
    if (os.endianness() === "LE") {
        bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
        return bytes;
    }
    const view = new DataView(bytes.buffer);
    values.forEach((v, k) =>
        values instanceof Float32Array
            ? view.setFloat32(4 * k, v, true)
            : view.setInt32(4 * k, v, true),
    );
    return bytes;
}

/**
 * Accumulates nodes, refusing duplicate names (TensorFlow would reject the graph later). A
 * weight is one `Const` however many subgraphs use it.
 */
export class GraphBuilder {
    readonly nodes: NodeDef[] = [];
    private readonly names = new Set<string>();

    /** Adds a node and returns its name, the tensor `name:0` to later inputs. */
    add(
        name: string,
        op: string,
        input: readonly string[],
        attrs: Record<string, AttrValue>,
    ): string {
        if (this.names.has(name)) {
            throw new Error(`graph node name "${name}" is used twice; layer names must be unique`);
        }
        this.names.add(name);
        this.nodes.push({ name, op, input, attr: attrs });
        return name;
    }

    /** A float32 `Const`. */
    constFloat(name: string, shape: readonly number[], values: Float32Array): string {
        return this.constant(name, DataType.DT_FLOAT, shape, littleEndian(values));
    }

    /** An int32 `Const` (shapes, axes). */
    constInt32(name: string, shape: readonly number[], values: readonly number[]): string {
        return this.constant(name, DataType.DT_INT32, shape, littleEndian(Int32Array.from(values)));
    }

    /** A weight Const, created by the first subgraph that asks for it and shared afterwards. */
    weight(name: string, shape: readonly number[], values: Float32Array): string {
        return this.names.has(name) ? name : this.constFloat(name, shape, values);
    }

    /** The graph so far, versioned for TensorFlow 2.21 (see `GRAPH_PRODUCER`). */
    graphDef(): GraphDef {
        return { node: this.nodes, versions: { producer: GRAPH_PRODUCER, minConsumer: 0 } };
    }

    private constant(
        name: string,
        dtype: number,
        shape: readonly number[],
        content: Uint8Array,
    ): string {
        return this.add(name, "Const", [], {
            dtype: attr.type(dtype),
            value: { kind: "tensor", value: { dtype, shape: { dim: shape }, content } },
        });
    }
}
