/**
 * tfk8s: train (or load) the MNIST classifier, export it as a TF Serving SavedModel, bake it into
 * a serving image and run it on Kubernetes. This file only wires the parts together.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { trackBuildDirs } from "./buildLayout";
import { ModelServing } from "./components/modelServing";
import { Track } from "./components/modelTrack";
import { PROMETHEUS_PATH, ServingImage } from "./components/servingImage";
import { StackConfig, loadStackConfig } from "./config";
import { ModelSource, ResolvedModel, resolveModel } from "./model/sources/resolve";
import { processStartMs, recordStage } from "./model/stageTimes";
import { repairStacksBeforePulumiReports, reportable } from "./programErrors";

repairStacksBeforePulumiReports();
// bench:stack's breakdown of a preview: the whole program, from Node's start to its exit.
process.on("exit", () => recordStage("program", processStartMs()));

export = async () => {
    try {
        return await deploy();
    } catch (err) {
        throw reportable(err);
    }
};

/** The stack: the model and image of each track, and the serving objects. */
async function deploy() {
    recordStage("Node and Pulumi SDK start-up", processStartMs());
    const config = loadStackConfig();
    const { name, version, source } = config.model;
    const { renderDir } = config.cluster;

    if (renderDir !== undefined) {
        pulumi.log.warn(
            `render mode: manifests go to ${renderDir} instead of a cluster. The Kubernetes provider ` +
                "writes any Secret's data there in plain text; in render mode this stack creates no Secret and never puts registry credentials in a manifest.",
        );
    }

    // Every model passes its gate before any resource exists, the canary's too.
    const model = await trackModel(config, "stable", source, version);
    const canaryModel =
        config.canary === undefined
            ? undefined
            : await trackModel(config, "canary", config.canary.source, config.canary.version);
    if (canaryModel !== undefined && canaryModel.inputScale !== model.inputScale) {
        throw new Error(
            `the canary's model takes pixels as ${canaryModel.inputScale} but the stable one as ${model.inputScale}; ` +
                "expected one range behind the one endpoint, since clients cannot tell which track answers",
        );
    }
    const image = trackImage(config, "stable", model, version);
    // A canary track: its own model and image, in directories of its own.
    const canary =
        config.canary === undefined || canaryModel === undefined
            ? undefined
            : {
                  ...config.canary,
                  model: canaryModel,
                  image: trackImage(config, "canary", canaryModel, config.canary.version),
              };

    const provider = new k8s.Provider("k8s", {
        context: config.cluster.context,
        namespace: config.serving.namespace,
        renderYamlToDirectory: renderDir,
        // The SDK fills an unset kubeconfig from $KUBECONFIG, and the provider's config check
        // refuses any non-empty kubeconfig next to renderYamlToDirectory. "" passes the check,
        // but the provider (v4.25.0, Configure) then loads client-go's default rules, which read
        // $KUBECONFIG anyway: when that cluster answers, it asks for its version and API list.
        // Render mode applies nothing there (the integration test checks).
        kubeconfig: renderDir === undefined ? undefined : "",
    });

    const serving = new ModelServing(
        "serving",
        {
            ...config.serving,
            image: image.imageRef,
            modelName: name,
            modelVersion: version,
            modelAccuracy: model.accuracy,
            baseImage: config.image.baseImage,
            canary:
                canary === undefined
                    ? undefined
                    : {
                          image: canary.image.imageRef,
                          modelVersion: canary.version,
                          modelAccuracy: canary.model.accuracy,
                          weight: canary.weight,
                      },
        },
        { provider },
    );

    return stackOutputs(config, serving, { model, image }, canary);
}

/** What the stack exports: where to call the model, and what each track serves. */
function stackOutputs(
    config: StackConfig,
    serving: ModelServing,
    stable: { model: ResolvedModel; image: ServingImage },
    canary: (NonNullable<StackConfig["canary"]> & typeof stable) | undefined,
) {
    const tracks = serving.tracks;
    return {
        endpoint: serving.endpoint,
        predictUrl: serving.predictUrl,
        // Where the Service is, for `kubectl port-forward` (the deploy workflow's smoke check).
        namespace: config.serving.namespace,
        serviceName: serving.service.serviceName,
        imageDigest: stable.image.repoDigest,
        imageName: stable.image.imageName,
        modelName: config.model.name,
        modelVersion: config.model.version,
        modelAccuracy: stable.model.accuracy,
        // The pixels the model takes (0-255 or 0-1): what `predict` and `smoke` send it.
        inputScale: stable.model.inputScale,
        replicasByTrack: serving.replicasByTrack,
        // Where each pod's REST port serves TF Serving's Prometheus page (enableMonitoring): what
        // `npm run rollout` scrapes to judge a canary on every request its pods served.
        metricsPath: config.image.enableMonitoring ? PROMETHEUS_PATH : undefined,
        // The HTTPRoute on the Gateway named by gatewayParent, if any.
        routeName: serving.route?.routeName,
        canary:
            canary === undefined
                ? undefined
                : {
                      modelVersion: canary.version,
                      modelAccuracy: canary.model.accuracy,
                      weight: canary.weight,
                      imageDigest: canary.image.repoDigest,
                      // A ClusterIP Service per track, to reach one track from inside the cluster.
                      serviceName: tracks.canary?.service?.serviceName,
                      stableServiceName: tracks.stable.service?.serviceName,
                      // What `npm run smoke -- --stack <stack> --track <track>` calls.
                      serviceUrl: tracks.canary?.service?.clusterUrl,
                      stableServiceUrl: tracks.stable.service?.clusterUrl,
                  },
    };
}

/**
 * One track's model, trained or packaged and checked, and exported into the track's directory
 * (`trackBuildDirs`).
 */
async function trackModel(
    config: StackConfig,
    track: Track,
    source: ModelSource,
    version: number,
): Promise<ResolvedModel> {
    return resolveModel(
        withLog(source),
        trackBuildDirs(pulumi.getStack(), track).exportDir,
        config.model.name,
        version,
        config.model.warmupBatchSizes,
        (line) => pulumi.log.info(`${track}: ${line}`),
    );
}

/** The image serving one track's model, built in the track's context directory. */
function trackImage(
    config: StackConfig,
    track: Track,
    model: ResolvedModel,
    version: number,
): ServingImage {
    return new ServingImage(track === "stable" ? "serving" : "serving-canary", {
        ...config.image,
        modelDir: model.versionDir,
        modelName: config.model.name,
        modelVersion: version,
        contextDir: trackBuildDirs(pulumi.getStack(), track).contextDir,
    });
}

/** A model source whose training, if any, logs through the engine, without a progress bar. */
function withLog(source: ModelSource): ModelSource {
    return source.kind === "train"
        ? {
              kind: "train",
              training: {
                  ...source.training,
                  log: (line) => pulumi.log.info(line),
                  progressBar: false,
              },
          }
        : source;
}
