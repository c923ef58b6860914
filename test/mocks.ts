/**
 * Pulumi mocks shared by the stack tests: a test double of the engine and providers that records
 * every resource the program registers and adds the outputs a real provider would compute.
 * Import this module before any component or the program.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";

/** One registered resource and the inputs it was given. */
export interface Recorded {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, any>;
}

export const recorded: Recorded[] = [];

/** Forgets what earlier tests registered. */
export function resetRecorded(): void {
    recorded.length = 0;
}

/** The resources of one type token, e.g. `kubernetes:apps/v1:Deployment`. */
export function ofType(type: string): Recorded[] {
    return recorded.filter((r) => r.type === type);
}

/** The single resource of a type; fails when there are none or several. */
export function single(type: string): Recorded {
    const found = ofType(type);
    if (found.length !== 1) {
        throw new Error(
            `expected one ${type}, found ${found.length}: ${recorded.map((r) => r.type).join(", ")}`,
        );
    }
    return found[0];
}

/** The digest the docker mock reports for an image name: stable per name, like a registry's. */
export function mockDigest(imageName: string): string {
    return `sha256:${crypto.createHash("sha256").update(imageName).digest("hex")}`;
}

pulumi.runtime.setMocks(
    {
        newResource(args: pulumi.runtime.MockResourceArgs) {
            recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
            const state: Record<string, any> = { ...args.inputs };
            if (args.type === "docker:index/image:Image") {
                const imageName = args.inputs.imageName as string;
                const repo = imageName.slice(0, imageName.lastIndexOf(":"));
                state.repoDigest = args.inputs.skipPush
                    ? mockDigest(imageName)
                    : `${repo}@${mockDigest(imageName)}`;
                state.baseImageName = imageName;
            }
            if (args.type === "kubernetes:core/v1:Service") {
                // The API server gives every Service an address in the service range.
                state.spec = { clusterIP: `10.96.0.${recorded.length}`, ...state.spec };
            }
            if (args.type.startsWith("kubernetes:") && state.metadata !== undefined) {
                // The provider auto-names objects that have no explicit name.
                state.metadata = { name: `${args.name}-abc123`, ...state.metadata };
            }
            return { id: `${args.name}-id`, state };
        },
        call(args: pulumi.runtime.MockCallArgs) {
            throw new Error(`unexpected provider call ${args.token}`);
        },
    },
    "tfk8s",
    "test",
    false,
);

/** Resolves an Output's value in a test. */
export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply(resolve));
}

/** The value inside a recorded secret input, or undefined when the input is not a secret. */
export function secretValue(input: unknown): unknown {
    const envelope = input as Record<string, unknown> | undefined;
    return envelope?.[specialSigKey] === specialSecretSig ? envelope.value : undefined;
}

/**
 * Every default Pulumi.yaml declares, as the engine passes it: the engine hands the program each
 * declared default as if the stack had set it, so a program cannot tell a default from a value.
 */
const PROJECT_DEFAULTS: Record<string, string> = Object.fromEntries(
    Object.entries(
        YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8"))
            .config as Record<string, { default: unknown }>,
    ).map(([k, spec]) => [`tfk8s:${k}`, String(spec.default)]),
);

/**
 * Replaces the stack config (keys without the `tfk8s:` prefix) and its list of secret keys, on
 * top of the project's declared defaults, as `pulumi up` would.
 */
export function setStackConfig(config: Record<string, string>, secretKeys: string[] = []): void {
    const full: Record<string, string> = { ...PROJECT_DEFAULTS };
    for (const [k, v] of Object.entries(config)) full[`tfk8s:${k}`] = v;
    pulumi.runtime.setAllConfig(
        full,
        secretKeys.map((k) => `tfk8s:${k}`),
    );
}
