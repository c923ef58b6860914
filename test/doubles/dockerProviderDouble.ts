/**
 * TEST DOUBLE of the `docker` resource provider plugin (pulumi-docker 5.2.0), for the integration
 * test only. The real provider cannot be built on our CI machine: the Go module proxy refuses
 * every version of github.com/pulumi/pulumi-docker (403), and no release binary can be downloaded.
 *
 * It serves the one resource the stack uses, `docker:index/image:Image`, over Pulumi's real
 * provider protocol (the SDK's `provider.main`), and does its work with the real Docker engine
 * and registry: `docker build`, `docker login --password-stdin`, `docker push`, and the digest the
 * registry returned. It keeps the real provider's input and output names (`imageName`, `build`,
 * `registry`, `skipPush`; `repoDigest`, `baseImageName`, `registryServer`, …) and, like it, never
 * deletes pushed tags. The Pulumi engine, language host, kubernetes provider, Docker engine and
 * registry around it are all real.
 *
 * Started by the `pulumi-resource-docker` launcher that test/integration writes onto PATH.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as provider from "@pulumi/pulumi/provider";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { errorMessage } from "../../errors";

const IMAGE_TYPE = "docker:index/image:Image";

interface ImageInputs {
    imageName: string;
    build?: { context?: string; dockerfile?: string; platform?: string };
    registry?: { server?: string; username?: string; password?: string };
    skipPush?: boolean;
}

/** Secret values arrive wrapped (the SDK's provider server accepts secrets); unwrap them. */
function reveal(value: any): any {
    if (Array.isArray(value)) return value.map(reveal);
    if (value !== null && typeof value === "object") {
        if (value[specialSigKey] === specialSecretSig) return reveal(value.value);
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
    }
    return value;
}

function docker(args: string[], input?: string, env: NodeJS.ProcessEnv = process.env): string {
    const r = spawnSync("docker", args, { encoding: "utf8", input, env, maxBuffer: 64 << 20 });
    if (r.status !== 0) {
        throw new Error(`docker ${args[0]} failed: ${(r.stderr || r.stdout).trim()}`);
    }
    return r.stdout;
}

/** Builds, and unless `skipPush` pushes, returning the real provider's outputs. */
function buildAndPush(inputs: ImageInputs): Record<string, unknown> {
    const context = inputs.build?.context ?? ".";
    const dockerfile = inputs.build?.dockerfile ?? path.join(context, "Dockerfile");
    const platform = inputs.build?.platform;
    docker([
        "build",
        "-q",
        "-t",
        inputs.imageName,
        "-f",
        dockerfile,
        ...(platform ? ["--platform", platform] : []),
        context,
    ]);
    const server = inputs.registry?.server ?? inputs.imageName.split("/")[0];
    let repoDigest: string;
    if (inputs.skipPush === true) {
        repoDigest = docker(["image", "inspect", "-f", "{{.Id}}", inputs.imageName]).trim();
    } else {
        // A private docker config keeps the credentials out of ~/.docker and dies with the push.
        const config = fs.mkdtempSync(path.join(os.tmpdir(), "docker-double-"));
        const env = { ...process.env, DOCKER_CONFIG: config };
        try {
            if (inputs.registry?.username !== undefined) {
                docker(
                    ["login", server, "-u", inputs.registry.username, "--password-stdin"],
                    inputs.registry.password ?? "",
                    env,
                );
            }
            const out = docker(["push", inputs.imageName], undefined, env);
            const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
            if (digest === undefined) throw new Error(`docker push printed no digest:\n${out}`);
            repoDigest = `${inputs.imageName.slice(0, inputs.imageName.lastIndexOf(":"))}@${digest}`;
        } catch (err) {
            throw new Error(
                `pushing ${inputs.imageName} to registry ${server} failed: ${errorMessage(err)}`,
            );
        } finally {
            fs.rmSync(config, { recursive: true, force: true });
        }
    }
    return {
        // Inputs come back as outputs (the password excepted): diff compares them next time.
        build: inputs.build,
        skipPush: inputs.skipPush ?? false,
        registry:
            inputs.registry === undefined
                ? undefined
                : { server: inputs.registry.server, username: inputs.registry.username },
        imageName: inputs.imageName,
        baseImageName: inputs.imageName,
        context,
        dockerfile,
        ...(platform === undefined ? {} : { platform }),
        registryServer: server,
        repoDigest,
    };
}

/** Drops undefined fields, which the protobuf Struct encoding rejects. */
function plain(value: Record<string, unknown>): Record<string, unknown> {
    return JSON.parse(JSON.stringify(value));
}

/** The inputs that decide what gets built and where it goes (never the password). */
function identity(inputs: ImageInputs): string {
    return JSON.stringify([
        inputs.imageName,
        inputs.build,
        inputs.skipPush ?? false,
        inputs.registry?.server,
        inputs.registry?.username,
    ]);
}

const double: provider.Provider = {
    version: "5.2.0",
    async check(urn, _olds, news) {
        if (!urn.includes(IMAGE_TYPE))
            throw new Error(
                `the docker provider test double only serves ${IMAGE_TYPE}, not ${urn}`,
            );
        return { inputs: news };
    },
    async diff(_id, _urn, olds, news) {
        return { changes: identity(reveal(olds)) !== identity(reveal(news)) };
    },
    async create(_urn, inputs) {
        const outs = buildAndPush(reveal(inputs));
        return { id: String(outs.repoDigest), outs: plain(outs) };
    },
    async update(_id, _urn, _olds, news) {
        return { outs: plain(buildAndPush(reveal(news))) };
    },
    async delete() {
        // The real provider leaves pushed tags in the registry too.
    },
};

provider.main(double, process.argv.slice(2)).catch((err: Error) => {
    console.error(err);
    process.exit(1);
});
