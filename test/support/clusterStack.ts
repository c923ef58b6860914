/**
 * The dev stack on the one-node local cluster (scripts/with-real-stack.sh --cluster), shared by
 * the cluster suite and `npm run bench:rollout`: the stack as `Pulumi.dev.yaml` declares it, but
 * pushed to the local registry with its password and pulled through a pull Secret the stack
 * creates, on the stand-in serving base image (scripts/build-serving-standin.sh).
 */
import * as path from "path";
import { imagesFromPixels } from "../../client/inputs";
import { IMAGE_PIXELS } from "../../model/savedmodel/contract";
import { loadMnist } from "../../model/training/data";
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
            cacheDir: path.join(ROOT, ".model-cache"),
        },
    });
    return { stack, nodeState };
}

/** A predict request body of the first MNIST test image. */
export function predictBody(): string {
    const pixels = loadMnist().test.images.slice(0, IMAGE_PIXELS);
    return JSON.stringify({ instances: imagesFromPixels(pixels, 1) });
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

/** The versions `GET /v1/models/mymodel` reports through the NodePort, comma-separated. */
async function servedVersions(): Promise<string> {
    const res = await fetch(`${NODE_PORT_URL}/v1/models/mymodel`);
    const body = (await res.json()) as { model_version_status: Array<{ version: string }> };
    return body.model_version_status.map((s) => s.version).join(",");
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
