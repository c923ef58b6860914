/**
 * Image references as Docker reads them (github.com/distribution/reference): the registry host,
 * the repository, the tag and digest of a base image, the build platform, and the GPU variant of
 * a TF Serving image. These go into the Dockerfile and the image name, so what Docker would refuse
 * is refused here, before anything is built.
 */
import * as pulumi from "@pulumi/pulumi";
import { SettingError } from "../programErrors";

// A repository is an optional registry host and path components of lowercase letters and digits
// joined by separators.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const REGISTRY_HOST =
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Platforms Docker builds for, as `os/arch[/variant]`: the Linux ones of Go's GOOS/GOARCH list
 * that Docker's platform parser (containerd `platforms`) accepts, with their variants.
 */
const KNOWN_PLATFORMS = [
    "linux/amd64",
    "linux/amd64/v2",
    "linux/amd64/v3",
    "linux/amd64/v4",
    "linux/arm64",
    "linux/arm64/v8",
    "linux/arm/v5",
    "linux/arm/v6",
    "linux/arm/v7",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/mips64le",
    "linux/loong64",
] as const;

/** Whether `server` is a registry host with an optional port, without scheme or path. */
export function isRegistryHost(server: string): boolean {
    return REGISTRY_HOST.test(server);
}

/** Whether `repository` is `[host[:port]/]path` with no tag or digest. */
function isRepository(repository: string): boolean {
    const parts = repository.split("/");
    // As Docker reads a name: the first part is a host only if it looks like one.
    const first = parts[0];
    const hasHost =
        parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost");
    if (hasHost && !REGISTRY_HOST.test(first)) return false;
    const path = hasHost ? parts.slice(1) : parts;
    return repository.length <= 255 && path.every((c) => PATH_COMPONENT.test(c));
}

/**
 * An image reference's parts as Docker reads them: the tag is what follows the last `:` after the
 * last `/` (a `:` before it is a registry port), the digest what follows `@`. `extra` holds
 * anything after a second `@`, which no reference has.
 */
function splitImageReference(reference: string): {
    repository: string;
    tag?: string;
    digest?: string;
    extra: string[];
} {
    const [name, digest, ...extra] = reference.split("@");
    const colon = name.lastIndexOf(":");
    const tagged = colon > name.lastIndexOf("/");
    return {
        repository: tagged ? name.slice(0, colon) : name,
        tag: tagged ? name.slice(colon + 1) : undefined,
        digest,
        extra,
    };
}

/** Whether `reference` is `repository[:tag][@sha256:…]`. */
function isImageReference(reference: string): boolean {
    const { repository, tag, digest, extra } = splitImageReference(reference);
    if (extra.length > 0 || (digest !== undefined && !DIGEST.test(digest))) return false;
    if (tag !== undefined && !TAG.test(tag)) return false;
    return isRepository(repository);
}

/** The image settings Docker reads. */
export interface ImageReferences {
    /** Base image. Defaults to `DEFAULT_BASE_IMAGE`. */
    readonly baseImage?: string;
    /** Image repository without tag, e.g. `ghcr.io/acme/mymodel-serving`. */
    readonly repository: string;
    /** Build platform. Defaults to `DEFAULT_PLATFORM`. */
    readonly platform?: string;
}

/** Throws a SettingError at the first of `refs` Docker would refuse. */
export function checkImageReferences(refs: ImageReferences, resource?: pulumi.Resource): void {
    const refuse = (key: keyof ImageReferences, expected: string): never => {
        throw new SettingError(key, refs[key], expected, { resource });
    };
    if (refs.baseImage !== undefined && !isImageReference(refs.baseImage)) {
        refuse(
            "baseImage",
            "an image reference repository[:tag][@sha256:<64 hex>], e.g. tensorflow/serving:2.20.0",
        );
    }
    if (
        refs.platform !== undefined &&
        !(KNOWN_PLATFORMS as readonly string[]).includes(refs.platform)
    ) {
        refuse("platform", `one of ${KNOWN_PLATFORMS.join(", ")}`);
    }
    if (!isRepository(refs.repository)) {
        refuse(
            "repository",
            "a Docker repository: [host[:port]/]path, each path component lowercase letters and digits joined by '.', '_', '__' or '-', with no tag or digest",
        );
    }
}

/**
 * The GPU variant of a TF Serving base image, or undefined when we know of none. TF Serving
 * publishes each CPU tag with a `-gpu` twin (`2.20.0` and `2.20.0-gpu`, `latest-gpu`,
 * `nightly-gpu`), under `tensorflow/serving` or a mirror of it. A `-gpu` tag stays as it is. A
 * digest pins one variant, so only a `-gpu` tag next to it is taken.
 */
export function gpuBaseImage(reference: string): string | undefined {
    const { repository, tag = "latest", digest } = splitImageReference(reference);
    if (tag.endsWith("-gpu")) return reference;
    if (digest !== undefined) return undefined;
    const official =
        repository === "tensorflow/serving" || repository.endsWith("/tensorflow/serving");
    return official && /^(\d+\.\d+\.\d+|latest|nightly)$/.test(tag)
        ? `${repository}:${tag}-gpu`
        : undefined;
}

/** What `gpuBaseImage` recognises, for the error when it finds no variant. */
export const GPU_BASE_EXPECTED =
    "a base image with a GPU variant we recognise: tensorflow/serving (or a mirror's .../tensorflow/serving) tagged <x.y.z>, latest or nightly, whose -gpu tag is used, or any image tagged …-gpu";
