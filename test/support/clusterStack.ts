/**
 * The dev stack on the one-node local cluster (scripts/with-real-stack.sh --cluster), shared by
 * the cluster suite and `npm run bench:rollout`: the stack as `Pulumi.dev.yaml` declares it, but
 * pushed to the local registry with its password and pulled through a pull Secret the stack
 * creates, on the stand-in serving base image (scripts/build-serving-standin.sh).
 */
import * as http from "http";
import * as path from "path";
import { imagesFromPixels } from "../../client/inputs";
import { IMAGE_PIXELS } from "../../model/savedmodel/contract";
import { loadMnist } from "../../model/training/data";
import { LoopResult, startClientLoop } from "./clientLoop";
import { RealStack, realStackEnv } from "./realStack";

export const NAMESPACE = "tfk8s-dev";
export const DEPLOYMENT = "mymodel-serving";
export const NODE_PORT_URL = "http://127.0.0.1:30111";
export const PREDICT_URL = `${NODE_PORT_URL}/v1/models/mymodel:predict`;
const ROOT = path.resolve(__dirname, "..", "..");

/** A RealStack on the local cluster and where that cluster keeps its node's state. */
export interface ClusterStack {
    readonly stack: RealStack;
    /** The node's state directory: its daemons' pid files, containerd's socket. */
    readonly nodeState: string;
}

/** The socket of the node's containerd, under its state directory. */
export function containerdSocket(nodeState: string): string {
    return path.join(nodeState, "containerd", "containerd.sock");
}

/** Creates the dev stack on the local cluster with `replicas` pods; throws outside one. */
export function initClusterDevStack(replicas: number): ClusterStack {
    const env = realStackEnv();
    const standInImage = process.env.TFK8S_STANDIN_IMAGE;
    const nodeState = process.env.TFK8S_NODE_STATE;
    if (typeof env === "string" || !standInImage || !nodeState || env.kubeconfig === undefined) {
        throw new Error(
            "the local cluster is not there (run through scripts/with-real-stack.sh --cluster): " +
                (typeof env === "string"
                    ? env
                    : "missing TFK8S_STANDIN_IMAGE, TFK8S_NODE_STATE or TFK8S_KUBECONFIG"),
        );
    }
    const stack = new RealStack(env);
    stack.initStack("dev", standInImage, {
        from: "dev",
        push: true,
        renderDir: null,
        awaitPods: true,
        // The checkout's model cache: the smoke check's local model comes from there too.
        set: {
            createImagePullSecret: "true",
            replicas: String(replicas),
            // With two pods or more, a budget that keeps one while the other is evicted.
            ...(replicas >= 2 ? { pdbMinAvailable: "1" } : {}),
            cacheDir: path.join(ROOT, ".model-cache"),
        },
    });
    return { stack, nodeState };
}

/** A predict request body of the first `images` MNIST test images. */
export function predictBody(images = 1): string {
    const pixels = loadMnist().test.images.slice(0, images * IMAGE_PIXELS);
    return JSON.stringify({ instances: imagesFromPixels(pixels, images) });
}

/**
 * `pulumi <args>` without blocking this process, so a client loop in it keeps sending (a
 * spawnSync would stall the loop for the whole update and time its request out). Throws with
 * the output when it fails.
 */
export async function pulumiWhileServing(stack: RealStack, args: string[]): Promise<string> {
    const run = stack.spawnPulumi(args);
    const status = await run.done;
    if (status !== 0) {
        throw new Error(`pulumi ${args.join(" ")} failed (exit ${status}):\n${run.output()}`);
    }
    return run.output();
}

/** Pods of the model's namespace that are Ready and not being deleted. */
export function readyPods(stack: RealStack): Array<Record<string, any>> {
    const pods = (stack.kubeGet(`/api/v1/namespaces/${NAMESPACE}/pods`)?.items ?? []) as Array<
        Record<string, any>
    >;
    return pods.filter(
        (p) =>
            p.metadata.deletionTimestamp === undefined &&
            (p.status.conditions ?? []).some(
                (c: Record<string, string>) => c.type === "Ready" && c.status === "True",
            ),
    );
}

/**
 * Waits (at most `seconds`) until 10 calls in a row through the NodePort report only `version`;
 * what the last call reported. A rollout is complete for Pulumi once the old ReplicaSet is
 * scaled down, while the kube-proxy may route to a terminating old pod for a moment longer.
 */
export async function settledVersion(version: string, seconds = 30): Promise<string> {
    let seen = "";
    let inARow = 0;
    for (let i = 0; i < seconds * 10 && inARow < 10; i++) {
        seen = await servedVersions();
        inARow = seen === version ? inARow + 1 : 0;
        if (inARow < 10) await new Promise((r) => setTimeout(r, 100));
    }
    return seen;
}

/**
 * The versions one `GET /v1/models/mymodel` through the NodePort reports, comma-separated, on a
 * new connection: a kept-alive one would stay with the pod it reached first.
 */
function servedVersions(): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = http.get(
            `${NODE_PORT_URL}/v1/models/mymodel`,
            { agent: false, headers: { Connection: "close" }, timeout: 10_000 },
            (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (d) => (text += d));
                res.on("end", () => {
                    try {
                        const body = JSON.parse(text) as {
                            model_version_status: Array<{ version: string }>;
                        };
                        resolve(body.model_version_status.map((v) => v.version).join(","));
                    } catch {
                        reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
                    }
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error("timed out")));
        req.on("error", reject);
    });
}

/** A pod's track: its `tfk8s.dev/track` label. */
function trackOf(pod: Record<string, any>): string | undefined {
    return pod.metadata.labels?.["tfk8s.dev/track"];
}

/** Ready pods of the namespace on one track. */
export function readyPodsOnTrack(stack: RealStack, track: "stable" | "canary"): number {
    return readyPods(stack).filter((p) => trackOf(p) === track).length;
}

/** What a canary round trip measured (see `canaryRoundTrip`). */
export interface CanaryFigures {
    readonly canary: {
        readonly requests: number;
        readonly byVersion: Record<string, number>;
        /** Share of the requests the canary's version answered. */
        readonly observedShare: number;
        /** Share its ready pods imply: canary pods over all ready pods. */
        readonly expectedShare: number;
    };
    readonly rollback: LoopResult;
    readonly promote: LoopResult;
}

/** `pulumi up` of the dev stack, without blocking a client loop in this process. */
export async function upDev(stack: RealStack): Promise<void> {
    await pulumiWhileServing(stack, ["up", "--yes", "--skip-preview", "--stack", "dev"]);
}

/** `pulumi up` of the dev stack while a client loop POSTs `body`; what the loop saw. */
async function upUnderLoad(stack: RealStack, body: string): Promise<LoopResult> {
    const loop = startClientLoop(PREDICT_URL, body, { maxRequests: 100_000, maxSeconds: 900 });
    await upDev(stack);
    return loop.stop();
}

/**
 * The canary workflow on the deployed dev stack, as a user runs it: a canary of `canary` next to
 * the served `stable` version at 25% of 4 pods, `requests` status calls (each on a new connection,
 * as the Service routes them) counted by the version that answered, a rollback (the canary keys
 * removed), the canary again, and its promotion (`modelVersion` set to it, the canary keys
 * removed), each of the two under a client loop. Throws when a step leaves the wrong version.
 * `whileCanary` runs once the share is counted, with both tracks up.
 */
export async function canaryRoundTrip(
    stack: RealStack,
    body: string,
    versions: { stable: string; canary: string },
    requests = 1000,
    whileCanary: () => void = () => undefined,
): Promise<CanaryFigures> {
    const canaryKeys = { replicas: "4", canaryVersion: versions.canary, canaryWeight: "25" };
    stack.setConfig("dev", canaryKeys);
    await upDev(stack);
    // The share is only meaningful against one set of ready pods: a CI run once saw 0.186 against
    // 0.25 (1 canary pod of 4 counted before the calls), as if a fifth pod had joined meanwhile.
    const names = (pods: Array<Record<string, any>>) =>
        pods
            .map((p) => `${p.metadata.name} (${trackOf(p)})`)
            .sort()
            .join(", ");
    const before = readyPods(stack);
    const expectedShare = before.filter((p) => trackOf(p) === "canary").length / before.length;
    const byVersion: Record<string, number> = {};
    for (let i = 0; i < requests; i++) {
        const version = await servedVersions();
        byVersion[version] = (byVersion[version] ?? 0) + 1;
    }
    const after = readyPods(stack);
    if (names(after) !== names(before)) {
        throw new Error(
            `the ready pods changed during the ${requests} calls (${JSON.stringify(byVersion)}): before ${names(before)}; after ${names(after)}`,
        );
    }
    const observedShare = (byVersion[versions.canary] ?? 0) / requests;
    whileCanary();

    stack.setConfig("dev", {}, { rm: ["canaryVersion", "canaryWeight"] });
    const rollback = await upUnderLoad(stack, body);
    const afterRollback = await settledVersion(versions.stable);
    if (afterRollback !== versions.stable) {
        throw new Error(`after the rollback the Service serves version ${afterRollback}`);
    }

    stack.setConfig("dev", canaryKeys);
    await upDev(stack);
    stack.setConfig(
        "dev",
        { modelVersion: versions.canary },
        { rm: ["canaryVersion", "canaryWeight"] },
    );
    const promote = await upUnderLoad(stack, body);
    const afterPromotion = await settledVersion(versions.canary);
    if (afterPromotion !== versions.canary) {
        throw new Error(`after the promotion the Service serves version ${afterPromotion}`);
    }
    return {
        canary: { requests, byVersion, observedShare, expectedShare },
        rollback,
        promote,
    };
}
