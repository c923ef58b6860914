/**
 * Part of the docker provider TEST DOUBLE: `docker:index/image:Image` as pulumi-docker v5 serves
 * it, for what our program and tests can observe (read in github:pulumi/pulumi-docker at commit
 * 237b7899, after tag v5.1.0; npm 5.2.0 has the same inputs and outputs: provider/provider.go
 * Check, Diff, Create, Update; provider/image.go dockerBuild). The work is done by the real
 * Docker engine:
 * - Check fills the real defaults (context `.`, dockerfile `<context>/Dockerfile`,
 *   `buildOnPreview` false, platform `linux/<arch>`), stats the Dockerfile with the real error
 *   texts, stores `build.contextDigest`, and refuses an image name that is not fully qualified
 *   when it must push without `registry.server`.
 * - Diff compares the stored checked inputs with the new ones, ignores registry user name and
 *   password, and never replaces: a change is an update in place, which rebuilds.
 * - Create and Update build with BuildKit (the real provider asks the Engine API for builder
 *   version 2; here Debian's docker CLI 20.10 does, with DOCKER_BUILDKIT=1) and push through the
 *   Engine API with the credentials in the X-Registry-Auth header: no `docker login`.
 * - Outputs are the real ones; the id is the image name; the checked inputs are kept as one
 *   secret, `__inputs`, as the real provider keeps them.
 * Schema inputs it cannot honour (addHosts, network, cacheFrom) are refused, not ignored.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import type * as provider from "@pulumi/pulumi/provider";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { stableJson } from "../../model/training/cache";
import { contextDigest } from "./dockerContextDigest";

export const IMAGE_TYPE = "docker:index/image:Image";
/**
 * Debian's docker.io CLI, 20.10, builds with BuildKit when DOCKER_BUILDKIT=1; a newer CLI on PATH
 * (28.x on our machines) would need the buildx plugin for that.
 */
const BUILDKIT_CLI = process.env.TFK8S_BUILDKIT_DOCKER_CLI ?? "/usr/bin/docker";
/** Engine API version of dockerd 20.10. */
const ENGINE_API = "v1.41";

interface Build {
    context: string;
    dockerfile: string;
    platform?: string;
    target?: string;
    args?: Record<string, string>;
    builderVersion?: string;
    contextDigest?: string;
    [other: string]: unknown;
}

interface Registry {
    server?: string;
    username?: string;
    password?: string;
}

interface ImageInputs {
    imageName: string;
    build: Build;
    buildOnPreview: boolean;
    skipPush: boolean;
    registry?: Registry;
}

/** Secret values arrive wrapped (the SDK's provider server accepts secrets); unwrap them. */
export function reveal(value: any): any {
    if (Array.isArray(value)) return value.map(reveal);
    if (value !== null && typeof value === "object") {
        if (value[specialSigKey] === specialSecretSig) return reveal(value.value);
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
    }
    return value;
}

function secret(value: unknown): Record<string, unknown> {
    return { [specialSigKey]: specialSecretSig, value };
}

/** Drops undefined fields, which the protobuf Struct encoding rejects. */
function plain<T>(value: T): T {
    return JSON.parse(JSON.stringify(value));
}

/** Go's error text for a failed os.Stat. */
function statError(p: string, err: NodeJS.ErrnoException): string {
    const reason: Record<string, string> = {
        ENOENT: "no such file or directory",
        ENOTDIR: "not a directory",
        EACCES: "permission denied",
    };
    return `stat ${p}: ${reason[err.code ?? ""] ?? err.message}`;
}

/** Component of a repository path; `[_.]|__|-+` separate alphanumeric runs. */
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const REFERENCE = new RegExp(
    `^((?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)` +
        "(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$",
);

/** `name` with the domain docker would assume: `docker.io/library/` for bare names. */
function normalizedName(name: string): string {
    const slash = name.indexOf("/");
    const first = slash < 0 ? "" : name.slice(0, slash);
    const hasDomain = first.includes(".") || first.includes(":") || first === "localhost";
    if (!hasDomain) return `docker.io/${slash < 0 ? "library/" : ""}${name}`;
    const rest = name.slice(slash + 1);
    if (first === "docker.io" || first === "index.docker.io") {
        return `docker.io/${rest.includes("/") ? "" : "library/"}${rest}`;
    }
    return name;
}

/**
 * The real provider's check that a name it must push without `registry.server` is fully
 * qualified (distribution/reference ParseNamed): the error text, or undefined when it is.
 */
export function canonicalNameProblem(imageName: string): string | undefined {
    const m = REFERENCE.exec(imageName);
    let inner: string | undefined;
    if (m === null) {
        inner = REFERENCE.test(imageName.toLowerCase())
            ? "repository name must be lowercase"
            : "invalid reference format";
    } else if (normalizedName(m[1]) !== m[1]) {
        inner = "repository name must be canonical";
    }
    return inner === undefined
        ? undefined
        : `${JSON.stringify(imageName)}: ${inner}.\nThis resource requires all image names to be fully qualified.\n` +
              "For example, if you are attempting to push to Dockerhub, prefix your image name with `docker.io`:\n\n" +
              "`docker.io/repository/image:tag`";
}

/** Build fields of the schema the double does not implement; the real provider honours them. */
const UNSUPPORTED_BUILD_FIELDS = ["addHosts", "network", "cacheFrom"];

/** Check: the real defaults and refusals; returns the checked inputs (secrets still wrapped). */
export function checkImage(news: Record<string, any>): Record<string, any> {
    const inputs = reveal(news);
    if (typeof inputs.imageName !== "string") {
        throw new Error("Missing required property 'imageName'");
    }
    const given: Record<string, any> =
        inputs.build !== null && typeof inputs.build === "object" ? inputs.build : {};
    if (given.cacheFrom !== undefined && typeof given.cacheFrom === "object") {
        if (!("images" in given.cacheFrom)) throw new Error("cacheFrom requires an `images` field");
        if (given.cacheFrom.images !== null && !Array.isArray(given.cacheFrom.images)) {
            throw new Error("the `images` field must be a list of strings");
        }
    }
    for (const field of UNSUPPORTED_BUILD_FIELDS) {
        if (given[field] !== undefined) {
            throw new Error(
                `the docker provider test double does not implement build.${field} (the real provider does); remove it`,
            );
        }
    }
    if (
        given.builderVersion !== undefined &&
        !["BuilderV1", "BuilderBuildKit"].includes(given.builderVersion)
    ) {
        throw new Error("invalid Docker Builder version");
    }
    const context: string = given.context ?? ".";
    const dockerfile: string = given.dockerfile ?? path.posix.join(context, "Dockerfile");
    try {
        fs.statSync(dockerfile);
    } catch (err) {
        const cause = statError(dockerfile, err as NodeJS.ErrnoException);
        if (path.isAbsolute(dockerfile)) {
            throw new Error(
                `expected a relative Dockerfile path; got ${JSON.stringify(dockerfile)} instead: ${cause}`,
            );
        }
        const joined = path.join(context, dockerfile);
        if (!fs.existsSync(joined)) {
            throw new Error(
                `could not open dockerfile at relative path ${JSON.stringify(dockerfile)}: ${cause}`,
            );
        }
        throw new Error(
            `could not open dockerfile at relative path ${JSON.stringify(dockerfile)}. Try setting \`dockerfile\` to ${JSON.stringify(joined)}`,
        );
    }
    const arch = process.arch === "x64" ? "amd64" : process.arch;
    const skipPush = inputs.skipPush ?? false;
    if (!skipPush && !inputs.registry?.server) {
        const problem = canonicalNameProblem(inputs.imageName);
        if (problem !== undefined) throw new Error(problem);
    }
    return {
        ...news,
        buildOnPreview: inputs.buildOnPreview ?? false,
        skipPush,
        build: {
            ...given,
            context,
            dockerfile,
            platform: given.platform ?? `linux/${arch}`,
            contextDigest: contextDigest(context, dockerfile),
        },
    };
}

/**
 * Diff: the top-level inputs that changed between the stored checked inputs and the new ones.
 * Of `registry` only the server counts ("does not cause image rebuild when changed", the schema
 * says of user name and password).
 */
export function changedInputs(olds: Record<string, any>, news: Record<string, any>): string[] {
    const before = reveal(olds.__inputs ?? {});
    const after = reveal(news);
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].filter((key) => {
        if (
            key === "registry" &&
            typeof before.registry === "object" &&
            typeof after.registry === "object"
        ) {
            return before.registry?.server !== after.registry?.server;
        }
        return stableJson(before[key]) !== stableJson(after[key]);
    });
}

/** Runs the BuildKit docker CLI; the error text the real provider gives a failed build. */
function buildImage(inputs: ImageInputs, dockerConfig: string): string {
    const { build } = inputs;
    const iidfile = path.join(dockerConfig, "iid");
    const args = [
        "build",
        "--progress",
        "plain",
        "--iidfile",
        iidfile,
        "-t",
        inputs.imageName,
        "-f",
        build.dockerfile,
        ...(build.platform ? ["--platform", build.platform] : []),
        ...(build.target ? ["--target", build.target] : []),
        ...Object.entries(build.args ?? {}).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]),
        build.context,
    ];
    const r = spawnSync(BUILDKIT_CLI, args, {
        encoding: "utf8",
        maxBuffer: 64 << 20,
        env: {
            ...process.env,
            DOCKER_CONFIG: dockerConfig,
            DOCKER_BUILDKIT: build.builderVersion === "BuilderV1" ? "0" : "1",
        },
    });
    if (r.error !== undefined) throw new Error(`error building image: ${r.error.message}`);
    if (r.status !== 0) {
        const lines = (r.stderr || r.stdout).trim().split("\n");
        const errorLine = lines.filter((l) => /error/i.test(l)).pop() ?? lines.pop();
        throw new Error(`error reading build output: ${errorLine}`);
    }
    return fs.readFileSync(iidfile, "utf8").trim();
}

/** The engine's unix socket, from DOCKER_HOST as the docker CLI reads it. */
function engineSocket(): string {
    const host = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
    if (!host.startsWith("unix://")) {
        throw new Error(
            `the docker provider test double reaches the engine over a unix socket only, not ${host}`,
        );
    }
    return host.slice("unix://".length);
}

/** One message of the engine's JSON stream. */
interface JsonMessage {
    error?: string;
    errorDetail?: { code?: number; message?: string };
    aux?: { Digest?: string };
}

/** POST /images/{name}/push with the credentials in X-Registry-Auth; the digest it reports. */
function pushImage(imageName: string, registry: Registry | undefined): Promise<string | undefined> {
    const colon = imageName.lastIndexOf(":");
    const hasTag = colon > imageName.lastIndexOf("/");
    const repository = hasTag ? imageName.slice(0, colon) : imageName;
    const tag = hasTag ? imageName.slice(colon + 1) : "latest";
    const auth =
        registry?.username && registry.password
            ? {
                  username: registry.username,
                  password: registry.password,
                  serveraddress: registry.server,
              }
            : {};
    // Go's base64.URLEncoding: the URL-safe alphabet, with padding.
    const header = Buffer.from(JSON.stringify(auth))
        .toString("base64")
        .replace(/\+/g, "-")
        .replace(/\//g, "_");
    return new Promise((resolve, reject) => {
        const req = http.request(
            {
                socketPath: engineSocket(),
                method: "POST",
                path: `/${ENGINE_API}/images/${encodeURIComponent(repository)}/push?tag=${encodeURIComponent(tag)}`,
                headers: { "X-Registry-Auth": header },
            },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (chunk) => (body += chunk));
                res.on("end", () => {
                    if (res.statusCode !== 200) {
                        // An API error (not a stream message) comes back unwrapped.
                        reject(
                            new Error(
                                JSON.parse(body || "{}").message ??
                                    `push answered ${res.statusCode}`,
                            ),
                        );
                        return;
                    }
                    let digest: string | undefined;
                    for (const line of body.split("\n").filter((l) => l.trim() !== "")) {
                        const m: JsonMessage = JSON.parse(line);
                        if (m.errorDetail !== undefined || m.error !== undefined) {
                            const message = m.errorDetail?.message ?? m.error ?? "";
                            const reason =
                                m.errorDetail?.code === 401
                                    ? "authentication is required"
                                    : message === "EOF"
                                      ? "EOF\n: This error is most likely due to incorrect or mismatched registry credentials. Please double check you are using the correct credentials and registry name"
                                      : message;
                            reject(new Error(`error reading push output: ${reason}`));
                            return;
                        }
                        digest = m.aux?.Digest ?? digest;
                    }
                    resolve(digest);
                });
            },
        );
        req.on("error", reject);
        req.end();
    });
}

/**
 * For the fault suite (test/faults): with TFK8S_DOUBLE_PHASE_DIR set, a file named after each
 * phase (`build`, `push`) appears there as the phase starts, so a fault can land inside it.
 */
function markPhase(phase: "build" | "push"): void {
    const dir = process.env.TFK8S_DOUBLE_PHASE_DIR;
    if (dir !== undefined) fs.writeFileSync(path.join(dir, phase), `${process.pid}\n`);
}

/** Builds and, unless `skipPush`, pushes; returns the real provider's outputs. */
export async function buildAndPush(checked: Record<string, any>): Promise<Record<string, unknown>> {
    const inputs: ImageInputs = reveal(checked);
    const { build } = inputs;
    // The BuildKit session reads pull credentials from the CLI's config: a private one, holding
    // only the program's credentials, removed after the build.
    const dockerConfig = fs.mkdtempSync(path.join(os.tmpdir(), "docker-double-"));
    let repoDigest: string;
    try {
        const auths =
            inputs.registry?.server && inputs.registry.username && inputs.registry.password
                ? {
                      [inputs.registry.server]: {
                          auth: Buffer.from(
                              `${inputs.registry.username}:${inputs.registry.password}`,
                          ).toString("base64"),
                      },
                  }
                : {};
        fs.writeFileSync(path.join(dockerConfig, "config.json"), JSON.stringify({ auths }), {
            mode: 0o600,
        });
        markPhase("build");
        const imageId = buildImage(inputs, dockerConfig);
        if (inputs.skipPush) {
            repoDigest = imageId;
        } else {
            markPhase("push");
            const digest = await pushImage(inputs.imageName, inputs.registry);
            const name = normalizedName(inputs.imageName.replace(/:[\w][\w.-]{0,127}$/, ""));
            repoDigest = digest === undefined ? "<none>@<none>" : `${name}@${digest}`;
        }
    } finally {
        fs.rmSync(dockerConfig, { recursive: true, force: true });
    }
    return plain({
        baseImageName: inputs.imageName,
        context: build.context,
        dockerfile: path.relative(path.resolve(build.context), path.resolve(build.dockerfile)),
        imageName: inputs.imageName,
        platform: build.platform,
        registryServer: inputs.registry?.server ?? "",
        repoDigest,
        __inputs: secret(checked),
    });
}

/** The Image resource, as the SDK's provider server calls it. */
export const imageProvider: provider.Provider = {
    version: "5.2.0",
    async check(urn, _olds, news) {
        if (!urn.includes(IMAGE_TYPE)) {
            throw new Error(
                `the docker provider test double only serves ${IMAGE_TYPE}, not ${urn}`,
            );
        }
        return { inputs: checkImage(news) };
    },
    async diff(_id, _urn, olds, news) {
        return { changes: changedInputs(olds, news).length > 0 };
    },
    async create(_urn, inputs) {
        const outs = await buildAndPush(inputs);
        return { id: String(outs.imageName), outs };
    },
    async update(_id, _urn, _olds, news) {
        return { outs: await buildAndPush(news) };
    },
    async read(id, _urn, props) {
        // The real provider returns the stored state and never asks the engine.
        return { id, props };
    },
    async delete() {
        // The real provider removes neither the local image nor the pushed tags.
    },
};
