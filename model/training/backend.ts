/**
 * Chooses the TensorFlow.js backend: native libtensorflow through `@tensorflow/tfjs-node` when it
 * loads, otherwise WebAssembly, otherwise the pure-JavaScript CPU kernels.
 *
 * tfjs-node is an optional dependency because its install script downloads libtensorflow, which
 * fails behind a firewall; every other module imports `@tensorflow/tfjs` so the same code runs on
 * whichever backend this picks.
 */
import * as tf from "@tensorflow/tfjs";
import { errorMessage, parseChoice } from "../../errors";
import { loadTfjsNode } from "../tfjsNode";

/** Backends we know how to start, in order of preference. */
export const BACKENDS = ["tensorflow", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Environment variable that forces one backend (`tensorflow`, `wasm` or `cpu`). */
export const BACKEND_ENV = "TFK8S_BACKEND";

/** What runs, and why it was chosen. */
export interface BackendInfo {
    readonly name: BackendName;
    readonly reason: string;
}

let active: BackendInfo | undefined;

/** Parses a backend name from config or the environment; `auto` and empty mean "choose". */
export function parseBackendName(
    value: string | undefined,
    field: string,
): BackendName | undefined {
    return parseChoice(value, field, BACKENDS);
}

async function start(name: BackendName): Promise<void> {
    if (name === "tensorflow") {
        loadTfjsNode();
    } else if (name === "wasm") {
        require("@tensorflow/tfjs-backend-wasm");
    }
    if (!(await tf.setBackend(name))) {
        throw new Error(`tf.setBackend("${name}") returned false`);
    }
    await tf.ready();
    if (name === "wasm") {
        speedUpWasmTransposedMatMul();
    }
}

let wasmMatMulPatched = false;

/**
 * Makes the WASM backend's matrix product transpose its first operand explicitly. Its kernel
 * handles `transposeA` on a slow path, and every Dense layer's weight gradient (`x^T · dy`) takes
 * it: on MNIST an explicit transpose followed by the fast path took an epoch from 11.5 s to
 * 6.9 s here (npm run bench:train). The result is the same product (float rounding aside).
 * Idempotent.
 */
export function speedUpWasmTransposedMatMul(): void {
    if (wasmMatMulPatched) return;
    const original = tf.getKernel("BatchMatMul", "wasm");
    const transpose = tf.getKernel("Transpose", "wasm");
    if (original === undefined || transpose === undefined) {
        throw new Error("the WASM backend has no BatchMatMul or Transpose kernel to patch");
    }
    tf.unregisterKernel("BatchMatMul", "wasm");
    tf.registerKernel({
        ...original,
        kernelFunc: (args) => {
            const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
            if (!attrs.transposeA) return original.kernelFunc(args);
            const a = args.inputs.a as tf.TensorInfo;
            const rank = a.shape.length;
            const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
            const backend = args.backend as { disposeData(id: object): void };
            const aT = transpose.kernelFunc({
                inputs: { x: a },
                backend: args.backend,
                attrs: { perm },
            }) as tf.TensorInfo;
            try {
                return original.kernelFunc({
                    ...args,
                    inputs: { a: aT, b: args.inputs.b },
                    attrs: { ...attrs, transposeA: false },
                });
            } finally {
                backend.disposeData(aT.dataId);
            }
        },
    });
    wasmMatMulPatched = true;
}

function firstLine(err: unknown): string {
    return errorMessage(err).split("\n")[0];
}

/**
 * Starts a backend once per process and logs one line saying which and why. A forced backend
 * (argument, else `TFK8S_BACKEND`) that cannot start is an error rather than a silent fallback.
 */
export async function initBackend(
    forced?: BackendName,
    log: (line: string) => void = console.log,
): Promise<BackendInfo> {
    const wanted = forced ?? parseBackendName(process.env[BACKEND_ENV], BACKEND_ENV);
    if (active !== undefined && (wanted === undefined || wanted === active.name)) {
        return active;
    }
    if (wanted !== undefined) {
        try {
            await start(wanted);
        } catch (err) {
            throw new Error(
                `backend "${wanted}" was requested but cannot start: ${firstLine(err)}`,
            );
        }
        active = { name: wanted, reason: "requested" };
    } else {
        const skipped: string[] = [];
        for (const name of BACKENDS) {
            try {
                await start(name);
                active = {
                    name,
                    reason: skipped.length === 0 ? "first choice" : skipped.join("; "),
                };
                break;
            } catch (err) {
                skipped.push(`${name} unavailable (${firstLine(err)})`);
            }
        }
        if (active === undefined) {
            throw new Error(`no TensorFlow.js backend could start: ${skipped.join("; ")}`);
        }
    }
    log(`tfjs backend: ${active.name} (${active.reason})`);
    return active;
}
