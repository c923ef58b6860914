/**
 * `npm run bench:client`: REST against gRPC, side by side in one run, on the loopback, against the
 * stand-in server (real TensorFlow running our exported SavedModel, both APIs on one loaded model,
 * `test/doubles/tfServingDouble.ts`), at batch 1 and batch 100:
 *
 * - request and response bytes of one predict call, as they go on the wire (HTTP body; protobuf
 *   message, without gRPC's 5-byte frame and HTTP/2 headers);
 * - client CPU time per image to encode the request and decode the response, with the clients'
 *   own functions (`predictBody` + `parsePredictions`; `encodeImagesRequest` + `decodeRows`) on a
 *   body the server really sent, repeated and measured with `process.cpuUsage`;
 * - p50 and p99 latency of whole `predict` calls through `TfServingClient` and
 *   `TfServingGrpcClient`, the two transports taking turns call by call.
 *
 * Writes `bench/results/client.json`. Needs `.venv` with TensorFlow and tensorflow-serving-api
 * (`scripts/tf-venv.sh`). Latency is the server's work too, in Python; CPU time is the client's.
 */
import * as grpc from "@grpc/grpc-js";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkImages, imagesFromPixels } from "../client/inputs";
import { decodeRows, encodeImagesRequest, TfServingGrpcClient } from "../client/grpcClient";
import { parsePredictions } from "../client/responses";
import { predictBody, TfServingClient } from "../client/tfServingClient";
import { SIGNATURE_KEYS, TENSOR_KEYS } from "../model/savedmodel/contract";
import { exportSavedModel } from "../model/savedmodel/export";
import { createModel } from "../model/training/model";
import { loadMnist } from "../model/training/data";
import { TfServingDouble } from "../test/doubles/tfServingDouble";
import { findTensorFlowPython } from "../test/support/venv";
import { runCommand } from "../verdict";

/** Batch sizes compared: one image, and what smoke and `predict --mnist 100` send. */
const BATCHES = [1, 100] as const;
/** Timed calls per transport and batch size. */
const CALLS: Record<(typeof BATCHES)[number], number> = { 1: 300, 100: 60 };
/** Encode and decode repetitions for the CPU figures. */
const REPEATS: Record<(typeof BATCHES)[number], number> = { 1: 2000, 100: 100 };

interface TransportFigures {
    readonly requestBytes: number;
    readonly responseBytes: number;
    readonly encodeCpuMicrosPerImage: number;
    readonly decodeCpuMicrosPerImage: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly calls: number;
}

/** Client CPU microseconds of `work`, per run, over `repeats` runs. */
function cpuMicros(repeats: number, work: () => unknown): number {
    work(); // warm
    const start = process.cpuUsage();
    for (let i = 0; i < repeats; i++) work();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / repeats;
}

function percentile(sorted: readonly number[], p: number): number {
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** One real gRPC Predict's response bytes, through a raw call with no decoding. */
function rawGrpcPredict(target: string, request: Uint8Array): Promise<Buffer> {
    const channel = new grpc.Client(target, grpc.credentials.createInsecure());
    return new Promise<Buffer>((resolve, reject) => {
        channel.makeUnaryRequest(
            "/tensorflow.serving.PredictionService/Predict",
            (b: Uint8Array) => Buffer.from(b),
            (b: Buffer) => b,
            request,
            (err, value) => (err === null && value !== undefined ? resolve(value) : reject(err)),
        );
    }).finally(() => channel.close());
}

async function main(): Promise<number> {
    const found = findTensorFlowPython();
    if (found.python === undefined) {
        console.error(
            `bench:client needs Python TensorFlow: ${found.reason}; run scripts/tf-venv.sh`,
        );
        return 1;
    }
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-bench-client-"));
    // Timing does not depend on the weights' values; the export is the stack's, warmup included.
    const exported = await exportSavedModel(createModel({ seed: 1 }), work, {
        name: "mymodel",
        version: 1,
        warmupBatchSizes: [1, 100],
    });
    const double = await TfServingDouble.start({
        python: found.python,
        modelBasePath: path.dirname(exported.dir),
        grpc: true,
    });
    const rest = new TfServingClient({ url: double.url, timeoutMs: 60_000 });
    const grpcClient = new TfServingGrpcClient({
        target: double.grpcTarget as string,
        timeoutMs: 60_000,
    });
    try {
        await rest.waitUntilAvailable({ timeoutMs: 180_000, intervalMs: 250 });
        const mnist = loadMnist();
        const results: Record<string, Record<string, TransportFigures>> = {};
        for (const batch of BATCHES) {
            const images = imagesFromPixels(mnist.test.images.subarray(0, batch * 784), batch);
            const instances = checkImages(images, batch);
            // One call each first: the gRPC client learns the input key, both connections open.
            await rest.predict(images);
            await grpcClient.predict(images);
            const latencies = { rest: [] as number[], grpc: [] as number[] };
            for (let i = 0; i < CALLS[batch]; i++) {
                for (const [name, client] of [
                    ["rest", rest],
                    ["grpc", grpcClient],
                ] as const) {
                    const started = process.hrtime.bigint();
                    await client.predict(images);
                    latencies[name].push(Number(process.hrtime.bigint() - started) / 1e6);
                }
            }
            const body = predictBody(instances);
            const restResponse = await (
                await fetch(`${rest.modelUrl}:predict`, { method: "POST", body })
            ).text();
            const spec = { name: "mymodel", signatureName: SIGNATURE_KEYS.default };
            const request = encodeImagesRequest(spec, TENSOR_KEYS.images, instances);
            const grpcResponse = await rawGrpcPredict(double.grpcTarget as string, request);
            const fail = (d: string) => new Error(d);
            const repeats = REPEATS[batch];
            const figures = (
                name: "rest" | "grpc",
                requestBytes: number,
                responseBytes: number,
                encode: () => unknown,
                decode: () => unknown,
            ): TransportFigures => {
                const sorted = [...latencies[name]].sort((a, b) => a - b);
                return {
                    requestBytes,
                    responseBytes,
                    encodeCpuMicrosPerImage: cpuMicros(repeats, encode) / batch,
                    decodeCpuMicrosPerImage: cpuMicros(repeats, decode) / batch,
                    p50Ms: percentile(sorted, 50),
                    p99Ms: percentile(sorted, 99),
                    calls: sorted.length,
                };
            };
            results[`batch${batch}`] = {
                rest: figures(
                    "rest",
                    Buffer.byteLength(body),
                    Buffer.byteLength(restResponse),
                    () => predictBody(checkImages(images, batch)),
                    () => parsePredictions(JSON.parse(restResponse), batch, fail),
                ),
                grpc: figures(
                    "grpc",
                    request.length,
                    grpcResponse.length,
                    () => encodeImagesRequest(spec, TENSOR_KEYS.images, checkImages(images, batch)),
                    () => decodeRows(grpcResponse, batch),
                ),
            };
            console.log(`bench:client batch ${batch}: ${JSON.stringify(results[`batch${batch}`])}`);
        }
        const report = {
            what: "REST (JSON, fetch) against gRPC (@grpc/grpc-js, our protobuf layer) on the loopback, the same stand-in server (TensorFlow on our SavedModel) answering both",
            server: "the stand-in in serving-standin/, its REST and gRPC APIs",
            machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}`,
            ...results,
        };
        const out = path.join(__dirname, "results", "client.json");
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
        console.log(`bench:client: wrote ${out}`);
        return 0;
    } finally {
        rest.close();
        grpcClient.close();
        await double.stop();
        fs.rmSync(work, { recursive: true, force: true });
    }
}

runCommand(main, (err) => {
    console.error(err);
    return 1;
});
