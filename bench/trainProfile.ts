/**
 * Where an epoch of the graph trainer goes, for `npm run bench:train`: Linux `perf` samples the
 * trainer's process during whole-epoch session runs (and nothing else: the run turns sampling on
 * and off through perf's control FIFO), and each sample counts for the function it landed in:
 * - compute: the kernels' arithmetic (oneDNN's JIT-compiled products, ApplyAdam, the dropout
 *   generator, Eigen's element-wise ops and reductions);
 * - data movement: gathering each batch from the resident data and casting its pixels, copies,
 *   and JavaScript's side of the run (the permutation fed, the per-step metrics fetched);
 * - executor: TensorFlow's runtime around the kernels (scheduling nodes, the loop's frames,
 *   allocating and freeing tensors, locks) and the operating system's kernel.
 * Beside it: the upload of the data (once per training), the test-set evaluation, and the
 * compute limit, the epoch's matrix-product arithmetic at the machine's measured peak.
 *
 * `profileEpochs()` runs the parent's part; this file run with `--child CTL ACK` is the profiled
 * trainer, and with `--peak` measures the peak in a process with a thread per core.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, NUM_CLASSES } from "../model/savedmodel/contract";
import { initBackend } from "../model/training/backend";
import { loadMnist } from "../model/training/data";
import { TrainingSession, epochOrders } from "../model/training/graphTrainer";
import { DEFAULT_MODEL_OPTIONS, createModel } from "../model/training/model";
import { DEFAULT_TRAIN_OPTIONS } from "../model/training/train";
import { runCommand } from "../verdict";

/** Epochs sampled, after one that warms the session up (its first run also optimizes the graph). */
const PROFILED_EPOCHS = 3;
/** Samples per second and CPU. */
const SAMPLE_HZ = 4000;

/** Which part of an epoch a sampled function belongs to, by its library and name. */
export type Part = "compute" | "dataMovement" | "executor";

/** Functions that move data rather than compute: gathers, casts (Eigen's conversions), copies. */
const DATA_MOVEMENT = /HandleCopies|Gather|TensorConversionOp|memmove|memcpy|Bitcast/;
/** TensorFlow's runtime around the kernels, the allocator and locks, by function name. */
const EXECUTOR =
    /Executor|Propagator|FrameState|OpKernelContext|OpKernel::|ThreadPool|tensorflow::Tensor::|TensorBuffer|Allocat|Mutex|absl::|malloc|free|_int_|memalign|consolidate|unlink_chunk|RefCount|NodeItem|DeviceBase|Rendezvous/;

/**
 * The part a sample in `symbol` of library `dso` counts for. A template's arguments say what
 * an Eigen evaluator evaluates (a conversion is a cast), but only the function's own name says
 * whether it is the runtime: ApplyAdam's functor takes `Eigen::ThreadPoolDevice` too.
 */
export function partOf(dso: string, symbol: string): Part {
    if (DATA_MOVEMENT.test(symbol)) return "dataMovement";
    if (dso === "node" || dso.startsWith("libnode") || dso.startsWith("libuv")) {
        return "dataMovement";
    }
    // Eigen's TensorExecutor runs a kernel's arithmetic, not the graph.
    const name = symbol.split(/[<(]/)[0];
    if (
        (EXECUTOR.test(name) && !name.startsWith("Eigen::")) ||
        dso.startsWith("libtensorflow_framework")
    )
        return "executor";
    if (dso === "[kernel.kallsyms]" || dso.startsWith("libc.") || dso.startsWith("libstdc++")) {
        return "executor";
    }
    return "compute";
}

/** What the profiled trainer measured itself. */
interface ChildTimings {
    readonly uploadSeconds: number;
    readonly epochSeconds: number;
    readonly evaluateSeconds: number;
    readonly stepsPerEpoch: number;
}

/** One epoch's breakdown, with what surrounds it. */
export interface EpochProfile {
    /** Wall seconds of one whole-epoch session run (mean over the sampled epochs). */
    readonly epochSeconds: number;
    /** CPU seconds the samples account for, per epoch, by part. */
    readonly cpuSeconds: Record<Part | "total", number>;
    /** Wall time the process was not on a CPU (the machine ran other work), per epoch. */
    readonly offCpuSeconds: number;
    /** Share of the samples by part. */
    readonly shares: Record<Part, number>;
    /** The functions with the most samples, with their part and share. */
    readonly top: { symbol: string; part: Part; share: number }[];
    readonly samples: number;
    /** The data's upload into the session, once per training. */
    readonly uploadSeconds: number;
    /** One evaluation of the resident test set. */
    readonly evaluateSeconds: number;
    /** Multiply-adds of the epoch's matrix products, counted twice (floating-point operations). */
    readonly matmulGflopPerEpoch: number;
    /** A 1024x1024 product's rate with a thread per core, best of several. */
    readonly peakGflops: number;
    /** The epoch's matrix products at that rate: the floor arithmetic puts under an epoch. */
    readonly computeLimitSeconds: number;
    /** What the epoch's wall time achieves against that floor. */
    readonly achievedGflops: number;
}

/** The matrix-product operations of one epoch: forward, the two weight gradients, one back. */
function matmulFlops(examples: number, hidden: number): number {
    const perExample =
        2 * (IMAGE_PIXELS * hidden) + // forward, hidden layer
        2 * (hidden * NUM_CLASSES) * 3 + // forward logits, their kernel's gradient, back to hidden
        2 * (IMAGE_PIXELS * hidden); // the hidden kernel's gradient
    return perExample * examples;
}

/** The trainer under perf: times the upload, the epochs and an evaluation; prints them as JSON. */
async function child(ctl: string, ack: string): Promise<void> {
    await initBackend("tensorflow", () => undefined);
    const mnist = loadMnist();
    const { batchSize, seed } = DEFAULT_TRAIN_OPTIONS;
    const model = createModel({ seed });
    const session = await TrainingSession.open({ ...DEFAULT_MODEL_OPTIONS, batchSize, seed });
    const ctlFd = fs.openSync(ctl, "w");
    const ackFd = fs.openSync(ack, "r");
    const perf = (command: string) => {
        fs.writeSync(ctlFd, `${command}\n`);
        fs.readSync(ackFd, Buffer.alloc(16));
    };
    const seconds = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e9;
    try {
        session.init(model.getWeights());
        let started = process.hrtime.bigint();
        session.load(mnist.train, mnist.test);
        const uploadSeconds = seconds(started);
        const steps = Math.floor(mnist.train.count / batchSize);
        const orders = epochOrders(mnist.train.count, PROFILED_EPOCHS + 1, seed, true);
        const epoch = (k: number) =>
            session.train(orders[k].subarray(0, steps * batchSize), batchSize, k * steps);
        epoch(0);
        perf("enable");
        started = process.hrtime.bigint();
        for (let k = 1; k <= PROFILED_EPOCHS; k++) epoch(k);
        const epochSeconds = seconds(started) / PROFILED_EPOCHS;
        perf("disable");
        started = process.hrtime.bigint();
        session.evaluate();
        const evaluateSeconds = seconds(started);
        const timings: ChildTimings = {
            uploadSeconds,
            epochSeconds,
            evaluateSeconds,
            stepsPerEpoch: steps,
        };
        console.log(JSON.stringify(timings));
    } finally {
        session.dispose();
        fs.closeSync(ctlFd);
        fs.closeSync(ackFd);
    }
}

/** GFLOP/s of a 1024x1024 product on this process's threads, best of ten after a warm-up. */
async function peak(): Promise<void> {
    await initBackend("tensorflow", () => undefined);
    const n = 1024;
    const a = tf.randomUniform([n, n]);
    const b = tf.randomUniform([n, n]);
    let best = Infinity;
    for (let k = 0; k < 12; k++) {
        const started = process.hrtime.bigint();
        const c = tf.matMul(a, b);
        c.dataSync();
        const took = Number(process.hrtime.bigint() - started) / 1e9;
        if (k >= 2) best = Math.min(best, took);
        c.dispose();
    }
    console.log(JSON.stringify({ gflops: (2 * n ** 3) / best / 1e9 }));
}

/** The last line of a child's output as JSON. */
export function lastJson<T>(out: string): T {
    return JSON.parse(out.trim().split("\n").pop() as string) as T;
}

/**
 * Profiles whole-epoch session runs of the graph trainer under perf, in a process of its own;
 * the reason instead when perf cannot run here.
 */
export function profileEpochs(): EpochProfile | { skipped: string } {
    const probe = spawnSync("perf", ["--version"], { encoding: "utf8" });
    if (probe.status !== 0) return { skipped: "perf (Debian's linux-perf) is not installed" };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-profile-"));
    try {
        const [ctl, ack, data] = ["ctl", "ack", "perf.data"].map((f) => path.join(dir, f));
        execFileSync("mkfifo", [ctl, ack]);
        const record = spawnSync(
            "perf",
            [
                "record",
                "-F",
                String(SAMPLE_HZ),
                "-o",
                data,
                "--control",
                `fifo:${ctl},${ack}`,
                "-D",
                "-1",
                "--",
                process.execPath,
                ...process.execArgv,
                __filename,
                "--child",
                ctl,
                ack,
            ],
            { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
        );
        if (record.status !== 0) {
            return {
                skipped: `perf record failed (exit ${record.status}): ${record.stderr.trim()}`,
            };
        }
        const timings = lastJson<ChildTimings>(record.stdout);
        const report = execFileSync(
            "perf",
            ["report", "-i", data, "--stdio", "-n", "--sort", "dso,sym", "-t", "\t"],
            { encoding: "utf8", maxBuffer: 64 * 2 ** 20, stdio: ["ignore", "pipe", "ignore"] },
        );
        const rows = report
            .split("\n")
            .filter((l) => l !== "" && !l.startsWith("#"))
            .map((l) => l.split("\t"))
            .filter((f) => f.length >= 4)
            .map(([, samples, dso, symbol]) => ({
                samples: Number(samples),
                dso: dso.trim(),
                symbol: symbol.replace(/^\[[.k]\]\s*/, "").trim(),
            }));
        // JIT-compiled code has no symbols, one row per address: oneDNN's matrix products.
        const jit = rows.filter((r) => r.dso.startsWith("[JIT]"));
        const grouped = [
            ...rows.filter((r) => !r.dso.startsWith("[JIT]")),
            {
                samples: jit.reduce((n, r) => n + r.samples, 0),
                dso: "[JIT]",
                symbol: "JIT-compiled code (oneDNN's matrix-product kernels)",
            },
        ];
        const samples = grouped.reduce((n, r) => n + r.samples, 0);
        const bySamples = { compute: 0, dataMovement: 0, executor: 0 };
        for (const r of grouped) bySamples[partOf(r.dso, r.symbol)] += r.samples;
        const cpuPerEpoch = samples / SAMPLE_HZ / PROFILED_EPOCHS;
        const share = (n: number) => n / samples;
        const peakGflops = lastJson<{ gflops: number }>(
            execFileSync(process.execPath, [...process.execArgv, __filename, "--peak"], {
                encoding: "utf8",
                // The machine's peak: every core, and oneDNN's products (faster at this size).
                env: {
                    ...process.env,
                    TF_NUM_INTRAOP_THREADS: String(os.cpus().length),
                    TF_ENABLE_ONEDNN_OPTS: "1",
                },
                stdio: ["ignore", "pipe", "ignore"],
            }),
        ).gflops;
        const flops = matmulFlops(
            timings.stepsPerEpoch * DEFAULT_TRAIN_OPTIONS.batchSize,
            DEFAULT_MODEL_OPTIONS.hiddenUnits,
        );
        return {
            epochSeconds: timings.epochSeconds,
            cpuSeconds: {
                compute: share(bySamples.compute) * cpuPerEpoch,
                dataMovement: share(bySamples.dataMovement) * cpuPerEpoch,
                executor: share(bySamples.executor) * cpuPerEpoch,
                total: cpuPerEpoch,
            },
            offCpuSeconds: Math.max(0, timings.epochSeconds - cpuPerEpoch),
            shares: {
                compute: share(bySamples.compute),
                dataMovement: share(bySamples.dataMovement),
                executor: share(bySamples.executor),
            },
            top: grouped
                .sort((a, b) => b.samples - a.samples)
                .slice(0, 12)
                .map((r) => ({
                    symbol: `${r.dso}: ${r.symbol.slice(0, 100)}`,
                    part: partOf(r.dso, r.symbol),
                    share: share(r.samples),
                })),
            samples,
            uploadSeconds: timings.uploadSeconds,
            evaluateSeconds: timings.evaluateSeconds,
            matmulGflopPerEpoch: flops / 1e9,
            peakGflops,
            computeLimitSeconds: flops / 1e9 / peakGflops,
            achievedGflops: flops / 1e9 / timings.epochSeconds,
        };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

if (require.main === module) {
    const at = process.argv.indexOf("--child");
    runCommand(() => (at >= 0 ? child(process.argv[at + 1], process.argv[at + 2]) : peak()));
}
