/**
 * The config keys of the serving image: the base image (its GPU variant with `gpu`), the
 * repository, the platform, the registry and its credentials, and the server's options.
 */
import { GpuSettings } from "../components/deploymentSpec";
import {
    GPU_BASE_EXPECTED,
    checkImageReferences,
    gpuBaseImage,
    isRegistryHost,
} from "../components/imageReference";
import { ImageSettings } from "../components/servingImage";
import { Reader, checkedAsConfig, fail } from "./reader";

/** How the image is built and where it goes, checked as ServingImage will check it. */
export function readImage(
    r: Reader,
    modelName: string,
    gpu: GpuSettings | undefined,
): ImageSettings {
    const registry = readRegistry(r);
    const skipPush = r.boolean("skipPush");
    if (!skipPush && registry === undefined) {
        fail(
            "registryServer",
            undefined,
            "a registry to push to, or skipPush: true for a local cluster",
        );
    }
    const server = registry?.server as string | undefined;
    const repository =
        r.string("imageRepository") ??
        (server === undefined ? "" : `${server}/`) + `${modelName.toLowerCase()}-serving`;
    if (server !== undefined && !repository.startsWith(`${server}/`)) {
        fail("imageRepository", repository, `a repository on registry ${server} (${server}/…)`);
    }
    const base = r.string("baseImage") as string;
    const platform = r.string("platform") as string;
    checkedAsConfig(() => checkImageReferences({ baseImage: base, repository, platform }));
    const baseImage = gpu === undefined ? base : gpuBaseImage(base);
    if (baseImage === undefined) {
        fail("gpu", gpu?.count, `CPU serving (0) on baseImage ${base}, or ${GPU_BASE_EXPECTED}`);
    }
    return {
        baseImage,
        repository,
        platform,
        skipPush,
        registry,
        enableBatching: r.boolean("enableBatching"),
        enableMonitoring: r.boolean("enableMonitoring"),
    };
}

/** Registry credentials, all three or none; the password must be a secret. */
function readRegistry(r: Reader): ImageSettings["registry"] {
    const server = r.raw("registryServer");
    const username = r.raw("registryUsername");
    const password = r.secret("registryPassword");
    if (server === undefined) {
        if (username !== undefined || password !== undefined) {
            fail("registryServer", server, "the registry the credentials are for");
        }
        return undefined;
    }
    if (!isRegistryHost(server)) {
        fail(
            "registryServer",
            server,
            "a registry host with an optional port, without scheme or path (e.g. ghcr.io or 127.0.0.1:5000)",
        );
    }
    if (username === undefined) {
        fail("registryUsername", username, `a user name for registry ${server}`);
    }
    if (password === undefined) {
        fail("registryPassword", password, `a secret password for registry ${server}`);
    }
    return { server, username, password };
}
